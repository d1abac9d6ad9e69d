"""Service portal IPs (spec.clusterIP) and node ports: the Service strategy and its allocators.

Every Service of type ClusterIP, NodePort or LoadBalancer gets one address from --portal-net
(default 192.168.3.0/24, the seed's PORTAL_NET) that no other Service holds; NodePort and
LoadBalancer ports also get a spec.ports[].nodePort from 30000-32767. The registry calls
``ServiceStrategy`` before validation (``prepare_create`` / ``prepare_update``) and after a
Service is really gone (``after_delete``), per interfaces.Strategy.

Why the allocator talks to the store directly (the one place in the API server besides the
registry): an allocation map is not a Kubernetes resource, so RegistryView cannot hold it. Like
Kubernetes' RangeAllocation (/registry/ranges/serviceips), the whole map is ONE store key,
changed only by compare-and-swap on its revision. That single key is what makes an address never
given twice: concurrent creates in this process, in another API server on the same etcd, or
before and after a restart all race on the same revision, and the loser retries on the fresh
map. An in-process lock only keeps local callers from wasting those retries.

Leaks: an address is taken in ``prepare_create``, before validation, admission and the store
write, any of which may still fail. ``abort_create`` gives an address back when the caller knows
the write failed; ``repair`` (run on exhaustion and, when wired, periodically) frees addresses
that no Service holds once they are older than a grace period, so an in-flight create elsewhere
never loses its address. Each entry therefore records when it was taken.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
import time
from collections.abc import Iterable, Sequence
from typing import Any

from ...api import errors
from ...api.resources import require
from ...store import base as store
from .interfaces import Object, RegistryView

log = logging.getLogger(__name__)

SERVICE_IPS_KEY = "/registry/ranges/serviceips"
NODE_PORTS_KEY = "/registry/ranges/servicenodeports"
DEFAULT_NODE_PORT_RANGE = "30000-32767"
REPAIR_GRACE_SECONDS = 60.0
_MAX_CAS_ATTEMPTS = 200
_IP_TYPES = ("ClusterIP", "NodePort", "LoadBalancer")
_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")



_SERVICES = require("services")


class AllocatorError(Exception):
    """Base of the allocator's own errors; ServiceStrategy turns them into API errors."""


class OutOfRange(AllocatorError):
    def __init__(self, item: str) -> None:
        super().__init__(f"{item} is not in the range")
        self.item = item


class AlreadyAllocated(AllocatorError):
    def __init__(self, item: str) -> None:
        super().__init__(f"{item} is already allocated")
        self.item = item


class RangeFull(AllocatorError):
    pass


