"""The cluster store: a Backend protocol (base.py) and backends chosen by URL (registry.py)."""

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
from .registry import open_store

__all__ = [
    "AlreadyExists",
    "Backend",
    "Conflict",
    "Event",
    "EventType",
    "Gone",
    "KeyValue",
    "ListResult",
    "NotFound",
    "StoreError",
    "Unavailable",
    "open_store",
]
