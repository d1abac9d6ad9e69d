"""The store boundary: one small Backend protocol, its wire types and its errors.

Everything the cluster knows lives behind this protocol. The API server (roles/apiserver) is
the only importer outside this package; it maps these errors onto Kubernetes Status objects
(Conflict -> 409, Gone -> 410 Expired, ...). Backends live beside this module and are chosen
by URL scheme in ``registry.py``: ``memory://`` (unit tests), ``sqlite:///path`` (the embedded
default), ``etcd://host:port[,host:port]`` (a real etcd 3.4+).

Semantics every backend gives (tests/store/test_conformance.py checks them on all three):

- one global revision, bumped by exactly one on every successful write; an object's
  resourceVersion is the revision of its last write (``KeyValue.mod_revision``);
- ``create`` fails with AlreadyExists if the key exists; ``update`` and ``delete`` are
  compare-and-swap on the expected mod revision and fail with Conflict otherwise;
- ``watch(prefix, from_revision)`` yields every change with revision > from_revision, in
  revision order, exactly once, carrying the previous value on update and delete; a
  from_revision older than the compacted revision raises Gone.

The in-process backends (memory, sqlite) also implement ``CommitListeners``: a callback that
sees every commit synchronously, before the writer's own call returns. The API server's watch
cache (roles/apiserver/cacher.py) uses it to stay exactly as current as ``current_revision()``;
with etcd it follows a watch instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


class StoreError(Exception):
    """Base of every error a backend raises; the library's own error is chained as __cause__."""


class NotFound(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key not found: {key}")
        self.key = key


class AlreadyExists(StoreError):
    def __init__(self, key: str) -> None:
        super().__init__(f"key already exists: {key}")
        self.key = key


class Conflict(StoreError):
    """The expected revision did not match: someone else wrote the key first."""

    def __init__(self, key: str, *, expected: int, actual: int) -> None:
        super().__init__(f"revision conflict on {key}: expected {expected}, found {actual}")
        self.key = key
        self.expected = expected
        self.actual = actual


class Gone(StoreError):
    """The requested revision has been compacted away; the caller must relist."""

    def __init__(self, revision: int, *, compacted: int) -> None:
        super().__init__(
            f"revision {revision} has been compacted (oldest available: {compacted + 1})"
        )
        self.revision = revision
        self.compacted = compacted


class Unavailable(StoreError):
    """The backend cannot be reached (etcd down, database closed)."""


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: str
    value: bytes
    create_revision: int
    mod_revision: int


class EventType(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Event:
    """One change. ``revision`` is the revision of this write.

    For CREATE and UPDATE, ``kv`` is the new value. For DELETE, ``kv`` carries the key and the
    last value it had (with ``mod_revision`` set to the deleting revision), so a consumer can
    tell what went away. ``prev`` is the value before this write (None on CREATE).
    """

    type: EventType
    kv: KeyValue
    prev: KeyValue | None
    revision: int


@dataclass(frozen=True, slots=True)
class ListResult:
    items: list[KeyValue]
    revision: int
    """The revision the list was read at; pass it back to continue a paginated list."""
    more: bool
    """True when ``limit`` cut the list short; continue with start_after=items[-1].key."""


@runtime_checkable
class Backend(Protocol):
    async def get(self, key: str) -> KeyValue:
        """The current value; raises NotFound."""
        ...

    async def list(
        self,
        prefix: str,
        *,
        limit: int = 0,
        start_after: str | None = None,
        revision: int = 0,
    ) -> ListResult:
        """Keys under prefix in key order. limit 0 means all. revision 0 means now; an older
        revision reads a consistent snapshot (for paginated lists) or raises Gone."""
        ...

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Raises AlreadyExists."""
        ...

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        """Raises NotFound or Conflict."""
        ...

    async def delete(self, key: str, *, expected_revision: int = 0) -> Event:
        """expected_revision 0 deletes unconditionally. Raises NotFound or Conflict."""
        ...

    def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[Event]:
        """Every change under prefix with revision > from_revision, in order, exactly once.
        Raises Gone (on first iteration) if from_revision is older than the compaction."""
        ...

    async def current_revision(self) -> int: ...

    async def compact(self, revision: int) -> None:
        """Forget history at and below revision (current values are kept)."""
        ...

    async def close(self) -> None: ...


CommitListener = Callable[[Sequence[Event], int], None]
"""Called with the events of one commit (in revision order) and the store's revision after it."""


@runtime_checkable
class CommitListeners(Protocol):
    """Optional: backends living in this process call listeners on the event loop for every
    commit, after ``current_revision()`` has moved to it and before any caller of the write
    sees its result. So a listener is never behind what a reader of ``current_revision()``
    can know about (read-your-writes for caches built on it)."""

    def add_listener(self, listener: CommitListener) -> int:
        """Register; returns the revision after which the listener sees every commit."""
        ...

    def remove_listener(self, listener: CommitListener) -> None: ...
