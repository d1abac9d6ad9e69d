"""Backend choice for the proxy: round robin over ready endpoints, with ClientIP affinity.

This is the old userspace kube-proxy's ``LoadBalancer`` interface (pkg/proxy/userspace,
roundrobin.go) with its four methods: ``new_service`` (declare a service port and its affinity),
``on_endpoints_update`` (the whole endpoints picture), ``next_endpoint`` (pick a backend for a
client), ``delete_service``. The proxier (proxier.py) asks it for a backend on every accepted
TCP connection and every new UDP client; roles/proxy.py feeds it from the endpoints informer.

Round robin walks a list that is shuffled whenever a port's endpoints change (so every node
does not hammer the first pod after a rollout) and restarts at its head. With ClientIP affinity
a client address keeps its endpoint while it keeps coming back within the timeout
(``sessionAffinityConfig.clientIP.timeoutSeconds``, default 10800 s as in Kubernetes); an
affinity entry whose endpoint disappeared is dropped. ``reset_affinity=True`` is what a retry
after a failed connect passes, so a dead pod does not stay stuck to a client.

Pure and synchronous: time comes from a ``now`` callable so unit tests use fake time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

DEFAULT_AFFINITY_TIMEOUT = 10800.0
"""Seconds; Kubernetes' DefaultClientIPServiceAffinitySeconds (3 h)."""


class ServicePortName(NamedTuple):
    """One port of one service: ``namespace/name:port`` (port = the service port's name)."""

    namespace: str
    name: str
    port: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port}"


class Endpoint(NamedTuple):
    ip: str
    port: int

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


class NoEndpoints(LookupError):
    """The service port has no ready endpoint (or is unknown)."""


class LoadBalancer(Protocol):
    def new_service(self, service: ServicePortName, *, affinity: str = "None",
                    timeout: float = DEFAULT_AFFINITY_TIMEOUT) -> None: ...

    def delete_service(self, service: ServicePortName) -> None: ...

    def on_endpoints_update(
            self, endpoints: Mapping[ServicePortName, Iterable[Endpoint]]) -> None: ...

    def next_endpoint(self, service: ServicePortName, src_addr: str, *,
                      reset_affinity: bool = False) -> Endpoint: ...


@dataclass(slots=True)
class _Affinity:
    endpoint: Endpoint
    last_used: float


@dataclass(slots=True)
class _State:
    endpoints: list[Endpoint] = field(default_factory=list)
    index: int = 0
    affinity: str = "None"
    timeout: float = DEFAULT_AFFINITY_TIMEOUT
    clients: dict[str, _Affinity] = field(default_factory=dict)


class RoundRobin:
    """The LoadBalancer: round robin over a shuffled list, optional ClientIP affinity."""

    def __init__(self, *, now: Callable[[], float] = time.monotonic,
                 rng: random.Random | None = None) -> None:
        self._now = now
        self._rng = rng or random.Random()
        self._services: dict[ServicePortName, _State] = {}

    # -- the four methods -----------------------------------------------------------------------

    def new_service(self, service: ServicePortName, *, affinity: str = "None",
                    timeout: float = DEFAULT_AFFINITY_TIMEOUT) -> None:
        """Declare (or re-declare) a service port; endpoints already known are kept, and a
        changed affinity policy forgets the remembered clients."""
        st = self._services.get(service)
        if st is None:
            st = self._services[service] = _State()
        if st.affinity != affinity or st.timeout != timeout:
            st.clients.clear()
        st.affinity = affinity
        st.timeout = timeout if timeout > 0 else DEFAULT_AFFINITY_TIMEOUT

    def delete_service(self, service: ServicePortName) -> None:
        self._services.pop(service, None)

    def on_endpoints_update(
            self, endpoints: Mapping[ServicePortName, Iterable[Endpoint]]) -> None:
        """The full picture: ports missing from ``endpoints`` have none any more."""
        seen: set[ServicePortName] = set()
        for service, eps in endpoints.items():
            seen.add(service)
            self._set(service, list(dict.fromkeys(eps)))
        for service, st in self._services.items():
            if service not in seen and st.endpoints:
                self._set(service, [])

    def next_endpoint(self, service: ServicePortName, src_addr: str, *,
                      reset_affinity: bool = False) -> Endpoint:
        st = self._services.get(service)
        if st is None or not st.endpoints:
            raise NoEndpoints(str(service))
        sticky = st.affinity == "ClientIP" and bool(src_addr)
        now = self._now()
        if sticky and not reset_affinity:
            aff = st.clients.get(src_addr)
            if aff is not None and now - aff.last_used < st.timeout:
                aff.last_used = now
                return aff.endpoint
        ep = st.endpoints[st.index % len(st.endpoints)]
        st.index = (st.index + 1) % len(st.endpoints)
        if sticky:
            st.clients[src_addr] = _Affinity(ep, now)
            if len(st.clients) > 4096:
                self._expire(st, now)
        return ep

    # -- helpers --------------------------------------------------------------------------------

    def endpoints(self, service: ServicePortName) -> list[Endpoint]:
        st = self._services.get(service)
        return list(st.endpoints) if st is not None else []

    def has_endpoints(self, service: ServicePortName) -> bool:
        st = self._services.get(service)
        return st is not None and bool(st.endpoints)

    def _set(self, service: ServicePortName, eps: list[Endpoint]) -> None:
        st = self._services.get(service)
        if st is None:
            # Endpoints may come before the service (two informers): keep them for it.
            st = self._services[service] = _State()
        if sorted(eps) == sorted(st.endpoints):
            return
        self._rng.shuffle(eps)
        st.endpoints = eps
        st.index = 0
        alive = set(eps)
        st.clients = {ip: a for ip, a in st.clients.items() if a.endpoint in alive}

    @staticmethod
    def _expire(st: _State, now: float) -> None:
        st.clients = {ip: a for ip, a in st.clients.items() if now - a.last_used < st.timeout}
