"""The controller runner under fake time: requeue with backoff on error, forget on success,
N workers but never two on one key, optional "call me again in N seconds"."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

from minikube8s.client import errors
from minikube8s.client.clock import FakeClock, settle
from minikube8s.client.controller import Controller
from minikube8s.client.workqueue import WorkQueue
from minikube8s.tasks import Supervisor


async def test_error_requeues_with_doubling_backoff_then_success_forgets() -> None:
    clock = FakeClock()
    q = WorkQueue("t", clock=clock, base_delay=1.0, max_delay=60.0)
    calls: list[float] = []

    async def reconcile(key: str) -> None:
        calls.append(clock.now())
        if len(calls) <= 3:
            raise RuntimeError("boom")

    sup = Supervisor()
    c = Controller("t", q, reconcile, workers=2, supervisor=sup)
    c.start()
    q.add("k")
    await settle()
    assert len(calls) == 1
    await clock.advance(0.99)
    assert len(calls) == 1
    await clock.advance(0.01)   # 1 s after the first failure
    assert len(calls) == 2
    await clock.advance(1.99)
    assert len(calls) == 2
    await clock.advance(0.01)   # then 2 s
    assert len(calls) == 3
    await clock.advance(4.0)    # then 4 s, and this one succeeds
    assert len(calls) == 4
    assert [b - a for a, b in itertools.pairwise(calls)] == [1.0, 2.0, 4.0]
    assert q.num_requeues("k") == 0, "success forgets the failures"
    assert c.failures == 3
    await clock.advance(100)
    assert len(calls) == 4
    await c.stop()
    assert not sup.failed.is_set()


async def test_conflict_is_requeued_quietly() -> None:
    clock = FakeClock()
    q = WorkQueue("t", clock=clock, base_delay=0.5)
    n = 0

    async def reconcile(key: str) -> None:
        nonlocal n
        n += 1
        if n == 1:
            raise errors.Conflict("stale")

    c = Controller("t", q, reconcile)
    c.start()
    q.add("k")
    await settle()
    await clock.advance(0.5)
    assert n == 2
    await c.stop()


async def test_reconcile_can_ask_to_run_again_later() -> None:
    clock = FakeClock()
    q = WorkQueue("t", clock=clock)
    calls = 0

    async def reconcile(key: str) -> float | None:
        nonlocal calls
        calls += 1
        return 10.0 if calls < 3 else None

    c = Controller("t", q, reconcile)
    c.start()
    q.add("k")
    await settle()
    await clock.advance(10)
    await clock.advance(10)
    assert calls == 3
    assert q.num_requeues("k") == 0
    await clock.advance(100)
    assert calls == 3
    await c.stop()


async def test_workers_share_keys_without_overlap() -> None:
    clock = FakeClock()
    q = WorkQueue("t", clock=clock)
    running: Counter[str] = Counter()
    max_parallel = 0
    overlap = False
    done: Counter[str] = Counter()

    async def reconcile(key: str) -> None:
        nonlocal max_parallel, overlap
        running[key] += 1
        overlap = overlap or running[key] > 1
        max_parallel = max(max_parallel, sum(running.values()))
        await asyncio.sleep(0)
        q.add(key) if done[key] < 3 else None  # a change arrives mid-reconcile
        await asyncio.sleep(0)
        running[key] -= 1
        done[key] += 1

    c = Controller("t", q, reconcile, workers=4)
    c.start()
    for k in "abcdef":
        q.add(k)
    for _ in range(50):
        await settle()
    await c.stop()
    assert not overlap
    assert max_parallel > 1, "several workers did run at once"
    assert all(done[k] >= 4 for k in "abcdef")


async def test_stop_waits_for_workers_and_ends_them() -> None:
    q = WorkQueue("t", clock=FakeClock())

    async def reconcile(key: str) -> None:
        return None

    c = Controller("t", q, reconcile, workers=3)
    c.start()
    await settle()
    await asyncio.wait_for(c.stop(), 2)
    assert q.shutting_down
