"""The etcd backend: the store protocol of ``base.py`` on a real etcd 3.4+ cluster.

``open_etcd("etcd://host:port[,host:port...]")`` is what ``registry.open_store`` calls for the
``etcd://`` scheme; the API server is the only user. Library choice: the design card named
etcd3-py, but etcd3-py 0.1.6's asyncio watch raises AttributeError on current aiohttp, so this
module uses aetcd 1.0.0 (asyncio gRPC). aetcd gives us the channel, the generated gRPC stubs and
protobuf messages; we call the stubs directly because its high-level ``Client`` cannot pass
``limit``/``revision`` to a range, and its shared callback ``Watcher`` cannot resume a broken
stream. Each ``watch()`` here owns one bidirectional Watch stream instead.

How the base.py semantics map onto etcd:

- revision = etcd's header revision; ``KeyValue.mod_revision``/``create_revision`` come from
  etcd, so a resourceVersion is an etcd revision (as in Kubernetes itself);
- create = txn(create_revision(key) == 0, put); update/delete = txn(mod_revision(key) ==
  expected, put/delete with prev_kv), reading the key on failure to tell NotFound from
  Conflict; ``expected_revision=0`` means unconditional but the key must exist;
- ``compact(R)`` is etcd's compact at R: lists at R still work (the values current at R are
  kept, so the first event after R still carries its ``prev``), older ones are Gone;
- watch(prefix, from_revision): a prefix watch with prev_kv that delivers revisions
  > from_revision. It asks etcd for start_revision = from_revision (not + 1) and drops that
  one revision itself: then etcd reports a compaction exactly when the memory backend would
  (from_revision < compacted revision), since etcd keeps revision R readable after compact(R).
  When the gRPC stream breaks (etcd restarted, endpoint lost), the watch reconnects with
  backoff, for as long as it takes, and resumes after the last delivered revision, so the
  consumer sees nothing missed or repeated. Only Gone (history compacted meanwhile) or
  cancellation ends it.

History is compacted as kube-apiserver does it (--etcd-compaction-interval, 5 minutes): every
``compact_interval`` seconds the backend compacts to the revision it saw one interval before, so
between one and two intervals of history stay readable and etcd's database (2 GiB quota by
default, read-only once full) does not grow with every write ever made. Several API servers
may each do it: compacting to an already compacted revision is a no-op.

Several endpoints are tried in order; the first that answers becomes the preferred one. A
write is only retried on another endpoint when the failure proves it was never sent
(connection refused), so a create is never applied twice. Every library error is mapped to
the ``base.StoreError`` hierarchy with the gRPC error chained as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aetcd
import grpc
from aetcd import rpc

from ._common import BadURL, number, url_options
from .base import (
    AlreadyExists,
    Backend,
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

DEFAULT_PORT = 2379
RPC_TIMEOUT = 10.0
COMPACT_INTERVAL = 300.0  # kube-apiserver's --etcd-compaction-interval default
# gRPC's own reconnect backoff grows to 120 s by default; after an etcd restart we want the
# channel back within about a second, not minutes.
_CHANNEL_OPTIONS: dict[str, Any] = {
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    # etcd refuses pings more often than every 5 s (--grpc-keepalive-min-time).
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    # gRPC's 4 MiB receive default would fail a list of a few thousand objects; etcd's own
    # client lifts it the same way (and etcd bounds requests at 1.5 MiB server-side).
    "grpc.max_receive_message_length": 2**31 - 1,
    "grpc.max_send_message_length": 2**31 - 1,
}
_WATCH_BACKOFF_MIN = 0.05
_WATCH_BACKOFF_MAX = 1.0
_COMPACTED = "required revision has been compacted"
_FUTURE = "required revision is a future revision"
# Watch errors worth retrying forever: the server or the path to it is (temporarily) gone.
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


def parse_endpoints(url: str) -> list[tuple[str, int]]:
    """``etcd://a:2379,b:2379`` -> [("a", 2379), ("b", 2379)]; ``[::1]:2379`` is allowed."""
    parts = urlsplit(url)
    if parts.scheme != "etcd":
        raise BadURL(f"not an etcd URL: {url!r}")
    endpoints: list[tuple[str, int]] = []
    for item in parts.netloc.split(","):
        item = item.strip()
        if not item:
            continue
        host, port = item, str(DEFAULT_PORT)
        if item.startswith("["):
            host, _, rest = item[1:].partition("]")
            if rest.startswith(":"):
                port = rest[1:]
        elif item.count(":") == 1:
            host, _, port = item.partition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise BadURL(f"bad endpoint {item!r} in etcd URL {url!r}; use host:port")
        endpoints.append((host, int(port)))
    if not endpoints:
        raise BadURL(f"no endpoints in etcd URL {url!r}; use etcd://host:port[,host:port]")
    return endpoints


