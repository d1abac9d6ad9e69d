"""The work queue between informer handlers and reconcile workers (client-go's workqueue).

Semantics, as in k8s.io/client-go/util/workqueue:

- a key is queued at most once: ``dirty`` holds keys waiting to be processed, and adding a key
  that is already dirty is a no-op, so a burst of events for one object costs one reconcile;
- a key is processed by at most one worker at a time: ``get()`` moves it to ``processing``;
  an ``add`` while it is processing only marks it dirty, and ``done(key)`` puts it back in the
  queue then, so the change is seen by a reconcile that starts after it;
- ``add_after(key, delay)`` queues later (the earliest of several requests wins);
- ``add_rate_limited(key)`` queues after a per-key exponential backoff (``base * 2**failures``,
  capped), and ``forget(key)`` resets that key's count after a success;
- ``shut_down()`` stops accepting keys; ``get()`` drains what is queued, then raises ShutDown.

Time comes from a client/clock.Clock, so unit tests run under FakeClock. Timers are clock
callbacks, not tasks. controller.py runs workers over a queue; handlers in informer.py add keys.
"""

from __future__ import annotations

import asyncio
from collections import deque

from .clock import Clock, RealClock, Timer


class ShutDown(Exception):
    """``get()`` on a queue that is shut down and empty."""


class WorkQueue:
    def __init__(self, name: str = "", *, clock: Clock | None = None,
                 base_delay: float = 0.005, max_delay: float = 30.0) -> None:
        self.name = name
        self.clock: Clock = clock or RealClock()
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._queue: deque[str] = deque()
        self._dirty: set[str] = set()
        self._processing: set[str] = set()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._delayed: dict[str, tuple[float, Timer]] = {}
        self._failures: dict[str, int] = {}
        self._shutting_down = False

    # -- adding ---------------------------------------------------------------------------------

    def add(self, key: str) -> None:
        if self._shutting_down or key in self._dirty:
            return
        self._dirty.add(key)
        if key in self._processing:
            return  # done() re-queues it
        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: str, delay: float) -> None:
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return
        ready_at = self.clock.now() + delay
        waiting = self._delayed.get(key)
        if waiting is not None:
            if waiting[0] <= ready_at:
                return
            waiting[1].cancel()

        def fire() -> None:
            w = self._delayed.get(key)
            if w is not None and w[1] is timer:
                del self._delayed[key]
                self.add(key)

        timer = self.clock.call_later(delay, fire)
        self._delayed[key] = (ready_at, timer)

    def when(self, key: str) -> float:
        """The per-key backoff for the next ``add_rate_limited`` (and counts the failure)."""
        n = self._failures.get(key, 0)
        self._failures[key] = n + 1
        if n >= 64:
            return self.max_delay
        return float(min(self.max_delay, self.base_delay * (2 ** n)))

    def add_rate_limited(self, key: str) -> None:
        self.add_after(key, self.when(key))

    def forget(self, key: str) -> None:
        self._failures.pop(key, None)

    def num_requeues(self, key: str) -> int:
        return self._failures.get(key, 0)

    # -- taking ---------------------------------------------------------------------------------

    async def get(self) -> str:
        """The next key, waiting for one. Call ``done(key)`` when finished with it."""
        while not self._queue:
            if self._shutting_down:
                raise ShutDown(self.name)
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                # If we were woken just before being cancelled, pass the wake-up on so the
                # queued key does not sit there while another worker sleeps.
                if fut.done() and not fut.cancelled():
                    self._wake_one()
                else:
                    fut.cancel()
                raise
        key = self._queue.popleft()
        self._processing.add(key)
        self._dirty.discard(key)
        return key

    def done(self, key: str) -> None:
        self._processing.discard(key)
        if key in self._dirty:
            self._queue.append(key)
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return

    # -- lifecycle ------------------------------------------------------------------------------

    def shut_down(self) -> None:
        self._shutting_down = True
        for _, timer in self._delayed.values():
            timer.cancel()
        self._delayed.clear()
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    @property
    def shutting_down(self) -> bool:
        return self._shutting_down

    def __len__(self) -> int:
        return len(self._queue)

    @property
    def processing(self) -> frozenset[str]:
        return frozenset(self._processing)

    @property
    def waiting(self) -> int:
        """Keys held back by add_after / add_rate_limited."""
        return len(self._delayed)
