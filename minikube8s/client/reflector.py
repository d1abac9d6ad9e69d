"""The reflector: keeps a local sink in step with one API collection (client-go's Reflector).

The loop: LIST (paged) and hand the whole set to ``sink.replace`` (which turns vanished
objects into deletes), then WATCH from the list's resourceVersion with bookmarks, feeding each
event to ``sink.apply`` and remembering the last resourceVersion seen (events and bookmarks).
When the server ends a watch normally (its timeoutSeconds), re-watch from that resourceVersion:
the store replays every change after it, so nothing is missed. When the watch fails -- 410
Gone (history compacted), a reset connection, a refused reconnect, a 5xx -- relist. Failures
wait an exponential backoff with jitter (client/clock.Backoff: 0.8 s doubling to 30 s), so a
dead API server costs one attempt per backoff step, never a busy loop; a watch that ends
within a second having delivered nothing counts as a failure for the same reason.

informer.py owns one Reflector per informer and is its sink; ``run()`` is the long-running
coroutine a Supervisor task drives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from typing import Any, Protocol

from ..api.resources import Resource
from . import errors
from .clock import Backoff, Clock, RealClock
from .rest import Client, Object, WatchEvent

log = logging.getLogger(__name__)


class Sink(Protocol):
    def replace(self, items: list[Object], resource_version: str) -> None:
        """The complete current set (after a list)."""
        ...

    def apply(self, event: WatchEvent) -> None:
        """One ADDED, MODIFIED or DELETED event, in order."""
        ...


def resource_version_of(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class Reflector:
    def __init__(self, client: Client, resource: Resource, sink: Sink, *,
                 namespace: str = "", label_selector: str = "", field_selector: str = "",
                 clock: Clock | None = None, backoff: Backoff | None = None,
                 page_size: int = 500, watch_timeout: tuple[int, int] = (300, 600),
                 read_timeout: float | None = 120.0, name: str = "") -> None:
        self.client = client
        self.resource = resource
        self.sink = sink
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.clock: Clock = clock or RealClock()
        self.backoff = backoff or Backoff(clock=self.clock)
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.read_timeout = read_timeout
        self.name = name or describe(resource, namespace, label_selector, field_selector)
        self.last_resource_version = ""
        """The newest resourceVersion seen, from a list, an event or a bookmark."""
        self.lists = 0
        self.watches = 0

    def _selectors(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "label_selector": self.label_selector,
                "field_selector": self.field_selector}

    async def list_and_replace(self) -> None:
        if self.page_size:
            lst = await self.client.list_all(self.resource, page_size=self.page_size,
                                              **self._selectors())
        else:
            lst = await self.client.list(self.resource, **self._selectors())
        rv = str((lst.get("metadata") or {}).get("resourceVersion") or "")
        self.lists += 1
        self.sink.replace(list(lst.get("items") or []), rv)
        self.last_resource_version = rv

    async def watch_once(self) -> int:
        """One watch from ``last_resource_version`` until the server ends it; returns the
        number of events (bookmarks included) it delivered."""
        lo, hi = self.watch_timeout
        timeout = random.randint(lo, hi) if hi > lo else lo
        self.watches += 1
        n = 0
        stream = self.client.watch(
            self.resource, resource_version=self.last_resource_version,
            allow_bookmarks=True, timeout_seconds=timeout,
            read_timeout=self.read_timeout, **self._selectors())
        async with contextlib.aclosing(stream):
            async for ev in stream:
                n += 1
                if ev.type != "BOOKMARK":
                    self.sink.apply(ev)
                rv = resource_version_of(ev.object)
                if rv:
                    self.last_resource_version = rv
        return n

    async def run(self) -> None:
        """List and watch forever (until cancelled). A reflector that already listed (its
        sink holds state as of ``last_resource_version``) resumes with a watch."""
        need_list = not self.last_resource_version
        while True:
            try:
                if need_list:
                    await self.list_and_replace()
                    need_list = False
                started = self.clock.now()
                n = await self.watch_once()
                if n == 0 and self.clock.now() - started < 1.0:
                    log.debug("%s: very short watch, backing off", self.name)
                    await self.backoff.wait()
                elif n:
                    self.backoff.reset()
            except asyncio.CancelledError:
                raise
            except errors.Gone as e:
                log.info("%s: %s; relisting", self.name, e)
                need_list = True
                # A first 410 relists at once; repeated ones wait.
                if self.backoff.next_delay() > self.backoff.base:
                    await self.backoff.wait()
            except errors.ClientError as e:
                need_list = True
                delay = self.backoff.next_delay()
                level = logging.WARNING if delay <= self.backoff.base else logging.DEBUG
                log.log(level, "%s: %s; relisting in %.1fs", self.name, e, delay)
                await self.clock.sleep(delay)


def describe(resource: Resource, namespace: str = "", label_selector: str = "",
             field_selector: str = "") -> str:
    """A readable name for a watch: ``pods[ns=default,fields=spec.nodeName=n1]``."""
    bits = [f"ns={namespace}" if namespace else "",
            f"labels={label_selector}" if label_selector else "",
            f"fields={field_selector}" if field_selector else ""]
    extra = ",".join(b for b in bits if b)
    return f"{resource.name}[{extra}]" if extra else resource.name
