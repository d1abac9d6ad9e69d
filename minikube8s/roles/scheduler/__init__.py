"""The scheduler role (issue 4): started by roles.run_node through ``start(ctx)``.

Places pods that have no node: cache.py (nodes and assumed pods with running request sums),
plugins.py (filters and scores as pure functions), scheduler.py (the queue, the decision loop,
the bind workers, events and the unschedulable retry). It watches pods, nodes and services
through the process's shared informers.
"""

from __future__ import annotations

from ...client.rest import resource
from ..context import RoleContext
from .scheduler import COMPONENT, Scheduler

__all__ = ["COMPONENT", "Scheduler", "start"]


async def start(ctx: RoleContext) -> None:
    """Ask ctx.informers for pods, nodes and services and start the scheduler's tasks."""
    sched = Scheduler(
        ctx.client,
        pods=ctx.informers.informer(resource("pods")),
        nodes=ctx.informers.informer(resource("nodes")),
        services=ctx.informers.informer(resource("services")),
        clock=ctx.clock)
    sched.start(ctx.supervisor)
