"""The API server's watch cache ("cacher"), after Kubernetes' storage/cacher: GET and LIST
answered from memory, consistently.

Why: without it every GET and LIST is a store read (a hop to SQLite's reader threads or an
etcd RPC) followed by ``json.loads`` of every object and ``json.dumps`` of the answer; for a
list of 1,000 pods that JSON work was ~85 % of the request. Here each object is decoded and
encoded once, when it changes, and a LIST is a join of the cached bytes.

How it stays right:

- **One source of changes.** The in-process backends (memory, sqlite) call ``_on_commit``
  synchronously for every commit (store.base.CommitListeners), after their
  ``current_revision()`` moved and before the writer hears back, so the cache is never behind
  what any reader can know. Other backends (etcd) are followed with one watch on the whole
  keyspace, so every revision passes by and ``revision`` means "everything up to here".
- **Kinds fill lazily.** A kind is listed from the store on its first read; commits arriving
  meanwhile are held and replayed after the list (those at or below the list's revision are
  already in it).
- **Consistent reads**, as Kubernetes' ConsistentListFromCache: a read without a
  resourceVersion asks the store for its current revision and waits (up to ``wait_timeout``)
  until the cache has applied it; ``resourceVersion=0`` takes any state the cache has; ``N``
  waits for N. Whatever cannot be answered in time raises ``Stale`` and the registry reads
  the store instead, so the cache is an accelerator, never a source of truth. An exact
  revision (continue tokens, resourceVersionMatch=Exact) is served here only when nothing of
  the kind changed since that revision; otherwise the store reads its snapshot.
- Entries are immutable: ``Cached.body`` is the object's JSON as served (with
  metadata.resourceVersion), ``labels`` and ``fields`` are what selectors look at, and
  ``decode()`` gives each caller its own mutable copy.

Neighbours: registry.py decides per request whether to read here or from the store;
store/fanout.py still fans watches out (the cache serves reads only).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import heapq
import itertools
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ...api import selectors
from ...api.resources import Resource
from ...store import base as store

log = logging.getLogger(__name__)

Object = dict[str, Any]

WAIT_TIMEOUT = 3.0
"""How long a read waits for the cache to catch up before it reads the store (Kubernetes: 3 s)."""

_DECODE_CHUNK = 500  # objects decoded per loop turn while a kind fills
_RESTART_DELAY = 1.0  # after the etcd-style source failed, before a read may restart it
_END = "\U0010ffff"  # sorts after every character of a key (see store/_common.py)


class Stale(Exception):
    """The cache cannot answer this read now: read the store instead."""


def encode(obj: Object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


_RV_SLOT = "\u0000rv\u0000"  # a resourceVersion no object has: its JSON marks the slot
_RV_SLOT_JSON = json.dumps(_RV_SLOT).encode()
_RV_FIELD = b',"resourceVersion":' + _RV_SLOT_JSON


@dataclass(frozen=True, slots=True)
class Encoded:
    """An object about to be written, encoded once: ``value`` is what the store keeps (no
    resourceVersion), ``template`` what is served, with a slot for the revision the write
    will get (what ``decode_kv`` then ``encode`` would give, without doing either)."""

    value: bytes
    template: bytes | None
    labels: Mapping[str, str]

    def served(self, revision: int) -> bytes | None:
        if self.template is None:
            return None
        return self.template.replace(_RV_SLOT_JSON, b'"%d"' % revision, 1)


def encode_for_store(obj: Object) -> Encoded:
    """The stored JSON of obj (without resourceVersion and selfLink, which are never
    stored) and its served template, from one json.dumps."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return Encoded(encode(obj), None, {})
    saved = {k: md.pop(k) for k in ("resourceVersion", "selfLink") if k in md}
    md["resourceVersion"] = _RV_SLOT  # last, where decode_kv puts it
    try:
        template = encode(obj)
    finally:
        del md["resourceVersion"]
        md.update(saved)
    labels = md.get("labels")
    labels = dict(labels) if isinstance(labels, dict) else {}
    if template.count(_RV_SLOT_JSON) != 1 or _RV_FIELD not in template:
        # (the slot text also in some field, or metadata held nothing else): plainly
        value = encode({**obj, "metadata": {k: v for k, v in md.items()
                                            if k not in ("resourceVersion", "selfLink")}})
        return Encoded(value, None, labels)
    return Encoded(template.replace(_RV_FIELD, b"", 1), template, labels)


def field_values(kind: str, obj: Object) -> dict[str, str]:
    return {f: fn(obj) for f, fn in selectors.field_labels(kind).items()}


