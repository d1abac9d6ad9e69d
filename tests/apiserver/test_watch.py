"""Watch semantics at the HTTP level: initial events, resume, selectors, bookmarks, 410."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import ClientResponse

from tests.apiserver.test_crud import PODS, create, pod
from tests.fixtures.apiserver import InProcessApi


async def next_event(r: ClientResponse, wait: float = 5.0) -> dict[str, Any]:
    line = await asyncio.wait_for(r.content.readline(), wait)
    assert line, "stream ended"
    return dict(json.loads(line))


async def events(r: ClientResponse, n: int) -> list[tuple[str, str]]:
    out = []
    for _ in range(n):
        ev = await next_event(r)
        out.append((ev["type"], ev["object"]["metadata"].get("name", "")))
    return out


async def test_initial_added_then_changes(api: InProcessApi) -> None:
    await create(api, pod("a"))
    await create(api, pod("b"))
    async with api.http.get(PODS, params={"watch": "True"}) as r:
        assert r.status == 200
        assert await events(r, 2) == [("ADDED", "a"), ("ADDED", "b")]
        await create(api, pod("c"))
        await api.http.patch(f"{PODS}/a", json={"metadata": {"labels": {"x": "1"}}},
                             headers={"Content-Type": "application/merge-patch+json"})
        await api.http.delete(f"{PODS}/b")
        got = await events(r, 3)
        assert got == [("ADDED", "c"), ("MODIFIED", "a"), ("DELETED", "b")]


async def test_resume_from_resource_version(api: InProcessApi) -> None:
    lst = await (await api.http.get(PODS)).json()
    rv = lst["metadata"]["resourceVersion"]
    await create(api, pod("r1"))
    await create(api, pod("r2"))
    async with api.http.get("/api/v1/watch/namespaces/default/pods",
                            params={"resourceVersion": rv}) as r:
        assert await events(r, 2) == [("ADDED", "r1"), ("ADDED", "r2")]
    # from r1's version only r2 comes
    r1 = await (await api.http.get(f"{PODS}/r1")).json()
    async with api.http.get(PODS, params={"watch": "1",
                                          "resourceVersion": r1["metadata"]["resourceVersion"]}
                            ) as r:
        assert await events(r, 1) == [("ADDED", "r2")]


async def test_label_selector_transitions(api: InProcessApi) -> None:
    await create(api, pod("s1", app="web"))
    merge = {"Content-Type": "application/merge-patch+json"}
    async with api.http.get(PODS, params={"watch": "true", "labelSelector": "app=web"}) as r:
        assert await events(r, 1) == [("ADDED", "s1")]
        await create(api, pod("s2", app="db"))           # never matches: nothing
        await api.http.patch(f"{PODS}/s1", json={"metadata": {"labels": {"app": "db"}}},
                             headers=merge)               # stops matching: DELETED
        await api.http.patch(f"{PODS}/s2", json={"metadata": {"labels": {"app": "web"}}},
                             headers=merge)               # starts matching: ADDED
        got = await events(r, 2)
        assert got == [("DELETED", "s1"), ("ADDED", "s2")]


async def test_field_selector_and_named_watch(api: InProcessApi) -> None:
    await create(api, pod("f1"))
    await create(api, pod("f2"))
    async with api.http.get(PODS, params={"watch": "true",
                                          "fieldSelector": "metadata.name=f2"}) as r:
        assert await events(r, 1) == [("ADDED", "f2")]
    async with api.http.get("/api/v1/watch/namespaces/default/pods/f1") as r:
        assert await events(r, 1) == [("ADDED", "f1")]


async def test_namespace_scoping_and_cluster_wide(api: InProcessApi) -> None:
    r = await api.http.post("/api/v1/namespaces", json={"metadata": {"name": "other"}})
    assert r.status == 201
    async with api.http.get(PODS, params={"watch": "true", "resourceVersion": "1"}) as ns_w, \
            api.http.get("/api/v1/pods", params={"watch": "true",
                                                 "resourceVersion": "1"}) as all_w:
        await create(api, pod("o1"), path="/api/v1/namespaces/other/pods")
        await create(api, pod("d1"))
        assert await events(ns_w, 1) == [("ADDED", "d1")]
        assert await events(all_w, 2) == [("ADDED", "o1"), ("ADDED", "d1")]


async def test_bookmarks_and_timeout(api: InProcessApi) -> None:
    await create(api, pod("bm"))
    async with api.http.get(PODS, params={"watch": "true", "allowWatchBookmarks": "true",
                                          "timeoutSeconds": "2"}) as r:
        first = await next_event(r)
        assert first["type"] == "ADDED"
        ev = await next_event(r, wait=3)
        assert ev["type"] == "BOOKMARK"
        assert ev["object"]["kind"] == "Pod"
        assert int(ev["object"]["metadata"]["resourceVersion"]) >= int(
            first["object"]["metadata"]["resourceVersion"])
        # the server ends the stream at timeoutSeconds
        loop = asyncio.get_running_loop()
        start = loop.time()
        while await asyncio.wait_for(r.content.readline(), 5):
            pass
        assert loop.time() - start < 3


async def test_too_old_resource_version_is_410(api: InProcessApi) -> None:
    for i in range(3):
        await create(api, pod(f"old{i}"))
    await api.registry.store.compact(await api.registry.store.current_revision())
    async with api.http.get(PODS, params={"watch": "true", "resourceVersion": "1"}) as r:
        ev = await next_event(r)
        assert ev["type"] == "ERROR"
        assert ev["object"]["code"] == 410 and ev["object"]["reason"] == "Expired"


async def test_untimed_watch_stays_open(api: InProcessApi) -> None:
    async with api.http.get(PODS, params={"watch": "true", "resourceVersion": "1"}) as r:
        try:
            line = await asyncio.wait_for(r.content.readline(), 1.5)
        except TimeoutError:
            line = b"still open"
        assert line == b"still open"
        await create(api, pod("late"))
        assert await events(r, 1) == [("ADDED", "late")]


async def test_many_watchers_one_slow(api: InProcessApi) -> None:
    """A watcher that never reads is cut off; the others keep receiving promptly."""
    slow = await api.http.get(PODS, params={"watch": "true", "resourceVersion": "1"})
    fast = [await api.http.get(PODS, params={"watch": "true", "resourceVersion": "1"})
            for _ in range(5)]
    try:
        big = {"x": "a" * 20000}
        for i in range(60):
            p = pod(f"m{i}")
            p["metadata"]["annotations"] = big
            await create(api, p)
        for r in fast:
            got = await events(r, 60)
            assert got[-1] == ("ADDED", "m59")
    finally:
        slow.close()
        for r in fast:
            r.close()


async def test_watch_table(api: InProcessApi) -> None:
    await create(api, pod("t1"))
    headers = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    async with api.http.get(PODS, params={"watch": "true"}, headers=headers) as r:
        ev = await next_event(r)
        assert ev["type"] == "ADDED"
        assert ev["object"]["kind"] == "Table"
        assert len(ev["object"]["rows"]) == 1


async def test_slow_watcher_is_cut_off() -> None:
    """With a small per-watcher queue, a watcher that stops reading is dropped by the hub:
    when it reads again it gets what was already on the wire, then the stream ends."""
    from minikube8s.roles.apiserver.keys import Settings
    from tests.fixtures.apiserver import start_in_process

    inproc, ts = await start_in_process(settings=Settings(watch_queue_size=5,
                                                          liveness_poll=0.2))
    try:
        async with inproc.http.get(PODS, params={"watch": "true",
                                                 "resourceVersion": "1"}) as slow:
            big = {"x": "a" * 50000}
            for i in range(300):
                p = pod(f"s{i}")
                p["metadata"]["annotations"] = big
                await create(inproc, p)
            n = 0
            while await asyncio.wait_for(slow.content.readline(), 10):
                n += 1
            assert 0 < n < 300
    finally:
        await inproc.http.close()
        await ts.close()
        await inproc.registry.store.close()