class RangeAllocator:
    """A set of taken members of a finite range, kept in one store key under CAS.

    Members are strings (``"192.168.3.7"``, ``"30080"``) so the stored map survives a change of
    the configured range: entries outside the new range are simply ignored.
    """

    def __init__(self, backend: store.Backend, *, key: str, range_text: str) -> None:
        self._store = backend
        self._key = key
        self._range_text = range_text
        self._lock = asyncio.Lock()

    # Subclasses describe the range as offsets 0..size-1.
    @property
    def size(self) -> int:
        raise NotImplementedError

    def member(self, offset: int) -> str:
        raise NotImplementedError

    def offset(self, item: str) -> int | None:
        """The offset of item, or None when it is not in the range."""
        raise NotImplementedError

    @property
    def range_text(self) -> str:
        return self._range_text

    async def allocated(self) -> dict[str, float]:
        """Member -> when it was taken (epoch seconds); for tests and repair."""
        taken, _ = await self._read()
        return taken

    async def allocate(self, requests: Sequence[str | None]) -> list[str]:
        """Take one member per request, all or none: a string asks for that member, None for
        any free one (picked at random, as Kubernetes does, so names do not hint at order)."""
        for item in requests:
            if item is not None and self.offset(item) is None:
                raise OutOfRange(item)

        def change(taken: dict[str, float]) -> list[str]:
            now = time.time()
            out: list[str | None] = list(requests)
            # Specific requests first, so a random pick never takes an address asked for.
            for item in requests:
                if item is not None:
                    if item in taken:
                        raise AlreadyAllocated(item)
                    taken[item] = now
            for i, item in enumerate(requests):
                if item is None:
                    got = self._pick_free(taken)
                    taken[got] = now
                    out[i] = got
            return [str(x) for x in out]

        if not requests:
            return []
        return await self._cas(change)

    async def release(self, items: Iterable[str]) -> None:
        wanted = [i for i in items if i]
        if not wanted:
            return

        def change(taken: dict[str, float]) -> bool:
            hit = False
            for item in wanted:
                hit = taken.pop(item, None) is not None or hit
            return hit

        await self._cas(change, skip_unchanged=True)

    async def repair(self, in_use: Iterable[str], *, grace: float = REPAIR_GRACE_SECONDS) -> int:
        """Make the map agree with what objects hold: mark members in use that the map lacks,
        free members nobody holds that were taken more than ``grace`` seconds ago. Returns how
        many were freed."""
        holders = {i for i in in_use if i and self.offset(i) is not None}

        def change(taken: dict[str, float]) -> int:
            cutoff = time.time() - grace
            leaked = [i for i, at in taken.items() if i not in holders and at <= cutoff]
            for i in leaked:
                del taken[i]
            for i in holders - taken.keys():
                taken[i] = time.time()
            return len(leaked)

        return await self._cas(change)

    def _pick_free(self, taken: dict[str, float]) -> str:
        size = self.size
        in_range = sum(1 for i in taken if self.offset(i) is not None)
        if in_range >= size:
            raise RangeFull(f"range {self._range_text} is full")
        start = random.randrange(size)
        for step in range(size):
            item = self.member((start + step) % size)
            if item not in taken:
                return item
        raise RangeFull(f"range {self._range_text} is full")

    async def _read(self) -> tuple[dict[str, float], int]:
        """The map and its revision (0 when the key does not exist yet)."""
        try:
            kv = await self._store.get(self._key)
        except store.NotFound:
            return {}, 0
        doc = json.loads(kv.value)
        raw = doc.get("allocated") or {}
        return {str(k): float(v) for k, v in raw.items()}, kv.mod_revision

    def _encode(self, taken: dict[str, float]) -> bytes:
        doc = {
            "kind": "RangeAllocation",
            "apiVersion": "v1",
            "metadata": {"name": self._key.rsplit("/", 1)[-1]},
            "range": self._range_text,
            "allocated": {k: int(v) for k, v in sorted(taken.items())},
        }
        return json.dumps(doc, separators=(",", ":")).encode()

    async def _cas(self, change: Any, *, skip_unchanged: bool = False) -> Any:
        async with self._lock:
            for attempt in range(_MAX_CAS_ATTEMPTS):
                try:
                    taken, revision = await self._read()
                    result = change(taken)
                    if skip_unchanged and not result:
                        return result
                    value = self._encode(taken)
                    if revision == 0:
                        await self._store.create(self._key, value)
                    else:
                        await self._store.update(self._key, value, expected_revision=revision)
                    return result
                except (store.Conflict, store.AlreadyExists, store.NotFound):
                    # Another API server wrote first: read the fresh map and try again.
                    await asyncio.sleep(random.uniform(0, 0.002 * min(attempt + 1, 20)))
                except store.Unavailable as e:
                    raise errors.ServiceUnavailable(f"storage unavailable: {e}") from e
            raise errors.ServiceUnavailable(
                f"could not update {self._key}: too many concurrent writers"
            )


class IPRange(RangeAllocator):
    """Usable host addresses of a CIDR: the network and broadcast addresses are never given."""

    def __init__(self, backend: store.Backend, *, cidr: str, key: str = SERVICE_IPS_KEY) -> None:
        net = ipaddress.ip_network(cidr, strict=False)
        super().__init__(backend, key=key, range_text=str(net))
        self.network = net
        n = net.num_addresses
        # /31 and /32 (and IPv6 equivalents) have no network/broadcast address to skip.
        self._first = int(net.network_address) + (1 if n > 2 else 0)
        reserved = (2 if net.version == 4 else 1) if n > 2 else 0
        # IPv6 ranges are capped like Kubernetes caps its bitmap (2^16 members is plenty).
        self._size = min(n - reserved, 1 << 16)

    @property
    def size(self) -> int:
        return self._size

    @property
    def first(self) -> str:
        return self.member(0)

    def member(self, offset: int) -> str:
        return str(ipaddress.ip_address(self._first + offset))

    def offset(self, item: str) -> int | None:
        try:
            addr = ipaddress.ip_address(item)
        except ValueError:
            return None
        if addr.version != self.network.version:
            return None
        off = int(addr) - self._first
        return off if 0 <= off < self._size else None


class PortRange(RangeAllocator):
    def __init__(
        self, backend: store.Backend, *, span: str = DEFAULT_NODE_PORT_RANGE,
        key: str = NODE_PORTS_KEY,
    ) -> None:
        lo_text, _, hi_text = span.partition("-")
        lo, hi = int(lo_text), int(hi_text or lo_text)
        if not 0 < lo <= hi <= 65535:
            raise ValueError(f"invalid port range {span!r}")
        super().__init__(backend, key=key, range_text=f"{lo}-{hi}")
        self.lo, self.hi = lo, hi

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1

    def member(self, offset: int) -> str:
        return str(self.lo + offset)

    def offset(self, item: str) -> int | None:
        try:
            port = int(item)
        except ValueError:
            return None
        return port - self.lo if self.lo <= port <= self.hi else None