def fields_match(sel: selectors.FieldSelector, values: Mapping[str, str]) -> bool:
    """``sel.matches(obj)`` on the precomputed field values of obj."""
    for fld, op, value in sel.requirements:
        if (values.get(fld, "") == value) != (op == "="):
            return False
    return True


class Cached:
    """One object as served: never changed once built (``fields`` is filled in once, on the
    first field selector that asks: most entries never meet one)."""

    __slots__ = ("_fields", "_shared", "body", "key", "kind", "labels", "revision")

    def __init__(self, key: str, revision: int, body: bytes, labels: Mapping[str, str],
                 kind: str) -> None:
        self.key = key
        self.revision = revision
        self.body = body
        self.labels = labels
        self.kind = kind
        self._fields: Mapping[str, str] | None = None
        self._shared: Object | None = None

    @property
    def fields(self) -> Mapping[str, str]:
        if self._fields is None:
            self._fields = field_values(self.kind, self.decode())
        return self._fields

    def shared(self) -> Object:
        """The object decoded once and kept with the entry: for readers that never change
        it (admission's namespace check on every create)."""
        if self._shared is None:
            self._shared = self.decode()
        return self._shared

    def decode(self) -> Object:
        """A fresh, mutable copy of the object."""
        obj: Object = json.loads(self.body.decode())  # (ours: UTF-8; skips detect_encoding)
        return obj

    def matches(self, labels: selectors.LabelSelector,
                fields: selectors.FieldSelector) -> bool:
        if not labels.matches(self.labels):
            return False
        return fields.empty or fields_match(fields, self.fields)

    @classmethod
    def from_object(cls, key: str, revision: int, obj: Object, kind: str) -> Cached:
        md = obj.get("metadata")
        labels = md.get("labels") if isinstance(md, dict) else None
        return cls(key, revision, encode(obj), labels if isinstance(labels, dict) else {}, kind)

    @classmethod
    def from_kv(cls, kv: store.KeyValue, kind: str) -> Cached:
        return cls.from_object(kv.key, kv.mod_revision, decode_kv(kv), kind)


def decode_kv(kv: store.KeyValue) -> Object:
    """A stored value as served: metadata.resourceVersion is the key's mod revision."""
    obj: Object = json.loads(kv.value.decode())  # stored by Registry.encode: UTF-8
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = obj["metadata"] = {}
    md["resourceVersion"] = str(kv.mod_revision)
    return obj


class _Kind:
    """The cached objects of one resource kind, in key order."""

    def __init__(self, res: Resource, ready: asyncio.Future[bool]) -> None:
        self.prefix = res.store_prefix()
        self.kind = res.kind
        self.objects: dict[str, Cached] = {}
        self.keys: list[str] = []
        self.revision = 0
        """The store revision the kind was listed at; commits at or below it are in the list."""
        self.changed = 0
        """The revision of the last change applied (the list's revision at first)."""
        self.pending: list[store.Event] | None = []
        self.ready = ready

    def put(self, entry: Cached) -> None:
        if entry.key not in self.objects:
            bisect.insort(self.keys, entry.key)
        self.objects[entry.key] = entry

    def apply(self, ev: store.Event, hint: Encoded | None = None) -> None:
        if ev.revision <= self.revision:
            return
        key = ev.kv.key
        if ev.type is store.EventType.DELETE:
            if self.objects.pop(key, None) is not None:
                del self.keys[bisect.bisect_left(self.keys, key)]
        else:
            body = hint.served(ev.revision) if hint is not None else None
            if body is not None and hint is not None:
                self.put(Cached(key, ev.revision, body, hint.labels, self.kind))
            else:
                self.put(Cached.from_kv(ev.kv, self.kind))
        self.changed = ev.revision


@dataclass(frozen=True, slots=True)
class View:
    """A kind's cache at ``revision``: read it before the next await."""

    kind: _Kind
    revision: int

    def get(self, key: str) -> Cached | None:
        return self.kind.objects.get(key)

    def select(self, prefix: str, labels: selectors.LabelSelector,
               fields: selectors.FieldSelector, *, limit: int = 0,
               start_after: str | None = None) -> tuple[list[Cached], bool]:
        """Matching objects under prefix after start_after, in key order, at most limit
        (0: all). ``more`` is True when keys are left after the last one returned, as the
        store's paginated list reports it."""
        keys = self.kind.keys
        lo = bisect.bisect_left(keys, prefix)
        if start_after is not None and start_after >= prefix:
            lo = bisect.bisect_right(keys, start_after)
        hi = bisect.bisect_left(keys, prefix + _END, lo)
        objects = self.kind.objects
        filtering = not labels.empty or not fields.empty
        out: list[Cached] = []
        for i in range(lo, hi):
            entry = objects[keys[i]]
            if filtering and not entry.matches(labels, fields):
                continue
            out.append(entry)
            if limit and len(out) >= limit:
                return out, i < hi - 1
        return out, False


