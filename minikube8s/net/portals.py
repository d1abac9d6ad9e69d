"""Portal IPs made real: nftables rules sending portalIP:port to the proxy's local listener.

The seed's iptables-save shows the two chains the userspace kube-proxy kept:
KUBE-PORTALS-CONTAINER (nat PREROUTING: traffic from containers to portalIP:port is REDIRECTed
to the proxy's port) and KUBE-PORTALS-HOST (nat OUTPUT: traffic from the node itself is DNATed
to hostIP:proxyport). This module keeps the same two paths in a table of its own
(``table ip minikube8s``), so Docker's ``ip nat``/``ip filter`` tables are never touched:

- chain ``portals_container``, hook prerouting at priority dstnat - 1 (before Docker's DNAT):
  ``redirect to : ip daddr . tcp dport map @tcp_portals``;
- chain ``portals_host``, hook output: ``dnat ip to ip daddr . tcp dport map @tcp_host``
  (nodeIP . listener port) when the node IP is known, else a redirect, which the kernel sends
  to 127.0.0.1 for locally generated packets (and which needs no route_localnet);
- the same for UDP, and for every spec.externalIPs (the seed's publicIPs) address.

The portal list lives in maps keyed ``ip . port``, so a packet costs one hash lookup however
many services there are, and the whole table is replaced in ONE nft transaction per sync
(``add table; delete table; table { ... }`` in one batch: atomic, and nothing stale survives,
whatever an earlier process left). The old userspace proxier added one iptables rule at a time
(about 40 s for 800 rules); here 800 portals are one netlink batch.

``render`` is pure (unit tested); ``Portals`` runs it through libnftables (the ``nftables``
module of pip-nftables). Errors are ``PortalError``; ``PortalsUnavailable`` says nftables
cannot be used at all here (no libnftables, or no CAP_NET_ADMIN), which roles/proxy.py turns
into a clear start-up failure.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_TABLE = "minikube8s"
PRIORITY = -101
"""One before dstnat (-100): our portals win over Docker's DNAT for the same packet."""
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_COMMENT_SAFE = re.compile(r"[^A-Za-z0-9_.:/\-]")


class PortalError(RuntimeError):
    """An nft transaction failed (the message is nft's)."""


class PortalsUnavailable(PortalError):
    """nftables cannot be used from this process (library missing, or not permitted)."""


@dataclass(frozen=True, slots=True, order=True)
class Portal:
    """``ip:port/protocol`` answered by the local listener ``target_port``."""

    ip: str
    port: int
    protocol: str  # "tcp" | "udp"
    target_port: int
    service: str = ""
    """For the element's comment (``namespace/name:port``)."""


def check_table_name(name: str) -> str:
    if not _TABLE_NAME.match(name):
        raise ValueError(f"not a usable nftables table name: {name!r}")
    return name


def render(portals: Iterable[Portal], *, table: str = DEFAULT_TABLE, host_ip: str = "") -> str:
    """The whole table as one nft batch: it replaces any earlier table of that name."""
    check_table_name(table)
    if host_ip:
        ipaddress.IPv4Address(host_ip)  # raises ValueError on junk
    by_proto: dict[str, list[Portal]] = {"tcp": [], "udp": []}
    for p in sorted(set(portals)):
        ipaddress.IPv4Address(p.ip)
        if p.protocol not in by_proto:
            raise ValueError(f"portal protocol must be tcp or udp, not {p.protocol!r}")
        by_proto[p.protocol].append(p)

    lines = [f"add table ip {table}", f"delete table ip {table}", f"table ip {table} {{"]
    container_rules: list[str] = []
    host_rules: list[str] = []
    for proto, items in by_proto.items():
        lines += _map(f"{proto}_portals", "inet_service",
                      [f"{p.ip} . {p.port}{_comment(p)} : {p.target_port}" for p in items])
        container_rules.append(
            f"meta l4proto {proto} redirect to : ip daddr . {proto} dport map @{proto}_portals")
        if host_ip:
            lines += _map(f"{proto}_host", "ipv4_addr . inet_service",
                          [f"{p.ip} . {p.port} : {host_ip} . {p.target_port}" for p in items])
            host_rules.append(
                f"meta l4proto {proto} dnat ip to ip daddr . {proto} dport map @{proto}_host")
        else:
            host_rules.append(container_rules[-1])
    lines += _chain("portals_container", "prerouting", container_rules,
                    comment="KUBE-PORTALS-CONTAINER")
    lines += _chain("portals_host", "output", host_rules, comment="KUBE-PORTALS-HOST")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _comment(p: Portal) -> str:
    text = _COMMENT_SAFE.sub("_", p.service)[:120]
    return f' comment "{text}"' if text else ""


def _map(name: str, value_type: str, elements: list[str]) -> list[str]:
    out = [f"  map {name} {{", f"    type ipv4_addr . inet_service : {value_type}"]
    if elements:
        out.append("    elements = { " + ",\n      ".join(elements) + " }")
    out.append("  }")
    return out


