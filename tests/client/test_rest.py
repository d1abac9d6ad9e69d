"""The REST client against a real ``minikube8s --role a`` process: verbs, typed errors, watch."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube8s.api.resources import lookup
from minikube8s.client import errors
from minikube8s.client.rest import TABLE, Client, WatchEvent
from tests.fixtures.apiserver import ApiServerProcess, InProcessApi
from tests.fixtures.etcd import free_port

PODS = lookup("pods")
RCS = lookup("rc")
NODES = lookup("nodes")
NAMESPACES = lookup("namespaces")
assert PODS and RCS and NODES and NAMESPACES


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "t"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def rc(name: str, replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


@pytest.fixture
async def client(bare_apiserver: ApiServerProcess) -> AsyncIterator[Client]:
    async with Client(bare_apiserver.url) as c:
        yield c


@pytest.fixture
async def ns(client: Client) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


async def test_crud_round_trip(client: Client, ns: str) -> None:
    created = await client.create(PODS, pod("a"), namespace=ns)
    assert created["metadata"]["namespace"] == ns
    assert created["metadata"]["uid"]
    got = await client.get(PODS, "a", namespace=ns)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]

    got["metadata"]["labels"]["x"] = "1"
    updated = await client.update(PODS, got)
    assert updated["metadata"]["labels"]["x"] == "1"
    assert int(updated["metadata"]["resourceVersion"]) > int(got["metadata"]["resourceVersion"])

    patched = await client.patch(PODS, "a", {"metadata": {"labels": {"y": "2"}}}, namespace=ns)
    assert patched["metadata"]["labels"] == {"app": "t", "x": "1", "y": "2"}
    patched = await client.patch(PODS, "a", [{"op": "remove", "path": "/metadata/labels/x"}],
                                 namespace=ns, patch_type="json")
    assert "x" not in patched["metadata"]["labels"]
    patched = await client.patch(PODS, "a", {"metadata": {"labels": {"z": "3"}}},
                                 namespace=ns, patch_type="strategic")
    assert patched["metadata"]["labels"]["z"] == "3"

    lst = await client.list(PODS, namespace=ns, label_selector="y=2")
    assert lst["kind"] == "PodList"
    assert [p["metadata"]["name"] for p in lst["items"]] == ["a"]
    assert lst["metadata"]["resourceVersion"]
    assert (await client.list(PODS, namespace=ns, label_selector="y=3"))["items"] == []

    await client.delete(PODS, "a", namespace=ns, grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await client.get(PODS, "a", namespace=ns)


async def test_status_subresource_and_create_namespace_default(client: Client, ns: str) -> None:
    p = pod("s")
    p["metadata"]["namespace"] = ns
    created = await client.create(PODS, p)  # namespace from the object
    assert created["metadata"]["namespace"] == ns
    out = await client.patch_status(PODS, "s", {"status": {"phase": "Running"}}, namespace=ns)
    assert out["status"]["phase"] == "Running"
    out["status"]["phase"] = "Succeeded"
    out = await client.update_status(PODS, out)
    assert out["status"]["phase"] == "Succeeded"


async def test_typed_errors(client: Client, ns: str) -> None:
    with pytest.raises(errors.NotFound) as nf:
        await client.get(PODS, "nope", namespace=ns)
    assert nf.value.code == 404 and nf.value.reason == "NotFound"
    assert nf.value.status["details"]["name"] == "nope"

    await client.create(PODS, pod("dup"), namespace=ns)
    with pytest.raises(errors.AlreadyExists) as ae:
        await client.create(PODS, pod("dup"), namespace=ns)
    assert ae.value.code == 409

    stale = await client.get(PODS, "dup", namespace=ns)
    await client.patch(PODS, "dup", {"metadata": {"labels": {"v": "1"}}}, namespace=ns)
    with pytest.raises(errors.Conflict):
        await client.update(PODS, stale)

    bad = pod("bad")
    bad["spec"]["containers"][0]["image"] = ""
    with pytest.raises(errors.Invalid) as inv:
        await client.create(PODS, bad, namespace=ns)
    assert inv.value.code == 422
    assert any("image" in c.get("field", "") for c in inv.value.causes)

    with pytest.raises(errors.BadRequest):
        await client.list(PODS, namespace=ns, label_selector="a in (")

    with pytest.raises(errors.BadRequest):
        await client.list(PODS, namespace=ns, limit=1, continue_="bm90LWEtdG9rZW4")


async def test_unavailable_chains_aiohttp_error() -> None:
    async with Client(f"http://127.0.0.1:{free_port()}", timeout=5) as c:
        with pytest.raises(errors.Unavailable) as ei:
            await c.get(PODS, "x", namespace="default")
    assert ei.value.__cause__ is not None
    assert ei.value.retriable


async def test_bind_and_scale(client: Client, ns: str) -> None:
    await client.create(PODS, pod("b"), namespace=ns)
    await client.bind(ns, "b", "node-1")
    got = await client.get(PODS, "b", namespace=ns)
    assert got["spec"]["nodeName"] == "node-1"
    with pytest.raises(errors.Conflict):
        await client.bind(ns, "b", "node-2")

    await client.create(RCS, rc("web", 2), namespace=ns)
    scale = await client.get_scale(RCS, "web", namespace=ns)
    assert scale["spec"]["replicas"] == 2
    scale = await client.update_scale(RCS, "web", 5, namespace=ns)
    assert scale["spec"]["replicas"] == 5
    assert (await client.get(RCS, "web", namespace=ns))["spec"]["replicas"] == 5


async def test_list_all_pages(client: Client, ns: str) -> None:
    for i in range(7):
        await client.create(PODS, pod(f"p{i}"), namespace=ns)
    page = await client.list(PODS, namespace=ns, limit=3)
    assert len(page["items"]) == 3 and page["metadata"]["continue"]
    everything = await client.list_all(PODS, namespace=ns, page_size=3)
    assert sorted(p["metadata"]["name"] for p in everything["items"]) == \
        [f"p{i}" for i in range(7)]
    assert "continue" not in everything["metadata"]


async def test_raw_request_tables_and_warnings(client: Client, ns: str) -> None:
    await client.create(PODS, pod("t"), namespace=ns)
    resp = await client.request("GET", f"/api/v1/namespaces/{ns}/pods", accept=TABLE)
    table = resp.json()
    assert table["kind"] == "Table"
    assert table["rows"][0]["cells"][0] == "t"

    seen: list[str] = []
    client.on_warning = seen.append
    body = pod("w")
    body["spec"]["bogusField"] = 1
    resp = await client.request("POST", f"/api/v1/namespaces/{ns}/pods", json=body,
                                params={"fieldValidation": "Warn"})
    assert resp.status == 201
    assert resp.warnings and "bogusField" in resp.warnings[0]
    assert seen == resp.warnings

    resp = await client.request("GET", f"/api/v1/namespaces/{ns}/pods/none",
                                raise_for_status=False)
    assert resp.status == 404 and resp.json()["reason"] == "NotFound"


async def test_delete_with_preconditions(client: Client, ns: str) -> None:
    created = await client.create(PODS, pod("pc"), namespace=ns)
    with pytest.raises(errors.Conflict):
        await client.delete(PODS, "pc", namespace=ns, preconditions={"uid": "wrong"},
                            grace_period_seconds=0)
    await client.delete(PODS, "pc", namespace=ns, grace_period_seconds=0,
                        preconditions={"uid": created["metadata"]["uid"]})
    with pytest.raises(errors.NotFound):
        await client.delete(PODS, "pc", namespace=ns)


async def next_events(it: AsyncIterator[WatchEvent], n: int) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    while len(out) < n:
        ev = await asyncio.wait_for(it.__anext__(), 10)
        if ev.type != "BOOKMARK":
            out.append((ev.type, ev.object["metadata"]["name"]))
    return out


async def test_watch(client: Client, ns: str) -> None:
    start = (await client.list(PODS, namespace=ns))["metadata"]["resourceVersion"]
    stream = client.watch(PODS, namespace=ns, resource_version=start)
    async with contextlib.aclosing(stream):
        await client.create(PODS, pod("w1"), namespace=ns)
        await client.patch(PODS, "w1", {"metadata": {"labels": {"k": "v"}}}, namespace=ns)
        await client.delete(PODS, "w1", namespace=ns, grace_period_seconds=0)
        assert await next_events(stream, 3) == [
            ("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]


async def test_watch_timeout_ends_cleanly(client: Client, ns: str) -> None:
    got = [ev async for ev in client.watch(PODS, namespace=ns, timeout_seconds=1,
                                           allow_bookmarks=False)]
    assert got == []


async def test_watch_bad_resource_version(client: Client, ns: str) -> None:
    with pytest.raises(errors.BadRequest):
        async for _ in client.watch(PODS, namespace=ns, resource_version="abc"):
            pass


async def test_watch_and_list_gone_after_compaction(api: InProcessApi) -> None:
    async with Client(api.url) as c:
        first = await c.create(PODS, pod("g1"), namespace="default")
        for i in range(3):
            await c.create(PODS, pod(f"g{i + 2}"), namespace="default")
        page = await c.list(PODS, namespace="default", limit=1)
        await c.create(PODS, pod("g5"), namespace="default")
        store = api.registry.store
        await store.compact(await store.current_revision())
        with pytest.raises(errors.Gone) as gone:
            async for _ in c.watch(PODS, namespace="default",
                                   resource_version=first["metadata"]["resourceVersion"]):
                pass
        assert gone.value.code == 410 and gone.value.reason == "Expired"
        with pytest.raises(errors.Gone):
            await c.list(PODS, namespace="default", limit=1,
                         continue_=page["metadata"]["continue"])
        # list_all falls back to one unpaged list when its token expires mid-way
        assert len((await c.list_all(PODS, namespace="default"))["items"]) == 5


async def test_wait_ready(client: Client) -> None:
    await client.wait_ready(within=5)
    async with Client(f"http://127.0.0.1:{free_port()}") as down:
        with pytest.raises(TimeoutError):
            await down.wait_ready(interval=0.05, within=0.3)


async def test_apply_stream_and_delete_collection(client: Client, ns: str) -> None:
    body = pod("ap")
    body["metadata"]["namespace"] = ns
    out = await client.patch(PODS, "ap", body, namespace=ns, patch_type="apply",
                             field_manager="test")
    assert out["metadata"]["name"] == "ap"
    with pytest.raises(ValueError):
        await client.patch(PODS, "ap", body, namespace=ns, patch_type="apply")
    await client.create(PODS, pod("other", app="keep"), namespace=ns)

    chunks = [c async for c in client.stream(
        "GET", f"/api/v1/namespaces/{ns}/pods",
        params={"watch": True, "timeoutSeconds": 1}, accept="application/json")]
    lines = b"".join(chunks).splitlines()
    assert len(lines) == 2 and b'"ADDED"' in lines[0]

    gone = await client.delete_collection(PODS, namespace=ns, label_selector="app=t",
                                          grace_period_seconds=0)
    assert [p["metadata"]["name"] for p in gone["items"]] == ["ap"]
    left = await client.list(PODS, namespace=ns)
    assert [p["metadata"]["name"] for p in left["items"]] == ["other"]
