"""The controller runner: N workers pulling keys from a WorkQueue and reconciling them.

The pattern every minikube8s controller follows (client-go's workqueue example and
pkg/controller/replicaset/replica_set.go):

1. Informers (informer.py) keep a cache of the objects the controller cares about. Their
   handlers do one thing: compute a key (``"namespace/name"``) and ``queue.add(key)``. They
   never call the API and never look at what changed.
2. ``reconcile(key)`` is level-triggered: it reads the *current* state from the informer
   caches (not the event that woke it), compares it with the desired state and makes the world
   match (create, delete, patch through the client). If the object is gone from the cache it
   cleans up. Running it twice in a row must be harmless.
3. The runner guarantees one key is never reconciled by two workers at once (the queue's
   processing set). An exception logs and requeues the key with per-key exponential backoff
   (``add_rate_limited``); success ``forget``s the key's failure count. A reconcile may return
   a number of seconds to be called again later (e.g. to check a heartbeat's age) without
   that counting as a failure.
4. Controllers that create objects record "expectations" (what they are waiting to see in the
   cache) so a slow watch does not make them create twice; that bookkeeping lives with each
   controller, not here.

``Controller.start(supervisor)`` runs the workers as named tasks under minikube8s.tasks;
``stop()`` shuts the queue down and waits for in-flight reconciles.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..tasks import Supervisor
from . import errors
from .workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)

Reconcile = Callable[[str], Awaitable[float | None]]


class Controller:
    def __init__(self, name: str, queue: WorkQueue, reconcile: Reconcile, *,
                 workers: int = 1, supervisor: Supervisor | None = None) -> None:
        self.name = name
        self.queue = queue
        self.reconcile = reconcile
        self.workers = workers
        self.supervisor = supervisor
        self._tasks: list[asyncio.Task[None]] = []
        self.reconciles = 0
        self.failures = 0

    def start(self, supervisor: Supervisor | None = None) -> None:
        sup = supervisor or self.supervisor
        for i in range(self.workers):
            name = f"{self.name}-worker-{i}"
            if sup is not None:
                self._tasks.append(sup.start(self._worker(), name=name))
            else:
                self._tasks.append(asyncio.create_task(self._worker(), name=name))

    async def run(self) -> None:
        """Start the workers and wait until the queue is shut down (or this is cancelled)."""
        if not self._tasks:
            self.start()
        try:
            await asyncio.gather(*self._tasks)
        finally:
            for t in self._tasks:
                t.cancel()

    async def stop(self, *, grace: float = 10.0) -> None:
        self.queue.shut_down()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self._tasks.clear()

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self.process(key)
            finally:
                self.queue.done(key)

    async def process(self, key: str) -> None:
        """One reconcile of ``key`` with the requeue policy (the caller owns get/done)."""
        self.reconciles += 1
        try:
            again = await self.reconcile(key)
        except asyncio.CancelledError:
            raise
        except errors.Conflict as e:
            # Optimistic concurrency lost a race: routine, the next pass reads fresh state.
            self.failures += 1
            log.debug("%s: reconcile %s: %s (requeued)", self.name, key, e)
            self.queue.add_rate_limited(key)
        except errors.ClientError as e:
            self.failures += 1
            log.warning("%s: reconcile %s failed: %s (requeued)", self.name, key, e)
            self.queue.add_rate_limited(key)
        except Exception:
            self.failures += 1
            log.exception("%s: reconcile %s failed (requeued)", self.name, key)
            self.queue.add_rate_limited(key)
        else:
            self.queue.forget(key)
            if again is not None:
                self.queue.add_after(key, again)
