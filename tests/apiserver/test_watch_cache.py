"""The watch cache (roles/apiserver/cacher.py) behind the registry's reads.

What must hold whatever the cache does: read-your-writes (a GET or LIST right after a write
sees it), the same answers as reading the store (selectors, pagination, continue tokens), a
catch-up wait when the cache is behind, and a fallback to the store when it stays behind.
The in-process backends feed the cache synchronously; ``WatchOnly`` hides that so the cache
follows a store watch, as it does with etcd, and ``Delayed`` makes that watch lag.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from minikube8s.api import errors
from minikube8s.api.resources import Resource, lookup
from minikube8s.roles.apiserver.cacher import Cached, Stale
from minikube8s.roles.apiserver.registry import Registry
from minikube8s.store import Backend, Event, KeyValue, ListResult, open_store
from tests.apiserver.test_crud import PODS, create, pod
from tests.fixtures.apiserver import InProcessApi


def _resource(name: str) -> Resource:
    res = lookup(name)
    assert res is not None
    return res


PODS_RES = _resource("pods")
NS_RES = _resource("namespaces")


class WatchOnly:
    """A backend without CommitListeners: the cache must follow its watch (as with etcd).
    ``delay`` holds every watch event back that long; ``stuck`` holds them forever."""

    def __init__(self, inner: Backend, *, delay: float = 0.0) -> None:
        self.inner = inner
        self.delay = delay
        self.flowing = asyncio.Event()
        self.flowing.set()

    @property
    def stuck(self) -> bool:
        return not self.flowing.is_set()

    @stuck.setter
    def stuck(self, value: bool) -> None:
        if value:
            self.flowing.clear()
        else:
            self.flowing.set()

    async def get(self, key: str) -> KeyValue:
        return await self.inner.get(key)

    async def list(self, prefix: str, *, limit: int = 0, start_after: str | None = None,
                   revision: int = 0) -> ListResult:
        return await self.inner.list(prefix, limit=limit, start_after=start_after,
                                     revision=revision)

    async def create(self, key: str, value: bytes) -> KeyValue:
        return await self.inner.create(key, value)

    async def update(self, key: str, value: bytes, *, expected_revision: int) -> KeyValue:
        return await self.inner.update(key, value, expected_revision=expected_revision)

    async def delete(self, key: str, *, expected_revision: int = 0) -> Event:
        return await self.inner.delete(key, expected_revision=expected_revision)

    async def watch(self, prefix: str, *, from_revision: int) -> AsyncIterator[Event]:
        async for ev in self.inner.watch(prefix, from_revision=from_revision):
            await self.flowing.wait()
            if self.delay:
                await asyncio.sleep(self.delay)
            yield ev

    async def current_revision(self) -> int:
        return await self.inner.current_revision()

    async def compact(self, revision: int) -> None:
        await self.inner.compact(revision)

    async def close(self) -> None:
        await self.inner.close()


@pytest.fixture(params=["memory", "sqlite", "watch"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    if request.param == "sqlite":
        store: Any = await open_store(f"sqlite://{tmp_path / 'state.db'}")
    else:
        store = await open_store("memory://")
        if request.param == "watch":
            store = WatchOnly(store)
    try:
        yield store
    finally:
        await store.close()


def mkpod(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


async def fill_pods(reg: Registry, count: int = 30) -> None:
    for i in range(count):
        ns = ("a", "b", "c")[i % 3]
        p = mkpod(f"p{i:03}", ns, app=("web", "db")[i % 2], tier=str(i % 4))
        if i % 5 == 0:
            p["metadata"]["labels"] = {}
        if i % 3 == 1:
            p["spec"]["nodeName"] = f"node-{i % 2}"
        if i % 7 == 0:
            p["spec"]["restartPolicy"] = "Never"
        await reg.create(PODS_RES, ns, p)


def names(items: list[dict[str, Any]]) -> list[str]:
    return [f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in items]


# -- read-your-writes ------------------------------------------------------------------------


async def test_reads_see_every_write_at_once(backend: Any) -> None:
    reg = Registry(backend)
    try:
        for i in range(20):
            created = await reg.create(PODS_RES, "default", mkpod(f"w{i}"))
            got = await reg.get(PODS_RES, "default", f"w{i}")
            assert got == created
            listed = await reg.list_page(PODS_RES, "default")
            assert f"default/w{i}" in names(listed.items)
            assert int(listed.resource_version) >= int(created["metadata"]["resourceVersion"])
        got["metadata"]["labels"] = {"changed": "yes"}
        updated = await reg.update(PODS_RES, "default", got)
        again = await reg.get(PODS_RES, "default", "w19")
        assert again["metadata"]["labels"] == {"changed": "yes"}
        assert again["metadata"]["resourceVersion"] == updated["metadata"]["resourceVersion"]
        await reg.delete(PODS_RES, "default", "w19")
        with pytest.raises(errors.NotFound):
            await reg.get(PODS_RES, "default", "w19")
        assert "default/w19" not in names((await reg.list_page(PODS_RES)).items)
        assert reg.cache is not None and reg.cache._kinds  # the reads did use the cache
    finally:
        await reg.close()


async def test_cached_objects_are_private_copies(backend: Any) -> None:
    reg = Registry(backend)
    try:
        await reg.create(PODS_RES, "default", mkpod("x", app="a"))
        first = await reg.get(PODS_RES, "default", "x")
        first["metadata"]["labels"]["app"] = "mutated"
        (await reg.list(PODS_RES, "default"))[0]["spec"] = {}
        again = await reg.get(PODS_RES, "default", "x")
        assert again["metadata"]["labels"]["app"] == "a" and again["spec"]["containers"]
    finally:
        await reg.close()


async def test_writes_by_another_registry_are_seen(backend: Any) -> None:
    """Two API servers on one store: a read on one after a write through the other."""
    one, two = Registry(backend), Registry(backend)
    try:
        await one.list_page(PODS_RES)  # fill one's cache first
        await two.create(PODS_RES, "default", mkpod("other"))
        assert (await one.get(PODS_RES, "default", "other"))["metadata"]["name"] == "other"
    finally:
        await one.close()
        await two.close()


# -- the same answers as the store -----------------------------------------------------------

SELECTORS = [
    ("", ""), ("app=web", ""), ("app!=web", ""), ("tier in (1,3)", ""), ("!app", ""),
    ("app,tier notin (0)", ""), ("", "spec.nodeName=node-1"), ("", "spec.nodeName="),
    ("", "spec.nodeName!=node-0"), ("app=db", "spec.restartPolicy=Never"),
    ("", "metadata.name=p004"), ("", "metadata.namespace=b"), ("", "status.phase=Pending"),
    ("", "metadata.name=p004,metadata.namespace=a"), ("tier=2", "status.phase!=Running"),
]


@pytest.mark.parametrize("namespace", ["", "a", "b"])
async def test_selectors_match_the_store(backend: Any, namespace: str) -> None:
    cached, direct = Registry(backend), Registry(backend, watch_cache=False)
    try:
        await fill_pods(direct)
        for labels, fields in SELECTORS:
            want = await direct.list_page(PODS_RES, namespace, label_selector=labels,
                                          field_selector=fields)
            got = await cached.list_page(PODS_RES, namespace, label_selector=labels,
                                         field_selector=fields)
            assert got.items == want.items, (labels, fields)
            assert got.resource_version == want.resource_version
            assert got.items == [o for o in want.items]  # objects, resourceVersions and all
        assert cached.cache is not None and cached.cache._kinds
    finally:
        await cached.close()


async def paginate(reg: Registry, *, limit: int, between: Any = None,
                   **kw: str) -> tuple[list[str], set[str]]:
    seen: list[str] = []
    rvs: set[str] = set()
    token = ""
    while True:
        page = await reg.list_page(PODS_RES, limit=limit, continue_token=token, **kw)
        seen += names(page.items)
        rvs.add(page.resource_version)
        token = page.continue_token
        if not token:
            return seen, rvs
        if between is not None:
            await between()


@pytest.mark.parametrize("labels", ["", "app=web"])
async def test_pagination_matches_the_store(backend: Any, labels: str) -> None:
    cached, direct = Registry(backend), Registry(backend, watch_cache=False)
    try:
        await fill_pods(direct)
        want, _ = await paginate(direct, limit=4, label_selector=labels)
        got, rvs = await paginate(cached, limit=4, label_selector=labels)
        assert got == want and len(rvs) == 1
        everything = names((await direct.list_page(PODS_RES, label_selector=labels)).items)
        assert got == everything

        # Writes between pages: the later pages still show the first page's revision
        # (read from the store's snapshot, since the cache has moved on).
        counter = itertools.count()

        async def write() -> None:
            n = next(counter)
            await direct.create(PODS_RES, "a", mkpod(f"late{n}", "a", app="web"))
            await direct.delete(PODS_RES, "c", f"p{3 * n + 2:03}")

        got, rvs = await paginate(cached, limit=4, between=write, label_selector=labels)
        assert got == everything and len(rvs) == 1
    finally:
        await cached.close()


async def test_continue_from_cache_when_nothing_changed(backend: Any) -> None:
    reg = Registry(backend)
    try:
        await fill_pods(reg, 10)
        first = await reg.list_cached(PODS_RES, limit=3)
        calls = 0
        real_list = backend.list

        async def counting(*a: Any, **k: Any) -> ListResult:
            nonlocal calls
            calls += 1
            result: ListResult = await real_list(*a, **k)
            return result

        backend.list = counting
        rest = await reg.list_cached(PODS_RES, limit=100, continue_token=first.continue_token)
        assert calls == 0  # served by the cache: the kind did not change since
        assert len(first.items) + len(rest.items) == 10
        assert rest.resource_version == first.resource_version
        # A change of another kind does not matter; a change of pods sends it to the store.
        await reg.create(NS_RES, "", {"metadata": {"name": "zz"}})
        await reg.list_cached(PODS_RES, limit=100, continue_token=first.continue_token)
        assert calls == 0
        await reg.create(PODS_RES, "a", mkpod("new", "a"))
        await reg.get(PODS_RES, "a", "new")  # (a consistent read: the cache has the change)
        again = await reg.list_cached(PODS_RES, limit=100, continue_token=first.continue_token)
        assert calls == 1
        assert [e.key for e in again.items] == [e.key for e in rest.items]
    finally:
        await reg.close()


# -- catching up, and falling back ----------------------------------------------------------


async def test_waits_for_a_lagging_watch(tmp_path: Path) -> None:
    inner = await open_store("memory://")
    slow = WatchOnly(inner, delay=0.2)
    reg = Registry(slow, cache_wait_timeout=5.0)
    try:
        await reg.list_page(PODS_RES)  # the cache follows the (slow) watch from here
        await reg.create(PODS_RES, "default", mkpod("slow"))
        start = time.monotonic()
        got = await reg.get(PODS_RES, "default", "slow")
        waited = time.monotonic() - start
        assert got["metadata"]["name"] == "slow"
        assert waited >= 0.1  # it did wait for the watch, not read a stale cache
        assert reg.cache is not None and reg.cache.revision >= int(
            got["metadata"]["resourceVersion"])
        # resourceVersion=0: any cached state, no waiting
        await reg.create(PODS_RES, "default", mkpod("slow2"))
        start = time.monotonic()
        page = await reg.list_cached(PODS_RES, resource_version="0")
        assert time.monotonic() - start < 0.1
        assert [e.key.rsplit("/", 1)[1] for e in page.items] == ["slow"]
    finally:
        await reg.close()
        await slow.close()


async def test_falls_back_to_the_store_when_the_cache_stays_behind() -> None:
    inner = await open_store("memory://")
    stuck = WatchOnly(inner)
    reg = Registry(stuck, cache_wait_timeout=0.2)
    try:
        await reg.list_page(PODS_RES)
        stuck.stuck = True
        await reg.create(PODS_RES, "default", mkpod("late"))
        assert reg.cache is not None
        with pytest.raises(Stale):
            await reg.cache.read(PODS_RES)
        start = time.monotonic()
        got = await reg.get(PODS_RES, "default", "late")
        page = await reg.list_page(PODS_RES, "default")
        assert time.monotonic() - start < 2.0
        assert got["metadata"]["name"] == "late" and names(page.items) == ["default/late"]
        stuck.stuck = False
        await reg.cache._wait(int(page.resource_version))
        assert names((await reg.list_page(PODS_RES, "default")).items) == ["default/late"]
    finally:
        await reg.close()
        await stuck.close()


async def test_a_failed_watch_resets_the_cache_and_reads_go_on() -> None:
    inner = await open_store("memory://")
    backend = WatchOnly(inner)
    reg = Registry(backend)
    try:
        await reg.create(PODS_RES, "default", mkpod("before"))
        await reg.list_page(PODS_RES)
        assert reg.cache is not None and reg.cache._watch is not None
        reg.cache._watch.cancel()  # as if the store watch died
        with pytest.raises(asyncio.CancelledError):
            await reg.cache._watch
        reg.cache._reset()
        await reg.create(PODS_RES, "default", mkpod("after"))
        assert names((await reg.list_page(PODS_RES)).items) == ["default/after",
                                                                  "default/before"]
    finally:
        await reg.close()
        await backend.close()


# -- over HTTP --------------------------------------------------------------------------------


async def test_http_get_and_list_bytes_are_the_objects(api: InProcessApi) -> None:
    out = await create(api, pod("bytes", app="x"))
    r = await api.http.get(f"{PODS}/bytes")
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert await r.json() == out
    r = await api.http.get(PODS, params={"labelSelector": "app=x"})
    body = await r.json()
    assert body["kind"] == "PodList" and body["items"] == [out]
    assert int(body["metadata"]["resourceVersion"]) >= int(out["metadata"]["resourceVersion"])
    r = await api.http.get(f"{PODS}/bytes", params={"resourceVersion": "0"})
    assert await r.json() == out
    r = await api.http.get(f"{PODS}/bytes", params={"resourceVersion": "x"})
    assert r.status == 400
    # the seed's dialect is still converted on the way out
    r = await api.http.get(PODS.replace("/v1/", "/v1beta3/") + "/bytes")
    assert r.status == 200 and (await r.json())["apiVersion"] == "v1beta3"


@pytest.mark.etcd
async def test_read_your_writes_on_etcd(etcd_server: Any) -> None:
    """etcd has no commit listeners: the cache follows a watch of the whole keyspace and
    waits for the store's current revision."""
    backend = await open_store(str(etcd_server.url))
    reg = Registry(backend)
    ns = f"t{uuid.uuid4().hex[:10]}"
    try:
        for i in range(10):
            made = await reg.create(PODS_RES, ns, mkpod(f"e{i}", ns))
            got = await reg.get(PODS_RES, ns, f"e{i}")
            assert got == made
            assert len((await reg.list_page(PODS_RES, ns)).items) == i + 1
        assert reg.cache is not None and reg.cache._watch is not None
        want, _ = await paginate(Registry(backend, watch_cache=False), limit=3)
        got_names, _ = await paginate(reg, limit=3)
        assert got_names == want
    finally:
        await reg.close()
        await backend.close()


