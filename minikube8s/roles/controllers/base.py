"""What every controller of the controller manager has in common: a queue, workers, and a start
that waits for the informer caches.

Each controller module (replication.py, endpoints.py, node_lifecycle.py, node_ipam.py,
namespace.py, garbage_collector.py) subclasses ``BaseController``: in ``__init__`` it asks the
shared ``ctx.informers`` for the informers it needs and registers handlers that only compute
keys and add them to ``self.queue``; ``reconcile(key)`` reads the caches and makes the world
match, returning seconds to be called again, or None. The client package's ``Controller`` runs
the workers and requeues failures with per-key exponential backoff.

Workers start only after every informer the controller reads has synced (client-go's
``WaitForCacheSync``): a reconcile against a half-filled cache would, for instance, make the
replication controller create pods that already exist. ``start`` returns at once; the waiting
happens in a task owned by the supervisor.
"""

from __future__ import annotations

import asyncio
import logging

from ...client import Controller, EventRecorder, Informer, WorkQueue
from ..context import RoleContext

log = logging.getLogger(__name__)


class BaseController:
    name = "controller"
    workers = 1

    def __init__(self, ctx: RoleContext, recorder: EventRecorder) -> None:
        self.ctx = ctx
        self.client = ctx.client
        self.clock = ctx.clock
        self.recorder = recorder
        self.queue = WorkQueue(self.name, clock=ctx.clock, base_delay=0.05, max_delay=60.0)
        self.runner = Controller(self.name, self.queue, self.reconcile, workers=self.workers)
        self.watched: list[Informer] = []
        self._starter: asyncio.Task[None] | None = None

    def watch(self, informer: Informer) -> Informer:
        """Note an informer whose sync gates the workers."""
        if informer not in self.watched:
            self.watched.append(informer)
        return informer

    async def reconcile(self, key: str) -> float | None:
        raise NotImplementedError

    # -- running --------------------------------------------------------------------------------

    def start(self) -> None:
        self._starter = self.ctx.supervisor.start(self._run(), name=f"controllers/{self.name}")

    async def _run(self) -> None:
        for inf in self.watched:
            await inf.wait_synced()
        log.info("%s: caches synced, starting %d worker(s)", self.name, self.workers)
        self.runner.start(self.ctx.supervisor)

    async def stop(self) -> None:
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
        await self.runner.stop(grace=5.0)

    @property
    def synced(self) -> bool:
        return all(inf.has_synced() for inf in self.watched)
