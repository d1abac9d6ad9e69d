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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..auth import join, pki
from ..client import Client, InformerFactory, RealClock
from ..config import NodeConfig
from ..store import Backend, open_store
from ..tasks import Supervisor
from . import controllers, kubelet, scheduler
from .apiserver.server import ApiServer
from .context import RoleContext
from .leader import start_elected

if TYPE_CHECKING:
    from .kubelet.server import KubeletTLS

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
        kubelet_tls: KubeletTLS | None = None
        if api is None and cfg.server:
            joined = await _join(cfg, stop)
            if joined is None:
                return 0 if stop.is_set() else 1
            auth, kubelet_tls = joined
        elif api is not None and cfg.role.node:
            kubelet_tls = _local_kubelet_tls(cfg, api)
        client, node = await _start_roles(cfg, sup, api, ready, auth, kubelet_tls)
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


def _node_addresses(cfg: NodeConfig) -> list[str]:
    """The IPs the kubelet registers (InternalIP), which its serving certificate must name."""
    from .kubelet.registration import host_ip

    ip = cfg.node_ip or host_ip()
    return [ip] if ip else []


def _kubelet_tls(cert: Path | None, key: Path | None, ca: Path) -> KubeletTLS | None:
    from .kubelet.server import KubeletTLS

    return KubeletTLS(cert, key, ca) if cert is not None and key is not None else None


def _local_kubelet_tls(cfg: NodeConfig, api: ApiServer) -> KubeletTLS | None:
    """A control-plane node's kubelet certificate, issued here from the CA this control plane
    holds; None (plain http, as before) without a secure port."""
    creds = api.credentials
    if creds is None or api.secure_port <= 0 or not api.ca_file:
        return None
    pki_dir = cfg.data_dir / pki.PKI_DIR
    cert, key = pki_dir / pki.KUBELET_CERT, pki_dir / pki.KUBELET_KEY
    addresses = _node_addresses(cfg)
    pki.ensure_cert_pair(cert, key, creds.ca,
                         lambda: pki.issue_kubelet_cert(creds.ca, cfg.node_name, addresses),
                         pki.kubelet_sans(cfg.node_name, addresses))
    return _kubelet_tls(cert, key, Path(api.ca_file))


async def _join(cfg: NodeConfig, stop: asyncio.Event,
                ) -> tuple[dict[str, Any], KubeletTLS | None] | None:
    """A role-i node's client options for ``cfg.server`` (auth/join.py): token and CA, or
    nothing for plain http, and the kubelet's certificate if it got one; None when the join
    failed (logged, one line) or a signal stopped it while the server was still
    unreachable."""
    task = asyncio.create_task(join.credentials_for(
        cfg.server, token=cfg.token, node_name=cfg.node_name, data_dir=cfg.data_dir,
        addresses=_node_addresses(cfg)), name="node join")
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
    if creds is None:
        return {}, None
    return creds.client_options(), _kubelet_tls(creds.kubelet_cert, creds.kubelet_key,
                                                creds.ca_file)


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
                       kubelet_tls: KubeletTLS | None = None,
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
                      clock=RealClock(), server_url=server_url, kubelet_tls=kubelet_tls)
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