async def test_entries_from_writes_equal_what_the_store_holds(backend: Any) -> None:
    """Writes hand the cache their encoded bytes (no decode/encode round trip): the entries
    and the writes' answers must be exactly what decoding the stored value gives."""
    reg = Registry(backend)

    async def same_as_store(entry: Cached | None, key: str) -> None:
        assert entry is not None
        want = Cached.from_kv(await backend.get(key), "Pod")
        assert entry.body == want.body and entry.revision == want.revision
        assert dict(entry.labels) == dict(want.labels)
        assert dict(entry.fields) == dict(want.fields)

    try:
        await reg.list_page(PODS_RES)  # the pods kind is cached from here on
        odd = mkpod("odd", app="y")
        odd["metadata"]["annotations"] = {"slot": "\u0000rv\u0000", "n": "ünï"}
        odd["spec"]["activeDeadlineSeconds"] = 30
        for p in (mkpod("plain", app="x"), odd):
            made = await reg.create_cached(PODS_RES, "default", p)
            await same_as_store(made, made.key)
        got = await reg.get(PODS_RES, "default", "plain")
        got["metadata"]["labels"]["more"] = "yes"
        await reg.update(PODS_RES, "default", got)

        async def relabel(obj: dict[str, Any]) -> dict[str, Any]:
            obj["metadata"]["labels"] = {"patched": "1"}
            return obj

        await reg.guaranteed_update(PODS_RES, "default", "odd", relabel)
        assert reg.cache is not None
        view = await reg.cache.read(PODS_RES)
        for key in ("/registry/pods/default/plain", "/registry/pods/default/odd"):
            await same_as_store(view.get(key), key)
    finally:
        await reg.close()


async def test_shared_reads_are_decoded_once_and_follow_changes(backend: Any) -> None:
    reg = Registry(backend)
    try:
        await reg.create(NS_RES, "", {"metadata": {"name": "sh"}})
        first = await reg.get_shared(NS_RES, "", "sh")
        assert first is await reg.get_shared(NS_RES, "", "sh")
        assert first == await reg.get(NS_RES, "", "sh")
        await reg.delete(NS_RES, "", "sh")  # the kubernetes finalizer keeps it, Terminating
        after = await reg.get_shared(NS_RES, "", "sh")
        assert after is not first and after["status"]["phase"] == "Terminating"
    finally:
        await reg.close()
