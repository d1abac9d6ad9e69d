"""Stopping the API server ends open watch streams cleanly, at once.

server.py closes the watch hubs in aiohttp's on_shutdown (after the listener closed, before
handlers are waited for), so a watcher sees the end of its response and re-watches from its
last resourceVersion as soon as the server is back, rather than the stop waiting out the
shutdown timeout and cutting the stream mid-chunk. tests/faults/test_watch_resume.py relies
on it for the SIGTERM restart under 100 watches. A watch arriving once the hubs are closed
is refused with 503 and Retry-After (watch.py subscribes before the 200 goes out).
"""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp

from minikube8s.roles.apiserver.keys import HUBS
from tests.fixtures.apiserver import InProcessApi, start_in_process


async def test_stop_ends_open_watches_cleanly() -> None:
    inproc, ts = await start_in_process()
    base = inproc.url
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/api/v1/namespaces") as resp:
                rv = (await resp.json())["metadata"]["resourceVersion"]
            streams = [await session.get(f"{base}/api/v1/namespaces",
                                         params={"watch": "1", "resourceVersion": rv})
                       for _ in range(3)]
            async with session.post(f"{base}/api/v1/namespaces", json={
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "before-stop"}}) as resp:
                assert resp.status == 201
            for stream in streams:
                line = await asyncio.wait_for(stream.content.readline(), 5)
                assert json.loads(line)["object"]["metadata"]["name"] == "before-stop"

            t0 = time.monotonic()
            # TestServer's runner waits up to 60 s for handlers: the hubs must end them first.
            await asyncio.wait_for(ts.close(), 10)
            assert time.monotonic() - t0 < 2.0
            for stream in streams:
                # A clean end of the chunked body: no ClientPayloadError, nothing more.
                assert await asyncio.wait_for(stream.content.read(), 5) == b""
                stream.release()
    finally:
        await inproc.http.close()
        await ts.close()
        await inproc.server.registry.store.close()


async def test_watch_during_shutdown_is_refused_with_503(api: InProcessApi) -> None:
    """A watch that arrives once the hubs are closed (the server is stopping) gets a 503
    Status with Retry-After before any stream starts, not a 200 carrying an ERROR event."""
    await api.http.app[HUBS].close()
    resp = await api.http.get("/api/v1/pods", params={"watch": "1", "resourceVersion": "1"})
    assert resp.status == 503
    assert resp.headers["Retry-After"] == "1"
    status = await resp.json()
    assert status["kind"] == "Status" and status["reason"] == "ServiceUnavailable"
    assert status["details"]["retryAfterSeconds"] == 1
