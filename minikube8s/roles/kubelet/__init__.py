"""The kubelet role (issue 4 core + hollow runtime; the Docker runtime is issue 5).

``start(ctx)`` builds the runtime named by ``--runtime`` and one ``Kubelet`` (kubelet.py) for
``--node-name``, starts its task and returns; the kubelet waits for the API server itself.
Modules: runtime.py (the Protocol a runtime implements), hollow.py (the in-memory runtime),
policy.py (restart policy, CrashLoopBackOff), status.py (pod status, StatusManager),
pod_workers.py (per-pod serialised syncs), registration.py and heartbeat.py (the Node and its
Lease), hollow_nodes.py (``minikube8s hollow-nodes``: many hollow kubelets in one process).
"""

from __future__ import annotations

import logging

from ...client.clock import Clock
from ...config import NodeConfig
from ..context import RoleContext
from .hollow import HollowRuntime
from .kubelet import Kubelet, KubeletOptions
from .runtime import Runtime

log = logging.getLogger(__name__)

RUNTIMES = ("hollow", "docker")


class UnknownRuntime(Exception):
    """``--runtime`` names a runtime this build cannot run."""


def make_runtime(cfg: NodeConfig, *, clock: Clock) -> Runtime:
    """The runtime ``cfg.runtime`` names. Issue 5 adds ``docker`` here."""
    if cfg.runtime == "hollow":
        return HollowRuntime(node_name=cfg.node_name, clock=clock)
    if cfg.runtime == "docker":
        raise UnknownRuntime("the docker runtime is not built yet (it arrives with issue 5); "
                             "use --runtime hollow")
    raise UnknownRuntime(f"unknown runtime {cfg.runtime!r}; use one of {', '.join(RUNTIMES)}")


async def start(ctx: RoleContext) -> None:
    """Start this node's kubelet. An unusable ``--runtime`` stops start-up with exit code 2."""
    try:
        runtime = make_runtime(ctx.config, clock=ctx.clock)
    except UnknownRuntime as e:
        log.error("kubelet: %s", e)
        raise SystemExit(2) from e
    kubelet = Kubelet(KubeletOptions.from_config(ctx.config), client=ctx.client,
                      informers=ctx.informers, runtime=runtime, supervisor=ctx.supervisor,
                      clock=ctx.clock)
    kubelet.start()


__all__ = ["HollowRuntime", "Kubelet", "KubeletOptions", "UnknownRuntime", "make_runtime",
           "start"]
