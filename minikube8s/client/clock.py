"""Time as a plug point, so queues, backoff and reflectors run under fake time in unit tests.

Everything in minikube8s.client that waits (workqueue.add_after, rate-limited requeues, the
reflector's backoff) asks a ``Clock`` instead of ``asyncio.sleep``/``loop.call_later``:
``RealClock`` forwards to the event loop, ``FakeClock`` only moves when a test calls
``advance()``. Timers are callbacks (``call_later``) rather than sleeping tasks so a queue with
thousands of delayed keys costs no tasks at all. Also here: ``Backoff``, the exponential
backoff with jitter used by the reflector and the event recorder.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer: ...


class RealClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)


class _FakeTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """Time stands still until ``advance()``; due timers fire in order, sleepers wake.

    ``advance`` is async: after firing the timers it yields to the loop a few times so the
    tasks they woke can run up to their next await before the test looks."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _FakeTimer]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        t = _FakeTimer(self._now + max(0.0, delay), callback)
        heapq.heappush(self._timers, (t.when, next(self._seq), t))
        return t

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        timer = self.call_later(seconds, wake)
        try:
            await fut
        finally:
            timer.cancel()

    @property
    def pending(self) -> int:
        """Timers not yet fired nor cancelled (a test's view of who is waiting)."""
        return sum(1 for _, _, t in self._timers if not t.cancelled)

    def next_deadline(self) -> float | None:
        live = [w for w, _, t in self._timers if not t.cancelled]
        return min(live) if live else None

    async def advance(self, seconds: float) -> None:
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, t = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            if not t.cancelled:
                t.callback()
                await settle()
        self._now = target
        await settle()


async def settle(rounds: int = 10) -> None:
    """Let ready tasks run: a handful of loop iterations."""
    for _ in range(rounds):
        await asyncio.sleep(0)


class Backoff:
    """Exponential backoff with full jitter over [delay/2, delay], reset after a quiet spell.

    client-go's reflector uses 800 ms doubling to 30 s, reset after 2 minutes without
    failures; the defaults are the same."""

    def __init__(self, *, base: float = 0.8, cap: float = 30.0, reset_after: float = 120.0,
                 clock: Clock | None = None, rng: random.Random | None = None) -> None:
        self.base = base
        self.cap = cap
        self.reset_after = reset_after
        self.clock = clock or RealClock()
        self._rng = rng or random.Random()
        self._attempt = 0
        self._last_failure: float | None = None

    def next_delay(self) -> float:
        now = self.clock.now()
        if self._last_failure is not None and now - self._last_failure > self.reset_after:
            self._attempt = 0
        self._last_failure = now
        delay = min(self.cap, self.base * (2 ** self._attempt))
        self._attempt = min(self._attempt + 1, 62)
        return delay * (0.5 + 0.5 * self._rng.random())

    def reset(self) -> None:
        self._attempt = 0
        self._last_failure = None

    async def wait(self) -> float:
        delay = self.next_delay()
        await self.clock.sleep(delay)
        return delay
