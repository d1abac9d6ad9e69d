"""WatchHub failure handling, checked on memory:// with a backend watch we can break on purpose
(the shared-stream and slow-consumer cases run on every backend in test_conformance.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from minikube8s.store import Event, Unavailable, open_store
from minikube8s.store.fanout import WatchHub
from minikube8s.store.memory import MemoryBackend


class Broken(Exception):
    pass


class BreakableBackend(MemoryBackend):
    """A memory store whose watches can be made to fail."""

    def __init__(self) -> None:
        super().__init__()
        self.fail = asyncio.Event()
        self.watches = 0

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[Event]:
        self.watches += 1
        return self._breakable(prefix, from_revision)

    async def _breakable(self, prefix: str, from_revision: int) -> AsyncIterator[Event]:
        inner = super().watch(prefix, from_revision=from_revision)
        while True:
            nxt = asyncio.ensure_future(anext(inner))
            failed = asyncio.ensure_future(self.fail.wait())
            done, _ = await asyncio.wait({nxt, failed}, return_when=asyncio.FIRST_COMPLETED)
            if failed in done:
                nxt.cancel()
                raise Broken("watch broke")
            failed.cancel()
            yield nxt.result()


async def test_backend_watch_failure_reaches_every_subscriber_then_restarts() -> None:
    store = BreakableBackend()
    hub = WatchHub(store, "/", name="hub:test")
    try:
        base = await hub.started()
        assert any(t.get_name() == "hub:test" for t in asyncio.all_tasks())
        subs = [hub.subscribe(base) for _ in range(3)]
        firsts = [asyncio.create_task(anext(s)) for s in subs]
        await asyncio.sleep(0.01)
        kv = await store.create("/a", b"1")
        assert [(await f).kv for f in firsts] == [kv] * 3
        await store.create("/b", b"2")  # queued for everyone, not yet read
        await asyncio.sleep(0.01)
        store.fail.set()
        await asyncio.sleep(0.01)
        for s in subs:
            # Events already queued are still delivered, then the error.
            assert (await anext(s)).kv.key == "/b"
            with pytest.raises(Broken):
                await anext(s)
        assert isinstance(hub.error, Broken)

        # The next subscription starts a fresh backend watch.
        store.fail.clear()
        base2 = await hub.started()
        assert store.watches == 2
        sub = hub.subscribe(base2)
        nxt = asyncio.create_task(anext(sub))
        await asyncio.sleep(0.01)
        c = await store.create("/c", b"3")
        assert (await nxt).kv == c
    finally:
        await hub.close()
        await store.close()


async def test_failure_before_ready_reaches_waiting_subscribers() -> None:
    store = await open_store("memory://")
    await store.close()
    hub = WatchHub(store, "/")
    sub = hub.subscribe(0)
    with pytest.raises(Unavailable):
        await anext(sub)
    await hub.close()
    with pytest.raises(Unavailable):
        hub.subscribe(0)


async def test_subscription_aclose_detaches() -> None:
    store = await open_store("memory://")
    hub = WatchHub(store, "/")
    try:
        base = await hub.started()
        sub = hub.subscribe(base)
        waiting = asyncio.create_task(anext(sub))
        await asyncio.sleep(0.01)
        assert hub.subscriber_count == 1
        await sub.aclose()
        with pytest.raises(StopAsyncIteration):
            await waiting
        assert hub.subscriber_count == 0
        await store.create("/x", b"")  # publishing to nobody is fine
    finally:
        await hub.close()
        await store.close()


async def test_many_subscribers_one_backend_watch() -> None:
    store = BreakableBackend()
    hub = WatchHub(store, "/")
    try:
        base = await hub.started()
        subs = [hub.subscribe(base) for _ in range(1000)]
        tasks = [asyncio.create_task(anext(s)) for s in subs]
        await asyncio.sleep(0.01)
        kv = await store.create("/a", b"1")
        assert {(await t).kv for t in tasks} == {kv}
        assert store.watches == 1
    finally:
        await hub.close()
        await store.close()
