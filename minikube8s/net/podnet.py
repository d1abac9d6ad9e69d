"""The pod network across nodes: host-gw routes, our own masquerade, and Docker's FORWARD gate.

The seed ran flannel: each host leased a /24 of FLANNEL_NET and pods talked to pods on other
hosts by their own IPs. Here the controller manager hands out the /24s (node_ipam.py writes
``spec.podCIDR``), the Docker runtime puts the node's pods on a bridge with that subnet
(roles/kubelet/docker/network.py, bridge ``mk8s0``), and this module, run by every Docker node
(roles/__init__.py starts it for role i), makes the subnets reachable from each other:

- Routes (pyroute2, host-gw as flannel's backend of that name): every other node's podCIDR via
  that node's InternalIP, in the main table with routing protocol ``ROUTE_PROTO`` so that only
  our own routes are ever listed, replaced or deleted. Level-triggered: a node informer kicks a
  sync, and a sync computes the wanted routes from the cache, dumps ours from the kernel and
  applies the difference; a periodic resync repairs whatever someone else changed.
- NAT (python-nftables, table ``ip minikube8s-podnet``, replaced whole in one transaction):
  pod traffic leaving the cluster network is masqueraded, pod-to-pod traffic is not. Docker's
  own masquerade rule (``-s podCIDR ! -o mk8s0 -j MASQUERADE``) would also rewrite traffic to
  other nodes' pods, and in nftables an ``accept`` in our table cannot stop a chain of
  Docker's table at the same hook; so the runtime creates its network with Docker's
  masquerade off (``com.docker.network.bridge.enable_ip_masquerade=false``, what flannel asked
  of Docker with ``--ip-masq=false``) and this table does the masquerading instead.
- FORWARD: Docker (iptables=true) sets the filter FORWARD policy to DROP and only lets in new
  connections to published ports, which drops pods of other nodes reaching our pods. Its
  documented place for admin rules is the DOCKER-USER chain (in iptables' filter table, which
  our nftables table cannot override), so we insert ``-s FLANNEL_NET -j ACCEPT`` and
  ``-d FLANNEL_NET -j ACCEPT`` there with the iptables CLI (legacy or nft backend alike).
  A Docker started with ``--iptables=false`` has no such chain and no DROP policy: skipped.
- ``net.ipv4.ip_forward`` is set to 1 (per network namespace; Docker sets it too).

Nothing is removed on shutdown: like the pods (a stopped kubelet leaves containers running),
the network keeps working until the next process takes over and reconciles.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shutil
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..client import Informer, resource
from ..roles.context import RoleContext

log = logging.getLogger(__name__)

NODES = resource("nodes")
ROUTE_PROTO = 137
"""Our routing protocol number (rtm_protocol; /etc/iproute2/rt_protos leaves 137 unused)."""
NFT_TABLE = "minikube8s-podnet"
BRIDGE = "mk8s0"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
RESYNC = 30.0

Object = dict[str, Any]


class PodNetError(Exception):
    """The kernel refused a route or a rule."""


# -- the pure part: what the kernel should have ---------------------------------------------------


def _internal_ip(node: Object) -> str:
    for a in (node.get("status") or {}).get("addresses") or []:
        if a.get("type") == "InternalIP" and a.get("address"):
            return str(a["address"])
    return ""


def node_route(node: Object) -> tuple[str, str] | None:
    """(podCIDR, InternalIP) of a node, normalised; None while either is missing or bad."""
    cidr = str((node.get("spec") or {}).get("podCIDR") or "")
    ip = _internal_ip(node)
    if not cidr or not ip:
        return None
    try:
        net = ipaddress.ip_network(cidr, strict=False)
        gw = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if net.version != 4 or gw.version != 4:
        return None
    return str(net), str(gw)


def desired_routes(nodes: Iterable[Object], *, self_name: str,
                   cluster_cidr: str) -> dict[str, str]:
    """podCIDR -> gateway for every other node whose podCIDR lies in ``cluster_cidr``. Two nodes
    claiming one subnet (never made by node_ipam, but the API allows it) route to neither."""
    cluster = ipaddress.ip_network(cluster_cidr, strict=False)
    wanted: dict[str, str] = {}
    clashes: set[str] = set()
    for node in nodes:
        name = str((node.get("metadata") or {}).get("name") or "")
        route = node_route(node)
        if route is None or name == self_name:
            continue
        cidr, gw = route
        net = ipaddress.ip_network(cidr)
        if not net.subnet_of(cluster):  # type: ignore[arg-type]
            log.debug("podnet: node %s podCIDR %s is outside %s: no route", name, cidr, cluster)
            continue
        if cidr in wanted and wanted[cidr] != gw:
            clashes.add(cidr)
        wanted[cidr] = gw
    for cidr in clashes:
        log.warning("podnet: several nodes claim podCIDR %s: routing it nowhere", cidr)
        del wanted[cidr]
    return wanted


@dataclass(slots=True)
class RoutePlan:
    replace: dict[str, str] = field(default_factory=dict)
    delete: dict[str, str] = field(default_factory=dict)
    foreign: list[str] = field(default_factory=list)
    """Wanted destinations someone else already routes: left alone."""

    def __bool__(self) -> bool:
        return bool(self.replace or self.delete)


def plan_routes(wanted: dict[str, str], ours: dict[str, str],
                others: Iterable[str] = ()) -> RoutePlan:
    """The changes from ``ours`` (our routes in the kernel) to ``wanted``; destinations in
    ``others`` (routes of other protocols) are never taken over."""
    taken = set(others)
    plan = RoutePlan()
    for dst, gw in wanted.items():
        if dst in taken and dst not in ours:
            plan.foreign.append(dst)
        elif ours.get(dst) != gw:
            plan.replace[dst] = gw
    for dst, gw in ours.items():
        if dst not in wanted or dst in plan.foreign:
            plan.delete[dst] = gw
    return plan


def nft_ruleset(*, pod_cidr: str, cluster_cidr: str, bridge: str = BRIDGE) -> str:
    """Our NAT table, as one nft script that replaces it atomically. Pods' traffic to anything
    but the cluster network and their own bridge is masqueraded; to other pods it keeps the
    pod IP."""
    rules = ""
    if pod_cidr:
        rules = (f"\t\tip saddr {pod_cidr} ip daddr != {cluster_cidr} "
                 f'oifname != "{bridge}" masquerade\n')
    return (f"table ip {NFT_TABLE}\n"
            f"delete table ip {NFT_TABLE}\n"
            f"table ip {NFT_TABLE} {{\n"
            "\tchain postrouting {\n"
            "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
            f"{rules}"
            "\t}\n"
            "}\n")


def forward_rules(cluster_cidr: str) -> list[list[str]]:
    """The DOCKER-USER rules (iptables argv after the chain name) letting pod traffic pass."""
    return [["-s", cluster_cidr, "-j", "ACCEPT"], ["-d", cluster_cidr, "-j", "ACCEPT"]]


# -- the kernel ----------------------------------------------------------------------------------


class RouteTable(Protocol):
    async def dump(self) -> tuple[dict[str, str], set[str]]:
        """(our routes dst -> gateway, destinations routed by anyone else) in the main table."""
        ...

    async def replace(self, dst: str, gateway: str) -> None: ...

    async def delete(self, dst: str, gateway: str) -> None: ...


class KernelRoutes:
    """The main IPv4 routing table over rtnetlink (pyroute2), one socket for the process."""

    def __init__(self, proto: int = ROUTE_PROTO) -> None:
        self.proto = proto
        self._ipr: Any = None

    def _sock(self) -> Any:
        if self._ipr is None:
            from pyroute2 import AsyncIPRoute

            self._ipr = AsyncIPRoute()
        return self._ipr

    async def dump(self) -> tuple[dict[str, str], set[str]]:
        from pyroute2.netlink.exceptions import NetlinkError

        ipr = self._sock()
        ours: dict[str, str] = {}
        others: set[str] = set()
        try:
            async for r in await ipr.route("dump", family=socket.AF_INET, table=254):
                dst = f"{r.get('dst') or '0.0.0.0'}/{r['dst_len']}"
                if r["proto"] == self.proto:
                    ours[dst] = str(r.get("gateway") or "")
                else:
                    others.add(dst)
        except (NetlinkError, OSError) as e:
            raise PodNetError(f"listing routes: {e}") from e
        return ours, others

    async def replace(self, dst: str, gateway: str) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            await self._sock().route("replace", dst=dst, gateway=gateway,
                                             proto=self.proto, table=254)
        except (NetlinkError, OSError) as e:
            raise PodNetError(f"route {dst} via {gateway}: {e}") from e

    async def delete(self, dst: str, gateway: str) -> None:
        from pyroute2.netlink.exceptions import NetlinkError

        try:
            await self._sock().route("del", dst=dst, gateway=gateway or None,
                                             proto=self.proto, table=254)
        except NetlinkError as e:
            if e.code == 3:  # ESRCH: already gone
                return
            raise PodNetError(f"deleting route {dst}: {e}") from e

    def close(self) -> None:
        if self._ipr is not None:
            with contextlib.suppress(Exception):
                self._ipr.close()
            self._ipr = None


class Firewall(Protocol):
    async def apply_nat(self, script: str) -> None: ...

    async def ensure_forward(self, rules: list[list[str]]) -> bool:
        """Make sure DOCKER-USER starts with ``rules``; False when there is no such chain."""
        ...


class KernelFirewall:
    """nftables through libnftables for our table, the iptables CLI for Docker's chain."""

    def __init__(self) -> None:
        self._nft: Any = None
        self.iptables = shutil.which("iptables") or ""

    def _run_nft(self, script: str) -> None:
        if self._nft is None:
            import nftables

            self._nft = nftables.Nftables()
        rc, _, err = self._nft.cmd(script)
        if rc != 0:
            raise PodNetError(f"nft: {err.strip()}")

    async def apply_nat(self, script: str) -> None:
        await asyncio.to_thread(self._run_nft, script)

    async def _iptables(self, *args: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            self.iptables, "-w", "5", *args, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        _, err = await proc.communicate()
        return int(proc.returncode or 0), err.decode(errors="replace").strip()

    async def ensure_forward(self, rules: list[list[str]]) -> bool:
        if not self.iptables:
            return False
        code, _ = await self._iptables("-n", "-L", "DOCKER-USER")
        if code != 0:
            return False
        for rule in reversed(rules):
            code, _ = await self._iptables("-C", "DOCKER-USER", *rule)
            if code == 0:
                continue
            code, err = await self._iptables("-I", "DOCKER-USER", "1", *rule)
            if code != 0:
                raise PodNetError(f"iptables -I DOCKER-USER {' '.join(rule)}: {err}")
            log.info("podnet: DOCKER-USER %s", " ".join(rule))
        return True


def enable_ip_forward(path: Path = IP_FORWARD) -> bool:
    """Set net.ipv4.ip_forward (of this process's network namespace); True if it changed."""
    if path.read_text().strip() == "1":
        return False
    path.write_text("1\n")
    return True


# -- the loop ------------------------------------------------------------------------------------


class PodNetwork:
    """Keeps this node's routes, NAT table and FORWARD rules in line with the Node objects."""

    def __init__(self, *, node_name: str, cluster_cidr: str, nodes: Informer,
                 routes: RouteTable, firewall: Firewall, bridge: str = BRIDGE,
                 resync: float = RESYNC, ip_forward: Path | None = IP_FORWARD) -> None:
        ipaddress.ip_network(cluster_cidr, strict=False)  # ValueError early, at start
        self.node_name = node_name
        self.cluster_cidr = str(ipaddress.ip_network(cluster_cidr, strict=False))
        self.nodes = nodes
        self.routes = routes
        self.firewall = firewall
        self.bridge = bridge
        self.resync = resync
        self.ip_forward = ip_forward
        self._kick = asyncio.Event()
        self._nat_applied = ""
        self._warned: set[str] = set()
        self.syncs = 0
        nodes.add_handler(on_add=self._changed, on_update=self._updated,
                          on_delete=self._changed)

    def _changed(self, node: Object) -> None:
        self._kick.set()

    def _updated(self, old: Object, new: Object) -> None:
        # Heartbeats rewrite every node every few seconds; only a new subnet or address matters.
        if node_route(old) != node_route(new):
            self._kick.set()

    def kick(self) -> None:
        self._kick.set()

    def _own_pod_cidr(self) -> str:
        node = self.nodes.get(self.node_name)
        route = node_route(node) if node else None
        if route is not None:
            return route[0]
        cidr = str(((node or {}).get("spec") or {}).get("podCIDR") or "")
        return str(ipaddress.ip_network(cidr, strict=False)) if cidr else ""

    def _warn_once(self, key: str, msg: str, *args: object) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(msg, *args)

    async def sync(self) -> bool:
        """One level-triggered pass; raises PodNetError if anything could not be applied
        (the rest is still applied). False when Docker's DOCKER-USER chain is not there (yet:
        a dockerd starting after us; or never: ``--iptables=false``), so the caller looks
        again soon rather than at the next resync."""
        self.syncs += 1
        failures: list[str] = []
        if self.ip_forward is not None:
            try:
                if enable_ip_forward(self.ip_forward):
                    log.info("podnet: net.ipv4.ip_forward = 1")
            except OSError as e:
                failures.append(f"ip_forward: {e}")

        wanted = desired_routes(self.nodes.list(), self_name=self.node_name,
                                cluster_cidr=self.cluster_cidr)
        ours, others = await self.routes.dump()
        plan = plan_routes(wanted, ours, others)
        for dst in plan.foreign:
            self._warn_once(f"foreign {dst}", "podnet: %s is already routed by someone else; "
                            "not touching it", dst)
        for dst, gw in plan.delete.items():
            try:
                await self.routes.delete(dst, gw)
                log.info("podnet: route %s via %s removed", dst, gw)
            except PodNetError as e:
                failures.append(str(e))
        for dst, gw in plan.replace.items():
            try:
                await self.routes.replace(dst, gw)
                log.info("podnet: route %s via %s", dst, gw)
            except PodNetError as e:
                failures.append(str(e))

        script = nft_ruleset(pod_cidr=self._own_pod_cidr(), cluster_cidr=self.cluster_cidr,
                             bridge=self.bridge)
        try:
            await self.firewall.apply_nat(script)
            if script != self._nat_applied:
                log.info("podnet: nft table %s: masquerade %s", NFT_TABLE,
                         self._own_pod_cidr() or "(no podCIDR yet)")
            self._nat_applied = script
        except PodNetError as e:
            failures.append(str(e))

        forward = False
        try:
            forward = await self.firewall.ensure_forward(forward_rules(self.cluster_cidr))
        except PodNetError as e:
            failures.append(str(e))
        if failures:
            raise PodNetError("; ".join(failures))
        return forward

    async def run(self) -> None:
        """Sync on every relevant node change and every ``resync`` seconds, for ever. A failed
        sync is logged and retried (sooner while it keeps failing), never fatal: the node's
        pods still run, only cross-node traffic suffers."""
        await self.nodes.wait_synced()
        retry = 1.0
        while True:
            self._kick.clear()
            delay = self.resync
            try:
                complete = await self.sync()
            except PodNetError as e:
                self._warn_once(f"sync {e}", "podnet: %s (retrying)", e)
                complete = False
            if complete:
                retry = 1.0
            else:
                delay = min(retry, self.resync)
                retry = min(retry * 2, self.resync)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._kick.wait()


async def start(ctx: RoleContext, *, bridge: str = BRIDGE) -> PodNetwork | None:
    """Start this node's pod network task (Docker nodes only: the caller decides)."""
    cfg = ctx.config
    nodes = ctx.informers.informer(NODES)
    routes = KernelRoutes()
    try:
        net = PodNetwork(node_name=cfg.node_name, cluster_cidr=cfg.flannel_net, nodes=nodes,
                         routes=routes, firewall=KernelFirewall(), bridge=bridge)
    except ValueError as e:
        log.error("podnet: --flannel-net %r is not a network (%s): no pod routes",
                  cfg.flannel_net, e)
        return None

    async def run() -> None:
        try:
            await net.run()
        finally:
            routes.close()

    ctx.supervisor.start(run(), name=f"podnet {cfg.node_name}")
    return net


__all__ = ["NFT_TABLE", "ROUTE_PROTO", "KernelFirewall", "KernelRoutes", "PodNetError",
           "PodNetwork", "desired_routes", "forward_rules", "nft_ruleset", "plan_routes",
           "start"]
