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
import os
import signal
from dataclasses import dataclass, field
from typing import Any

from ..auth import join
from ..client import Client, InformerFactory, RealClock
from ..config import NodeConfig
from ..store import Backend, open_store
from ..tasks import Supervisor
from . import controllers, kubelet, scheduler
from .apiserver.server import ApiServer
from .context import RoleContext
from .leader import start_elected

log = logging.getLogger("minikube8s")

TEST_CRASH_ENV = "MINIKUBE8S_TEST_CRASH_AFTER"
"""Hidden test hook: seconds after start-up at which a supervised task raises, so tests can
check that a crashed task takes the process down with exit code 1."""


@dataclass(slots=True)
class Readiness:
    """The start-up milestones, handed from one stage to the next (k3s hands APIServerReady to
    each role the same way): store -> API server -> scheduler and controllers; on a node,
    runtime -> registered -> proxy."""

    store: asyncio.Event = field(default_factory=asyncio.Event)
    api: asyncio.Event = field(default_factory=asyncio.Event)
    node_registered: asyncio.Event = field(default_factory=asyncio.Event)


async def run_node(cfg: NodeConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    sup = Supervisor()
    ready = Readiness()
    store: Backend | None = None
    api: ApiServer | None = None
    client: Client | None = None
    node: kubelet.Kubelet | None = None
    try:
        if cfg.role.control_plane:
            cfg.data_dir.mkdir(parents=True, exist_ok=True)
            store = await open_store(cfg.store_url)
            rev = await store.current_revision()
            log.info("store up: %s (revision %d)", cfg.store_url, rev)
            ready.store.set()
            api = ApiServer(cfg, store, ready=ready.api, supervisor=sup)
            await api.start()  # returns once ready.api is set (bound, bootstrapped)
        auth: dict[str, Any] | None = {}
        if api is None and cfg.server:
            auth = await _join(cfg, stop)
            if auth is None:
                return 0 if stop.is_set() else 1
        client, node = await _start_roles(cfg, sup, api, ready, auth)
        log.info("minikube8s up: role=%s node=%s", cfg.role.value, cfg.node_name)
        if node is not None:
            sup.start(_announce_registered(node, ready), name="node registration")
        crash_after = os.environ.get(TEST_CRASH_ENV)
        if crash_after:
            sup.start(_crash(float(crash_after)), name="test crash hook")

        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(sup.failed.wait())]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for w in waiters:
            w.cancel()
        log.info("stopping")
    finally:
        await sup.stop()
        if node is not None:
            await _close_runtime(node, drain=cfg.drain_on_exit)
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


async def _join(cfg: NodeConfig, stop: asyncio.Event) -> dict[str, Any] | None:
    """A role-i node's client options for ``cfg.server`` (auth/join.py): token and CA, or
    nothing for plain http; None when the join failed (logged, one line) or a signal stopped
    it while the server was still unreachable."""
    task = asyncio.create_task(join.credentials_for(
        cfg.server, token=cfg.token, node_name=cfg.node_name, data_dir=cfg.data_dir),
        name="node join")
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([task, stopped], return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return None
    try:
        creds = task.result()
    except join.JoinError as e:
        log.error("%s", e)
        return None
    return {} if creds is None else creds.client_options()


async def _announce_registered(node: kubelet.Kubelet, ready: Readiness) -> None:
    await node.registered.wait()
    ready.node_registered.set()
    log.info("node %s registered (runtime %s ready)", node.name, node.runtime.version())


async def _crash(after: float) -> None:
    await asyncio.sleep(after)
    raise RuntimeError(f"{TEST_CRASH_ENV}: crashing on purpose")


async def _close_runtime(node: kubelet.Kubelet, *, drain: bool) -> None:
    """Leave the pod containers running (a kubelet that exits does), or with --drain-on-exit
    remove every pod this node's runtime holds, then let the runtime go."""
    runtime = node.runtime
    try:
        if drain:
            pods = await runtime.list_pods()
            log.info("draining: removing the containers of %d pod(s)", len(pods))
            results = await asyncio.gather(
                *(runtime.kill_pod(p.uid, grace_period=10.0) for p in pods),
                return_exceptions=True)
            for p, r in zip(pods, results, strict=True):
                if isinstance(r, BaseException):
                    log.error("draining: pod %s/%s: %r", p.namespace, p.name, r)
    except Exception as e:  # the node is stopping: report, do not mask the exit code
        log.error("draining failed: %r", e)
    finally:
        try:
            await runtime.close()
        except Exception as e:  # as above
            log.warning("closing the runtime: %r", e)


async def _start_roles(cfg: NodeConfig, sup: Supervisor, api: ApiServer | None,
                       ready: Readiness, auth: dict[str, Any] | None = None,
                       ) -> tuple[Client, kubelet.Kubelet | None]:
    """Start the client-side roles over one client and one informer factory (k3s does the same:
    the control plane's controllers talk to their own API server over loopback). On a control
    plane this runs after ``ready.api``; the kubelet waits for the API itself (a role-i node's
    API may come later) and sets ``registered`` after its runtime started."""
    if api is not None:
        # Loopback, even when the API listens on every address.
        server_url = f"http://127.0.0.1:{api.port}"
    elif cfg.server:
        server_url = cfg.server
    else:
        server_url = f"http://127.0.0.1:{cfg.insecure_port}"
    client = Client(server_url, user_agent=f"minikube8s/{cfg.role.value}/{cfg.node_name}",
                    **(auth or {}))
    informers = InformerFactory(client)
    ctx = RoleContext(config=cfg, client=client, informers=informers, supervisor=sup,
                      clock=RealClock(), server_url=server_url)
    node: kubelet.Kubelet | None = None
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
        node = await kubelet.start(ctx)
        if cfg.runtime == "docker":  # hollow pods have no network to route
            from ..net import podnet

            await podnet.start(ctx)
        if "proxy" not in cfg.disable:
            from . import proxy

            await proxy.start(ctx)
    await informers.start(sup)
    return client, node
