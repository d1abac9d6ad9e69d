"""Runs a control-plane role only while this process holds the role's Lease.

With ``--leader-elect`` (the default on an etcd store, where several ``--role a`` processes can
share one cluster) ``run_node`` hands the scheduler and the controller manager to
``start_elected`` instead of starting them: a ``LeaderElector`` (client/leaderelection.py)
campaigns for ``kube-system/kube-scheduler`` or ``kube-system/kube-controller-manager``, and
each time it wins the role starts in a *term*: a child Supervisor and a fresh InformerFactory
of its own. When the lease is lost the term's Supervisor is stopped, which cancels the role's
tasks, workers, queues, recorders and informers together, and the elector goes back to being a
candidate; the process keeps serving the API (client-go components exit instead and rely on
systemd to restart them). A fresh factory per term is the price of that: the shared informers
keep the handlers of the roles that registered them, so a role restarted on them would be
wired twice. A task of a term that crashes still takes the whole process down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable

from ..client import InformerFactory
from ..client.leaderelection import LeaderElector
from ..tasks import Supervisor
from .context import RoleContext

log = logging.getLogger(__name__)

StartFn = Callable[[RoleContext], Awaitable[None]]


async def _propagate(term: Supervisor, lease: str) -> None:
    await term.failed.wait()
    failure = term.failure or RuntimeError("unknown failure")
    raise RuntimeError(f"{lease}: a task of the elected role crashed") from failure


def start_elected(ctx: RoleContext, *, lease: str, start: StartFn) -> LeaderElector:
    """Campaign for ``kube-system/<lease>`` under ctx.supervisor; run ``start`` in a new term
    each time it is won, stop the term when it is lost or the process stops."""
    cfg = ctx.config
    elector = LeaderElector(
        ctx.client, namespace="kube-system", name=lease,
        identity=cfg.leader_elect_identity or "",
        lease_duration=cfg.leader_elect_lease_duration,
        renew_deadline=cfg.leader_elect_renew_deadline,
        retry_period=cfg.leader_elect_retry_period)
    state: dict[str, object] = {}

    async def on_started() -> None:
        term = Supervisor()
        informers = InformerFactory(ctx.client)
        term_ctx = dataclasses.replace(ctx, informers=informers, supervisor=term)
        watcher = ctx.supervisor.start(_propagate(term, lease), name=f"leader/{lease}/term")
        state.update(term=term, watcher=watcher)
        log.info("%s: leading; starting", lease)
        await start(term_ctx)
        await informers.start(term)

    async def on_stopped() -> None:
        term = state.pop("term", None)
        watcher = state.pop("watcher", None)
        if isinstance(watcher, asyncio.Task):
            watcher.cancel()
        if isinstance(term, Supervisor):
            log.info("%s: not leading any more; stopping its tasks", lease)
            await term.stop(grace=5.0)

    ctx.supervisor.start(elector.run(on_started, on_stopped), name=f"leader/{lease}")
    return elector
