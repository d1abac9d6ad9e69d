"""The ``memory://`` backend: the whole Backend protocol in a few dicts, for unit tests.

It keeps a real history (one Event per revision) so watch-from-revision, paginated lists at an
old revision and compaction behave like the SQLite and etcd backends; the conformance suite in
tests/store/test_conformance.py runs the same tests on all three. Nothing is persisted.

Options: ``memory://?keep_revisions=N`` bounds the history (default 100,000 revisions); older
history is compacted on write, like the SQLite auto-compactor but without the time window.

Every call yields to the event loop once before it acts, so concurrent callers really
interleave (a read-modify-write loop in a test meets Conflicts as it would against etcd).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from ._common import number, url_options
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
    Unavailable,
)

log = logging.getLogger(__name__)


class MemoryBackend:
    def __init__(self, *, keep_revisions: int = 100_000) -> None:
        self._keep = max(1, keep_revisions)
        self._rev = 0
        self._compacted = 0
        self._kv: dict[str, KeyValue] = {}
        # _log[i].revision == self._compacted + 1 + i: every write adds exactly one event, and
        # compaction drops a prefix, so the index of a revision is a subtraction.
        self._log: list[Event] = []
        self._changed = asyncio.Event()
        self._listeners: list[CommitListener] = []
        self._closed = False

    # -- reads ----------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue:
        await self._enter()
        kv = self._kv.get(key)
        if kv is None:
            raise NotFound(key)
        return kv

    async def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        start_after: str | None = None,
        revision: int = 0,
    ) -> ListResult:
        await self._enter()
        at = self._rev if revision <= 0 or revision > self._rev else revision
        if at < self._compacted:
            raise Gone(at, compacted=self._compacted)
        view = {k: v for k, v in self._kv.items() if k.startswith(prefix)}
        # Undo the writes after ``at``, newest first, to get the snapshot at ``at``.
        for ev in reversed(self._log[at - self._compacted :]):
            key = ev.kv.key
            if not key.startswith(prefix):
                continue
            if ev.prev is None:
                view.pop(key, None)
            else:
                view[key] = ev.prev
        keys = sorted(k for k in view if start_after is None or k > start_after)
        more = 0 < limit < len(keys)
        if more:
            keys = keys[:limit]
        return ListResult(items=[view[k] for k in keys], revision=at, more=more)

    async def current_revision(self) -> int:
        await self._enter()
        return self._rev

    # -- writes ---------------------------------------------------------------------------

    async def create(self, key: str, value: bytes) -> KeyValue:
        await self._enter()
        if key in self._kv:
            raise AlreadyExists(key)
        rev = self._rev + 1
        kv = KeyValue(key=key, value=bytes(value), create_revision=rev, mod_revision=rev)
        self._commit(Event(type=EventType.CREATE, kv=kv, prev=None, revision=rev))
        return kv

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        await self._enter()
        prev = self._kv.get(key)
        if prev is None:
            raise NotFound(key)
        if prev.mod_revision != expected_revision:
            raise Conflict(key, expected=expected_revision, actual=prev.mod_revision)
        rev = self._rev + 1
        kv = KeyValue(
            key=key, value=bytes(value), create_revision=prev.create_revision, mod_revision=rev
        )
        self._commit(Event(type=EventType.UPDATE, kv=kv, prev=prev, revision=rev))
        return kv

    async def delete(self, key: str, *, expected_revision: int = 0) -> Event:
        await self._enter()
        prev = self._kv.get(key)
        if prev is None:
            raise NotFound(key)
        if expected_revision and prev.mod_revision != expected_revision:
            raise Conflict(key, expected=expected_revision, actual=prev.mod_revision)
        rev = self._rev + 1
        gone = KeyValue(
            key=key, value=prev.value, create_revision=prev.create_revision, mod_revision=rev
        )
        ev = Event(type=EventType.DELETE, kv=gone, prev=prev, revision=rev)
        self._commit(ev)
        return ev

    def _commit(self, ev: Event) -> None:
        self._rev = ev.revision
        if ev.type is EventType.DELETE:
            del self._kv[ev.kv.key]
        else:
            self._kv[ev.kv.key] = ev.kv
        self._log.append(ev)
        if len(self._log) > self._keep:
            self._compact_to(self._rev - self._keep)
        # Wake every watcher; each one re-reads the log from its own position.
        self._changed.set()
        self._changed = asyncio.Event()
        for listener in self._listeners:
            try:
                listener([ev], self._rev)
            except Exception:  # a listener's bug must not fail the write
                log.exception("memory store commit listener failed")

    # -- base.CommitListeners --------------------------------------------------------------

    def add_listener(self, listener: CommitListener) -> int:
        if self._closed:
            raise Unavailable("memory store closed")
        self._listeners.append(listener)
        return self._rev

    def remove_listener(self, listener: CommitListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def compact(self, revision: int) -> None:
        await self._enter()
        self._compact_to(min(revision, self._rev))

    def _compact_to(self, revision: int) -> None:
        if revision <= self._compacted:
            return
        del self._log[: revision - self._compacted]
        self._compacted = revision

    # -- watch ----------------------------------------------------------------------------

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[Event]:
        return self._watch(prefix, from_revision)

    async def _watch(self, prefix: str, from_revision: int) -> AsyncIterator[Event]:
        await self._enter()
        last = max(from_revision, 0)
        while True:
            if self._closed:
                raise Unavailable("memory store closed")
            if last < self._compacted:
                # Also reached by a watcher so slow that compaction overtook it: etcd cancels
                # such a watch with ErrCompacted, and so do we.
                raise Gone(last, compacted=self._compacted)
            if last >= self._rev:
                await self._changed.wait()
                continue
            ev = self._log[last - self._compacted]
            last = ev.revision
            if ev.kv.key.startswith(prefix):
                yield ev

    # -- lifecycle ------------------------------------------------------------------------

    async def _enter(self) -> None:
        if self._closed:
            raise Unavailable("memory store closed")
        await asyncio.sleep(0)
        if self._closed:
            raise Unavailable("memory store closed")

    async def close(self) -> None:
        self._closed = True
        self._changed.set()


async def open_memory(url: str) -> Backend:
    opts = url_options(url, {"keep_revisions"})
    return MemoryBackend(keep_revisions=int(number(url, opts, "keep_revisions", 100_000)))