def _prefix_end(prefix: bytes) -> bytes:
    """The first key after every key that starts with prefix (etcd's range_end for a prefix)."""
    b = bytearray(prefix)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\0"  # empty prefix (or all 0xff): to the end of the keyspace


def _kv(pb: Any) -> KeyValue:
    return KeyValue(
        key=pb.key.decode(),
        value=bytes(pb.value),
        create_revision=pb.create_revision,
        mod_revision=pb.mod_revision,
    )


def _closed_under(closed: bool) -> bool:
    """True when a CancelledError came from close() cancelling our gRPC call, not from someone
    cancelling the task that awaits it (that one must propagate untouched)."""
    task = asyncio.current_task()
    return closed and task is not None and task.cancelling() == 0


def _never_sent(e: grpc.aio.AioRpcError) -> bool:
    """True when the RPC failed before reaching any server, so retrying elsewhere is safe."""
    return e.code() == grpc.StatusCode.UNAVAILABLE and "failed to connect" in (e.details() or "")


class _Endpoint:
    def __init__(self, host: str, port: int) -> None:
        self.name = f"{host}:{port}"
        self.client = aetcd.Client(host, port, options=dict(_CHANNEL_OPTIONS))
        self.kv: Any = None
        self.watch: Any = None

    async def connect(self) -> None:
        # aetcd only builds the channel here; the TCP connection happens on the first RPC.
        await self.client.connect()
        self.kv = self.client.kvstub
        self.watch = rpc.WatchStub(self.client.channel)

    async def close(self) -> None:
        await self.client.close()


