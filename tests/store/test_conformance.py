"""The store contract of minikube8s/store/base.py, checked on every backend (memory, sqlite,
etcd) through the ``backend`` fixture in conftest.py.

Every test writes only under its own ``pfx`` and measures revisions relative to what it read
first, because the etcd case shares one server with every other test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from minikube8s.store import (
    AlreadyExists,
    Backend,
    Conflict,
    Event,
    EventType,
    Gone,
    KeyValue,
    NotFound,
)
from minikube8s.store.fanout import SlowConsumer, WatchHub

TIMEOUT = 20.0


async def take(it: AsyncIterator[Event], n: int, *, within: float = TIMEOUT) -> list[Event]:
    out: list[Event] = []
    async with asyncio.timeout(within):
        while len(out) < n:
            out.append(await anext(it))
    return out


async def create_many(store: Backend, keys: list[str], *, batch: int = 100) -> list[KeyValue]:
    out: list[KeyValue] = []
    for i in range(0, len(keys), batch):
        out += await asyncio.gather(
            *(store.create(k, k.encode()) for k in keys[i : i + batch])
        )
    return out


# -- single-key semantics ----------------------------------------------------------------------


async def test_create_get_and_already_exists(backend: Backend, pfx: str) -> None:
    kv = await backend.create(pfx + "a", b"one")
    assert kv.key == pfx + "a"
    assert kv.value == b"one"
    assert kv.create_revision == kv.mod_revision > 0
    assert await backend.get(pfx + "a") == kv
    with pytest.raises(AlreadyExists):
        await backend.create(pfx + "a", b"two")
    assert (await backend.get(pfx + "a")).value == b"one"
    with pytest.raises(NotFound):
        await backend.get(pfx + "missing")


async def test_binary_values_round_trip(backend: Backend, pfx: str) -> None:
    value = bytes(range(256)) * 4
    await backend.create(pfx + "bin", value)
    assert (await backend.get(pfx + "bin")).value == value
    await backend.create(pfx + "empty", b"")
    assert (await backend.get(pfx + "empty")).value == b""


async def test_every_write_bumps_revision_by_one(backend: Backend, pfx: str) -> None:
    r0 = await backend.current_revision()
    a = await backend.create(pfx + "a", b"1")
    assert a.mod_revision == r0 + 1
    b = await backend.update(pfx + "a", b"2", expected_revision=a.mod_revision)
    assert b.mod_revision == r0 + 2
    assert b.create_revision == a.create_revision
    ev = await backend.delete(pfx + "a")
    assert ev.revision == r0 + 3
    assert await backend.current_revision() == r0 + 3
    # Failed writes do not bump the revision.
    with pytest.raises(NotFound):
        await backend.update(pfx + "a", b"3", expected_revision=b.mod_revision)
    with pytest.raises(NotFound):
        await backend.delete(pfx + "a")
    await backend.create(pfx + "b", b"1")
    with pytest.raises(AlreadyExists):
        await backend.create(pfx + "b", b"1")
    assert await backend.current_revision() == r0 + 4


async def test_update_is_compare_and_swap(backend: Backend, pfx: str) -> None:
    a = await backend.create(pfx + "a", b"1")
    b = await backend.update(pfx + "a", b"2", expected_revision=a.mod_revision)
    with pytest.raises(Conflict) as info:
        await backend.update(pfx + "a", b"3", expected_revision=a.mod_revision)
    assert info.value.expected == a.mod_revision
    assert info.value.actual == b.mod_revision
    assert (await backend.get(pfx + "a")).value == b"2"
    with pytest.raises(NotFound):
        await backend.update(pfx + "nope", b"x", expected_revision=1)


async def test_delete_is_compare_and_swap(backend: Backend, pfx: str) -> None:
    a = await backend.create(pfx + "a", b"1")
    b = await backend.update(pfx + "a", b"2", expected_revision=a.mod_revision)
    with pytest.raises(Conflict):
        await backend.delete(pfx + "a", expected_revision=a.mod_revision)
    assert (await backend.get(pfx + "a")).value == b"2"
    ev = await backend.delete(pfx + "a", expected_revision=b.mod_revision)
    assert ev.type is EventType.DELETE
    assert ev.prev == b
    assert ev.kv.key == pfx + "a"
    assert ev.kv.value == b"2"
    assert ev.kv.mod_revision == ev.revision > b.mod_revision
    with pytest.raises(NotFound):
        await backend.get(pfx + "a")
    with pytest.raises(NotFound):
        await backend.delete(pfx + "a")


async def test_recreate_after_delete_gets_new_create_revision(
    backend: Backend, pfx: str
) -> None:
    a = await backend.create(pfx + "a", b"1")
    await backend.delete(pfx + "a")
    c = await backend.create(pfx + "a", b"2")
    assert c.create_revision == c.mod_revision > a.create_revision


async def test_concurrent_read_modify_write_loses_no_increment(
    backend: Backend, pfx: str
) -> None:
    key = pfx + "counter"
    await backend.create(key, b"0")
    acknowledged = 0
    conflicts = 0

    async def worker() -> None:
        nonlocal acknowledged, conflicts
        for _ in range(4):
            while True:
                kv = await backend.get(key)
                try:
                    await backend.update(
                        key, str(int(kv.value) + 1).encode(), expected_revision=kv.mod_revision
                    )
                except Conflict:
                    conflicts += 1
                    continue
                acknowledged += 1
                break

    async with asyncio.timeout(120):
        await asyncio.gather(*(worker() for _ in range(50)))
    assert acknowledged == 200
    assert int((await backend.get(key)).value) == acknowledged
    # 50 writers racing on one key must have collided at least once, or CAS was not exercised.
    assert conflicts > 0


async def test_concurrent_creates_of_one_key_have_one_winner(backend: Backend, pfx: str) -> None:
    results = await asyncio.gather(
        *(backend.create(pfx + "race", str(i).encode()) for i in range(20)),
        return_exceptions=True,
    )
    winners = [r for r in results if isinstance(r, KeyValue)]
    assert len(winners) == 1
    assert all(isinstance(r, AlreadyExists) for r in results if not isinstance(r, KeyValue))
    assert await backend.get(pfx + "race") == winners[0]


async def test_old_revision_of_a_recreated_key_conflicts(backend: Backend, pfx: str) -> None:
    a = await backend.create(pfx + "a", b"1")
    await backend.delete(pfx + "a")
    b = await backend.create(pfx + "a", b"2")
    with pytest.raises(Conflict):
        await backend.update(pfx + "a", b"3", expected_revision=a.mod_revision)
    with pytest.raises(Conflict):
        await backend.delete(pfx + "a", expected_revision=a.mod_revision)
    assert await backend.get(pfx + "a") == b


# -- lists -------------------------------------------------------------------------------------


async def test_list_prefix_order_limit_start_after(backend: Backend, pfx: str) -> None:
    names = ["c", "a", "b/x", "b", "d"]
    for n in names:
        await backend.create(pfx + "k/" + n, n.encode())
    await backend.create(pfx + "kk/other", b"no")
    await backend.create(pfx + "j", b"no")
    rev = await backend.current_revision()

    res = await backend.list(pfx + "k/")
    assert [kv.key for kv in res.items] == [pfx + "k/" + n for n in sorted(names)]
    assert [kv.value for kv in res.items] == [n.encode() for n in sorted(names)]
    assert res.revision == rev
    assert res.more is False

    page = await backend.list(pfx + "k/", limit=2)
    assert [kv.key for kv in page.items] == [pfx + "k/a", pfx + "k/b"]
    assert page.more is True
    page2 = await backend.list(
        pfx + "k/", limit=2, start_after=page.items[-1].key, revision=page.revision
    )
    assert [kv.key for kv in page2.items] == [pfx + "k/b/x", pfx + "k/c"]
    assert page2.more is True
    page3 = await backend.list(
        pfx + "k/", limit=2, start_after=page2.items[-1].key, revision=page.revision
    )
    assert [kv.key for kv in page3.items] == [pfx + "k/d"]
    assert page3.more is False
    exact = await backend.list(pfx + "k/", limit=5)
    assert len(exact.items) == 5
    assert exact.more is False
    assert (await backend.list(pfx + "nothing/")).items == []


async def test_paginated_list_is_a_consistent_snapshot(backend: Backend, pfx: str) -> None:
    keys = [f"{pfx}p/{i:03d}" for i in range(20)]
    await create_many(backend, keys)
    snapshot = await backend.list(pfx + "p/")
    first = await backend.list(pfx + "p/", limit=7)
    assert first.more

    # Writes between pages: update, delete, create, delete-and-recreate.
    kv5 = await backend.get(keys[5])
    await backend.update(keys[5], b"changed", expected_revision=kv5.mod_revision)
    await backend.delete(keys[12])
    await backend.delete(keys[0])
    await backend.create(keys[0], b"recreated")
    await backend.create(f"{pfx}p/0105", b"new")
    await backend.create(f"{pfx}p/999", b"new")

    items = list(first.items)
    page = first
    while page.more:
        page = await backend.list(
            pfx + "p/", limit=7, start_after=items[-1].key, revision=first.revision
        )
        assert page.revision == first.revision
        items += page.items
    assert items == snapshot.items

    now = await backend.list(pfx + "p/")
    assert now.revision > first.revision
    assert len(now.items) == 21
    assert {kv.key: kv.value for kv in now.items}[keys[5]] == b"changed"


async def test_list_at_old_revision_sees_deleted_and_old_values(
    backend: Backend, pfx: str
) -> None:
    a = await backend.create(pfx + "a", b"v1")
    b = await backend.create(pfx + "b", b"v1")
    r = await backend.current_revision()
    await backend.update(pfx + "a", b"v2", expected_revision=a.mod_revision)
    await backend.delete(pfx + "b")
    await backend.create(pfx + "c", b"v1")
    old = await backend.list(pfx, revision=r)
    assert old.items == [a, b]
    assert old.revision == r


async def test_list_prefix_is_a_plain_string_prefix(backend: Backend, pfx: str) -> None:
    for name in ["a", "a/b", "ab", "a0", "b", "a\u00e9", "a\u4e2d/x", "\u00e9"]:
        await backend.create(pfx + name, name.encode())
    got = [kv.key.removeprefix(pfx) for kv in (await backend.list(pfx + "a")).items]
    assert got == ["a", "a/b", "a0", "ab", "a\u00e9", "a\u4e2d/x"]
    after = await backend.list(pfx + "a", start_after=pfx + "ab")
    assert [kv.key.removeprefix(pfx) for kv in after.items] == ["a\u00e9", "a\u4e2d/x"]
    past = await backend.list(pfx + "a", start_after=pfx + "zzz", limit=3)
    assert past.items == []
    assert past.more is False


async def test_large_values_and_large_lists(backend: Backend, pfx: str) -> None:
    # Kubernetes objects go up to ~1.5 MB; a list of several exceeds gRPC's default 4 MiB.
    big = bytes(range(256)) * 4096  # 1 MiB
    kvs = [await backend.create(f"{pfx}big/{i}", big) for i in range(6)]
    assert (await backend.get(pfx + "big/0")).value == big
    res = await backend.list(pfx + "big/")
    assert res.items == kvs


# -- watch -------------------------------------------------------------------------------------


async def test_watch_event_types_and_prev_values(backend: Backend, pfx: str) -> None:
    r0 = await backend.current_revision()
    a1 = await backend.create(pfx + "a", b"1")
    a2 = await backend.update(pfx + "a", b"2", expected_revision=a1.mod_revision)
    gone = await backend.delete(pfx + "a")
    events = await take(backend.watch(pfx, from_revision=r0), 3)

    assert [e.type for e in events] == [EventType.CREATE, EventType.UPDATE, EventType.DELETE]
    assert [e.revision for e in events] == [r0 + 1, r0 + 2, r0 + 3]
    create, update, delete = events
    assert create.kv == a1
    assert create.prev is None
    assert update.kv == a2
    assert update.prev == a1
    assert delete.prev == a2
    assert delete.kv.key == pfx + "a"
    assert delete.kv.value == b"2"
    assert delete.kv.mod_revision == delete.revision == gone.revision
    assert delete.kv.create_revision == a1.create_revision


async def test_watch_live_events_and_prefix_filter(backend: Backend, pfx: str) -> None:
    r0 = await backend.current_revision()
    it = backend.watch(pfx + "mine/", from_revision=r0)
    got = asyncio.create_task(take(it, 3))
    await asyncio.sleep(0.2)  # let the watch go live before writing
    await backend.create(pfx + "mine/a", b"1")
    await backend.create(pfx + "other/a", b"x")
    await backend.create(pfx + "mine-not/a", b"x")
    await backend.create(pfx + "mine/b", b"2")
    kv = await backend.get(pfx + "mine/a")
    await backend.update(pfx + "mine/a", b"3", expected_revision=kv.mod_revision)
    events = await got
    assert [(e.type, e.kv.key, e.kv.value) for e in events] == [
        (EventType.CREATE, pfx + "mine/a", b"1"),
        (EventType.CREATE, pfx + "mine/b", b"2"),
        (EventType.UPDATE, pfx + "mine/a", b"3"),
    ]


async def test_watch_from_revision_replays_exactly_the_later_writes(
    backend: Backend, pfx: str
) -> None:
    keys = [f"{pfx}w/{i:04d}" for i in range(1000)]
    first = await create_many(backend, keys[:500])
    r = await backend.current_revision()
    later = await create_many(backend, keys[500:])
    assert min(kv.mod_revision for kv in later) > r >= max(kv.mod_revision for kv in first)
    expected = sorted(later, key=lambda kv: kv.mod_revision)

    it = backend.watch(pfx + "w/", from_revision=r)
    events = await take(it, 500, within=60)
    assert [e.revision for e in events] == [kv.mod_revision for kv in expected]
    assert [e.kv for e in events] == expected
    assert all(e.type is EventType.CREATE for e in events)
    # Nothing duplicated behind the replay: the next event is the next write.
    nxt = await backend.create(pfx + "w/next", b"n")
    (ev,) = await take(it, 1)
    assert ev.kv == nxt


async def test_watch_switches_from_replay_to_live_without_gap(
    backend: Backend, pfx: str
) -> None:
    r0 = await backend.current_revision()
    await create_many(backend, [f"{pfx}g/a{i:03d}" for i in range(100)])
    it = backend.watch(pfx + "g/", from_revision=r0)

    async def writer() -> list[KeyValue]:
        out = []
        for i in range(100):
            out.append(await backend.create(f"{pfx}g/b{i:03d}", b"x"))
        return out

    writes = asyncio.create_task(writer())
    events = await take(it, 200, within=60)
    await writes
    revs = [e.revision for e in events]
    assert revs == sorted(set(revs))
    assert revs == list(range(r0 + 1, r0 + 201))


async def test_many_watchers_get_identical_streams(backend: Backend, pfx: str) -> None:
    r0 = await backend.current_revision()
    watches = [backend.watch(pfx, from_revision=r0) for _ in range(5)]
    tasks = [asyncio.create_task(take(w, 30)) for w in watches]
    await create_many(backend, [f"{pfx}{i}" for i in range(30)], batch=10)
    streams = await asyncio.gather(*tasks)
    assert all(s == streams[0] for s in streams)
    assert [e.revision for e in streams[0]] == list(range(r0 + 1, r0 + 31))


async def test_watch_from_a_future_revision_waits_for_it(backend: Backend, pfx: str) -> None:
    r0 = await backend.current_revision()
    it = backend.watch(pfx, from_revision=r0 + 2)
    got = asyncio.create_task(take(it, 1))
    await asyncio.sleep(0.1)
    await backend.create(pfx + "1", b"")
    await backend.create(pfx + "2", b"")
    third = await backend.create(pfx + "3", b"")
    (ev,) = await got
    assert ev.kv == third


# -- compaction --------------------------------------------------------------------------------


async def test_compaction_makes_old_revisions_gone(backend: Backend, pfx: str) -> None:
    r0 = await backend.current_revision()
    a = await backend.create(pfx + "a", b"1")
    for i in range(5):
        a = await backend.update(pfx + "a", str(i).encode(), expected_revision=a.mod_revision)
    b = await backend.create(pfx + "b", b"b")
    await backend.delete(pfx + "b")
    c = await backend.create(pfx + "c", b"c")
    compact_at = c.mod_revision
    after = await backend.update(pfx + "c", b"c2", expected_revision=c.mod_revision)
    await backend.compact(compact_at)

    # Current values survive compaction.
    assert (await backend.get(pfx + "a")) == a
    assert (await backend.get(pfx + "c")) == after
    with pytest.raises(NotFound):
        await backend.get(pfx + "b")

    # A watch from before the compaction is Gone on its first iteration.
    old = backend.watch(pfx, from_revision=r0)
    with pytest.raises(Gone):
        await take(old, 1)
    with pytest.raises(Gone):
        await take(backend.watch(pfx, from_revision=b.mod_revision), 1)
    # A watch from the compacted revision on still sees every later change.
    (ev,) = await take(backend.watch(pfx, from_revision=compact_at), 1)
    assert ev.type is EventType.UPDATE
    assert ev.kv == after
    assert ev.prev == c

    # A list at a compacted revision is Gone; at the compaction revision it still works.
    with pytest.raises(Gone):
        await backend.list(pfx, revision=b.mod_revision)
    snap = await backend.list(pfx, revision=compact_at)
    assert snap.items == [a, c]


# -- fan-out (minikube8s/store/fanout.py) on each backend --------------------------------------


async def test_hub_subscribers_get_identical_streams(backend: Backend, pfx: str) -> None:
    hub = WatchHub(backend, pfx + "h/")
    try:
        base = await hub.started()
        subs = [hub.subscribe(base) for _ in range(20)]
        readers = [asyncio.create_task(take(s, 200, within=60)) for s in subs]
        await asyncio.sleep(0.05)  # let them attach before the writes
        writes = await create_many(backend, [f"{pfx}h/{i:03d}" for i in range(200)], batch=50)
        await create_many(backend, [f"{pfx}other/{i}" for i in range(5)])
        streams = await asyncio.gather(*readers)
        assert all(s == streams[0] for s in streams)
        assert [e.kv for e in streams[0]] == sorted(writes, key=lambda kv: kv.mod_revision)

        # A late subscriber inside the buffer replays the tail from memory, then goes live.
        mid = streams[0][149].revision
        late = hub.subscribe(mid)
        tail = await take(late, 50)
        assert tail == streams[0][150:]
        nxt = await backend.create(pfx + "h/next", b"n")
        (ev,) = await take(late, 1)
        assert ev.kv == nxt
    finally:
        await hub.close()


async def test_hub_cuts_off_a_slow_subscriber_only(backend: Backend, pfx: str) -> None:
    hub = WatchHub(backend, pfx)
    try:
        base = await hub.started()
        # etcd delivers events in bursts (many per watch response, published with no await
        # in between), so the readers that keep up still need room for a burst.
        fast = [hub.subscribe(base, queue_size=1000) for _ in range(3)]
        slow = hub.subscribe(base, queue_size=10)
        readers = [asyncio.create_task(take(s, 100, within=60)) for s in fast]
        first = asyncio.create_task(take(slow, 1))
        await asyncio.sleep(0.05)
        kvs = [await backend.create(f"{pfx}000", b"v")]
        # The slow one reads the first event, then stops reading.
        (ev,) = await first
        assert ev.kv == kvs[0]
        kvs += [await backend.create(f"{pfx}{i:03d}", b"v") for i in range(1, 100)]
        streams = await asyncio.gather(*readers)
        assert all([e.kv for e in s] == kvs for s in streams)
        with pytest.raises(SlowConsumer) as info:
            await take(slow, 100)
        assert info.value.last_revision == kvs[0].mod_revision
        # The hub itself is fine: new subscribers still work.
        again = hub.subscribe(kvs[-1].mod_revision)
        getter = asyncio.create_task(take(again, 1))
        await asyncio.sleep(0.05)
        more = await backend.create(pfx + "more", b"m")
        assert (await getter)[0].kv == more
    finally:
        await hub.close()


async def test_hub_old_revision_falls_back_to_a_backend_watch(
    backend: Backend, pfx: str
) -> None:
    hub = WatchHub(backend, pfx, buffer_size=5)
    try:
        base = await hub.started()
        kvs = [await backend.create(f"{pfx}{i:03d}", b"v") for i in range(20)]
        # etcd delivers to the hub asynchronously: wait until the hub has the last write.
        (last,) = await take(hub.subscribe(kvs[-2].mod_revision), 1)
        assert last.kv == kvs[-1]
        # The buffer rolled over: it no longer holds the events right after ``base``.
        assert await hub.started() == kvs[-6].mod_revision
        sub = hub.subscribe(base)
        got = await take(sub, 20)
        assert [e.kv for e in got] == kvs
        await sub.aclose()

        await backend.compact(kvs[10].mod_revision)
        with pytest.raises(Gone):
            await take(hub.subscribe(kvs[2].mod_revision), 1)
        # Inside the buffer still works after compaction.
        tail = await take(hub.subscribe(kvs[16].mod_revision), 3)
        assert [e.kv for e in tail] == kvs[17:]
    finally:
        await hub.close()


async def test_hub_close_ends_subscriptions(backend: Backend, pfx: str) -> None:
    hub = WatchHub(backend, pfx)
    base = await hub.started()
    sub = hub.subscribe(base)
    pending = asyncio.create_task(take(sub, 1))
    await asyncio.sleep(0.05)
    await hub.close()
    with pytest.raises(StopAsyncIteration):
        await pending