def _chain(name: str, hook: str, rules: list[str], *, comment: str) -> list[str]:
    return [f"  chain {name} {{",
            f"    type nat hook {hook} priority {PRIORITY}; policy accept;",
            f'    comment "{comment}"',
            *[f"    {r}" for r in rules],
            "  }"]


def cleanup_batch(table: str) -> str:
    check_table_name(table)
    return f"add table ip {table}\ndelete table ip {table}\n"


class Portals:
    """Our table in the current network namespace, replaced as a whole on every ``apply``."""

    def __init__(self, *, table: str = DEFAULT_TABLE, host_ip: str = "") -> None:
        self.table = check_table_name(table)
        self.host_ip = host_ip
        self._nft: Any = None
        self.applied = 0
        self.last: str | None = None

    def open(self) -> None:
        """Load libnftables and prove we may change rules; PortalsUnavailable if not."""
        try:
            import nftables  # pip-nftables: ctypes over libnftables.so.1
        except ImportError as e:
            raise PortalsUnavailable(f"python nftables module missing: {e}") from e
        try:
            nft = nftables.Nftables()
        except OSError as e:
            raise PortalsUnavailable(f"libnftables cannot be loaded: {e}") from e
        self._nft = nft
        try:
            # Creating and deleting our table in one batch needs CAP_NET_ADMIN, leaves nothing.
            self._run(cleanup_batch(self.table))
        except PortalError as e:
            self._nft = None
            raise PortalsUnavailable(str(e)) from e

    def _run(self, batch: str) -> str:
        if self._nft is None:
            raise PortalError("portals not opened")
        rc, out, err = self._nft.cmd(batch)
        if rc != 0:
            first = (err or "").strip().splitlines()
            raise PortalError(f"nft failed (rc {rc}): {' | '.join(first[:6]) or 'no message'}")
        return str(out)

    def apply(self, portals: Iterable[Portal]) -> None:
        """One transaction: the table afterwards holds exactly ``portals``."""
        batch = render(portals, table=self.table, host_ip=self.host_ip)
        self._run(batch)
        self.applied += 1
        self.last = batch

    def listing(self) -> str:
        """``nft list table ip <table>`` (empty string when it does not exist)."""
        try:
            return self._run(f"list table ip {self.table}")
        except PortalError:
            return ""

    def cleanup(self) -> None:
        """Remove our table (clean shutdown); harmless when it is not there."""
        if self._nft is None:
            return
        try:
            self._run(cleanup_batch(self.table))
        except PortalError as e:
            log.warning("portals: could not remove table %s: %s", self.table, e)
        self.last = None


ROUTE_PROTO = 138
"""Routing protocol of our portal routes (podnet.py owns 137)."""


class PortalRoutes:
    """Routes that make portal and external IPs reachable from the node itself when it has no
    route for them at all (no default route: an isolated LAN, the test namespaces).

    Locally generated packets are routed before the nat output hook sees them, so without any
    route ``connect(portalIP)`` fails with ENETUNREACH and KUBE-PORTALS-HOST never gets its
    chance. kube-proxy relied on the node's default route; ``sync`` adds ``<dst> dev lo src
    <node IP> proto 138`` only for destinations nothing else routes (a node with a default
    route gets none), keeps ours while wanted, and ``cleanup`` removes them all. A packet to a
    portal without a service then loops on lo and is dropped, as it would be dropped upstream.
    """

    def __init__(self, *, src: str = "", proto: int = ROUTE_PROTO) -> None:
        self.src = src
        self.proto = proto

    def sync(self, dsts: Iterable[str]) -> set[str]:
        """Make our routes cover those of ``dsts`` (CIDRs) nothing else routes; the result."""
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        with IPRoute() as ipr:
            ours = {f"{r.get_attr('RTA_DST')}/{r['dst_len']}"
                    for r in ipr.get_routes(family=2, table=254) if r["proto"] == self.proto}
            want: set[str] = set()
            for d in dsts:
                net = str(ipaddress.ip_network(d, strict=False))
                if net in ours:
                    want.add(net)
                    continue
                try:
                    ipr.route("get", dst=str(ipaddress.ip_network(net).network_address))
                except NetlinkError:
                    want.add(net)  # unreachable: ours to route
            lo = ipr.link_lookup(ifname="lo")[0]
            for net in ours - want:
                try:
                    ipr.route("del", dst=net, table=254, proto=self.proto, oif=lo)
                except NetlinkError as e:
                    log.warning("portals: cannot remove route %s: %s", net, e)
            for net in want - ours:
                extra = {"prefsrc": self.src} if self.src else {}
                try:
                    ipr.route("add", dst=net, oif=lo, table=254, proto=self.proto, **extra)
                    log.info("portals: %s had no route; routed via lo for the node's own "
                             "traffic", net)
                except NetlinkError as e:
                    log.warning("portals: cannot add route %s: %s", net, e)
                    want.discard(net)
        return want

    def cleanup(self) -> None:
        try:
            self.sync([])
        except OSError as e:
            log.warning("portals: cannot remove our routes: %s", e)
