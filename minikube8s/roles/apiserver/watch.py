"""Watch streams: ``?watch=true`` and ``/api/v1/watch/...`` as chunked newline-delimited JSON.

One store watch per resource kind per process: ``WatchHubs`` keeps a store.fanout.WatchHub per
kind (started on first use) and every HTTP watcher subscribes to it, so a thousand watchers
cost one store watch. Per watcher this module filters by namespace and selectors, turns store
events into ADDED/MODIFIED/DELETED the way Kubernetes' cacher does (an object that stops
matching a selector is DELETED for that watcher, one that starts matching is ADDED), sends
BOOKMARKs when asked, honours timeoutSeconds, and reports a compacted resourceVersion as an
in-stream ERROR event carrying a 410 Expired Status. A watcher that falls too far behind is
cut off by the hub; the others never wait for it. A watcher whose field selector requires an
exact spec.nodeName or metadata.name subscribes by that index value (``INDEX_FIELDS``), so the
hub offers it only the events whose old or new object has that value: each kubelet's watch of
its own pods costs nothing when another node's pod changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ...api import errors, selectors
from ...api.resources import Resource
from ...store import base as store
from . import params
from .cacher import Cached, Cacher, encode
from .handlers import plain_json, served
from .keys import HUBS, REGISTRY, SETTINGS
from .params import Target
from .registry import Object, Registry

log = logging.getLogger(__name__)

_ENCODED_CACHE = 512
_CACHE_BYTES = 32 * 1024 * 1024
"""Each of the two caches also stops at this many bytes (of encoded lines; of stored values
for decoded objects): 512 objects near the 3 MiB body limit would otherwise pin 1.5 GB."""

INDEX_FIELDS = ("spec.nodeName", "metadata.name")
"""Exact-match field selectors the hubs index watchers by, most selective use first
(kube-apiserver's cacher indexes pods by spec.nodeName the same way)."""


class WatchHubs:
    """The per-kind fan-out hubs of one API server, plus a small cache of encoded events so
    a change seen by many plain watchers is serialised once."""

    def __init__(self, backend: store.Backend, *, queue_size: int = 1000,
                 cache: Cacher | None = None) -> None:
        self.backend = backend
        self.cache = cache
        self.queue_size = queue_size
        self._hubs: dict[str, Any] = {}
        self._encoded: OrderedDict[tuple[int, str, str], bytes] = OrderedDict()
        self._decoded: OrderedDict[tuple[int, str], tuple[Object, int]] = OrderedDict()
        self._encoded_bytes = 0
        self._decoded_bytes = 0
        self._closed = False

    def hub(self, res: Resource) -> Any:
        from ...store.fanout import WatchHub

        prefix = res.store_prefix()
        hub = self._hubs.get(prefix)
        if hub is None:
            if self._closed:
                raise errors.ServiceUnavailable("the API server is shutting down")
            hub = WatchHub(self.backend, prefix)
            hub.indexer = self._indexer(res)
            hub.start()
            self._hubs[prefix] = hub
        return hub

    def subscribe(self, res: Resource, from_revision: int, *,
                  index: tuple[str, str] | None = None) -> AsyncIterator[store.Event]:
        it: AsyncIterator[store.Event] = self.hub(res).subscribe(
            from_revision, queue_size=self.queue_size, index=index)
        return it

    def _indexer(self, res: Resource) -> Any:
        fields = selectors.field_labels(res.kind)

        def values(ev: store.Event, fld: str) -> tuple[str, ...]:
            get = fields[fld]
            now = get(self.decoded(ev.kv))
            if ev.prev is None:
                return (now,)
            before = get(self.decoded(ev.prev))
            return (now,) if before == now else (now, before)

        return values

    def decoded(self, kv: store.KeyValue) -> Object:
        """The object of a store value, decoded once for all watchers (treat as read-only)."""
        key = (kv.mod_revision, kv.key)
        hit = self._decoded.get(key)
        if hit is not None:
            return hit[0]
        obj = Registry.decode(kv)
        size = len(kv.value)
        self._decoded[key] = (obj, size)
        self._decoded_bytes += size
        while self._decoded and (len(self._decoded) > _ENCODED_CACHE
                                 or self._decoded_bytes > _CACHE_BYTES):
            self._decoded_bytes -= self._decoded.popitem(last=False)[1][1]
        return obj

    def line(self, ev: store.Event, etype: str, target: Target) -> bytes:
        """The JSON line of a store event as every plain (non-Table) watcher of target's
        version gets it, encoded once: from the watch cache's bytes when it holds exactly
        this revision, else decoded and encoded here."""
        key = (ev.revision, etype, target.version)
        line = self._encoded.get(key)
        if line is None:
            body: bytes | None = None
            if target.version == "v1" or target.resource.group:
                entry = self.cache.peek(ev.kv.key, ev.kv.mod_revision) if self.cache else None
                if entry is not None:
                    body = entry.body
                else:
                    body = encode(self.decoded(ev.kv))
            else:
                body = encode(served(target, self.decoded(ev.kv)))
            line = event_line(etype, body)
            self._encoded[key] = line
            self._encoded_bytes += len(line)
            while self._encoded and (len(self._encoded) > _ENCODED_CACHE
                                     or self._encoded_bytes > _CACHE_BYTES):
                self._encoded_bytes -= len(self._encoded.popitem(last=False)[1])
        return line

    async def close(self) -> None:
        self._closed = True
        hubs, self._hubs = list(self._hubs.values()), {}
        for hub in hubs:
            try:
                await hub.close()
            except Exception:
                log.exception("closing a watch hub failed")


def _is_slow_consumer(e: BaseException) -> bool:
    try:
        from ...store.fanout import SlowConsumer
    except ImportError:
        return False
    return isinstance(e, SlowConsumer)


class _Filter:
    def __init__(self, request: web.Request, target: Target) -> None:
        q = request.query
        res = target.resource
        self.labels = selectors.parse_label_selector(q.get("labelSelector", ""))
        fs = q.get("fieldSelector", "")
        if target.name:
            fs = f"metadata.name={target.name}" + (f",{fs}" if fs else "")
        self.field_selector = fs
        self.fields = selectors.parse_field_selector(fs, kind=res.kind)
        self.prefix = res.store_prefix(target.namespace)
        self.filtering = not self.labels.empty or not self.fields.empty
        self.index: tuple[str, str] | None = None
        known = selectors.field_labels(res.kind)
        for fld in INDEX_FIELDS:
            value = self.fields.value_for(fld)
            if value is not None and fld in known:
                self.index = (fld, value)
                break

    def matches(self, obj: Object) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return self.labels.matches(labels) and self.fields.matches(obj)


_TYPES = {store.EventType.CREATE: "ADDED", store.EventType.UPDATE: "MODIFIED",
          store.EventType.DELETE: "DELETED"}


def event_line(etype: str, body: bytes) -> bytes:
    """``{"type":T,"object":O}`` + newline around an encoded object, as json.dumps has it."""
    return b"".join((b'{"type":"', etype.encode(), b'","object":', body, b"}\n"))


def _event_type(ev: store.Event, flt: _Filter,
                hubs: WatchHubs) -> tuple[str, Object | None] | None:
    """Kubernetes' view of one store event for a watcher with this filter, or None. The
    object is None when it is the event's own (the same for every watcher: not decoded
    here for watchers without selectors)."""
    if not ev.kv.key.startswith(flt.prefix):
        return None
    if not flt.filtering:
        return _TYPES[ev.type], None
    obj = hubs.decoded(ev.kv)
    if ev.type != store.EventType.UPDATE:
        return (_TYPES[ev.type], None) if flt.matches(obj) else None
    now = flt.matches(obj)
    before = hubs.decoded(ev.prev) if ev.prev is not None else None
    was = before is not None and flt.matches(before)
    if now and was:
        return "MODIFIED", None
    if now:
        return "ADDED", None
    if was and before is not None:
        # The object as it last matched, at the revision where it stopped matching.
        gone = dict(before)
        gone["metadata"] = {**before["metadata"], "resourceVersion": str(ev.revision)}
        return "DELETED", gone
    return None


class _Stream:
    """One HTTP watch response: serialises writes from the event pump and the bookmarks."""

    def __init__(self, request: web.Request, target: Target, resp: web.StreamResponse) -> None:
        self.request = request
        self.target = target
        self.resp = resp
        self.acc = params.accept(request)
        self.hubs = request.app[HUBS]
        self.lock = asyncio.Lock()
        self.plain = plain_json(request, target)

    def _object(self, obj: Object) -> dict[str, Any]:
        if self.acc.table:
            from .tables import to_table

            rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
            return to_table(self.target.resource, [obj], resource_version=rv,
                            include_object=self.acc.include_object)
        return served(self.target, obj)

    async def send(self, etype: str, obj: Object) -> None:
        line = json.dumps({"type": etype, "object": self._object(obj)},
                          separators=(",", ":")).encode() + b"\n"
        async with self.lock:
            await self.resp.write(line)

    async def send_event(self, etype: str, ev: store.Event) -> None:
        """A store event's own object, encoded once for all plain watchers."""
        if self.acc.table:
            await self.send(etype, self.hubs.decoded(ev.kv))
            return
        line = self.hubs.line(ev, etype, self.target)
        async with self.lock:
            await self.resp.write(line)

    async def send_entry(self, etype: str, entry: Cached) -> None:
        if self.plain:
            async with self.lock:
                await self.resp.write(event_line(etype, entry.body))
        else:
            await self.send(etype, entry.decode())

    async def send_raw(self, etype: str, obj: dict[str, Any]) -> None:
        line = json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode()
        async with self.lock:
            await self.resp.write(line + b"\n")

    async def bookmark(self, revision: int) -> None:
        res = self.target.resource
        if self.acc.table:
            from .tables import to_table

            obj = to_table(res, [], resource_version=str(revision))
        else:
            obj = {"kind": res.kind, "apiVersion": self.target.api_version,
                   "metadata": {"resourceVersion": str(revision)}}
        await self.send_raw("BOOKMARK", obj)


async def serve(request: web.Request, target: Target) -> web.StreamResponse:
    q = request.query
    reg = request.app[REGISTRY]
    settings = request.app[SETTINGS]
    flt = _Filter(request, target)
    timeout = params.parse_int(q.get("timeoutSeconds"), param="timeoutSeconds", minimum=0)
    bookmarks = params.query_bool(request, "allowWatchBookmarks")
    rv = q.get("resourceVersion", "")
    initial: list[Cached] = []
    if rv in ("", "0"):
        page = await reg.list_cached(target.resource, target.namespace,
                                     label_selector=q.get("labelSelector", ""),
                                     field_selector=flt.field_selector, resource_version=rv)
        initial = page.items
        start = int(page.resource_version)
    else:
        start = params.parse_int(rv, param="resourceVersion", minimum=0) or 0

    hubs = request.app[HUBS]
    # Subscribed before the 200 goes out: a server shutting down (hubs closed) then answers
    # 503 with Retry-After, which clients retry, instead of a 200 whose stream carries an
    # InternalError event.
    try:
        events: AsyncIterator[store.Event] = hubs.subscribe(target.resource, start,
                                                            index=flt.index)
    except store.Unavailable as e:
        raise errors.ServiceUnavailable(str(e), retry_after=1) from e
    except errors.ServiceUnavailable as e:
        e.retry_after = e.retry_after or 1
        raise

    resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    resp.enable_chunked_encoding()
    await resp.prepare(request)
    stream = _Stream(request, target, resp)
    for entry in initial:
        await stream.send_entry("ADDED", entry)

    last = start
    busy = False

    def bookmark_revision() -> int:
        # An indexed watcher is not offered other nodes' events, so its own last event can
        # be far behind: once it has sent all it was offered, the hub's revision is safe.
        caught_up = getattr(events, "caught_up", None)
        if flt.index is None or busy or caught_up is None:
            return last
        return max(last, caught_up() or 0)

    async def pump() -> None:
        nonlocal last, busy
        try:
            async for ev in events:
                busy = True
                last = ev.revision
                out = _event_type(ev, flt, hubs)
                if out is not None:
                    if out[1] is None:
                        await stream.send_event(out[0], ev)
                    else:
                        await stream.send(out[0], out[1])
                busy = False
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    pump_task = asyncio.create_task(pump(), name=f"watch {target.resource.name}")
    deadline = time.monotonic() + timeout if timeout else None
    next_bookmark = time.monotonic() + settings.bookmark_interval
    try:
        while True:
            now = time.monotonic()
            wait = settings.liveness_poll
            if bookmarks:
                wait = min(wait, max(0.0, next_bookmark - now))
            if deadline is not None:
                wait = min(wait, max(0.0, deadline - now))
            done, _ = await asyncio.wait({pump_task}, timeout=wait)
            if done:
                await _finish_pump(pump_task, stream, target)
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            transport = request.transport
            if transport is None or transport.is_closing():
                break
            if bookmarks and now >= next_bookmark:
                await stream.bookmark(bookmark_revision())
                next_bookmark = now + settings.bookmark_interval
    except (ConnectionResetError, ConnectionError):
        log.debug("watch client went away")
    finally:
        if not pump_task.done():
            pump_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump_task
        elif not pump_task.cancelled():
            # The pump ended (a client gone mid-send, at shutdown) while this handler was
            # being cancelled: retrieve its exception, or asyncio logs "Task exception was
            # never retrieved" with a traceback when the task is collected.
            exc = pump_task.exception()
            if exc is not None and not isinstance(exc, ConnectionError):
                log.warning("watch of %s ended", target.resource.name, exc_info=exc)
    with contextlib.suppress(ConnectionError, RuntimeError):
        await resp.write_eof()
    return resp


async def _finish_pump(task: asyncio.Task[None], stream: _Stream, target: Target) -> None:
    exc = task.exception()
    if exc is None:
        return
    if isinstance(exc, store.Gone):
        status = errors.Gone(f"too old resource version: {exc.revision} "
                             f"({exc.compacted + 1})").to_status()
        with contextlib.suppress(ConnectionError):
            await stream.send_raw("ERROR", status)
    elif _is_slow_consumer(exc):
        log.info("cut off a slow watcher of %s", target.resource.name)
    elif isinstance(exc, store.Unavailable):
        # The client re-watches from its last resourceVersion once the store is back.
        log.warning("watch of %s ended: store unavailable: %s", target.resource.name, exc)
    elif isinstance(exc, ConnectionError):
        log.debug("watch client went away")
    else:
        log.error("watch of %s failed", target.resource.name, exc_info=exc)
        status = errors.InternalError(f"watch failed: {exc}").to_status()
        with contextlib.suppress(ConnectionError):
            await stream.send_raw("ERROR", status)
