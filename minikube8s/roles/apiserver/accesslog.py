"""The API server's access log: one line per request, formatted and written off the loop.

app.py's access middleware calls ``record`` for every request. Building a LogRecord,
formatting it and writing it to stderr on the event-loop thread was ~14 % of a GET's time, so
``record`` only appends a tuple to a deque; a daemon thread wakes every ``interval`` seconds
and passes what gathered to the ``minikube8s.apiserver.access`` logger, in order, with each
record's own time. The configured handlers, levels and format are untouched: the lines are
the same, written up to ``interval`` later and in batches. ``flush`` (app cleanup, exit)
writes what is left.
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import time

_FORMAT = "%s %s %d %.1fms"


class AccessLog:
    def __init__(self, logger: logging.Logger, *, interval: float = 0.05) -> None:
        self.logger = logger
        self.interval = interval
        self._items: collections.deque[tuple[float, str, str, int, float]] = (
            collections.deque())
        self._lock = threading.Lock()  # one flusher at a time keeps the lines in order
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def record(self, method: str, path_qs: str, code: int, millis: float) -> None:
        if not self.logger.isEnabledFor(logging.INFO):
            return
        self._items.append((time.time(), method, path_qs, code, millis))
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="apiserver-access-log",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            items = self._items
            logger = self.logger
            while items:
                created, method, path_qs, code, millis = items.popleft()
                rec = logger.makeRecord(logger.name, logging.INFO, __file__, 0, _FORMAT,
                                        (method, path_qs, code, millis), None)
                rec.created = created
                rec.msecs = (created - int(created)) * 1000
                logger.handle(rec)

    def stop(self) -> None:
        """Flush and stop the thread; a later ``record`` starts it again."""
        thread, self._thread = self._thread, None
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self.flush()


ACCESS_LOG = AccessLog(logging.getLogger("minikube8s.apiserver.access"))
atexit.register(ACCESS_LOG.flush)
