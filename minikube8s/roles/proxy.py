"""The proxy role (kube-proxy): services and endpoints from the informers -> net/ proxier.

``start(ctx)`` runs on every node (roles with ``i``) unless ``--disable proxy``. It subscribes
to the process's shared services and endpoints informers; their handlers only mark the proxy
dirty. One task, ``proxy <node>``, waits for both caches to sync, then loops: compute the whole
desired state from the caches (net/proxier.py ``service_ports``/``endpoints_by_port``) and
apply it (listeners, load balancer, ONE nft transaction). Level-triggered, so a burst of
events costs one sync: after each sync the loop waits ``min_sync_interval`` before looking at
the dirty flag again, and it resyncs every ``resync_period`` even when nothing happened (a
table someone flushed comes back). A failed nft transaction is logged and retried with
backoff; it does not stop the node.

``--proxy-mode`` decides how portal IPs work:

- ``nftables`` (default): listeners plus portals in our own table (``--proxy-table``, default
  ``minikube8s``). It needs root (CAP_NET_ADMIN) and libnftables; when either is missing the
  node refuses to start (exit code 2) with one line saying so and how to get past it, rather
  than running with portal IPs that silently go nowhere;
- ``userspace``: listeners only (nodeIP:listenerPort works, portal IPs do not); for running
  unprivileged.

A node that should not proxy at all runs with ``--disable proxy``. The table name is the
node's: two nodes in one network namespace would fight over one table, so processes that share
a namespace (tests on the host) either disable the proxy or pass distinct ``--proxy-table``.
On a clean stop the proxy resets its connections, closes its listeners and removes its table.
"""

from __future__ import annotations

import asyncio
import logging

from ..client import Informer, resource
from ..net.portals import (
    PortalError,
    PortalRoutes,
    Portals,
    PortalsUnavailable,
    check_table_name,
)
from ..net.proxier import Proxier, endpoints_by_port, service_ports
from .context import RoleContext

log = logging.getLogger(__name__)

SERVICES = resource("services")
ENDPOINTS = resource("endpoints")
MODES = ("nftables", "userspace")


class ProxyStartError(Exception):
    """The proxy cannot run as configured (bad mode or table, nftables unusable)."""


class Proxy:
    """Keeps one Proxier in step with the services and endpoints caches."""

    def __init__(self, *, services: Informer, endpoints: Informer, proxier: Proxier,
                 min_sync_interval: float = 0.05, resync_period: float = 60.0) -> None:
        self.services = services
        self.endpoints = endpoints
        self.proxier = proxier
        self.min_sync_interval = min_sync_interval
        self.resync_period = resync_period
        self._dirty = asyncio.Event()
        for inf in (services, endpoints):
            inf.add_handler(on_add=self._changed, on_update=self._changed2,
                            on_delete=self._changed)

    def _changed(self, _obj: object) -> None:
        self._dirty.set()

    def _changed2(self, _old: object, _new: object) -> None:
        self._dirty.set()

    async def sync_once(self) -> None:
        await self.proxier.sync(service_ports(self.services.list()),
                                endpoints_by_port(self.endpoints.list()))

    async def run(self) -> None:
        backoff = 0.5
        try:
            await self.services.wait_synced()
            await self.endpoints.wait_synced()
            while True:
                self._dirty.clear()
                try:
                    await self.sync_once()
                    backoff = 0.5
                except PortalError as e:
                    log.error("proxy: portals not applied (retrying in %.1fs): %s", backoff, e)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    self._dirty.set()
                    continue
                # Coalesce bursts: changes during this pause make one more sync, not many.
                await asyncio.sleep(self.min_sync_interval)
                try:
                    await asyncio.wait_for(self._dirty.wait(), self.resync_period)
                except TimeoutError:
                    pass
        finally:
            await self.proxier.close()
            log.info("proxy: stopped (listeners closed, portals removed)")


def build(ctx: RoleContext) -> Proxy:
    """The Proxy for this node's configuration; ProxyStartError when it cannot run."""
    cfg = ctx.config
    mode = cfg.proxy_mode
    if mode not in MODES:
        raise ProxyStartError(f"--proxy-mode {mode!r}: use one of {', '.join(MODES)}")
    portals: Portals | None = None
    if mode == "nftables":
        try:
            portals = Portals(table=check_table_name(cfg.proxy_table), host_ip=cfg.node_ip)
        except ValueError as e:
            raise ProxyStartError(f"--proxy-table: {e}") from e
        try:
            portals.open()
        except PortalsUnavailable as e:
            raise ProxyStartError(
                f"nftables is not usable here ({e}); run as root with libnftables1 "
                f"installed, or pass --proxy-mode userspace (no portal IPs) or "
                f"--disable proxy") from e
    proxier = Proxier(portals=portals, portal_net=cfg.portal_net,
                      routes=PortalRoutes(src=cfg.node_ip) if portals is not None else None)
    return Proxy(services=ctx.informers.informer(SERVICES),
                 endpoints=ctx.informers.informer(ENDPOINTS), proxier=proxier)


async def start(ctx: RoleContext) -> None:
    """Start this node's proxy; an unusable configuration stops start-up with exit code 2."""
    try:
        proxy = build(ctx)
    except ProxyStartError as e:
        log.error("proxy: %s", e)
        raise SystemExit(2) from e
    ctx.supervisor.start(proxy.run(), name=f"proxy {ctx.config.node_name}")
    log.info("proxy: mode %s%s", ctx.config.proxy_mode,
             f", table ip {ctx.config.proxy_table}" if proxy.proxier.portals else "")
