"""The ``sqlite:///path/state.db`` backend: the embedded default store, after kine's design.

Why it looks like this:

- **One log table.** Every write appends a row whose id is the revision (create, update and
  delete rows carry the key, the new value, the previous value and the create revision). A
  second table ``kv`` holds the current value of every live key, so gets, compare-and-swap
  checks and lists of "now" are primary-key lookups and range scans. A list at an older
  revision (the later pages of a paginated list) reads the newest log row <= that revision per
  key, through the (key, id) index, in one read transaction: a consistent snapshot.
- **One writer thread, group commit.** sqlite3 blocks, so every write goes through a queue to a
  dedicated thread. It drains everything queued and commits it in ONE transaction (one fsync
  for many callers); each write in the batch still gets its own revision and its own
  compare-and-swap check, and each caller's future resolves only after the COMMIT returned.
  Reads run on a small pool of reader threads with their own connections (WAL lets readers run
  beside the writer).
- **Watch without polling.** After each commit the writer hands the batch's events to the event
  loop, which appends them to every matching watcher's queue. A watcher subscribes first, then
  replays history from the log, then drains its queue, skipping revisions it already yielded:
  no gap (anything committed after the replay snapshot is delivered after the subscription) and
  no duplicate (dedupe by revision).
- **Durability.** journal_mode=WAL with synchronous=FULL (the default; ``?synchronous=normal``
  to override): WAL+FULL fsyncs the WAL on every commit, so an acknowledged write survives
  kill -9 *and* power loss. NORMAL in WAL mode would survive a process crash but could lose the
  last commits on power loss; since group commit pays one fsync per batch rather than per write,
  FULL costs little at the concurrency the API server produces.
- **Compaction.** ``compact(rev)`` deletes log rows at or below rev that a newer row (also at or
  below rev) supersedes, and delete rows; the state at rev stays readable. A background
  compactor owned by the backend keeps at least ``keep_revisions`` revisions (default 100,000)
  AND at least ``keep_seconds`` of history (default 300), checked every ``compact_interval``
  seconds (default 60); all three are URL query options.

A lock file beside the database keeps a second process from writing the same file (the writer
thread caches the revision, so two writers would corrupt the history).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import functools
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ._common import BadURL, number, prefix_end, url_options
from .base import (
    AlreadyExists,
    Backend,
    CommitListener,
    Conflict,
    Event,
    EventType,
    Gone,
    KeyValue,
    ListResult,
    NotFound,
    StoreError,
    Unavailable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB,
    old_value BLOB
);
CREATE INDEX IF NOT EXISTS log_key_id ON log (key, id);
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('compact_revision', 0);
"""

_EVENT_COLUMNS = "id, key, created, deleted, create_revision, prev_revision, value, old_value"
MAX_BATCH = 1000  # writes per group commit
REPLAY_CHUNK = 1000  # log rows per replay read
COMPACT_CHUNK = 10_000  # revisions per compaction transaction, so writes interleave


@dataclass(slots=True)
class _Op:
    kind: str  # create | update | delete | compact
    key: str
    value: bytes
    expected: int
    future: asyncio.Future[Any]


