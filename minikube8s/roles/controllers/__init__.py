"""The controller manager (issue 4): every cluster-level controller in one role.

``roles.run_node`` calls ``start(ctx)`` for roles with ``a``. Each controller lives in its own
module and follows base.py's pattern (handlers enqueue keys, ``reconcile`` reads the shared
informer caches, failures requeue with backoff):

- replication.py: ReplicationControllers keep ``spec.replicas`` pods (with expectations);
- endpoints.py: service selector x pods -> Endpoints;
- node_lifecycle.py: nodes whose heartbeats stop go Ready=Unknown, their pods are evicted;
- node_ipam.py: each node gets a /24 podCIDR out of ``--flannel-net``;
- namespace.py: a deleted namespace is emptied, then finalized;
- garbage_collector.py: ownerReferences (background, foreground, orphan propagation).

Every controller reports what it does as Events through one EventRecorder per component name
(``replication-controller``, ``endpoint-controller``, ``node-controller``,
``namespace-controller``, ``garbage-collector-controller``), as kube-controller-manager does.
Informers come from ``ctx.informers``, so with ``--role ai`` the scheduler, these controllers
and the kubelet share one watch per kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from ...client import EventRecorder
from ..context import RoleContext
from .base import BaseController
from .endpoints import EndpointsController
from .garbage_collector import GarbageCollector
from .namespace import NamespaceController
from .node_ipam import NodeIpamController
from .node_lifecycle import NodeLifecycleController
from .replication import ReplicationController

log = logging.getLogger(__name__)

__all__ = [
    "ControllerManager", "EndpointsController", "GarbageCollector", "NamespaceController",
    "NodeIpamController", "NodeLifecycleController", "ReplicationController", "start",
    "start_manager",
]


@dataclass(slots=True)
class ControllerManager:
    controllers: dict[str, BaseController] = field(default_factory=dict)
    recorders: dict[str, EventRecorder] = field(default_factory=dict)

    def __getitem__(self, name: str) -> BaseController:
        return self.controllers[name]

    async def stop(self) -> None:
        for c in self.controllers.values():
            await c.stop()
        for r in self.recorders.values():
            # Events still queued get a moment to be written, not an unbounded wait.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(r.flush(), 5.0)
            await r.stop()


def start_manager(ctx: RoleContext, *, only: set[str] | None = None) -> ControllerManager:
    """Build the controllers, register their handlers and start them (workers begin once
    their caches sync). ``only`` limits which run (tests of one controller)."""
    mgr = ControllerManager()

    def recorder(component: str) -> EventRecorder:
        rec = mgr.recorders.get(component)
        if rec is None:
            # Room for a burst (an RC of 3,000 creates 3,000 events) before dropping any.
            rec = EventRecorder(ctx.client, component=component, queue_size=10000, workers=4)
            rec.start(ctx.supervisor)
            mgr.recorders[component] = rec
        return rec

    builders: list[tuple[str, str, type[BaseController]]] = [
        ("replication", "replication-controller", ReplicationController),
        ("endpoints", "endpoint-controller", EndpointsController),
        ("node-lifecycle", "node-controller", NodeLifecycleController),
        ("node-ipam", "node-controller", NodeIpamController),
        ("namespace", "namespace-controller", NamespaceController),
        ("garbage-collector", "garbage-collector-controller", GarbageCollector),
    ]
    for name, component, cls in builders:
        if only is not None and name not in only:
            continue
        ctrl = cls(ctx, recorder(component))
        mgr.controllers[name] = ctrl
        ctrl.start()
    log.info("controller manager: %s", ", ".join(mgr.controllers))
    return mgr


async def start(ctx: RoleContext) -> None:
    """Ask ctx.informers for what this role watches and start its tasks under ctx.supervisor."""
    start_manager(ctx)
