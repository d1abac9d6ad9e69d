"""Backends chosen by URL scheme, after kine's driver registry.

``open_store("sqlite:///var/lib/minikube8s/state.db")`` returns a ready Backend. Each scheme maps
to a module path and a factory name, imported lazily, so a missing optional library (aetcd for
``etcd://``) only matters to whoever asks for that scheme.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import urlsplit

from .base import Backend, StoreError

# scheme -> "module:factory"; a factory is ``async def open(url: str) -> Backend``.
_DRIVERS: dict[str, str] = {
    "memory": "minikube8s.store.memory:open_memory",
    "sqlite": "minikube8s.store.sqlite:open_sqlite",
    "etcd": "minikube8s.store.etcd:open_etcd",
}


class UnknownScheme(StoreError):
    pass


def schemes() -> list[str]:
    return sorted(_DRIVERS)


async def open_store(url: str) -> Backend:
    scheme = urlsplit(url).scheme
    target = _DRIVERS.get(scheme)
    if target is None:
        raise UnknownScheme(
            f"unknown store URL scheme {scheme!r} in {url!r}; use one of "
            + ", ".join(f"{s}://" for s in schemes())
        )
    module_name, _, factory_name = target.partition(":")
    factory = cast(
        Callable[[str], Awaitable[Backend]],
        getattr(importlib.import_module(module_name), factory_name),
    )
    return await factory(url)
