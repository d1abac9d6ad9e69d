"""Shared informers: an indexed local cache of one API collection, plus change handlers.

An ``Informer`` is the sink of a reflector.py Reflector: it keeps every object of one
(resource, namespace, selectors) collection in a dict keyed ``"namespace/name"`` (just
``"name"`` for cluster-scoped kinds, as client-go's MetaNamespaceKeyFunc), maintains named
indexes (``add_indexer("node", lambda pod: [pod["spec"].get("nodeName", "")])`` then
``by_index("node", "n1")``), and calls handlers on add, update and delete.

Rules for users (they are what make sharing one cache safe):

- Cached objects are shared and read-only. ``copy.deepcopy`` before changing one.
- Handlers run synchronously inside the reflector's loop and must only compute keys and
  ``queue.add`` them (controller.py explains the pattern). They must not await, call the API
  or take long; an exception in one is logged and ignored.
- Every cache mutation happens without an await, so a reader never sees a half-applied change:
  the cache is safe to share between any number of asyncio tasks.
- On a relist, objects that vanished are reported through ``on_delete`` with their last known
  state (client-go would wrap them in DeletedFinalStateUnknown).

``InformerFactory`` hands out one informer per (resource, namespace, selectors) so the
scheduler, controllers and kubelet in one ``--role ai`` process share a single watch per kind;
``start(supervisor)`` runs each reflector as a named task.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..api import selectors
from ..api.resources import Resource
from ..api.selectors import LabelSelector
from ..tasks import Supervisor
from .clock import Clock, RealClock
from .reflector import Reflector, describe, resource_version_of
from .rest import Client, Object, WatchEvent

log = logging.getLogger(__name__)

IndexFunc = Callable[[Object], Iterable[str]]
NAMESPACE_INDEX = "namespace"
"""Every informer of a namespaced kind has this index (client-go's NamespaceIndex)."""
AddHandler = Callable[[Object], None]
UpdateHandler = Callable[[Object, Object], None]
DeleteHandler = Callable[[Object], None]


def namespace_index(obj: Object) -> list[str]:
    return [str((obj.get("metadata") or {}).get("namespace") or "")]


def key_of(obj: Object) -> str:
    md = obj.get("metadata") or {}
    ns = md.get("namespace") or ""
    name = str(md.get("name") or "")
    return f"{ns}/{name}" if ns else name


def split_key(key: str) -> tuple[str, str]:
    """``"ns/name"`` -> ``("ns", "name")``; ``"name"`` -> ``("", "name")``."""
    ns, sep, name = key.partition("/")
    return (ns, name) if sep else ("", ns)


@dataclass(slots=True)
class Handlers:
    on_add: AddHandler | None = None
    on_update: UpdateHandler | None = None
    on_delete: DeleteHandler | None = None


class Cache:
    """The indexed store: objects by key, and named indexes from value to keys."""

    def __init__(self) -> None:
        self._items: dict[str, Object] = {}
        self._indexers: dict[str, IndexFunc] = {}
        # index name -> value -> keys, and index name -> key -> values (to unindex)
        self._indices: dict[str, dict[str, set[str]]] = {}
        self._values: dict[str, dict[str, tuple[str, ...]]] = {}

    def add_indexer(self, name: str, fn: IndexFunc) -> None:
        if name in self._indexers:
            raise ValueError(f"indexer {name!r} already exists")
        self._indexers[name] = fn
        self._indices[name] = {}
        self._values[name] = {}
        for key, obj in self._items.items():
            self._index_one(name, key, obj)

    def has_indexer(self, name: str) -> bool:
        return name in self._indexers

    def _index_one(self, name: str, key: str, obj: Object) -> None:
        try:
            values = tuple(dict.fromkeys(self._indexers[name](obj)))
        except Exception:
            log.exception("indexer %s failed on %s", name, key)
            values = ()
        self._values[name][key] = values
        idx = self._indices[name]
        for v in values:
            idx.setdefault(v, set()).add(key)

    def _unindex_one(self, name: str, key: str) -> None:
        idx = self._indices[name]
        for v in self._values[name].pop(key, ()):
            keys = idx.get(v)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del idx[v]

    def put(self, key: str, obj: Object) -> Object | None:
        old = self._items.get(key)
        self._items[key] = obj
        for name in self._indexers:
            if old is not None:
                self._unindex_one(name, key)
            self._index_one(name, key, obj)
        return old

    def remove(self, key: str) -> Object | None:
        old = self._items.pop(key, None)
        if old is not None:
            for name in self._indexers:
                self._unindex_one(name, key)
        return old

    def get(self, key: str) -> Object | None:
        return self._items.get(key)

    def keys(self) -> builtins.list[str]:
        return builtins.list(self._items)

    def list(self) -> builtins.list[Object]:
        return builtins.list(self._items.values())

    def select(self, *, namespace: str = "",
               selector: LabelSelector | Mapping[str, str] | str | None = None,
               ) -> builtins.list[Object]:
        """Cached objects in ``namespace`` (all if empty) whose labels match ``selector``: a
        parsed LabelSelector, a matchLabels-style dict (an RC's spec.selector) or a string.
        An empty or missing selector matches everything, as for a List."""
        if namespace and self.has_indexer(NAMESPACE_INDEX):
            objs = self.by_index(NAMESPACE_INDEX, namespace)
        elif namespace:
            objs = [o for o in self._items.values()
                    if (o.get("metadata") or {}).get("namespace") == namespace]
        else:
            objs = self.list()
        if selector is None or selector == "" or selector == {}:
            return objs
        if isinstance(selector, str):
            sel = selectors.parse_label_selector(selector)
        elif isinstance(selector, Mapping):
            sel = selectors.selector_from_match_labels(selector)
        else:
            sel = selector
        return [o for o in objs if sel.matches((o.get("metadata") or {}).get("labels") or {})]

    def index_keys(self, name: str, value: str) -> builtins.list[str]:
        if name not in self._indexers:
            raise KeyError(f"no indexer {name!r}")
        return sorted(self._indices[name].get(value, ()))

    def by_index(self, name: str, value: str) -> builtins.list[Object]:
        return [self._items[k] for k in self.index_keys(name, value) if k in self._items]

    def index_values(self, name: str) -> builtins.list[str]:
        return builtins.list(self._indices[name])

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items


class Informer(Cache):
    """A cache fed by a Reflector, with handlers and a synced flag."""

    def __init__(self, client: Client, resource: Resource, *, namespace: str = "",
                 label_selector: str = "", field_selector: str = "",
                 clock: Clock | None = None, reflector: Reflector | None = None) -> None:
        super().__init__()
        self.resource = resource
        self.namespace = namespace
        self.name = describe(resource, namespace, label_selector, field_selector)
        self.reflector = reflector or Reflector(
            client, resource, self, namespace=namespace, label_selector=label_selector,
            field_selector=field_selector, clock=clock or RealClock(), name=self.name)
        self._handlers: builtins.list[Handlers] = []
        self._synced = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        if resource.namespaced:
            self.add_indexer(NAMESPACE_INDEX, namespace_index)

    # -- handlers -------------------------------------------------------------------------------

    def add_handler(self, *, on_add: AddHandler | None = None,
                    on_update: UpdateHandler | None = None,
                    on_delete: DeleteHandler | None = None) -> None:
        """Register handlers (enqueue keys only). Objects already cached are replayed to
        ``on_add`` at once, so a late subscriber misses nothing."""
        h = Handlers(on_add, on_update, on_delete)
        self._handlers.append(h)
        if on_add is not None:
            for obj in self.list():
                self._call(on_add, obj)

    def _call(self, fn: Callable[..., None], *args: Object) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: event handler %r failed", self.name, fn)

    def _added(self, obj: Object) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                self._call(h.on_add, obj)

    def _updated(self, old: Object, new: Object) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                self._call(h.on_update, old, new)

    def _deleted(self, obj: Object) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                self._call(h.on_delete, obj)

    # -- the reflector's sink -------------------------------------------------------------------

    def replace(self, items: builtins.list[Object], resource_version: str) -> None:
        fresh = {key_of(o): o for o in items}
        gone = [(k, o) for k, o in self._items.items() if k not in fresh]
        changes: builtins.list[tuple[Object | None, Object]] = []
        for k, o in fresh.items():
            old = self.put(k, o)
            if old is None or resource_version_of(old) != resource_version_of(o):
                changes.append((old, o))
        for k, _ in gone:
            self.remove(k)
        self._synced.set()
        for k, o in gone:
            log.debug("%s: %s vanished during a relist", self.name, k)
            self._deleted(o)
        for old, new in changes:
            if old is None:
                self._added(new)
            else:
                self._updated(old, new)

    def apply(self, event: WatchEvent) -> None:
        obj = event.object
        key = key_of(obj)
        if event.type == "DELETED":
            old = self.remove(key)
            self._deleted(obj)
        elif event.type in ("ADDED", "MODIFIED"):
            old = self.put(key, obj)
            if old is None:
                self._added(obj)
            else:
                self._updated(old, obj)
        else:
            log.debug("%s: ignoring %s event", self.name, event.type)

    # -- sync and running -----------------------------------------------------------------------

    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait for the first complete list; TimeoutError after ``timeout`` seconds."""
        if timeout is None:
            await self._synced.wait()
        else:
            await asyncio.wait_for(self._synced.wait(), timeout)

    @property
    def last_sync_resource_version(self) -> str:
        return self.reflector.last_resource_version

    def get_by_name(self, name: str, namespace: str = "") -> Object | None:
        return self.get(f"{namespace}/{name}" if namespace else name)

    async def run(self) -> None:
        await self.reflector.run()

    def start(self, supervisor: Supervisor) -> asyncio.Task[None]:
        if self.task is None or self.task.done():
            self.task = supervisor.start(self.run(), name=f"reflector {self.name}")
        return self.task

    @property
    def started(self) -> bool:
        return self.task is not None and not self.task.done()


class InformerFactory:
    """One informer per (resource, namespace, label selector, field selector) per process."""

    def __init__(self, client: Client, *, clock: Clock | None = None) -> None:
        self.client = client
        self.clock = clock
        self._informers: dict[tuple[str, str, str, str, str], Informer] = {}
        self._supervisor: Supervisor | None = None

    def informer(self, resource: Resource, *, namespace: str = "", label_selector: str = "",
                 field_selector: str = "") -> Informer:
        key = (resource.group, resource.name, namespace, label_selector, field_selector)
        inf = self._informers.get(key)
        if inf is None:
            inf = Informer(self.client, resource, namespace=namespace,
                           label_selector=label_selector, field_selector=field_selector,
                           clock=self.clock)
            self._informers[key] = inf
            if self._supervisor is not None:
                # Asked for after start(): run it straight away.
                inf.start(self._supervisor)
        return inf

    @property
    def informers(self) -> builtins.list[Informer]:
        return builtins.list(self._informers.values())

    async def start(self, supervisor: Supervisor) -> None:
        """Run every informer's reflector under ``supervisor``; informers created later
        start as they are created."""
        self._supervisor = supervisor
        for inf in self._informers.values():
            inf.start(supervisor)

    async def wait_synced(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        waits = [inf.wait_synced() for inf in self._informers.values()]
        if not waits:
            return
        if timeout is None:
            await asyncio.gather(*waits)
        else:
            await asyncio.wait_for(asyncio.gather(*waits), timeout)
