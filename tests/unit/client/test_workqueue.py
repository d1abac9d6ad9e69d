"""WorkQueue semantics under fake time: dedup, one worker per key, delays, backoff, shutdown."""

from __future__ import annotations

import asyncio

import pytest

from minikube8s.client.clock import FakeClock, settle
from minikube8s.client.workqueue import ShutDown, WorkQueue


def queue(**kw: float) -> tuple[WorkQueue, FakeClock]:
    clock = FakeClock()
    return WorkQueue("test", clock=clock, **kw), clock


async def test_add_dedups_and_keeps_order() -> None:
    q, _ = queue()
    for k in ["a", "b", "a", "c", "b"]:
        q.add(k)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_add_while_processing_requeues_after_done() -> None:
    q, _ = queue()
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert len(q) == 0, "a key being processed is not handed to another worker"
    q.done(key)
    assert len(q) == 1
    assert await q.get() == "a"
    q.done("a")
    assert len(q) == 0


async def test_get_waits_for_add() -> None:
    q, _ = queue()
    getter = asyncio.create_task(q.get())
    await settle()
    assert not getter.done()
    q.add("x")
    assert await asyncio.wait_for(getter, 1) == "x"


async def test_cancelled_getter_passes_wakeup_on() -> None:
    q, _ = queue()
    g1 = asyncio.create_task(q.get())
    g2 = asyncio.create_task(q.get())
    await settle()
    q.add("x")  # wakes g1...
    g1.cancel()  # ...which is cancelled before it runs
    await settle()
    assert g2.done() and g2.result() == "x"


async def test_never_two_workers_on_one_key() -> None:
    q, _ = queue()
    active: set[str] = set()
    overlaps: list[str] = []
    processed: list[str] = []

    async def worker() -> None:
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            if key in active:
                overlaps.append(key)
            active.add(key)
            await asyncio.sleep(0)
            # events keep arriving for keys while they are being worked on
            q.add(key if len(processed) < 200 else "z")
            await asyncio.sleep(0)
            active.discard(key)
            processed.append(key)
            q.done(key)
            if len(processed) >= 300:
                enough.set()

    enough = asyncio.Event()
    workers = [asyncio.create_task(worker()) for _ in range(8)]
    for i in range(50):
        q.add(f"k{i % 5}")
    await asyncio.wait_for(enough.wait(), 5)
    q.shut_down()
    await asyncio.wait_for(asyncio.gather(*workers), 5)
    assert overlaps == []
    assert set(processed) >= {f"k{i}" for i in range(5)}


async def test_add_after() -> None:
    q, clock = queue()
    q.add_after("a", 5)
    q.add_after("b", 1)
    q.add_after("a", 10)  # the earlier request wins
    assert len(q) == 0 and q.waiting == 2
    await clock.advance(1)
    assert len(q) == 1 and await q.get() == "b"
    await clock.advance(3.9)
    assert len(q) == 0
    await clock.advance(0.1)
    assert await q.get() == "a"
    assert q.waiting == 0


async def test_add_after_earlier_replaces_later() -> None:
    q, clock = queue()
    q.add_after("a", 10)
    q.add_after("a", 2)
    await clock.advance(2)
    assert len(q) == 1
    await clock.advance(10)
    await q.get()
    q.done("a")
    assert len(q) == 0, "the cancelled later timer does not fire"


async def test_rate_limited_backoff_doubles_and_forget_resets() -> None:
    q, clock = queue(base_delay=0.005, max_delay=1.0)
    delays = [q.when("k") for _ in range(10)]
    assert delays[:4] == [0.005, 0.01, 0.02, 0.04]
    assert delays[-1] == 1.0, "capped"
    q.forget("k")
    assert q.num_requeues("k") == 0

    q.add_rate_limited("k")  # 5 ms
    await clock.advance(0.004)
    assert len(q) == 0
    await clock.advance(0.001)
    assert await q.get() == "k"
    q.done("k")
    q.add_rate_limited("k")  # 10 ms now
    await clock.advance(0.009)
    assert len(q) == 0
    await clock.advance(0.001)
    assert len(q) == 1
    assert q.num_requeues("k") == 2


async def test_shut_down_drains_then_raises() -> None:
    q, clock = queue()
    q.add("a")
    q.add_after("later", 1)
    waiting = asyncio.create_task(q.get())
    await settle()
    assert waiting.result() == "a"
    q.done("a")
    blocked = asyncio.create_task(q.get())
    await settle()
    q.shut_down()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(blocked, 1)
    q.add("b")
    await clock.advance(5)
    assert len(q) == 0, "adds and timers after shut_down are dropped"
    with pytest.raises(ShutDown):
        await q.get()


async def test_shut_down_lets_queued_keys_be_taken() -> None:
    q, _ = queue()
    q.add("a")
    q.shut_down()
    assert await q.get() == "a"
    with pytest.raises(ShutDown):
        await q.get()
