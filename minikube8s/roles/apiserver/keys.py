"""Typed aiohttp application keys shared by the API server's modules, and its settings.

app.py puts the registry, the watch hubs, the settings and the readiness event on the
application under these keys; handlers read them back with full types (``request.app[KEY]``).
A separate module so handlers, watch and subresources need not import app.py.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ...auth.authz import Caller
    from .registry import Registry
    from .watch import WatchHubs


BOOKMARK_INTERVAL_ENV = "MINIKUBE8S_WATCH_BOOKMARK_INTERVAL"


def _bookmark_interval() -> float:
    # Not a flag (Kubernetes has none either): a tuning knob that lets tests of a real
    # process see bookmarks within seconds (tests/faults/test_watch_resume.py).
    try:
        value = float(os.environ.get(BOOKMARK_INTERVAL_ENV, "") or 30.0)
    except ValueError:
        return 30.0
    return value if value > 0 else 30.0


@dataclass(slots=True)
class Settings:
    bookmark_interval: float = field(default_factory=_bookmark_interval)
    """Seconds between BOOKMARK events on watches that allow them (Kubernetes: ~1 min;
    30 s here unless $MINIKUBE8S_WATCH_BOOKMARK_INTERVAL says otherwise)."""
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
