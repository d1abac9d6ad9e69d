"""The API server keeps nothing per request: what a long run adds is the store's history.

A thorough fuzz run (tests/fuzz/test_writes.py) grew its process by hundreds of MiB. The
cause is the ``memory://`` store keeping every revision (100,000 by default, one value per
write) plus hypothesis' own state, not a leak: with the history compacted, hundreds of cycles
of every write path (create with unknown fields, update, each patch type, apply, status,
v1beta3, YAML, watches, 4xx answers, delete) leave the traced memory where it was. Measured
with tracemalloc after a garbage collection, against a server on its own client session
(aiohttp's TestClient keeps every response it made until it closes).
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from typing import Any

import aiohttp

from minikube8s.store.fanout import WatchHub
from minikube8s.store.memory import MemoryBackend
from tests.fixtures.apiserver import InProcessApi

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