def _spec(obj: Object) -> dict[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
        obj["spec"] = spec
    return spec


def _name(obj: Object) -> str:
    md = obj.get("metadata") or {}
    return str(md.get("name") or "")


def _namespace(obj: Object) -> str:
    md = obj.get("metadata") or {}
    return str(md.get("namespace") or "")


def _cluster_ip(spec: dict[str, Any]) -> str:
    """The requested address: spec.clusterIP, else the first of today's spec.clusterIPs."""
    ip = spec.get("clusterIP")
    if not ip:
        ips = spec.get("clusterIPs")
        if isinstance(ips, list) and ips:
            ip = ips[0]
    return str(ip or "")


def _set_cluster_ip(spec: dict[str, Any], ip: str) -> None:
    spec["clusterIP"] = ip
    spec["clusterIPs"] = [ip]


def _node_ports(spec: dict[str, Any]) -> list[str]:
    return [str(p["nodePort"]) for p in _ports(spec) if p.get("nodePort")]


def _ports(spec: dict[str, Any]) -> list[dict[str, Any]]:
    ports = spec.get("ports")
    return [p for p in ports if isinstance(p, dict)] if isinstance(ports, list) else []


class ServiceStrategy:
    """interfaces.Strategy for services: allocates, keeps and releases clusterIPs and nodePorts."""

    def __init__(
        self,
        portal_net: str,
        *,
        store: store.Backend,
        node_port_range: str = DEFAULT_NODE_PORT_RANGE,
        repair_grace: float = REPAIR_GRACE_SECONDS,
    ) -> None:
        self.ips = IPRange(store, cidr=portal_net)
        self.ports = PortRange(store, span=node_port_range)
        self.repair_grace = repair_grace

    # -- interfaces.Strategy ------------------------------------------------------------

    async def prepare_create(self, obj: Object, registry: RegistryView) -> None:
        name, namespace = _name(obj), _namespace(obj)
        if name:
            # The commonest failure after allocation is a second `kubectl create`; answering it
            # here keeps that from taking (and leaking) an address each time.
            try:
                await registry.get(_SERVICES, namespace, name)
            except errors.NotFound:
                pass
            else:
                raise errors.AlreadyExists.of("services", name)
        spec = _spec(obj)
        svc_type = str(spec.get("type") or "ClusterIP")
        ip: str | None = None
        if svc_type in _IP_TYPES:
            ip = await self._allocate_ip(spec, registry, name=name, namespace=namespace)
        try:
            if svc_type in _NODE_PORT_TYPES:
                await self._allocate_node_ports(spec, name=name, keep={})
        except BaseException:
            if ip:
                await self.ips.release([ip])
            raise

    async def prepare_update(self, obj: Object, old: Object, registry: RegistryView) -> None:
        spec, old_spec = _spec(obj), _spec(old)
        name = _name(obj) or _name(old)
        svc_type = str(spec.get("type") or "ClusterIP")
        old_ip = _cluster_ip(old_spec)
        new_ip = _cluster_ip(spec)
        if old_ip:
            if not new_ip:
                # kubectl replace/apply of a manifest without clusterIP keeps the one given.
                new_ip = old_ip
            elif new_ip != old_ip and svc_type != "ExternalName":
                raise errors.Invalid.of("Service", name, [
                    errors.invalid("spec.clusterIP", new_ip, "field is immutable")])
            if svc_type != "ExternalName":
                _set_cluster_ip(spec, new_ip)
        elif svc_type in _IP_TYPES:
            # ExternalName -> ClusterIP: the Service needs an address now.
            await self._allocate_ip(spec, registry, name=name, namespace=_namespace(obj))
        if svc_type in _NODE_PORT_TYPES:
            keep: dict[tuple[int, str], int] = {}
            for p in _ports(old_spec):
                if p.get("nodePort"):
                    keep[(int(p.get("port") or 0), str(p.get("protocol") or "TCP"))] = int(
                        p["nodePort"])
            await self._allocate_node_ports(spec, name=name, keep=keep)

    async def after_delete(self, obj: Object, registry: RegistryView) -> None:
        spec = _spec(obj)
        ip = _cluster_ip(spec)
        if ip and ip != "None":
            await self.ips.release([ip])
        await self.ports.release(_node_ports(spec))

    # -- for callers that can use them ----------------------------------------------------

    async def abort_create(self, obj: Object) -> None:
        """Give back what prepare_create took for obj when its create failed afterwards."""
        await self.after_delete(obj, _NO_REGISTRY)

    async def repair(self, registry: RegistryView) -> int:
        """Free addresses and ports no Service holds (after the grace period); mark held ones.
        Kubernetes runs the same reconciliation (its ipallocator repair controller)."""
        held_ips: list[str] = []
        held_ports: list[str] = []
        for svc in await registry.list(_SERVICES):
            spec = svc.get("spec") or {}
            ip = _cluster_ip(spec)
            if ip and ip != "None":
                held_ips.append(ip)
            held_ports.extend(_node_ports(spec))
        freed = await self.ips.repair(held_ips, grace=self.repair_grace)
        freed += await self.ports.repair(held_ports, grace=self.repair_grace)
        if freed:
            log.info("service allocator repair freed %d leaked members", freed)
        return freed

    async def run_repair(self, registry: RegistryView, *, interval: float = 180.0) -> None:
        """Repair forever; meant to run under the node's Supervisor."""
        while True:
            await asyncio.sleep(interval)
            try:
                await self.repair(registry)
            except (errors.APIError, store.StoreError) as e:
                log.warning("service allocator repair failed: %s", e)

    # -- internals -------------------------------------------------------------------------

    async def _allocate_ip(
        self, spec: dict[str, Any], registry: RegistryView, *, name: str, namespace: str
    ) -> str | None:
        requested = _cluster_ip(spec)
        if requested == "None":
            # Headless: no address, and clusterIPs mirrors it as today's API does.
            _set_cluster_ip(spec, "None")
            return None
        if requested:
            try:
                ipaddress.ip_address(requested)
            except ValueError:
                raise errors.Invalid.of("Service", name, [errors.invalid(
                    "spec.clusterIP", requested,
                    "must be empty, 'None', or a valid IP address")]) from None
            try:
                (ip,) = await self.ips.allocate([requested])
            except OutOfRange:
                raise errors.Invalid.of("Service", name, [errors.invalid(
                    "spec.clusterIP", requested,
                    "provided IP is not in the valid range. The range of valid IPs is "
                    f"{self.ips.range_text}")]) from None
            except AlreadyAllocated:
                raise errors.Invalid.of("Service", name, [errors.invalid(
                    "spec.clusterIP", requested, "provided IP is already allocated")]) from None
        else:
            ip = await self._allocate_any_ip(
                registry, kubernetes=(namespace, name) == ("default", "kubernetes"))
        _set_cluster_ip(spec, ip)
        return ip

    async def _allocate_any_ip(self, registry: RegistryView, *, kubernetes: bool) -> str:
        if kubernetes:
            # The API server's own service takes the first address, as Kubernetes' does.
            try:
                (ip,) = await self.ips.allocate([self.ips.first])
                return ip
            except AlreadyAllocated:
                pass
        for last_try in (False, True):
            try:
                (ip,) = await self.ips.allocate([None])
                return ip
            except RangeFull:
                if last_try:
                    break
                # Failed creates may have left addresses behind: reclaim the old ones.
                await self.repair(registry)
        raise errors.InternalError(
            "Internal error occurred: failed to allocate a serviceIP: range is full")

    async def _allocate_node_ports(
        self, spec: dict[str, Any], *, name: str, keep: dict[tuple[int, str], int]
    ) -> None:
        ports = _ports(spec)
        requests: list[str | None] = []
        where: list[int] = []
        for i, p in enumerate(ports):
            key = (int(p.get("port") or 0), str(p.get("protocol") or "TCP"))
            if p.get("nodePort"):
                if keep.get(key) == int(p["nodePort"]) or int(p["nodePort"]) in keep.values():
                    continue  # already ours from before the update
                requests.append(str(p["nodePort"]))
            elif key in keep:
                p["nodePort"] = keep[key]
                continue
            else:
                requests.append(None)
            where.append(i)
        if not requests:
            return
        try:
            got = await self.ports.allocate(requests)
        except OutOfRange as e:
            idx = where[requests.index(e.item)]
            raise errors.Invalid.of("Service", name, [errors.invalid(
                f"spec.ports[{idx}].nodePort", int(e.item),
                "provided port is not in the valid range. The range of valid ports is "
                f"{self.ports.range_text}")]) from None
        except AlreadyAllocated as e:
            idx = where[requests.index(e.item)]
            raise errors.Invalid.of("Service", name, [errors.invalid(
                f"spec.ports[{idx}].nodePort", int(e.item),
                "provided port is already allocated")]) from None
        except RangeFull:
            raise errors.InternalError(
                "Internal error occurred: failed to allocate a nodePort: range is full") from None
        for i, port in zip(where, got, strict=True):
            ports[i]["nodePort"] = int(port)


class _NoRegistry:
    """after_delete never consults the registry; abort_create passes this stand-in."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError("ServiceStrategy.abort_create must not use the registry")


_NO_REGISTRY: Any = _NoRegistry()
