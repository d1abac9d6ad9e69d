"""Named, owned background tasks (after kopf's ``create_guarded_task``).

Every long-running coroutine in the process is started through ``Supervisor.start``: it gets a
name, its failure is logged with that name, and a crash of any task sets ``failed`` so the node
stops with a non-zero exit instead of limping on. ``roles`` owns the Supervisor.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Supervisor:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failed = asyncio.Event()
        self.failure: BaseException | None = None

    def start(self, coro: Coroutine[Any, Any, Any], *, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s crashed: %r", task.get_name(), exc, exc_info=exc)
            if self.failure is None:
                self.failure = exc
            self.failed.set()

    async def stop(self, *, grace: float = 10.0) -> None:
        """Cancel every task and wait for them, newest first."""
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
