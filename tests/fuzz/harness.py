"""What the HTTP fuzz tests share: an API server to hit, one request function, the verdict.

Hypothesis drives synchronous tests, so the in-process API server (the memory store, as
tests/fixtures/apiserver.py builds it) runs on its own event loop in a background thread and
the tests talk to it over a real loopback socket with http.client, exactly as they talk to a
``minikube8s`` subprocess. ``check_answer`` is the property every request must satisfy: a 2xx
with a JSON body, or a 4xx Kubernetes Status whose code matches; never a 5xx, never a body
that strict JSON cannot read.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from minikube8s.roles.apiserver.keys import Settings
from tests.fixtures.apiserver import InProcessApi, start_in_process

JSON = "application/json"
YAML = "application/yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"
APPLY = "application/apply-patch+yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    request: str
    """``METHOD path (content type)``, for failure messages."""


class Server:
    """Something listening on 127.0.0.1:port that speaks the Kubernetes API."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = JSON) -> Answer:
        headers = {"Accept": JSON}
        if body is not None:
            headers["Content-Type"] = content_type
        for attempt in (1, 2):
            conn = self._conn or http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self._conn = conn
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (ConnectionError, http.client.HTTPException):
                # The server may close a kept-alive connection after an error answer.
                conn.close()
                self._conn = None
                if attempt == 2:
                    raise
                continue
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                self._conn = None
            return Answer(resp.status, resp.getheader("Content-Type", ""), data,
                          f"{method} {path} ({content_type if body is not None else '-'})")
        raise AssertionError("unreachable")

    def json(self, method: str, path: str, obj: Any, content_type: str = JSON) -> Answer:
        return self.request(method, path, json.dumps(obj).encode(), content_type)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _strict_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def strict_json(data: bytes) -> Any:
    """JSON as every other client parses it: no NaN or Infinity."""
    return json.loads(data, parse_constant=_strict_constant)


def check_answer(ans: Answer) -> Any:
    """The fuzz property; returns the decoded body."""
    assert ans.status < 500, f"{ans.request} -> {ans.status}: {ans.body[:2000]!r}"
    assert "json" in ans.content_type, f"{ans.request} -> {ans.content_type}: {ans.body[:300]!r}"
    try:
        body = strict_json(ans.body)
    except ValueError as e:
        raise AssertionError(f"{ans.request} -> {ans.status}: not JSON ({e}): "
                             f"{ans.body[:300]!r}") from e
    assert isinstance(body, dict), f"{ans.request} -> {ans.status}: {body!r:.300}"
    if ans.status >= 400:
        assert body.get("kind") == "Status", f"{ans.request}: {body!r:.300}"
        assert body.get("apiVersion") == "v1"
        assert body.get("status") == "Failure"
        assert body.get("code") == ans.status, f"{ans.request}: {body!r:.300}"
        assert isinstance(body.get("message"), str)
        assert isinstance(body.get("reason"), str)
    else:
        assert 200 <= ans.status < 300, f"{ans.request} -> {ans.status}"
    return body


class ThreadedApi:
    """The in-process API server on its own loop in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fuzz-apiserver",
                                       daemon=True)
        self.inproc: InProcessApi | None = None
        self._ts: Any = None

    def start(self) -> Server:
        self.thread.start()
        settings = Settings(bookmark_interval=0.5, liveness_poll=0.5)
        fut = asyncio.run_coroutine_threadsafe(start_in_process(settings=settings), self.loop)
        self.inproc, self._ts = fut.result(timeout=30)
        return Server(int(self._ts.port))

    def stop(self) -> None:
        async def close() -> None:
            assert self.inproc is not None
            await self.inproc.http.close()
            await self._ts.close()
            await self.inproc.server.registry.store.close()

        if self.inproc is not None:
            asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[Server]:
    """One in-process API server (memory store) for a whole fuzz module."""
    api = ThreadedApi()
    server = api.start()
    try:
        yield server
    finally:
        server.close()
        api.stop()
