"""Composes the roles of one node on one event loop, in order, with readiness passed along.

``run_node`` is what ``minikube8s --role a|i|ai`` runs: the control plane (store, then API
server, then scheduler and controllers) for roles with ``a``, the node agents (kubelet, proxy)
for roles with ``i``. Role packages do not import each other; this module wires them. It owns the
Supervisor, so a crashed task stops the node with exit code 1, and SIGINT/SIGTERM stop it
cleanly with exit code 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from ..client import Client, InformerFactory, RealClock
from ..config import NodeConfig
from ..store import Backend, open_store
from ..tasks import Supervisor
from . import controllers, kubelet, scheduler
from .apiserver.server import ApiServer
from .context import RoleContext
from .leader import start_elected

log = logging.getLogger("minikube8s")


async def run_node(cfg: NodeConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    sup = Supervisor()
    store: Backend | None = None
    api: ApiServer | None = None
    client: Client | None = None
    try:
        if cfg.role.control_plane:
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
            store = await open_store(cfg.store_url)
            rev = await store.current_revision()
            log.info("store up: %s (revision %d)", cfg.store_url, rev)
            api_ready = asyncio.Event()
            api = ApiServer(cfg, store, ready=api_ready, supervisor=sup)
            await api.start()
        client = await _start_roles(cfg, sup, api)
        log.info("minikube8s up: role=%s node=%s", cfg.role.value, cfg.node_name)

        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(sup.failed.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        log.info("stopping")
    finally:
        await sup.stop()
        if client is not None:
            await client.close()
        if api is not None:
            await api.stop()
        if store is not None:
            await store.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if sup.failure is not None:
        log.error("stopped after a failure: %r", sup.failure)
        return 1
    log.info("stopped cleanly")
    return 0


async def _start_roles(cfg: NodeConfig, sup: Supervisor, api: ApiServer | None) -> Client:
    """Start the client-side roles over one client and one informer factory (k3s does the same:
    the control plane's controllers talk to their own API server over loopback)."""
    if api is not None:
        # Loopback, even when the API listens on every address.
        server_url = f"http://127.0.0.1:{api.port}"
    elif cfg.server:
        server_url = cfg.server
    else:
        server_url = f"http://127.0.0.1:{cfg.insecure_port}"
    client = Client(server_url, user_agent=f"minikube8s/{cfg.role.value}/{cfg.node_name}")
    informers = InformerFactory(client)
    ctx = RoleContext(config=cfg, client=client, informers=informers, supervisor=sup,
                      clock=RealClock(), server_url=server_url)
    if cfg.role.control_plane and cfg.leader_election:
        # One scheduler and one controller manager per cluster: each runs, with informers of
        # its own, only while this process holds its Lease (roles/leader.py).
        if "scheduler" not in cfg.disable:
            start_elected(ctx, lease="kube-scheduler", start=scheduler.start)
        if "controllers" not in cfg.disable:
            start_elected(ctx, lease="kube-controller-manager", start=controllers.start)
    elif cfg.role.control_plane:
        if "scheduler" not in cfg.disable:
            await scheduler.start(ctx)
        if "controllers" not in cfg.disable:
            await controllers.start(ctx)
    if cfg.role.node:
        await kubelet.start(ctx)
        if cfg.runtime == "docker":  # hollow pods have no network to route
            from ..net import podnet

            await podnet.start(ctx)
        if "proxy" not in cfg.disable:
            from . import proxy

            await proxy.start(ctx)
    await informers.start(sup)
    return client