@dataclass(slots=True, eq=False)  # identity hash: watchers live in a set
class _Watcher:
    prefix: str
    events: collections.deque[Event] = field(default_factory=collections.deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    error: BaseException | None = None


_STOP = object()

# Aliases used inside SQLiteBackend, where the name ``list`` is the Backend method.
_Results = list[tuple[asyncio.Future[Any], Any]]
_Events = list[Event]
_Ops = list[_Op]


def _event_from_row(row: tuple[Any, ...]) -> Event:
    rev, key, created, deleted, create_rev, prev_rev, value, old_value = row
    if deleted:
        prev = KeyValue(key, bytes(old_value), create_rev, prev_rev)
        kv = KeyValue(key, bytes(old_value), create_rev, rev)
        return Event(type=EventType.DELETE, kv=kv, prev=prev, revision=rev)
    kv = KeyValue(key, bytes(value), create_rev, rev)
    if created:
        return Event(type=EventType.CREATE, kv=kv, prev=None, revision=rev)
    prev = KeyValue(key, bytes(old_value), create_rev, prev_rev)
    return Event(type=EventType.UPDATE, kv=kv, prev=prev, revision=rev)


def _snapshot_revisions(conn: sqlite3.Connection) -> tuple[int, int]:
    """(current revision, compacted revision) inside the caller's read transaction."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'log'").fetchone()
    current = int(row[0]) if row else 0
    (compacted,) = conn.execute(
        "SELECT value FROM meta WHERE name = 'compact_revision'"
    ).fetchone()
    return current, int(compacted)


class SQLiteBackend:
    def __init__(
        self,
        path: Path,
        *,
        synchronous: str = "FULL",
        keep_revisions: int = 100_000,
        keep_seconds: float = 300.0,
        compact_interval: float = 60.0,
        readers: int = 4,
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._keep_revisions = keep_revisions
        self._keep_seconds = keep_seconds
        self._compact_interval = compact_interval
        self._loop = asyncio.get_running_loop()
        self._ops: queue.SimpleQueue[_Op | object] = queue.SimpleQueue()
        self._writer = threading.Thread(
            target=self._writer_main, name=f"sqlite-writer:{path.name}", daemon=True
        )
        self._wconn: sqlite3.Connection | None = None
        self._wrev = 0  # the writer thread's revision (last committed)
        self._rev = 0  # the event loop's view: last revision delivered
        self._compacted = 0
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix=f"sqlite-read:{path.name}")
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._watchers: set[_Watcher] = set()
        self._listeners: list[CommitListener] = []
        self._lock_fd = -1
        self._closed = False
        self._compactor: asyncio.Task[None] | None = None
        self.commits = 0
        """Write transactions committed (group commit: usually far fewer than writes)."""

    # -- lifecycle ------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        return conn

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            raise Unavailable(f"{self.path} is in use by another process") from e
        self._lock_fd = fd
        try:
            conn = self._connect()
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise Unavailable(f"{self.path}: cannot switch to WAL mode (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.executescript(_SCHEMA)
            self._wrev, self._compacted = _snapshot_revisions(conn)
        except sqlite3.Error as e:
            self._unlock()
            raise Unavailable(f"cannot open {self.path}: {e}") from e
        self._wconn = conn
        self._rev = self._wrev

    async def start(self) -> None:
        await asyncio.to_thread(self._open_sync)
        self._writer.start()
        self._compactor = asyncio.create_task(
            self._auto_compact(), name=f"sqlite-compactor:{self.path.name}"
        )

    def _unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = -1

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
        if self._writer.is_alive():
            self._ops.put(_STOP)
            await asyncio.to_thread(self._writer.join)
        # Ops queued behind the stop marker (or a compaction re-queued after it) never ran.
        leftovers: _Results = []
        while True:
            try:
                op = self._ops.get_nowait()
            except queue.Empty:
                break
            if isinstance(op, _Op):
                leftovers.append((op.future, Unavailable("sqlite store closed")))
        self._resolve(leftovers)
        for w in self._watchers:
            w.error = Unavailable("sqlite store closed")
            w.wake.set()
        await asyncio.to_thread(self._readers.shutdown, wait=True)
        with self._conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()
        if self._wconn is not None:
            self._wconn.close()
            self._wconn = None
        self._unlock()

    def _check_open(self) -> None:
        if self._closed:
            raise Unavailable("sqlite store closed")

    # -- reads ----------------------------------------------------------------------------

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        self._check_open()
        try:
            return await self._loop.run_in_executor(
                self._readers, functools.partial(self._on_reader, fn, *args)
            )
        except RuntimeError as e:  # executor shut down under us by close()
            raise Unavailable("sqlite store closed") from e

    def _on_reader(self, fn: Callable[..., T], *args: Any) -> T:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._conns_lock:
                self._reader_conns.append(conn)
        try:
            return fn(conn, *args)
        except sqlite3.Error as e:
            raise Unavailable(f"sqlite read failed: {e}") from e
        finally:
            if conn.in_transaction:
                conn.rollback()

    async def get(self, key: str) -> KeyValue:
        row = await self._read(
            lambda c: c.execute(
                "SELECT value, create_revision, mod_revision FROM kv WHERE key = ?", (key,)
            ).fetchone()
        )
        if row is None:
            raise NotFound(key)
        return KeyValue(key, bytes(row[0]), row[1], row[2])

    async def current_revision(self) -> int:
        self._check_open()
        return self._rev

    async def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        start_after: str | None = None,
        revision: int = 0,
    ) -> ListResult:
        return await self._read(self._list_sync, prefix, limit, start_after, revision)

    @staticmethod
    def _list_sync(
        conn: sqlite3.Connection, prefix: str, limit: int, start_after: str | None, revision: int
    ) -> ListResult:
        conn.execute("BEGIN")
        current, compacted = _snapshot_revisions(conn)
        at = current if revision <= 0 or revision >= current else revision
        if at < compacted:
            raise Gone(at, compacted=compacted)
        lo_op, lo = (">", start_after) if start_after and start_after >= prefix else (">=", prefix)
        n = -1 if limit <= 0 else limit + 1
        if at == current:
            rows = conn.execute(
                "SELECT key, value, create_revision, mod_revision FROM kv"
                f" WHERE key {lo_op} ? AND key < ? ORDER BY key LIMIT ?",
                (lo, prefix_end(prefix), n),
            ).fetchall()
        else:
            # The newest row per key at or below ``at``, walking keys in order through the
            # (key, id) index so a page stops after ``limit`` keys.
            rows = conn.execute(
                "SELECT key, value, create_revision, id FROM log AS l"
                f" WHERE key {lo_op} ? AND key < ? AND id <= ? AND deleted = 0"
                " AND id = (SELECT MAX(id) FROM log AS n WHERE n.key = l.key AND n.id <= ?)"
                " ORDER BY key LIMIT ?",
                (lo, prefix_end(prefix), at, at, n),
            ).fetchall()
        items = [KeyValue(r[0], bytes(r[1]), r[2], r[3]) for r in rows]
        more = 0 < limit < len(items)
        return ListResult(items=items[:limit] if more else items, revision=at, more=more)

    # -- writes ---------------------------------------------------------------------------

    async def _submit(self, kind: str, key: str, value: bytes = b"", expected: int = 0) -> Any:
        self._check_open()
        if not self._writer.is_alive():
            raise Unavailable("sqlite writer thread is not running")
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._ops.put(_Op(kind, key, bytes(value), expected, fut))
        return await fut

    async def create(self, key: str, value: bytes) -> KeyValue:
        result: KeyValue = await self._submit("create", key, value)
        return result

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        result: KeyValue = await self._submit("update", key, value, expected_revision)
        return result

    async def delete(self, key: str, *, expected_revision: int = 0) -> Event:
        result: Event = await self._submit("delete", key, b"", expected_revision)
        return result

    async def compact(self, revision: int) -> None:
        await self._submit("compact", "", b"", revision)

    def _writer_main(self) -> None:
        stop = False
        while not stop:
            first = self._ops.get()
            if first is _STOP:
                break
            batch: _Ops = [first]  # type: ignore[list-item]
            while len(batch) < MAX_BATCH:
                try:
                    op = self._ops.get_nowait()
                except queue.Empty:
                    break
                if op is _STOP:
                    stop = True
                    break
                assert isinstance(op, _Op)
                batch.append(op)
            writes = [op for op in batch if op.kind != "compact"]
            try:
                if writes:
                    self._commit_batch(writes)
                for op in batch:
                    if op.kind == "compact":
                        self._compact_step(op)
            except BaseException as e:  # never let the writer die with callers waiting
                log.exception("sqlite writer: unexpected failure")
                conn = self._wconn
                if conn is not None and conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        conn.rollback()
                err = Unavailable(f"sqlite writer failed: {e!r}")
                # Futures already resolved by an earlier delivery are skipped by _resolve.
                with contextlib.suppress(RuntimeError):  # the event loop is already closed
                    self._loop.call_soon_threadsafe(
                        self._resolve, [(op.future, err) for op in batch]
                    )
        if self._wconn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._wconn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _commit_batch(self, ops: _Ops) -> None:
        conn = self._wconn
        assert conn is not None
        results: _Results = []
        events: _Events = []
        rev = self._wrev
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op in ops:
                try:
                    ev = self._apply(conn, op, rev + 1)
                except StoreError as e:
                    results.append((op.future, e))
                    continue
                rev += 1
                events.append(ev)
                results.append((op.future, ev if op.kind == "delete" else ev.kv))
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
            err = Unavailable(f"sqlite commit failed: {e}")
            err.__cause__ = e
            self._loop.call_soon_threadsafe(self._resolve, [(op.future, err) for op in ops])
            return
        self._wrev = rev
        self.commits += 1
        self._loop.call_soon_threadsafe(self._deliver, events, results)

    @staticmethod
    def _apply(conn: sqlite3.Connection, op: _Op, rev: int) -> Event:
        row = conn.execute(
            "SELECT value, create_revision, mod_revision FROM kv WHERE key = ?", (op.key,)
        ).fetchone()
        if op.kind == "create":
            if row is not None:
                raise AlreadyExists(op.key)
            conn.execute(
                f"INSERT INTO log ({_EVENT_COLUMNS}) VALUES (?, ?, 1, 0, ?, 0, ?, NULL)",
                (rev, op.key, rev, op.value),
            )
            conn.execute("INSERT INTO kv VALUES (?, ?, ?, ?)", (op.key, op.value, rev, rev))
            kv = KeyValue(op.key, op.value, rev, rev)
            return Event(type=EventType.CREATE, kv=kv, prev=None, revision=rev)
        if row is None:
            raise NotFound(op.key)
        prev = KeyValue(op.key, bytes(row[0]), row[1], row[2])
        if (op.kind == "update" or op.expected) and prev.mod_revision != op.expected:
            raise Conflict(op.key, expected=op.expected, actual=prev.mod_revision)
        if op.kind == "update":
            conn.execute(
                f"INSERT INTO log ({_EVENT_COLUMNS}) VALUES (?, ?, 0, 0, ?, ?, ?, ?)",
                (rev, op.key, prev.create_revision, prev.mod_revision, op.value, prev.value),
            )
            conn.execute(
                "UPDATE kv SET value = ?, mod_revision = ? WHERE key = ?", (op.value, rev, op.key)
            )
            kv = KeyValue(op.key, op.value, prev.create_revision, rev)
            return Event(type=EventType.UPDATE, kv=kv, prev=prev, revision=rev)
        conn.execute(
            f"INSERT INTO log ({_EVENT_COLUMNS}) VALUES (?, ?, 0, 1, ?, ?, NULL, ?)",
            (rev, op.key, prev.create_revision, prev.mod_revision, prev.value),
        )
        conn.execute("DELETE FROM kv WHERE key = ?", (op.key,))
        kv = KeyValue(op.key, prev.value, prev.create_revision, rev)
        return Event(type=EventType.DELETE, kv=kv, prev=prev, revision=rev)

    def _compact_step(self, op: _Op) -> None:
        """One bounded compaction transaction; re-queues itself until the target is reached so
        writes queued meanwhile are not stuck behind a long delete."""
        conn = self._wconn
        assert conn is not None
        target = min(op.expected, self._wrev)
        done = self._compacted
        if target <= done:
            self._loop.call_soon_threadsafe(self._resolve, [(op.future, None)])
            return
        upto = min(target, done + COMPACT_CHUNK)
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Rows superseded by a newer row of the same key in (done, upto]; rows at or below
            # ``done`` were already the newest of their key then, so only this range can
            # supersede anything.
            conn.execute(
                "DELETE FROM log WHERE id IN (SELECT o.id FROM log AS n JOIN log AS o"
                " ON o.key = n.key AND o.id < n.id WHERE n.id > ? AND n.id <= ?)",
                (done, upto),
            )
            conn.execute("DELETE FROM log WHERE deleted = 1 AND id > ? AND id <= ?", (done, upto))
            conn.execute("UPDATE meta SET value = ? WHERE name = 'compact_revision'", (upto,))
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
            err = Unavailable(f"sqlite compaction failed: {e}")
            err.__cause__ = e
            self._loop.call_soon_threadsafe(self._resolve, [(op.future, err)])
            return
        self._compacted = upto
        if upto < target:
            self._ops.put(op)
        else:
            self._loop.call_soon_threadsafe(self._resolve, [(op.future, None)])

    # -- event-loop side of the writer ------------------------------------------------------

    @staticmethod
    def _resolve(results: _Results) -> None:
        for fut, result in results:
            if fut.done():  # the caller gave up (cancelled); the write itself stands
                continue
            if isinstance(result, BaseException):
                fut.set_exception(result)
            else:
                fut.set_result(result)

    def _deliver(self, events: _Events, results: _Results) -> None:
        if events:
            self._rev = events[-1].revision
            for w in self._watchers:
                matched = [ev for ev in events if ev.kv.key.startswith(w.prefix)]
                if matched:
                    w.events.extend(matched)
                    w.wake.set()
            for listener in self._listeners:
                try:
                    listener(events, self._rev)
                except Exception:  # a listener's bug must not fail the writes
                    log.exception("sqlite commit listener failed")
        self._resolve(results)

    # -- base.CommitListeners ----------------------------------------------------------------

    def add_listener(self, listener: CommitListener) -> int:
        self._check_open()
        self._listeners.append(listener)
        return self._rev

    def remove_listener(self, listener: CommitListener) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    # -- watch ----------------------------------------------------------------------------

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[Event]:
        return self._watch(prefix, from_revision)

    @staticmethod
    def _replay_sync(
        conn: sqlite3.Connection, prefix: str, after: int, limit: int
    ) -> tuple[_Events, int]:
        conn.execute("BEGIN")
        _, compacted = _snapshot_revisions(conn)
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM log WHERE id > ? AND key >= ? AND key < ?"
            " ORDER BY id LIMIT ?",
            (after, prefix, prefix_end(prefix), limit),
        ).fetchall()
        return [_event_from_row(r) for r in rows], compacted

    async def _watch(self, prefix: str, from_revision: int) -> AsyncIterator[Event]:
        self._check_open()
        # Subscribe before the replay read: see the module docstring for why this has no gap.
        w = _Watcher(prefix)
        self._watchers.add(w)
        try:
            last = max(from_revision, 0)
            while True:
                events, compacted = await self._read(self._replay_sync, prefix, last, REPLAY_CHUNK)
                if last < compacted:
                    # Also when compaction overtook a long replay: rows we have not read yet
                    # may be gone, so the caller must relist (etcd does the same).
                    raise Gone(last, compacted=compacted)
                for ev in events:
                    yield ev
                    last = ev.revision
                if len(events) < REPLAY_CHUNK:
                    break
            while True:
                while w.events:
                    ev = w.events.popleft()
                    if ev.revision > last:
                        last = ev.revision
                        yield ev
                if w.error is not None:
                    raise w.error
                w.wake.clear()
                await w.wake.wait()
        finally:
            self._watchers.discard(w)

    # -- automatic compaction ---------------------------------------------------------------

    async def _auto_compact(self) -> None:
        samples: collections.deque[tuple[float, int]] = collections.deque()
        while True:
            await asyncio.sleep(self._compact_interval)
            now = time.monotonic()
            samples.append((now, self._rev))
            # The newest revision that is at least keep_seconds old.
            old_enough = 0
            while samples and samples[0][0] <= now - self._keep_seconds:
                old_enough = samples.popleft()[1]
            if old_enough:
                samples.appendleft((now - self._keep_seconds, old_enough))
            target = min(self._rev - self._keep_revisions, old_enough)
            if target > self._compacted:
                try:
                    await self.compact(target)
                except StoreError as e:
                    log.warning("sqlite auto-compaction to %d failed: %s", target, e)


async def open_sqlite(url: str) -> Backend:
    parts = urlsplit(url)
    raw_path = parts.netloc + parts.path
    if not raw_path:
        raise BadURL(f"sqlite store URL needs a path: sqlite:///abs/path/state.db, got {url!r}")
    opts = url_options(
        url, {"keep_revisions", "keep_seconds", "compact_interval", "synchronous", "readers"}
    )
    sync = opts.get("synchronous", "full").upper()
    if sync not in ("FULL", "NORMAL", "EXTRA"):
        raise BadURL(f"synchronous must be full, normal or extra in {url!r}")
    backend = SQLiteBackend(
        Path(raw_path),
        synchronous=sync,
        keep_revisions=int(number(url, opts, "keep_revisions", 100_000)),
        keep_seconds=number(url, opts, "keep_seconds", 300.0),
        compact_interval=max(0.01, number(url, opts, "compact_interval", 60.0)),
        readers=max(1, int(number(url, opts, "readers", 4))),
    )
    await backend.start()
    return backend