class EtcdBackend:
    """One etcd cluster behind the base.Backend protocol."""

    def __init__(self, endpoints: list[tuple[str, int]], *, timeout: float = RPC_TIMEOUT,
                 compact_interval: float = COMPACT_INTERVAL) -> None:
        self._endpoints = [_Endpoint(h, p) for h, p in endpoints]
        self._preferred = 0
        self._timeout = timeout
        self._closed = False
        self._calls: set[Any] = set()  # open watch streams, cancelled by close()
        self._compact_interval = compact_interval
        self._compactor: asyncio.Task[None] | None = None

    @property
    def preferred_endpoint(self) -> str:
        """host:port of the endpoint calls go to first (the last one that answered)."""
        return self._endpoints[self._preferred].name

    async def connect(self) -> None:
        for ep in self._endpoints:
            await ep.connect()

    def start_compactor(self) -> None:
        """Start the periodic compaction (idempotent; off when compact_interval is 0)."""
        if self._compact_interval > 0 and self._compactor is None and not self._closed:
            self._compactor = asyncio.create_task(self._auto_compact(), name="etcd-compactor")

    async def _auto_compact(self) -> None:
        previous = 0
        while True:
            await asyncio.sleep(self._compact_interval)
            try:
                if previous:
                    await self.compact(previous)
                previous = await self.current_revision()
            except StoreError as e:  # etcd away: try again next interval
                log.warning("etcd compaction to %d failed: %s", previous, e)

    # -- plumbing ------------------------------------------------------------------------------

    async def _rpc(
        self,
        what: str,
        fn: Callable[[_Endpoint], Awaitable[T]],
        *,
        idempotent: bool,
    ) -> T:
        """Run fn on the preferred endpoint, failing over in order; map gRPC errors."""
        if self._closed:
            raise Unavailable("etcd store is closed")
        n = len(self._endpoints)
        last: grpc.aio.AioRpcError | None = None
        for attempt in range(n):
            i = (self._preferred + attempt) % n
            ep = self._endpoints[i]
            try:
                result = await fn(ep)
            except grpc.aio.AioRpcError as e:
                last = e
                code = e.code()
                if (code == grpc.StatusCode.UNAVAILABLE and (idempotent or _never_sent(e))) or (
                    code == grpc.StatusCode.DEADLINE_EXCEEDED and idempotent
                ):
                    log.debug("etcd %s unavailable for %s: %s", ep.name, what, e.details())
                    continue
                raise self._map(e, what) from e
            except asyncio.CancelledError:
                if _closed_under(self._closed):
                    raise Unavailable(f"etcd store closed during {what}") from None
                raise
            self._preferred = i
            return result
        assert last is not None
        names = ", ".join(ep.name for ep in self._endpoints)
        raise Unavailable(f"etcd unavailable ({names}) for {what}: {last.details()}") from last

    def _map(self, e: grpc.aio.AioRpcError, what: str) -> StoreError:
        code, details = e.code(), e.details() or ""
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return Unavailable(f"etcd unavailable for {what}: {details}")
        if code == grpc.StatusCode.CANCELLED and self._closed:
            return Unavailable(f"etcd store closed during {what}")
        return StoreError(f"etcd error for {what}: {code.name}: {details}")

    async def _gone(self, revision: int) -> Gone:
        try:
            compacted = await self._compact_revision()
        except StoreError:
            compacted = revision
        return Gone(revision, compacted=compacted)

    async def _compact_revision(self) -> int:
        """etcd's compaction revision. There is no RPC for it; a watch from revision 1
        reports it."""
        for ep in self._endpoints:
            call = ep.watch.Watch(timeout=self._timeout, metadata=ep.client.metadata)
            try:
                await call.write(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                    key=b"\0", start_revision=1)))
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        break
                    if resp.compact_revision:
                        return int(resp.compact_revision)
                    if not resp.created:
                        return 0
            except grpc.aio.AioRpcError:
                continue
            finally:
                call.cancel()
        raise Unavailable("etcd unavailable while reading the compaction revision")

    # -- reads ---------------------------------------------------------------------------------

    async def get(self, key: str) -> KeyValue:
        req = rpc.RangeRequest(key=key.encode())
        resp = await self._rpc(
            f"get {key}", lambda ep: ep.kv.Range(req, timeout=self._timeout), idempotent=True
        )
        if not resp.kvs:
            raise NotFound(key)
        return _kv(resp.kvs[0])

    async def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        start_after: str | None = None,
        revision: int = 0,
    ) -> ListResult:
        p = prefix.encode()
        start = (start_after.encode() + b"\0") if start_after is not None else p
        if start < p:
            start = p
        req = rpc.RangeRequest(
            key=start, range_end=_prefix_end(p), limit=max(limit, 0), revision=max(revision, 0)
        )
        try:
            resp = await self._rpc(
                f"list {prefix}",
                lambda ep: ep.kv.Range(req, timeout=self._timeout),
                idempotent=True,
            )
        except StoreError as e:
            cause = e.__cause__
            details = cause.details() or "" if isinstance(cause, grpc.aio.AioRpcError) else ""
            if _COMPACTED in details:
                raise await self._gone(revision) from cause
            if _FUTURE in details:
                # A revision not reached yet reads "now", as the memory and sqlite stores do.
                return await self.list(prefix, limit=limit, start_after=start_after)
            raise
        items = [_kv(kv) for kv in resp.kvs]
        # The header carries the store's current revision, not the one a past read used.
        at = revision if revision > 0 else int(resp.header.revision)
        return ListResult(items=items, revision=at, more=bool(resp.more) and limit > 0)

    async def current_revision(self) -> int:
        req = rpc.RangeRequest(key=b"\0", keys_only=True, limit=1)
        resp = await self._rpc(
            "current revision",
            lambda ep: ep.kv.Range(req, timeout=self._timeout),
            idempotent=True,
        )
        return int(resp.header.revision)

    # -- writes --------------------------------------------------------------------------------

    def _txn(self, what: str, req: Any) -> Awaitable[Any]:
        return self._rpc(what, lambda ep: ep.kv.Txn(req, timeout=self._timeout), idempotent=False)

    async def create(self, key: str, value: bytes) -> KeyValue:
        k = key.encode()
        req = rpc.TxnRequest(
            compare=[rpc.Compare(
                key=k, target=rpc.Compare.CREATE, result=rpc.Compare.EQUAL, create_revision=0)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value))],
        )
        resp = await self._txn(f"create {key}", req)
        if not resp.succeeded:
            raise AlreadyExists(key)
        rev = int(resp.header.revision)
        return KeyValue(key=key, value=value, create_revision=rev, mod_revision=rev)

    def _guard(self, k: bytes, expected_revision: int) -> Any:
        if expected_revision:
            return rpc.Compare(
                key=k, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL,
                mod_revision=expected_revision,
            )
        # Unconditional, but the key must exist (NotFound otherwise, never an upsert).
        return rpc.Compare(
            key=k, target=rpc.Compare.CREATE, result=rpc.Compare.GREATER, create_revision=0
        )

    def _failed(self, key: str, resp: Any, expected_revision: int) -> StoreError:
        """A txn whose guard failed: the failure branch read the key, tell NotFound from
        Conflict."""
        kvs = resp.responses[0].response_range.kvs if resp.responses else []
        if not kvs:
            return NotFound(key)
        return Conflict(key, expected=expected_revision, actual=int(kvs[0].mod_revision))

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        k = key.encode()
        req = rpc.TxnRequest(
            compare=[self._guard(k, expected_revision)],
            success=[rpc.RequestOp(request_put=rpc.PutRequest(key=k, value=value, prev_kv=True))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._txn(f"update {key}", req)
        if not resp.succeeded:
            raise self._failed(key, resp, expected_revision)
        prev = resp.responses[0].response_put.prev_kv
        rev = int(resp.header.revision)
        return KeyValue(
            key=key, value=value, create_revision=int(prev.create_revision), mod_revision=rev
        )

    async def delete(self, key: str, *, expected_revision: int = 0) -> Event:
        k = key.encode()
        req = rpc.TxnRequest(
            compare=[self._guard(k, expected_revision)],
            success=[rpc.RequestOp(
                request_delete_range=rpc.DeleteRangeRequest(key=k, prev_kv=True))],
            failure=[rpc.RequestOp(request_range=rpc.RangeRequest(key=k))],
        )
        resp = await self._txn(f"delete {key}", req)
        if not resp.succeeded:
            raise self._failed(key, resp, expected_revision)
        prevs = resp.responses[0].response_delete_range.prev_kvs
        if not prevs:  # raced with another delete inside etcd's apply; cannot happen via txn
            raise NotFound(key)
        prev = _kv(prevs[0])
        rev = int(resp.header.revision)
        gone = KeyValue(
            key=key, value=prev.value, create_revision=prev.create_revision, mod_revision=rev
        )
        return Event(type=EventType.DELETE, kv=gone, prev=prev, revision=rev)

    async def compact(self, revision: int) -> None:
        if revision <= 0:
            return
        # Compacting past the current revision is an etcd error; the memory backend clamps.
        req = rpc.CompactionRequest(revision=min(revision, await self.current_revision()))
        try:
            await self._rpc(
                f"compact {revision}",
                lambda ep: ep.kv.Compact(req, timeout=self._timeout),
                idempotent=True,
            )
        except StoreError as e:
            cause = e.__cause__
            if isinstance(cause, grpc.aio.AioRpcError) and _COMPACTED in (cause.details() or ""):
                return  # already compacted at or past this revision
            raise

    # -- watch ---------------------------------------------------------------------------------

    async def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[Event]:
        p = prefix.encode()
        last = from_revision  # highest revision delivered (or known to hold nothing for us)
        backoff = _WATCH_BACKOFF_MIN
        attempt = failures = 0
        while True:
            if self._closed:
                raise Unavailable("etcd store is closed")
            ep = self._endpoints[(self._preferred + attempt) % len(self._endpoints)]
            # hasleader: a member cut off from the quorum ends the stream (as clientv3's
            # WithRequireLeader) instead of silently delivering nothing; we move on.
            call = ep.watch.Watch(metadata=(*(ep.client.metadata or ()), ("hasleader", "true")))
            self._calls.add(call)
            streaming = False
            try:
                await call.write(rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
                    # From last, not last + 1: see the module docstring (0 would mean now).
                    # An empty prefix is the whole keyspace: etcd spells it key = range_end = "\0".
                    key=p or b"\0", range_end=_prefix_end(p), start_revision=max(last, 1),
                    prev_kv=True,
                    progress_notify=True,
                )))
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        break
                    if resp.compact_revision:
                        raise Gone(last, compacted=int(resp.compact_revision))
                    if resp.canceled:
                        log.info("etcd %s cancelled watch on %s: %s", ep.name, prefix,
                                 resp.cancel_reason)
                        break
                    if resp.created:
                        if failures:
                            log.info("etcd watch on %s resumed via %s after revision %d",
                                     prefix, ep.name, last)
                        streaming, failures, backoff = True, 0, _WATCH_BACKOFF_MIN
                        continue
                    for i, ev in enumerate(resp.events):
                        if i:
                            # etcd sends a catching-up watcher everything it missed in one
                            # response; let other tasks (fan-out readers) run between events.
                            await asyncio.sleep(0)
                        rev = int(ev.kv.mod_revision)
                        if rev <= last:  # revision last itself, asked for above, or a resend
                            continue
                        last = rev
                        yield _event(ev)
                    if not resp.events and int(resp.header.revision) > last:
                        # A progress notification: nothing under prefix up to here.
                        last = int(resp.header.revision)
            except asyncio.CancelledError:
                if _closed_under(self._closed):
                    raise Unavailable("etcd store closed during watch") from None
                raise
            except grpc.aio.AioRpcError as e:
                if self._closed:
                    raise Unavailable("etcd store closed during watch") from e
                if e.code() not in _TRANSIENT:
                    raise self._map(e, f"watch {prefix}") from e
                log.log(logging.WARNING if streaming else logging.DEBUG,
                        "etcd watch on %s via %s broke (%s); retrying after revision %d",
                        prefix, ep.name, e.details(), last)
            finally:
                self._calls.discard(call)
                call.cancel()
            if self._closed:
                raise Unavailable("etcd store is closed")
            attempt += 1
            failures += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _WATCH_BACKOFF_MAX)

    async def close(self) -> None:
        self._closed = True
        if self._compactor is not None:
            self._compactor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._compactor
            self._compactor = None
        for call in list(self._calls):
            call.cancel()
        for ep in self._endpoints:
            await ep.close()


