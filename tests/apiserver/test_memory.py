"""The API server keeps nothing per request: what a long run adds is the store's history.

A thorough fuzz run (tests/fuzz/test_writes.py) grew its process by hundreds of MiB. The
cause is the ``memory://`` store keeping every revision (100,000 by default, one value per
write) plus hypothesis' own state, not a leak: with the history compacted, hundreds of cycles
of every write path (create with unknown fields, update, each patch type, apply, status,
v1beta3, YAML, watches, 4xx answers, delete) leave the traced memory where it was. Measured
with tracemalloc after a garbage collection, against a server on its own client session
(aiohttp's TestClient keeps every response it made until it closes). The real stores compact
their own history: SQLite's auto-compactor (store/sqlite.py) and, checked here, etcd's.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from minikube8s.store.base import Gone
from minikube8s.store.etcd import open_etcd
from minikube8s.store.fanout import WatchHub
from minikube8s.store.memory import MemoryBackend
from tests.fixtures.apiserver import InProcessApi
from tests.fixtures.etcd import EtcdProcess

PODS = "/api/v1/namespaces/default/pods"
MERGE = {"Content-Type": "application/merge-patch+json"}
NAMES = [f"m{i}" for i in range(4)]  # reused: distinct URLs would fill bounded path caches
BLOB = 20_000  # bytes of annotation per object: a leaked object shows at once


def big_pod(name: str, i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "m"},
                         "annotations": {"blob": f"{i:08d}" + "x" * BLOB}},
            "spec": {"foo": i, "containers": [{"name": "c", "image": "nginx", "bar": 1}]}}


async def _expect(resp: aiohttp.ClientResponse, *codes: int) -> None:
    async with resp:
        await resp.read()
        assert resp.status in codes, (resp.method, resp.url, resp.status)


async def cycle(http: aiohttp.ClientSession, i: int) -> None:
    name = NAMES[i % len(NAMES)]
    url = f"{PODS}/{name}"
    await _expect(await http.post(PODS, json=big_pod(name, i)), 201)
    await _expect(await http.post(PODS, json=big_pod(name, i)), 409)
    await _expect(await http.post(PODS, json=big_pod("s" + name, i),
                                  params={"fieldValidation": "Strict"}), 400)
    await _expect(await http.get(url), 200)
    await _expect(await http.get(PODS, params={"labelSelector": "app=m"}), 200)
    await _expect(await http.get(f"/api/v1beta3/namespaces/default/pods/{name}"), 200)
    await _expect(await http.get(f"{PODS}/missing"), 404)
    await _expect(await http.put(url, json=big_pod(name, i + 1)), 200)
    await _expect(await http.patch(url, json={"metadata": {"labels": {"k": str(i)}}},
                                   headers=MERGE), 200)
    await _expect(await http.patch(
        url, data=json.dumps({"spec": {"containers": [{"name": "c", "baz": i}]}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"}), 200)
    await _expect(await http.patch(
        url, data=json.dumps([{"op": "add", "path": "/metadata/labels/j", "value": "1"}]),
        headers={"Content-Type": "application/json-patch+json"}), 200)
    await _expect(await http.patch(
        url, data=json.dumps(big_pod(name, i + 2)), params={"fieldManager": "m"},
        headers={"Content-Type": "application/apply-patch+yaml"}), 200)
    await _expect(await http.patch(url, json={"spec": {"containers": 5}}, headers=MERGE), 422)
    await _expect(await http.patch(f"{url}/status", json={"status": {"phase": "Running",
                                                                     "zz": 1}},
                                   headers=MERGE), 200)
    await _expect(await http.delete(f"{url}?gracePeriodSeconds=0"), 200)


async def settled(api: InProcessApi) -> int:
    """Traced bytes once the store's history is compacted and garbage collected."""
    store = api.registry.store
    await store.compact(await store.current_revision())
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def test_write_paths_keep_no_memory(api: InProcessApi) -> None:
    async with aiohttp.ClientSession(api.url) as http:
        for i in range(30):  # warm up: the cache, memoised schema and paths
            await cycle(http, i)
        tracemalloc.start()
        try:
            base = await settled(api)
            for i in range(30, 130):
                await cycle(http, i)
            gc.collect()
            kept = tracemalloc.get_traced_memory()[0] - base
            after = await settled(api) - base
        finally:
            tracemalloc.stop()
    # 100 cycles wrote ~700 revisions of ~20 KB: the history holds several MiB of them...
    assert kept > 100 * 4 * BLOB, kept
    # ...and with it compacted nothing is left: a leak of one object per cycle would be
    # 2 MiB, of one request's small state per request ~1 MiB.
    assert after < 512 * 1024, f"{after} bytes kept after 100 cycles"


