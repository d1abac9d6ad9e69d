"""The proxier: desired service ports in, listeners and one nftables transaction out.

roles/proxy.py computes the desired state from its informer caches (``service_ports`` and
``endpoints_by_port`` below, pure functions of Service and Endpoints objects) and calls
``Proxier.sync``, which makes the node match it:

- the load balancer (loadbalancer.py) learns every port's affinity and ready endpoints;
- every TCP/UDP service port has exactly one listener (tcp.py / udp.py) on a kernel-chosen
  port; a port that vanished or changed protocol loses its listener (its live connections
  go on, as with kube-proxy); a listener is kept across syncs, so its port and the portal rule
  pointing at it stay stable;
- the portals (portals.py) are replaced by one nft transaction covering the clusterIP and every
  externalIP of every port with a listener.

Sync is idempotent and reads only its arguments, so the caller may call it as often as it
likes (it rate-limits); after a restart the first sync replaces whatever table an earlier
process left, so no stale rule or listener survives. ``close`` resets live connections, closes
the listeners and removes the table.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .loadbalancer import DEFAULT_AFFINITY_TIMEOUT, Endpoint, RoundRobin, ServicePortName
from .portals import Portal, PortalRoutes, Portals
from .splice import PipePool
from .tcp import TcpListener
from .udp import UDP_IDLE_TIMEOUT, UdpListener

log = logging.getLogger(__name__)

Object = dict[str, Any]
PROTOCOLS = ("TCP", "UDP")


@dataclass(frozen=True, slots=True)
class ServicePortSpec:
    """What the proxy needs of one service port."""

    name: ServicePortName
    protocol: str
    """"TCP" or "UDP"."""
    cluster_ip: str
    port: int
    external_ips: tuple[str, ...] = ()
    affinity: str = "None"
    affinity_timeout: float = DEFAULT_AFFINITY_TIMEOUT


def service_ports(services: Iterable[Object]) -> dict[ServicePortName, ServicePortSpec]:
    """Proxied ports of the given Service objects (headless, ExternalName, clusterIP-less and
    SCTP ports are not proxied)."""
    out: dict[ServicePortName, ServicePortSpec] = {}
    for svc in services:
        md = svc.get("metadata") or {}
        spec = svc.get("spec") or {}
        ip = str(spec.get("clusterIP") or "")
        if spec.get("type") == "ExternalName" or ip in ("", "None"):
            continue
        externals = tuple(str(x) for x in (spec.get("externalIPs") or []) if x)
        affinity = str(spec.get("sessionAffinity") or "None")
        timeout = DEFAULT_AFFINITY_TIMEOUT
        cfg = ((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {})
        if isinstance(cfg.get("timeoutSeconds"), int | float) and cfg["timeoutSeconds"] > 0:
            timeout = float(cfg["timeoutSeconds"])
        for p in spec.get("ports") or []:
            proto = str(p.get("protocol") or "TCP").upper()
            port = p.get("port")
            if proto not in PROTOCOLS or not isinstance(port, int):
                continue
            name = ServicePortName(str(md.get("namespace") or "default"),
                                   str(md.get("name") or ""), str(p.get("name") or ""))
            out[name] = ServicePortSpec(name=name, protocol=proto, cluster_ip=ip, port=port,
                                        external_ips=externals, affinity=affinity,
                                        affinity_timeout=timeout)
    return out


def endpoints_by_port(endpoints: Iterable[Object]) -> dict[ServicePortName, list[Endpoint]]:
    """Ready addresses (``subsets[].addresses``, never notReadyAddresses) per service port."""
    out: dict[ServicePortName, list[Endpoint]] = {}
    for ep in endpoints:
        md = ep.get("metadata") or {}
        ns, name = str(md.get("namespace") or "default"), str(md.get("name") or "")
        for subset in ep.get("subsets") or []:
            ips = [str(a["ip"]) for a in subset.get("addresses") or [] if a.get("ip")]
            for p in subset.get("ports") or []:
                port = p.get("port")
                if not isinstance(port, int):
                    continue
                key = ServicePortName(ns, name, str(p.get("name") or ""))
                out.setdefault(key, []).extend(Endpoint(ip, port) for ip in ips)
    return out


@dataclass(slots=True)
class _Entry:
    spec: ServicePortSpec
    listener: TcpListener | UdpListener


class Proxier:
    def __init__(self, *, portals: Portals | None = None, bind_host: str = "0.0.0.0",
                 lb: RoundRobin | None = None, udp_idle_timeout: float = UDP_IDLE_TIMEOUT,
                 pool: PipePool | None = None, routes: PortalRoutes | None = None,
                 portal_net: str = "") -> None:
        self.portals = portals
        self.routes = routes
        self.portal_net = portal_net
        self.bind_host = bind_host
        self.lb = lb or RoundRobin()
        self.udp_idle_timeout = udp_idle_timeout
        self.pool = pool or PipePool()
        self.entries: dict[ServicePortName, _Entry] = {}
        self.syncs = 0
        self._lock = asyncio.Lock()

    def listener_port(self, name: ServicePortName) -> int | None:
        e = self.entries.get(name)
        return e.listener.port if e is not None else None

    async def sync(self, services: Mapping[ServicePortName, ServicePortSpec],
                   endpoints: Mapping[ServicePortName, Iterable[Endpoint]]) -> None:
        """Make listeners, load balancer and portals match ``services``/``endpoints``."""
        async with self._lock:
            self._sync_listeners(services, endpoints)
            if self.portals is not None:
                portals = self.portals_for()
                # libnftables blocks; a big table must not stall the relays on the loop.
                await asyncio.to_thread(self.portals.apply, portals)
                if self.routes is not None:
                    await asyncio.to_thread(self.routes.sync, self._route_dsts(portals))
            self.syncs += 1

    def _route_dsts(self, portals: list[Portal]) -> list[str]:
        """The portal net and every portal IP outside it (external IPs), for PortalRoutes."""
        dsts = [self.portal_net] if self.portal_net else []
        net = ipaddress.ip_network(self.portal_net, strict=False) if self.portal_net else None
        for p in portals:
            if net is None or ipaddress.ip_address(p.ip) not in net:
                dsts.append(f"{p.ip}/32")
        return list(dict.fromkeys(dsts))

    def _sync_listeners(self, services: Mapping[ServicePortName, ServicePortSpec],
                        endpoints: Mapping[ServicePortName, Iterable[Endpoint]]) -> None:
        for name, entry in list(self.entries.items()):
            want = services.get(name)
            if want is None or want.protocol != entry.spec.protocol:
                log.info("proxy: closing %s/%s (port %d)", name, entry.spec.protocol,
                         entry.listener.port)
                entry.listener.close()
                del self.entries[name]
                self.lb.delete_service(name)
        for name, spec in services.items():
            self.lb.new_service(name, affinity=spec.affinity, timeout=spec.affinity_timeout)
            known = self.entries.get(name)
            if known is not None:
                known.spec = spec
                continue
            try:
                listener = self._listen(spec)
            except OSError as e:
                log.error("proxy: cannot listen for %s: %s", name, e)
                continue
            listener.start()
            self.entries[name] = _Entry(spec, listener)
            log.info("proxy: %s %s:%d/%s -> local port %d", name, spec.cluster_ip, spec.port,
                     spec.protocol, listener.port)
        self.lb.on_endpoints_update({k: v for k, v in endpoints.items() if k in services})

    def _listen(self, spec: ServicePortSpec) -> TcpListener | UdpListener:
        if spec.protocol == "UDP":
            return UdpListener(spec.name, lb=self.lb, host=self.bind_host,
                               idle_timeout=self.udp_idle_timeout)
        return TcpListener(spec.name, lb=self.lb, pool=self.pool, host=self.bind_host)

    def portals_for(self) -> list[Portal]:
        out: list[Portal] = []
        for name, e in self.entries.items():
            proto = e.spec.protocol.lower()
            for ip in dict.fromkeys((e.spec.cluster_ip, *e.spec.external_ips)):
                if _ipv4(ip):
                    out.append(Portal(ip=ip, port=e.spec.port, protocol=proto,
                                      target_port=e.listener.port, service=str(name)))
        return out

    async def close(self) -> None:
        async with self._lock:
            for entry in self.entries.values():
                if isinstance(entry.listener, TcpListener):
                    entry.listener.close(reset_connections=True)
                else:
                    entry.listener.close()
            self.entries.clear()
            self.pool.close()
            if self.portals is not None:
                await asyncio.to_thread(self.portals.cleanup)
            if self.routes is not None:
                await asyncio.to_thread(self.routes.cleanup)


def _ipv4(ip: str) -> bool:
    parts = ip.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) < 256 for p in parts)