class Cacher:
    """One per API server (owned by the Registry); see the module docstring."""

    def __init__(self, backend: store.Backend, *, wait_timeout: float = WAIT_TIMEOUT) -> None:
        self.backend = backend
        self.wait_timeout = wait_timeout
        self.revision = 0
        """Every commit up to this revision has been applied to every filled kind."""
        self._kinds: dict[str, _Kind] = {}
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._hints: dict[str, Encoded] = {}
        self._seq = itertools.count()
        self._running = False
        self._listening = False
        self._starting: asyncio.Task[None] | None = None
        self._watch: asyncio.Task[None] | None = None
        self._fills: set[asyncio.Task[None]] = set()
        self._retry_at = 0.0
        self._closed = False

    # -- reads ----------------------------------------------------------------------------

    async def read(self, res: Resource, *, min_revision: int | None = None) -> View:
        """The kind once it reflects at least min_revision; None means the store's current
        revision (a consistent read), 0 any state. Raises Stale."""
        kind = await self._kind(res)
        if min_revision is None:
            try:
                min_revision = await self.backend.current_revision()
            except store.StoreError as e:
                raise Stale(f"current revision: {e}") from e
        if self.revision < min_revision and kind.revision < min_revision:
            await self._wait(min_revision)
            if self._kinds.get(kind.prefix) is not kind:
                raise Stale("the cache was reset while waiting")
        return View(kind, max(kind.revision, self.revision))

    async def read_at(self, res: Resource, revision: int) -> View:
        """The kind exactly at revision: only when nothing of it changed since. Raises Stale."""
        kind = await self._kind(res)
        if kind.changed <= revision <= max(kind.revision, self.revision):
            return View(kind, revision)
        raise Stale(f"{res.name} changed after revision {revision}")

    @contextlib.contextmanager
    def writing(self, key: str, encoded: Encoded) -> Iterator[None]:
        """Around the registry's store write of ``encoded`` under key: if its commit comes
        by meanwhile (commit listeners do, before the write returns), the entry is built
        from the template instead of decoding and encoding the stored value again."""
        if encoded.template is None:
            yield
            return
        self._hints[key] = encoded
        try:
            yield
        finally:
            if self._hints.get(key) is encoded:
                del self._hints[key]

    def current(self, key: str) -> Cached | None:
        """The entry for key as the cache holds it now, possibly behind the store (callers
        CAS against its revision); None when its kind is not cached (yet) or lacks it."""
        for kind in self._kinds.values():
            if key.startswith(kind.prefix):
                if not kind.ready.done() or kind.ready.cancelled() or not kind.ready.result():
                    return None
                return kind.objects.get(key)
        return None

    def peek(self, key: str, revision: int) -> Cached | None:
        """The entry for key if the cache holds exactly that revision of it (no waiting)."""
        for kind in self._kinds.values():
            if key.startswith(kind.prefix):
                entry = kind.objects.get(key)
                return entry if entry is not None and entry.revision == revision else None
        return None

    async def _wait(self, target: int) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (target, next(self._seq), fut))
        try:
            async with asyncio.timeout(self.wait_timeout):
                await fut
        except TimeoutError:
            raise Stale(f"the cache is at {self.revision}, not yet at {target}") from None
        finally:
            if not fut.done():
                fut.cancel()

    def _wake(self) -> None:
        waiters = self._waiters
        while waiters and waiters[0][0] <= self.revision:
            fut = heapq.heappop(waiters)[2]
            if not fut.done():
                fut.set_result(None)

    # -- kinds ----------------------------------------------------------------------------

    async def _kind(self, res: Resource) -> _Kind:
        if not self._running:
            await self._start()
        prefix = res.store_prefix()
        kind = self._kinds.get(prefix)
        if kind is None:
            kind = _Kind(res, asyncio.get_running_loop().create_future())
            self._kinds[prefix] = kind
            task = asyncio.create_task(self._fill(kind), name=f"watch-cache fill {prefix}")
            self._fills.add(task)
            task.add_done_callback(self._fills.discard)
        if not kind.ready.done():
            try:
                async with asyncio.timeout(self.wait_timeout):
                    await asyncio.shield(kind.ready)
            except TimeoutError:
                raise Stale(f"{prefix} is still filling") from None
        if not kind.ready.result():
            raise Stale(f"filling {prefix} failed")
        return kind

    async def _fill(self, kind: _Kind) -> None:
        ok = False
        try:
            lr = await self.backend.list(kind.prefix)
            for i, kv in enumerate(lr.items):
                if i and i % _DECODE_CHUNK == 0:
                    await asyncio.sleep(0)  # let requests run while a big kind fills
                entry = Cached.from_kv(kv, kind.kind)
                kind.objects[entry.key] = entry
                kind.keys.append(entry.key)  # the store lists in key order
            kind.revision = kind.changed = lr.revision
            pending, kind.pending = kind.pending or [], None
            for ev in pending:
                kind.apply(ev)
            ok = True
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("watch cache: filling %s failed: %r", kind.prefix, e)
        finally:
            if not ok and self._kinds.get(kind.prefix) is kind:
                del self._kinds[kind.prefix]
            if not kind.ready.done():
                kind.ready.set_result(ok)

    def _dispatch(self, ev: store.Event) -> None:
        key = ev.kv.key
        for kind in self._kinds.values():
            if key.startswith(kind.prefix):
                if kind.pending is not None:
                    kind.pending.append(ev)
                    return
                hint = self._hints.get(key)
                if hint is not None and hint.value is not ev.kv.value:
                    hint = None  # (another write of the key)
                try:
                    kind.apply(ev, hint)
                except Exception:
                    # A value we cannot decode: forget the kind, reads go to the store and
                    # the next one lists it afresh.
                    log.exception("watch cache: applying revision %d to %s failed",
                                  ev.revision, kind.prefix)
                    del self._kinds[kind.prefix]
                return

    # -- the source of changes --------------------------------------------------------------

    async def _start(self) -> None:
        if self._closed:
            raise Stale("the watch cache is closed")
        if time.monotonic() < self._retry_at:
            raise Stale("the watch cache's store watch failed recently")
        if isinstance(self.backend, store.CommitListeners):
            try:
                self.revision = self.backend.add_listener(self._on_commit)
            except store.StoreError as e:
                raise Stale(f"cannot follow the store: {e}") from e
            self._listening = self._running = True
            return
        if self._starting is None or self._starting.done():
            self._starting = asyncio.create_task(self._start_watch(),
                                                 name="watch-cache start")
        try:
            async with asyncio.timeout(self.wait_timeout):
                await asyncio.shield(self._starting)
        except TimeoutError:
            raise Stale("the watch cache is starting") from None
        if not self._running:
            raise Stale("the watch cache could not start")

    async def _start_watch(self) -> None:
        try:
            start = await self.backend.current_revision()
        except store.StoreError as e:
            log.warning("watch cache: cannot start: %s", e)
            self._retry_at = time.monotonic() + _RESTART_DELAY
            return
        self.revision = start
        self._running = True
        self._watch = asyncio.create_task(self._follow(start), name="watch-cache")

    async def _follow(self, start: int) -> None:
        try:
            async for ev in self.backend.watch("", from_revision=start):
                self._dispatch(ev)
                self.revision = ev.revision
                self._wake()
            log.warning("watch cache: the store ended its watch")
        except asyncio.CancelledError:
            raise
        except Exception as e:
            if not self._closed:
                log.warning("watch cache: store watch failed, reads go to the store: %r", e)
        self._retry_at = time.monotonic() + _RESTART_DELAY
        self._reset()

    def _on_commit(self, events: Sequence[store.Event], revision: int) -> None:
        for ev in events:
            self._dispatch(ev)
        self.revision = revision
        self._wake()

    def _reset(self) -> None:
        """Forget everything (the source failed); the next read starts over."""
        self._running = False
        kinds, self._kinds = self._kinds, {}
        for kind in kinds.values():
            if not kind.ready.done():
                kind.ready.set_result(False)
        waiters, self._waiters = self._waiters, []
        for _, _, fut in waiters:
            if not fut.done():
                fut.set_exception(Stale("the watch cache was reset"))
                fut.exception()  # retrieved: the waiter may already have timed out

    async def close(self) -> None:
        self._closed = True
        if self._listening:
            remove = getattr(self.backend, "remove_listener", None)
            if remove is not None:
                remove(self._on_commit)
            self._listening = False
        tasks = [t for t in (self._starting, self._watch, *self._fills) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._reset()
