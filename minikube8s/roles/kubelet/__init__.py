"""The kubelet role (issue 4 core + hollow runtime; the Docker runtime is issue 5).

``start(ctx)`` builds the runtime named by ``--runtime`` and one ``Kubelet`` (kubelet.py) for
``--node-name``, starts its task and returns; the kubelet waits for the API server itself.
Modules: runtime.py (the Protocol a runtime implements), hollow.py (the in-memory runtime),
policy.py (restart policy, CrashLoopBackOff), status.py (pod status, StatusManager),
pod_workers.py (per-pod serialised syncs), registration.py and heartbeat.py (the Node and its
Lease), hollow_nodes.py (``minikube8s hollow-nodes``: many hollow kubelets in one process),
streams.py and server.py (logs and exec: the kubelet server on ``--kubelet-port``),
configcache.py, configvolumes.py, configenv.py and atomic_writer.py (secrets and config maps:
read by name, projected as volume files, resolved into env), downwardapi.py, projected.py and
podvolumes.py (downwardAPI and projected volumes; every file volume set up on each sync).
"""

from __future__ import annotations

import logging

from ...client.clock import Clock
from ...config import NodeConfig
from ...tasks import Supervisor
from ..context import RoleContext
from .hollow import HollowRuntime
from .kubelet import Kubelet, KubeletOptions
from .runtime import Runtime

log = logging.getLogger(__name__)

RUNTIMES = ("hollow", "docker")


class UnknownRuntime(Exception):
    """``--runtime`` names a runtime this build cannot run."""


def make_runtime(cfg: NodeConfig, *, clock: Clock,
                 supervisor: Supervisor | None = None) -> Runtime:
    """The runtime ``cfg.runtime`` names."""
    if cfg.runtime == "hollow":
        return HollowRuntime(node_name=cfg.node_name, clock=clock)
    if cfg.runtime == "docker":
        from .docker import DockerRuntime
        from .registration import host_ip

        return DockerRuntime(docker_host=cfg.docker_host, node_name=cfg.node_name,
                             data_dir=cfg.data_dir, host_ip=cfg.node_ip or host_ip(),
                             supervisor=supervisor, allow_privileged=cfg.allow_privileged)
    raise UnknownRuntime(f"unknown runtime {cfg.runtime!r}; use one of {', '.join(RUNTIMES)}")


async def start(ctx: RoleContext) -> Kubelet:
    """Start this node's kubelet and return it (``run_node`` waits on ``registered`` and
    drains through ``runtime``). An unusable ``--runtime`` stops start-up with exit code 2."""
    try:
        runtime = make_runtime(ctx.config, clock=ctx.clock, supervisor=ctx.supervisor)
    except UnknownRuntime as e:
        log.error("kubelet: %s", e)
        raise SystemExit(2) from e
    kubelet = Kubelet(KubeletOptions.from_config(ctx.config), client=ctx.client,
                      informers=ctx.informers, runtime=runtime, supervisor=ctx.supervisor,
                      clock=ctx.clock)
    if not isinstance(runtime, HollowRuntime):  # hollow pods have nothing to probe
        _install_prober(kubelet)
    await _start_server(ctx, kubelet, runtime)
    kubelet.start()
    return kubelet


async def _start_server(ctx: RoleContext, kubelet: Kubelet, runtime: Runtime) -> None:
    """The kubelet server, bound before registration so the Node publishes its real port. A
    taken port is logged, not fatal: the node runs, only logs and exec are missing (port 0
    published, so the API server says so)."""
    from .server import KubeletServer
    from .streams import streams_for

    cfg = ctx.config
    server = KubeletServer(streams=streams_for(runtime),
                           pods=lambda ns, name: kubelet.pods.get_by_name(name, ns),
                           host=cfg.node_ip or "0.0.0.0", port=cfg.kubelet_port,
                           node_name=cfg.node_name, tls=ctx.kubelet_tls)
    try:
        kubelet.facts.kubelet_port = await server.start()
        kubelet.facts.kubelet_scheme = server.scheme
    except OSError as e:
        log.error("kubelet server: cannot listen on %s:%d (%s); logs and exec will not work",
                  server.host, server.port, e)
        kubelet.facts.kubelet_port = 0
        return
    ctx.supervisor.start(server.run(), name=f"kubelet {cfg.node_name} server")


def _install_prober(kubelet: Kubelet) -> None:
    from .prober import Prober

    prober = Prober(runtime=kubelet.runtime, pods=kubelet.pods, update=kubelet.workers.update,
                    supervisor=kubelet.supervisor, recorder=kubelet.recorder,
                    clock=kubelet.clock, name=f"kubelet {kubelet.name}")
    kubelet.syncer.readiness = prober.readiness


__all__ = ["HollowRuntime", "Kubelet", "KubeletOptions", "UnknownRuntime", "make_runtime",
           "start"]
