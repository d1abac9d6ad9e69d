"""Watches indexed by an exact spec.nodeName / metadata.name field selector (watch.py's
INDEX_FIELDS): the hub only offers such a watcher the events whose old or new object has its
value, and the ADDED/DELETED transitions of binding still reach the right watchers; an
indexed watcher's bookmarks move on while other nodes' pods change."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.apiserver.test_crud import PODS, create, pod
from tests.apiserver.test_watch import events, next_event
from tests.fixtures.apiserver import InProcessApi

MERGE = {"Content-Type": "application/merge-patch+json"}


def on(name: str, node: str) -> dict[str, Any]:
    obj = pod(name)
    obj["spec"]["nodeName"] = node
    return obj


async def bind(api: InProcessApi, name: str, node: str) -> None:
    r = await api.http.post(f"{PODS}/{name}/binding", json={
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node}})
    assert r.status == 201, await r.text()


async def test_node_watchers_see_only_their_pods_and_binding_transitions(
        api: InProcessApi) -> None:
    rv = (await (await api.http.get(PODS)).json())["metadata"]["resourceVersion"]
    watch = {"watch": "true", "resourceVersion": rv}
    async with api.http.get(PODS, params={**watch, "fieldSelector": "spec.nodeName=n1"}) as n1, \
            api.http.get(PODS, params={**watch, "fieldSelector": "spec.nodeName=n2"}) as n2, \
            api.http.get(PODS, params={**watch, "fieldSelector": "spec.nodeName="}) as free:
        await create(api, pod("u"))            # unassigned
        await create(api, on("a", "n1"))
        await create(api, on("b", "n2"))
        await bind(api, "u", "n1")             # starts matching n1, stops matching ""
        await api.http.patch(f"{PODS}/a", json={"metadata": {"labels": {"x": "1"}}},
                             headers=MERGE)
        await api.http.delete(f"{PODS}/b", params={"gracePeriodSeconds": "0"})
        assert await events(n1, 3) == [("ADDED", "a"), ("ADDED", "u"), ("MODIFIED", "a")]
        assert await events(n2, 2) == [("ADDED", "b"), ("DELETED", "b")]
        assert await events(free, 2) == [("ADDED", "u"), ("DELETED", "u")]
        for r in (n1, n2, free):  # and nothing else
            try:
                extra = await next_event(r, wait=0.3)
            except TimeoutError:
                continue
            raise AssertionError(f"unexpected event {extra['type']}")


async def test_indexed_watch_bookmarks_follow_other_nodes_changes(api: InProcessApi) -> None:
    mine = await create(api, on("m", "n1"))
    async with api.http.get(PODS, params={"watch": "true", "allowWatchBookmarks": "true",
                                          "fieldSelector": "spec.nodeName=n1",
                                          "timeoutSeconds": "10"}) as r:
        assert (await next_event(r))["type"] == "ADDED"
        other = mine
        for i in range(3):
            other = await create(api, on(f"o{i}", "n2"))
        latest = int(other["metadata"]["resourceVersion"])
        deadline = asyncio.get_running_loop().time() + 8
        while asyncio.get_running_loop().time() < deadline:
            ev = await next_event(r, wait=8)
            assert ev["type"] == "BOOKMARK"
            if int(ev["object"]["metadata"]["resourceVersion"]) >= latest:
                break
        else:
            raise AssertionError("bookmarks stayed behind the other node's pods")