def _event(ev: Any) -> Event:
    rev = int(ev.kv.mod_revision)
    prev = _kv(ev.prev_kv) if ev.HasField("prev_kv") else None
    if ev.type == rpc.Event.DELETE:
        # etcd's delete event carries only the key; base.Event wants the last value in kv.
        kv = KeyValue(
            key=ev.kv.key.decode(),
            value=prev.value if prev else b"",
            create_revision=prev.create_revision if prev else 0,
            mod_revision=rev,
        )
        return Event(type=EventType.DELETE, kv=kv, prev=prev, revision=rev)
    kv = _kv(ev.kv)
    kind = EventType.CREATE if kv.create_revision == kv.mod_revision else EventType.UPDATE
    return Event(type=kind, kv=kv, prev=prev if kind is EventType.UPDATE else None, revision=rev)


async def open_etcd(url: str) -> Backend:
    """Connect to the etcd cluster named by url; raises Unavailable if no endpoint answers.

    ``?timeout=SECONDS`` sets the deadline of each unary call (default 10);
    ``?compact_interval=SECONDS`` the history compaction period (default 300, 0 disables)."""
    opts = url_options(url, {"timeout", "compact_interval"})
    backend = EtcdBackend(
        parse_endpoints(url),
        timeout=number(url, opts, "timeout", RPC_TIMEOUT) or RPC_TIMEOUT,
        compact_interval=number(url, opts, "compact_interval", COMPACT_INTERVAL),
    )
    await backend.connect()
    try:
        await backend.current_revision()
    except StoreError:
        await backend.close()
        raise
    backend.start_compactor()
    return backend
