"""WatchHub: one backend watch per key prefix, fanned out to many in-process subscribers.

The API server keeps one hub per resource kind; every HTTP watch (kubectl get -w, each
informer of each node) subscribes to the hub instead of opening its own store watch, so etcd or
SQLite sees one watch per kind however many clients there are (the role of the watch cache in
the real kube-apiserver).

- The hub's single ``backend.watch`` starts at the backend's current revision, on ``start()`` or
  lazily at the first subscription, in a named task the hub owns.
- It keeps a ring buffer of the last ``buffer_size`` events, and of no more than
  ``buffer_bytes`` of their values (10,000 large objects would otherwise pin gigabytes: each
  event holds its value and the previous one). A subscriber whose from_revision is
  at or after the start of the buffer is served from memory (backlog from the buffer, then live
  events); an older from_revision gets its own ``backend.watch`` (which raises Gone if that
  revision is compacted) behind the same bounded queue.
- Each subscriber has a bounded queue. Publishing never waits: a subscriber whose queue is full
  is cut off with SlowConsumer (it must re-watch from the last revision it saw, or relist), so
  one stuck client never slows the others or grows memory without bound.
- A subscription may name an index ``(field, value)`` (the API server's exact-match field
  selectors, ``spec.nodeName=X``, as kube-apiserver's cacher indexes its watchers by
  "trigger"): it is then offered only the events whose ``hub.indexer`` values (the field of
  the new and of the previous object) include ``value``, so a pod event visits its node's
  kubelet watch and not the other hundred. Without an indexer every subscription gets
  everything; the subscriber still filters what it is offered.
- If the hub's backend watch fails (Gone, Unavailable, anything), every subscriber gets that
  error after the events it already has; the failure is logged and kept in ``hub.error``, and
  the next subscription starts a fresh backend watch.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterable

from .base import Backend, Event, StoreError, Unavailable

log = logging.getLogger(__name__)


class SlowConsumer(StoreError):
    """The subscriber did not keep up: its queue filled, so it was cut off."""

    def __init__(self, *, prefix: str, queue_size: int, last_revision: int) -> None:
        super().__init__(
            f"watch on {prefix!r} fell {queue_size} events behind after revision"
            f" {last_revision}; re-watch from there"
        )
        self.last_revision = last_revision


_ENDED = object()

Indexer = Callable[[Event, str], Iterable[str]]
"""The values of an index field for one event: of the new object and of the previous one
(an object moving off a value must still reach that value's subscribers)."""


@contextlib.asynccontextmanager
async def _closing(it: AsyncIterator[Event]) -> AsyncIterator[AsyncIterator[Event]]:
    """Close a backend watch when we stop reading it (cancel, cut-off), not at GC time."""
    try:
        yield it
    finally:
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()


class Subscription:
    """An async iterator of Events after ``from_revision``; made by ``WatchHub.subscribe``."""

    def __init__(self, hub: WatchHub, from_revision: int, queue_size: int,
                 index: tuple[str, str] | None = None) -> None:
        self._hub = hub
        self.index = index
        self.from_revision = from_revision
        self.last_revision = from_revision
        self._queue_size = max(1, queue_size)
        self._backlog: collections.deque[Event] = collections.deque()
        self._queue: collections.deque[Event] = collections.deque()
        self._wake = asyncio.Event()
        self._end: BaseException | object | None = None  # an error, or _ENDED
        self._attached = False
        self._pump: asyncio.Task[None] | None = None

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        if not self._attached:
            self._attached = True
            await self._hub._attach(self)
        while True:
            ev = self._next_buffered()
            if ev is not None:
                if ev.revision > self.last_revision:
                    self.last_revision = ev.revision
                    return ev
                continue
            if self._end is not None:
                if isinstance(self._end, BaseException):
                    raise self._end
                raise StopAsyncIteration
            self._wake.clear()
            await self._wake.wait()

    def _next_buffered(self) -> Event | None:
        if self._backlog:
            return self._backlog.popleft()
        if self._queue:
            return self._queue.popleft()
        return None

    # Called by the hub (or this subscription's own pump) from the event loop.

    def _offer(self, ev: Event) -> bool:
        """Queue one live event; False (and the subscription is cut off) when full."""
        if self._end is not None:
            return False
        if len(self._queue) >= self._queue_size:
            # Drop what it has not read: the error should reach it now, not 1000 events later,
            # and the memory is freed at once. It resumes from the last event it did read.
            self._queue.clear()
            self._backlog.clear()
            self._finish(
                SlowConsumer(
                    prefix=self._hub.prefix,
                    queue_size=self._queue_size,
                    last_revision=self.last_revision,
                )
            )
            return False
        self._queue.append(ev)
        self._wake.set()
        return True

    def caught_up(self) -> int | None:
        """The hub's last published revision when this subscription has nothing left to
        hand out (so, once its reader has dealt with what it took, it has seen every event
        up to there that it was to be offered), else None. What lets an indexed subscriber's
        bookmarks move on while the events of other index values go by."""
        if (self._end is not None or self._backlog or self._queue
                or self not in self._hub._subscribers):
            return None
        return max(self._hub.revision, self.last_revision)

    def _finish(self, end: BaseException | object) -> None:
        if self._end is None:
            self._end = end
        self._wake.set()

    async def aclose(self) -> None:
        """Stop receiving; safe to call at any time, more than once."""
        self._hub._detach(self)
        self._finish(_ENDED)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump


def _event_bytes(ev: Event) -> int:
    size = len(ev.kv.value)
    if ev.prev is not None and ev.prev.value is not ev.kv.value:
        size += len(ev.prev.value)
    return size


class WatchHub:
    def __init__(
        self,
        backend: Backend,
        prefix: str,
        *,
        buffer_size: int = 10_000,
        buffer_bytes: int = 64 * 2**20,
        name: str = "",
    ) -> None:
        self.backend = backend
        self.prefix = prefix
        self.name = name or f"watch-hub:{prefix}"
        self._buffer_size = max(1, buffer_size)
        self._buffer: collections.deque[Event] = collections.deque()
        self._buffer_bytes = max(1, buffer_bytes)
        self._buffered = 0  # bytes of values held by _buffer
        self._base = 0  # the buffer holds every event after this revision
        self._subscribers: set[Subscription] = set()
        # _subscribers split by how they are offered events: every event, or by index value.
        self._unindexed: set[Subscription] = set()
        self._indexed: dict[str, dict[str, set[Subscription]]] = {}
        self.indexer: Indexer | None = None
        self.revision = 0
        """The revision of the last event published to the subscribers."""
        self._direct: set[Subscription] = set()
        self._task: asyncio.Task[None] | None = None
        self._ready: asyncio.Future[None] | None = None
        self._closed = False
        self.error: BaseException | None = None
        """The last failure of the backend watch, for health reporting."""

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers) + len(self._direct)

    def start(self) -> None:
        """Start the backend watch if it is not running (idempotent)."""
        if self._closed:
            raise Unavailable(f"{self.name} is closed")
        if self._task is not None:
            return
        self._buffer.clear()
        self._buffered = 0
        self._ready = asyncio.get_running_loop().create_future()
        # A subscriber may never come to await the failure; don't warn about it.
        self._ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._task = asyncio.create_task(self._run(self._ready), name=self.name)

    async def started(self) -> int:
        """Start if needed and wait until the backend watch is set up. Returns the oldest
        from_revision served from memory right now (older ones get their own backend watch)."""
        self.start()
        assert self._ready is not None
        await asyncio.shield(self._ready)
        return self._base

    def subscribe(self, from_revision: int, *, queue_size: int = 1000,
                  index: tuple[str, str] | None = None) -> Subscription:
        """Events after from_revision (only those whose index values include index's value,
        when an index is given and the hub has an indexer). The subscription attaches on its
        first iteration."""
        if self._closed:
            raise Unavailable(f"{self.name} is closed")
        return Subscription(self, from_revision, queue_size, index)

    def _register(self, sub: Subscription) -> None:
        self._subscribers.add(sub)
        if sub.index is not None and self.indexer is not None:
            fld, value = sub.index
            self._indexed.setdefault(fld, {}).setdefault(value, set()).add(sub)
        else:
            self._unindexed.add(sub)

    def _detach(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        self._unindexed.discard(sub)
        if sub.index is not None:
            fld, value = sub.index
            by_value = self._indexed.get(fld, {})
            subs = by_value.get(value)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del by_value[value]
                    if not by_value:
                        del self._indexed[fld]

    def _take_all(self) -> set[Subscription]:
        subscribers, self._subscribers = self._subscribers, set()
        self._unindexed.clear()
        self._indexed.clear()
        return subscribers

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for sub in list(self._direct):
            await sub.aclose()
        for sub in self._take_all():
            sub._finish(_ENDED)

    # -- the backend watch ------------------------------------------------------------------

    async def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            start = await self.backend.current_revision()
            self._base = start
            ready.set_result(None)
            async with _closing(self.backend.watch(self.prefix, from_revision=start)) as it:
                async for ev in it:
                    self._publish(ev)
            raise Unavailable(f"{self.name}: the store ended the watch")
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except Exception as e:
            # Propagated, not swallowed: every subscriber raises it, and it is logged here.
            log.error("%s: backend watch failed: %r", self.name, e)
            self.error = e
            self._task = None  # the next subscription starts a new watch
            if not ready.done():
                ready.set_exception(e)
            for sub in self._take_all():
                sub._finish(e)

    def _publish(self, ev: Event) -> None:
        self.revision = ev.revision
        self._buffer.append(ev)
        self._buffered += _event_bytes(ev)
        while len(self._buffer) > 1 and (len(self._buffer) > self._buffer_size
                                         or self._buffered > self._buffer_bytes):
            old = self._buffer.popleft()
            self._buffered -= _event_bytes(old)
            self._base = old.revision
        cut: list[Subscription] = []
        for sub in self._unindexed:
            if not sub._offer(ev):
                cut.append(sub)
        if self._indexed:
            for sub in self._indexed_targets(ev):
                if not sub._offer(ev):
                    cut.append(sub)
        for sub in cut:
            self._detach(sub)
            log.info("%s: cut off a slow subscriber at revision %d", self.name, sub.last_revision)

    def _indexed_targets(self, ev: Event) -> list[Subscription]:
        assert self.indexer is not None
        out: list[Subscription] = []
        for fld, by_value in self._indexed.items():
            try:
                values = set(self.indexer(ev, fld))
            except Exception:
                # Never lose an event over an index: offer it to all of them (they filter).
                log.exception("%s: indexing revision %d by %s failed", self.name,
                              ev.revision, fld)
                for subs in by_value.values():
                    out.extend(subs)
                continue
            for value in values:
                hit = by_value.get(value)
                if hit:
                    out.extend(hit)
        return out

    async def _attach(self, sub: Subscription) -> None:
        if self._closed:
            raise Unavailable(f"{self.name} is closed")
        self.start()
        assert self._ready is not None
        await asyncio.shield(self._ready)
        if sub._end is not None:  # closed while waiting
            return
        if sub.from_revision >= self._base:
            # Backlog copy and registration happen with no await in between: the next
            # published event is the first one after the backlog.
            backlog = []
            for ev in reversed(self._buffer):
                if ev.revision <= sub.from_revision:
                    break
                backlog.append(ev)
            backlog.reverse()
            sub._backlog.extend(backlog)
            self._register(sub)
            return
        self._direct.add(sub)
        sub._pump = asyncio.create_task(
            self._pump_direct(sub), name=f"{self.name}:from-{sub.from_revision}"
        )

    async def _pump_direct(self, sub: Subscription) -> None:
        """An old from_revision: its own backend watch, behind the same bounded queue."""
        try:
            watch = self.backend.watch(self.prefix, from_revision=sub.from_revision)
            async with _closing(watch) as it:
                async for ev in it:
                    if not sub._offer(ev):
                        return
            sub._finish(Unavailable(f"{self.name}: the store ended the watch"))
        except Exception as e:
            sub._finish(e)
        finally:
            self._direct.discard(sub)
