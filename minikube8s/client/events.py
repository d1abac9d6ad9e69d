"""Events: what controllers, the scheduler and kubelets tell users (``kubectl describe``).

``EventRecorder.event(obj, "Normal", "Scheduled", "Successfully assigned ...")`` never blocks
and never fails the caller: it puts the event on a bounded queue (dropping, with a count, when
the API server cannot keep up) and background workers write it. Like client-go's
EventCorrelator, simplified: an event identical to one already written (same involved object,
type, reason, message and source) is not written again; the existing Event's ``count`` and
``lastTimestamp`` are PATCHed instead, so a crash-looping pod gives one Event with count 40,
not 40 Events. Events for one object go through one worker in order (keys are sharded).

Names follow Kubernetes: ``<object name>.<hex nanoseconds>``, in the object's namespace
(``default`` for cluster-scoped objects such as nodes). Neighbours: rest.Client writes;
minikube8s.tasks.Supervisor owns the workers (``start(supervisor)``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..tasks import Supervisor
from . import errors
from .rest import Client, Object, resource

log = logging.getLogger(__name__)

EVENTS = resource("events")

NORMAL = "Normal"
WARNING = "Warning"

DedupKey = tuple[str, ...]


@dataclass(slots=True)
class _Seen:
    namespace: str
    name: str
    count: int


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reference(obj: Mapping[str, Any]) -> dict[str, str]:
    """An ObjectReference for an object (or the reference itself, if given one)."""
    if "metadata" not in obj:
        return {k: str(v) for k, v in obj.items() if v not in (None, "")}
    md = obj.get("metadata") or {}
    ref = {"kind": str(obj.get("kind") or ""), "apiVersion": str(obj.get("apiVersion") or ""),
           "namespace": str(md.get("namespace") or ""), "name": str(md.get("name") or ""),
           "uid": str(md.get("uid") or ""),
           "resourceVersion": str(md.get("resourceVersion") or "")}
    return {k: v for k, v in ref.items() if v}


class EventRecorder:
    def __init__(self, client: Client, *, component: str, host: str = "",
                 queue_size: int = 1000, workers: int = 2, cache_size: int = 4096,
                 retries: int = 3, retry_delay: float = 0.5) -> None:
        self.client = client
        self.component = component
        self.host = host
        self.retries = retries
        self.retry_delay = retry_delay
        self.cache_size = cache_size
        self._queues: list[asyncio.Queue[tuple[dict[str, str], str, str, str, str]]] = [
            asyncio.Queue(maxsize=max(1, queue_size // max(1, workers)))
            for _ in range(max(1, workers))]
        self._seen: OrderedDict[DedupKey, _Seen] = OrderedDict()
        self.dropped = 0
        self.written = 0
        self._tasks: list[asyncio.Task[None]] = []

    # -- the caller's side ----------------------------------------------------------------------

    def event(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        """Record an event about ``obj`` (an object or an ObjectReference). Never blocks."""
        ref = reference(obj)
        key = self._key(ref, type_, reason, message)
        q = self._queues[zlib.crc32("\0".join(key[:3]).encode()) % len(self._queues)]
        try:
            q.put_nowait((ref, type_, reason, message, now_rfc3339()))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 1000 == 0:
                log.warning("%s: event queue full, %d events dropped", self.component,
                            self.dropped)

    def _key(self, ref: Mapping[str, str], type_: str, reason: str, message: str) -> DedupKey:
        return (ref.get("namespace", ""), ref.get("name", ""), ref.get("kind", ""),
                ref.get("uid", ""), ref.get("apiVersion", ""), type_, reason, message,
                self.component, self.host)

    # -- running --------------------------------------------------------------------------------

    def start(self, supervisor: Supervisor) -> None:
        for i, q in enumerate(self._queues):
            self._tasks.append(supervisor.start(self._worker(q),
                                                name=f"events {self.component} {i}"))

    async def run(self) -> None:
        """The workers without a supervisor (tests, one-off tools)."""
        await asyncio.gather(*(self._worker(q) for q in self._queues))

    async def flush(self) -> None:
        """Wait until every queued event has been written (or given up on)."""
        for q in self._queues:
            await q.join()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()

    async def _worker(self, q: asyncio.Queue[tuple[dict[str, str], str, str, str, str]]
                      ) -> None:
        while True:
            ref, type_, reason, message, stamp = await q.get()
            try:
                await self._write(ref, type_, reason, message, stamp)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: writing event %s failed", self.component, reason)
            finally:
                q.task_done()

    async def _write(self, ref: dict[str, str], type_: str, reason: str, message: str,
                     stamp: str) -> None:
        key = self._key(ref, type_, reason, message)
        seen = self._seen.get(key)
        for attempt in range(self.retries + 1):
            try:
                if seen is not None:
                    try:
                        await self.client.patch(
                            EVENTS, seen.name, {"count": seen.count + 1, "lastTimestamp": stamp},
                            namespace=seen.namespace)
                        seen.count += 1
                        self._seen.move_to_end(key)
                        self.written += 1
                        return
                    except errors.NotFound:
                        seen = None  # expired or deleted: start a new series
                out = await self.client.create(
                    EVENTS, self._new_event(ref, type_, reason, message, stamp))
                md = out.get("metadata") or {}
                self._remember(key, _Seen(str(md.get("namespace") or ""),
                                          str(md.get("name") or ""), int(out.get("count") or 1)))
                self.written += 1
                return
            except errors.ClientError as e:
                if not e.retriable or attempt == self.retries:
                    log.warning("%s: event %s about %s/%s not written: %s", self.component,
                                reason, ref.get("namespace", ""), ref.get("name", ""), e)
                    return
                await asyncio.sleep(self.retry_delay * (2 ** attempt))

    def _remember(self, key: DedupKey, seen: _Seen) -> None:
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > self.cache_size:
            self._seen.popitem(last=False)

    def _new_event(self, ref: dict[str, str], type_: str, reason: str, message: str,
                   stamp: str) -> Object:
        name = ref.get("name") or "unknown"
        namespace = ref.get("namespace") or "default"
        source: dict[str, str] = {"component": self.component}
        if self.host:
            source["host"] = self.host
        return {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": f"{name}.{time.time_ns():x}", "namespace": namespace},
            "involvedObject": ref,
            "reason": reason, "message": message, "type": type_,
            "source": source,
            "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
            "reportingComponent": self.component,
            "reportingInstance": self.host or self.component,
        }
