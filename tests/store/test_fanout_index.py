"""WatchHub's indexed subscriptions (the API server's spec.nodeName= watches): a subscriber
is offered only the events whose old or new index value is its own, including the event that
moves an object off its value; unindexed subscribers still see everything."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from minikube8s.store import Event, open_store
from minikube8s.store.fanout import Subscription, WatchHub


def node_of(ev: Event, fld: str) -> Iterable[str]:
    assert fld == "node"
    now = ev.kv.value.decode()
    before = ev.prev.value.decode() if ev.prev is not None else now
    return {now, before}


async def drain(sub: Subscription) -> list[tuple[str, bytes]]:
    out: list[tuple[str, bytes]] = []
    while True:
        try:
            ev = await asyncio.wait_for(anext(sub), 0.05)
        except TimeoutError:
            return out
        out.append((ev.kv.key, ev.kv.value))


async def test_indexed_subscribers_see_only_their_value() -> None:
    store = await open_store("memory://")
    hub = WatchHub(store, "/")
    hub.indexer = node_of
    try:
        base = await hub.started()
        a = hub.subscribe(base, index=("node", "a"))
        b = hub.subscribe(base, index=("node", "b"))
        everything = hub.subscribe(base)
        waits = [asyncio.create_task(anext(s)) for s in (a, b, everything)]
        await asyncio.sleep(0.01)
        assert hub.subscriber_count == 3
        p1 = await store.create("/p1", b"a")
        await store.create("/p2", b"c")
        await store.update("/p1", b"b", expected_revision=p1.mod_revision)  # a -> b
        await store.delete("/p2")
        first = [await t for t in waits]
        assert [ev.kv.key for ev in first] == ["/p1", "/p1", "/p1"]
        assert await drain(a) == [("/p1", b"b")]  # moved off "a": a still hears of it
        assert await drain(b) == []
        assert [k for k, _ in await drain(everything)] == ["/p2", "/p1", "/p2"]
        await a.aclose()
        await b.aclose()
        assert hub.subscriber_count == 1
        assert not hub._indexed
    finally:
        await hub.close()
        await store.close()


async def test_failing_indexer_offers_to_every_indexed_subscriber() -> None:
    def broken(ev: Event, fld: str) -> Iterable[str]:
        raise ValueError("cannot index")

    store = await open_store("memory://")
    hub = WatchHub(store, "/")
    hub.indexer = broken
    try:
        base = await hub.started()
        a = hub.subscribe(base, index=("node", "a"))
        wait = asyncio.create_task(anext(a))
        await asyncio.sleep(0.01)
        kv = await store.create("/p", b"z")
        assert (await wait).kv == kv
    finally:
        await hub.close()
        await store.close()
