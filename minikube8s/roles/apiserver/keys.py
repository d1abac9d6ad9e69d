"""Typed aiohttp application keys shared by the API server's modules, and its settings.

app.py puts the registry, the watch hubs, the settings and the readiness event on the
application under these keys; handlers read them back with full types (``request.app[KEY]``).
A separate module so handlers, watch and subresources need not import app.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ...auth.authz import Caller
    from .registry import Registry
    from .watch import WatchHubs


@dataclass(slots=True)
class Settings:
    bookmark_interval: float = 30.0
    """Seconds between BOOKMARK events on watches that allow them (Kubernetes: ~1 min)."""
    watch_queue_size: int = 1000
    """Events a watcher may fall behind by before it is cut off."""
    liveness_poll: float = 5.0
    """How often an idle watch checks that its client is still connected."""


REGISTRY: web.AppKey[Registry] = web.AppKey("minikube8s.registry")
HUBS: web.AppKey[WatchHubs] = web.AppKey("minikube8s.watch_hubs")
SETTINGS: web.AppKey[Settings] = web.AppKey("minikube8s.settings", Settings)
READY: web.AppKey[asyncio.Event] = web.AppKey("minikube8s.ready", asyncio.Event)
CALLER: web.RequestKey[Caller] = web.RequestKey("minikube8s.caller")
"""Set by secure.py on requests that came over the HTTPS port (not for the admin)."""
