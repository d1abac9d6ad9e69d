"""etcd-only behaviour of minikube8s/store/etcd.py, against a real etcd.

The shared semantics (create/update/delete/list/watch) are checked for every backend by
test_conformance.py; this file covers what only a networked store has: etcd going away and
coming back under an active watcher, several endpoints with some dead, compaction mapped onto
base.Gone, and URL parsing.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from minikube8s.store._common import BadURL
from minikube8s.store.base import (
    AlreadyExists,
    Backend,
    Conflict,
    Event,
    EventType,
    Gone,
    NotFound,
    Unavailable,
)
from minikube8s.store.etcd import EtcdBackend, open_etcd, parse_endpoints
from minikube8s.store.registry import open_store
from tests.fixtures.etcd import EtcdCluster, EtcdProcess, free_port

pytestmark = pytest.mark.etcd
T = TypeVar("T")


def unique_prefix() -> str:
    return f"/t/{uuid.uuid4().hex[:8]}/"


@pytest.fixture
async def store(etcd_server: EtcdProcess) -> AsyncIterator[Backend]:
    backend = await open_store(etcd_server.url)
    try:
        yield backend
    finally:
        await backend.close()


class Collector:
    """Drains a watch into a list in the background, so tests can wait for a count."""

    def __init__(self, backend: Backend, prefix: str, from_revision: int) -> None:
        self.events: list[Event] = []
        self.error: BaseException | None = None
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run(backend, prefix, from_revision),
                                         name=f"collect {prefix}")

    async def _run(self, backend: Backend, prefix: str, from_revision: int) -> None:
        try:
            async for ev in backend.watch(prefix, from_revision=from_revision):
                self.events.append(ev)
                self._changed.set()
        except Exception as e:
            self.error = e
            self._changed.set()

    async def wait_for(self, n: int, *, within: float = 20.0) -> list[Event]:
        async def loop() -> None:
            while len(self.events) < n and self.error is None:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(loop(), within)
        if self.error is not None:
            raise self.error
        return self.events

    async def stop(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def test_parse_endpoints() -> None:
    assert parse_endpoints("etcd://127.0.0.1:2379") == [("127.0.0.1", 2379)]
    assert parse_endpoints("etcd://a:1,b:2, c") == [("a", 1), ("b", 2), ("c", 2379)]
    assert parse_endpoints("etcd://[::1]:4001") == [("::1", 4001)]
    for bad in ("etcd://", "etcd://a:b", "etcd://a:0", "sqlite:///x", "etcd://:2379"):
        with pytest.raises(BadURL):
            parse_endpoints(bad)


async def test_url_options_are_checked() -> None:
    with pytest.raises(BadURL):
        await open_etcd("etcd://127.0.0.1:2379?timout=3")


async def test_cas_roundtrip(store: Backend) -> None:
    p = unique_prefix()
    kv = await store.create(p + "a", b"1")
    assert kv.create_revision == kv.mod_revision == await store.current_revision()
    with pytest.raises(AlreadyExists):
        await store.create(p + "a", b"x")
    with pytest.raises(Conflict) as ci:
        await store.update(p + "a", b"2", expected_revision=kv.mod_revision - 1)
    assert ci.value.actual == kv.mod_revision
    kv2 = await store.update(p + "a", b"2", expected_revision=kv.mod_revision)
    assert (kv2.create_revision, kv2.mod_revision) == (kv.create_revision, kv.mod_revision + 1)
    with pytest.raises(NotFound):
        await store.update(p + "missing", b"2", expected_revision=kv2.mod_revision)
    with pytest.raises(NotFound):
        await store.delete(p + "missing")
    ev = await store.delete(p + "a", expected_revision=kv2.mod_revision)
    assert ev.type is EventType.DELETE
    assert (ev.kv.value, ev.kv.mod_revision, ev.revision) == (b"2", kv2.mod_revision + 1,
                                                              kv2.mod_revision + 1)
    assert ev.prev is not None and ev.prev.mod_revision == kv2.mod_revision


async def test_compaction_is_gone_for_list_and_watch(store: Backend) -> None:
    p = unique_prefix()
    first = await store.create(p + "a", b"1")
    for i in range(3):
        await store.create(p + f"b{i}", b"x")
    snapshot = await store.current_revision()
    await store.update(p + "a", b"2", expected_revision=first.mod_revision)
    await store.compact(snapshot)
    with pytest.raises(Gone) as gi:
        await store.list(p, revision=first.mod_revision)
    assert gi.value.compacted >= snapshot
    with pytest.raises(Gone):
        async for _ in store.watch(p, from_revision=first.mod_revision):
            break
    # After the compaction point, history is still there.
    async for ev in store.watch(p, from_revision=snapshot):
        assert (ev.type, ev.kv.key, ev.kv.value) == (EventType.UPDATE, p + "a", b"2")
        break
    listed = await store.list(p)
    assert [kv.key for kv in listed.items] == [p + "a", p + "b0", p + "b1", p + "b2"]


async def test_dead_endpoint_is_skipped(etcd_server: EtcdProcess) -> None:
    dead = f"127.0.0.1:{free_port()}"
    for url in (f"etcd://{dead},{etcd_server.endpoint}", f"etcd://{etcd_server.endpoint},{dead}"):
        backend = await open_store(url)
        try:
            p = unique_prefix()
            start = await backend.current_revision()
            kv = await backend.create(p + "a", b"1")
            await backend.update(p + "a", b"2", expected_revision=kv.mod_revision)
            assert (await backend.get(p + "a")).value == b"2"
            async for ev in backend.watch(p, from_revision=start):
                assert (ev.type, ev.kv.key) == (EventType.CREATE, p + "a")
                break
        finally:
            await backend.close()


async def test_all_endpoints_dead_is_unavailable() -> None:
    with pytest.raises(Unavailable) as ei:
        await open_etcd(f"etcd://127.0.0.1:{free_port()},127.0.0.1:{free_port()}")
    assert ei.value.__cause__ is not None


@pytest.mark.slow
async def test_watch_survives_etcd_restart(tmp_path: Path) -> None:
    etcd = EtcdProcess(tmp_path / "etcd")
    etcd.start()
    backend = await open_store(etcd.url)
    collector: Collector | None = None
    try:
        p = "/restart/"
        start = await backend.current_revision()
        expected: list[tuple[EventType, str, int]] = []

        async def create(via: Backend, key: str, value: bytes) -> int:
            kv = await via.create(p + key, value)
            expected.append((EventType.CREATE, p + key, kv.mod_revision))
            return kv.mod_revision

        revs = {f"k{i}": await create(backend, f"k{i}", b"before") for i in range(5)}
        collector = Collector(backend, p, start)
        await collector.wait_for(5)

        await asyncio.to_thread(etcd.stop)
        with pytest.raises(Unavailable) as ei:
            await backend.create(p + "down", b"x")
        assert ei.value.__cause__ is not None
        with pytest.raises(Unavailable):
            await backend.get(p + "k0")
        with pytest.raises(Unavailable):
            await backend.list(p)
        # Long enough for the watcher's retry backoff to reach its ceiling, so the writes below
        # (from a fresh client, connected at once) most likely land before it reconnects and
        # it has to catch up from its last revision.
        await asyncio.sleep(1.5)
        await asyncio.to_thread(etcd.start)

        writer = await open_store(etcd.url)
        try:
            for i in range(5, 10):
                revs[f"k{i}"] = await create(writer, f"k{i}", b"after")
            for key in ("k1", "k6"):
                kv = await writer.update(p + key, b"changed", expected_revision=revs[key])
                expected.append((EventType.UPDATE, p + key, kv.mod_revision))
            ev = await writer.delete(p + "k2")
            expected.append((EventType.DELETE, p + "k2", ev.revision))
        finally:
            await writer.close()

        # The old client's channel reconnects on its own backoff, then works again.
        for _ in range(100):
            try:
                assert (await backend.get(p + "k9")).value == b"after"
                break
            except Unavailable:
                await asyncio.sleep(0.1)
        else:
            pytest.fail("the first client never reconnected")
        events = await collector.wait_for(len(expected))
        await asyncio.sleep(0.3)  # anything repeated would show up now
        got = [(e.type, e.kv.key, e.revision) for e in collector.events]
        assert got == expected
        assert [e.revision for e in events] == sorted({e.revision for e in events})
        deleted = collector.events[-1]
        assert deleted.kv.value == b"before" and deleted.prev is not None
    finally:
        if collector is not None:
            await collector.stop()
        await backend.close()
        await asyncio.to_thread(etcd.stop)


@pytest.mark.slow
async def test_watch_started_while_etcd_down_waits(tmp_path: Path) -> None:
    etcd = EtcdProcess(tmp_path / "etcd")
    etcd.start()
    backend = await open_store(etcd.url)
    collector: Collector | None = None
    try:
        start = await backend.current_revision()
        await asyncio.to_thread(etcd.stop)
        collector = Collector(backend, "/late/", start)
        await asyncio.sleep(1.0)
        assert collector.events == [] and collector.error is None
        await asyncio.to_thread(etcd.start)
        for _ in range(100):
            try:
                await backend.create("/late/a", b"1")
                break
            except Unavailable:
                await asyncio.sleep(0.1)
        (ev,) = await collector.wait_for(1)
        assert (ev.type, ev.kv.key, ev.revision) == (EventType.CREATE, "/late/a", start + 1)
    finally:
        if collector is not None:
            await collector.stop()
        await backend.close()
        await asyncio.to_thread(etcd.stop)


async def test_list_bigger_than_grpc_default_message(store: Backend) -> None:
    # gRPC refuses replies over 4 MiB unless told otherwise; a list of many objects gets there.
    p = unique_prefix()
    blob = b"x" * (1024 * 1024)
    for i in range(5):
        await store.create(p + str(i), blob)
    listed = await store.list(p)
    assert len(listed.items) == 5 and all(kv.value == blob for kv in listed.items)
    await store.list(p, limit=2)


async def test_close_ends_watch_with_unavailable(etcd_server: EtcdProcess) -> None:
    backend = await open_store(etcd_server.url)
    collector = Collector(backend, unique_prefix(), await backend.current_revision())
    await asyncio.sleep(0.2)
    await backend.close()
    with pytest.raises(Unavailable):
        await collector.wait_for(1, within=5)
    with pytest.raises(Unavailable):
        await backend.get("/anything")


async def test_list_at_future_revision_reads_now(store: Backend) -> None:
    p = unique_prefix()
    kv = await store.create(p + "a", b"1")
    listed = await store.list(p, revision=kv.mod_revision + 1000)
    assert listed.items == [kv] and listed.revision >= kv.mod_revision


async def retry_unavailable(op: Callable[[], Awaitable[T]], *, within: float = 20.0) -> T:
    """Writes during a leader election fail with Unavailable; a caller retries them."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await op()
        except Unavailable:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_failover_to_another_member(tmp_path: Path) -> None:
    cluster = EtcdCluster(tmp_path, heartbeat_ms=50, election_ms=500)
    await asyncio.to_thread(cluster.start)
    collector: Collector | None = None
    backend: Backend | None = None
    try:
        backend = await retry_unavailable(lambda: open_store(cluster.url))
        p = "/failover/"
        start = await backend.current_revision()
        collector = Collector(backend, p, start)
        before = [
            await retry_unavailable(functools.partial(backend.create, f"{p}a{i}", b"1"))
            for i in range(3)
        ]
        await collector.wait_for(3)

        # Kill the member this client is using (its watch stream runs there too).
        assert isinstance(backend, EtcdBackend)
        in_use = backend.preferred_endpoint
        cluster.kill(next(n for n, c, _ in cluster.members if in_use.endswith(f":{c}")))
        after = [
            await retry_unavailable(functools.partial(backend.create, f"{p}b{i}", b"2"))
            for i in range(3)
        ]
        events = await collector.wait_for(6)
        assert [e.kv for e in events] == before + after
        assert (await backend.get(f"{p}b2")).value == b"2"
    finally:
        if collector is not None:
            await collector.stop()
        if backend is not None:
            await backend.close()
        cluster.stop()