async def test_watch_hub_buffer_is_bounded_in_bytes() -> None:
    """The hub's ring buffer (10,000 events by default) also stops at ``buffer_bytes``: each
    event holds a value and its previous one, and the pods hub of a live cluster is always
    open (kubelets, controllers), so large objects would otherwise pin up to 10,000 x 2
    values whatever the store compacts."""
    backend = MemoryBackend()
    hub = WatchHub(backend, "/registry/x/", buffer_bytes=2**20)
    hub.start()
    sub = hub.subscribe(await backend.current_revision(), queue_size=100_000)
    blob = b"y" * 50_000
    try:
        kv = await backend.create("/registry/x/a", blob)
        got = [(await anext(sub)).revision]
        gc.collect()
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            for i in range(300):  # 600 values of 50 KB: 30 MB without the byte bound
                kv = await backend.update("/registry/x/a", blob + b"%d" % i,
                                          expected_revision=kv.mod_revision)
                got.append((await anext(sub)).revision)
            await backend.compact(await backend.current_revision())
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - base
        finally:
            tracemalloc.stop()
        assert got == list(range(1, 302))  # nothing missed
        assert grown < 3 * 2**20, f"{grown} bytes kept by the hub"
        # A subscriber from before the buffer's start still gets every event (from the store).
        for _ in range(30):
            kv = await backend.update("/registry/x/a", blob, expected_revision=kv.mod_revision)
        late = hub.subscribe(305, queue_size=100)
        assert (await anext(late)).revision == 306
    finally:
        await hub.close()
        await backend.close()


@pytest.mark.etcd
async def test_etcd_history_is_compacted(tmp_path: Path) -> None:
    """Nothing else compacts etcd (kube-apiserver does it every 5 minutes): the backend keeps
    one to two ``compact_interval`` of history, older revisions are Gone, values stay. An
    etcd of its own: compaction is cluster-wide and would surprise the session's other tests."""
    etcd = EtcdProcess(tmp_path / "etcd")
    etcd.start()
    backend = await open_etcd(f"{etcd.url}?compact_interval=0.3")
    try:
        kv = await backend.create("/registry/c/a", b"0")
        for i in range(20):
            kv = await backend.update("/registry/c/a", b"%d" % i,
                                      expected_revision=kv.mod_revision)
        old = kv.mod_revision - 5
        await backend.list("/registry/c/", revision=old)  # readable now
        deadline = asyncio.get_running_loop().time() + 10
        while True:
            try:
                await backend.list("/registry/c/", revision=old)
            except Gone:
                break
            assert asyncio.get_running_loop().time() < deadline, "never compacted"
            await asyncio.sleep(0.1)
        assert (await backend.get("/registry/c/a")).value == b"19"
    finally:
        await backend.close()
        etcd.stop()


def test_shared_decode_and_line_caches_stop_at_a_byte_budget() -> None:
    """512 large objects would pin gigabytes: both caches of WatchHubs also stop at
    _CACHE_BYTES, evicting the oldest entries first."""
    import json as _json

    from minikube8s.api.resources import require
    from minikube8s.roles.apiserver import watch as watch_mod
    from minikube8s.roles.apiserver.params import Target
    from minikube8s.store.base import Event, EventType, KeyValue
    from minikube8s.store.memory import MemoryBackend

    hubs = watch_mod.WatchHubs(MemoryBackend())
    pods = require("pods")
    target = Target(resource=pods, version="v1", namespace="default", name="")
    big = "x" * (1024 * 1024)
    for rev in range(1, 101):
        obj = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": f"p{rev}", "namespace": "default", "uid": str(rev),
                            "annotations": {"big": big}}}
        kv = KeyValue(key=f"/registry/pods/default/p{rev}", value=_json.dumps(obj).encode(),
                      create_revision=rev, mod_revision=rev)
        hubs.decoded(kv)
        hubs.line(Event(type=EventType.CREATE, kv=kv, prev=None, revision=rev), "ADDED", target)
    limit = watch_mod._CACHE_BYTES
    assert 0 < hubs._decoded_bytes <= limit and 0 < hubs._encoded_bytes <= limit
    assert len(hubs._decoded) <= limit // (1024 * 1024) and len(hubs._encoded) < 100
    assert hubs._encoded_bytes == sum(len(v) for v in hubs._encoded.values())
