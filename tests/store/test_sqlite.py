"""SQLite-only behaviour the conformance suite cannot see: reopening the file, the owner lock,
long replays, chunked and automatic compaction, URL options, closing under a watcher."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from minikube8s.store import Gone, NotFound, Unavailable, open_store
from minikube8s.store import sqlite as sqlite_mod
from minikube8s.store._common import BadURL


def url(tmp_path: Path, query: str = "") -> str:
    return f"sqlite://{tmp_path / 'deep' / 'dir' / 'state.db'}{query}"


async def test_reopen_keeps_values_and_revisions_increase(tmp_path: Path) -> None:
    store = await open_store(url(tmp_path))
    a = await store.create("/a", b"1")
    a = await store.update("/a", b"2", expected_revision=a.mod_revision)
    await store.create("/b", b"1")
    await store.delete("/b")
    rev = await store.current_revision()
    await store.close()

    store = await open_store(url(tmp_path))
    try:
        assert await store.current_revision() == rev
        assert await store.get("/a") == a
        with pytest.raises(NotFound):
            await store.get("/b")
        c = await store.create("/c", b"1")
        assert c.mod_revision == rev + 1
        # History from before the restart is still watchable.
        it = store.watch("/", from_revision=0)
        revs = [(await anext(it)).revision for _ in range(5)]
        assert revs == [1, 2, 3, 4, 5]
    finally:
        await store.close()


async def test_second_open_of_the_same_file_is_refused(tmp_path: Path) -> None:
    store = await open_store(url(tmp_path))
    try:
        with pytest.raises(Unavailable, match="in use"):
            await open_store(url(tmp_path))
    finally:
        await store.close()
    again = await open_store(url(tmp_path))
    await again.close()


async def test_replay_longer_than_one_chunk(tmp_path: Path) -> None:
    store = await open_store(url(tmp_path))
    try:
        n = sqlite_mod.REPLAY_CHUNK * 2 + 17
        for i in range(0, n, 200):
            await asyncio.gather(
                *(store.create(f"/k/{j:05d}", b"v") for j in range(i, min(n, i + 200)))
            )
        await store.create("/other", b"x")
        it = store.watch("/k/", from_revision=0)
        async with asyncio.timeout(30):
            revs = [(await anext(it)).revision for _ in range(n)]
        assert revs == list(range(1, n + 1))
    finally:
        await store.close()


async def test_compaction_in_chunks_keeps_the_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_mod, "COMPACT_CHUNK", 7)
    store = await open_store(url(tmp_path))
    try:
        kvs = {}
        for i in range(10):
            kvs[i] = await store.create(f"/k/{i}", b"0")
        for round_ in range(5):
            for i in range(10):
                kvs[i] = await store.update(
                    f"/k/{i}", str(round_).encode(), expected_revision=kvs[i].mod_revision
                )
        for i in range(0, 10, 3):
            await store.delete(f"/k/{i}")
            del kvs[i]
        rev = await store.current_revision()
        before = await store.list("/k/", revision=rev - 5)
        await store.compact(rev - 5)
        now = await store.list("/k/")
        assert now.items == [kvs[i] for i in sorted(kvs)]
        at = await store.list("/k/", revision=rev - 5)
        assert at == before
        with pytest.raises(Gone):
            await store.list("/k/", revision=rev - 6)
        # Superseded rows are really gone from the file.
        db = sqlite3.connect(url(tmp_path).removeprefix("sqlite://"))
        (rows,) = db.execute("SELECT COUNT(*) FROM log").fetchone()
        db.close()
        assert rows == 10 + 5  # the newest row per key at rev - 5, plus the 5 after
    finally:
        await store.close()


async def test_auto_compactor_keeps_the_configured_window(tmp_path: Path) -> None:
    store = await open_store(
        url(tmp_path, "?keep_revisions=20&keep_seconds=0&compact_interval=0.05")
    )
    try:
        kv = await store.create("/k", b"0")
        for i in range(99):
            kv = await store.update("/k", str(i).encode(), expected_revision=kv.mod_revision)
        async with asyncio.timeout(10):
            while True:
                try:
                    await anext(store.watch("/", from_revision=50))
                except Gone:
                    break
                await asyncio.sleep(0.05)
        it = store.watch("/", from_revision=80)
        assert (await anext(it)).revision == 81
    finally:
        await store.close()


async def test_auto_compactor_respects_the_time_window(tmp_path: Path) -> None:
    store = await open_store(
        url(tmp_path, "?keep_revisions=1&keep_seconds=3600&compact_interval=0.02")
    )
    try:
        kv = await store.create("/k", b"0")
        for i in range(30):
            kv = await store.update("/k", str(i).encode(), expected_revision=kv.mod_revision)
        await asyncio.sleep(0.3)
        it = store.watch("/", from_revision=0)
        assert (await anext(it)).revision == 1
    finally:
        await store.close()


async def test_close_ends_watchers_and_refuses_calls(tmp_path: Path) -> None:
    store = await open_store(url(tmp_path))
    it = store.watch("/", from_revision=0)
    waiting = asyncio.create_task(anext(it))
    await asyncio.sleep(0.1)
    await store.close()
    with pytest.raises(Unavailable):
        await waiting
    with pytest.raises(Unavailable):
        await store.get("/x")
    with pytest.raises(Unavailable):
        await store.create("/x", b"")
    await store.close()  # idempotent


@pytest.mark.parametrize(
    "query", ["?keep_revison=5", "?keep_revisions=lots", "?synchronous=off", "?readers=-1"]
)
async def test_bad_url_options_are_rejected(tmp_path: Path, query: str) -> None:
    with pytest.raises(BadURL):
        await open_store(url(tmp_path, query))


async def test_group_commit_gives_each_write_its_own_revision(tmp_path: Path) -> None:
    store = await open_store(url(tmp_path))
    try:
        assert isinstance(store, sqlite_mod.SQLiteBackend)
        kvs = await asyncio.gather(*(store.create(f"/g/{i}", b"v") for i in range(300)))
        revs = sorted(kv.mod_revision for kv in kvs)
        assert revs == list(range(1, 301))
        # Group commit: 300 concurrent writes share far fewer transactions.
        assert store.commits < 100
        # A failing write inside a batch fails alone.
        results = await asyncio.gather(
            store.create("/g/new", b"v"),
            store.create("/g/1", b"dup"),
            store.create("/g/new2", b"v"),
            return_exceptions=True,
        )
        assert [type(r).__name__ for r in results] == ["KeyValue", "AlreadyExists", "KeyValue"]
        assert await store.current_revision() == 302
    finally:
        await store.close()
