"""Every write endpoint with mutated valid objects: only 2xx or 4xx Statuses, memory bounded.

For each writable resource of api/resources.py, hypothesis mutates the valid object of
objects.py and sends it with POST, PUT and PATCH (merge, strategic merge, JSON patch, and
server-side apply) in the v1 and, for core kinds, the seed's v1beta3 dialect, as JSON or
YAML; then to the subresources (status, scale, binding, eviction, finalize). The in-process
API server (memory store) runs in a thread of this process, so its memory is ours: the
resident set may not grow past a fixed bound while the examples run.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from minikube8s.api.resources import ALL, Resource
from tests.fuzz import objects
from tests.fuzz.harness import (
    APPLY,
    JSON,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    YAML,
    Server,
    check_answer,
    fuzz_server,
)
from tests.fuzz.profiles import fuzz

__all__ = ["fuzz_server"]

NS = "fuzz"
RSS_GROWTH_LIMIT = 400 * 2**20
"""What the whole module may add to the process: stored objects (each under the 3 MiB body
limit) and the watch cache legitimately grow it; a leak or a blow-up goes far past this."""

WRITABLE = [r for r in ALL if "create" in r.verbs and r.name != "bindings"]


def rss() -> int:
    with open(f"/proc/{os.getpid()}/status") as f:
        m = re.search(r"VmRSS:\s+(\d+) kB", f.read())
    assert m is not None
    return int(m.group(1)) * 1024


@pytest.fixture(scope="module")
def start_rss() -> int:
    return rss()


def collection(res: Resource, version: str = "") -> str:
    version = version or res.version
    base = f"/apis/{res.group}/{version}" if res.group else f"/api/{version}"
    return f"{base}/namespaces/{NS}/{res.name}" if res.namespaced else f"{base}/{res.name}"


def item(res: Resource, version: str = "") -> str:
    return f"{collection(res, version)}/{objects.VALID[res.name]['metadata']['name']}"


@pytest.fixture(scope="module")
def seeded(fuzz_server: Server, start_rss: int) -> Iterator[Server]:
    """The namespace ``fuzz`` and one valid object of each kind in it."""
    ans = fuzz_server.json("POST", "/api/v1/namespaces",
                           {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    assert ans.status == 201, ans.body
    for res in WRITABLE:
        ans = fuzz_server.json("POST", collection(res), objects.VALID[res.name])
        assert ans.status == 201, (res.name, ans.body)
    yield fuzz_server


def _within_memory(start: int) -> None:
    grown = rss() - start
    assert grown < RSS_GROWTH_LIMIT, f"resident set grew by {grown // 2**20} MiB"


def _encode(obj: Any, as_yaml: bool) -> tuple[bytes, str]:
    if as_yaml:
        return yaml.safe_dump(obj, allow_unicode=True).encode(), YAML
    return json.dumps(obj).encode(), JSON


def test_valid_objects_are_accepted(seeded: Server) -> None:
    for res in WRITABLE:
        ans = seeded.request("GET", item(res))
        body = check_answer(ans)
        assert ans.status == 200 and body["kind"] == res.kind


@pytest.mark.parametrize("res", WRITABLE, ids=[r.name for r in WRITABLE])
@given(data=st.data())
@fuzz(25)
def test_mutated_writes(seeded: Server, start_rss: int, res: Resource,
                        data: st.DataObject) -> None:
    base = objects.VALID[res.name]
    version = res.version
    if not res.group:
        version = data.draw(st.sampled_from(["v1", "v1", "v1beta3"]), label="version")
    api_version = f"{res.group}/{version}" if res.group else version
    obj = data.draw(objects.mutated(base, api_version=api_version), label="object")
    as_yaml = data.draw(st.booleans(), label="yaml")

    # POST under a fresh name now and then, so some creates get past AlreadyExists.
    post = obj
    if isinstance(obj.get("metadata"), dict) and data.draw(st.booleans(), label="fresh"):
        post = {**obj, "metadata": {**obj["metadata"],
                                    "name": f"f{data.draw(st.integers(0, 10**6))}"}}
    body, ctype = _encode(post, as_yaml)
    check_answer(seeded.request("POST", collection(res, version), body, ctype))

    body, ctype = _encode(obj, as_yaml)
    check_answer(seeded.request("PUT", item(res, version), body, ctype))

    patch_type = data.draw(st.sampled_from([MERGE, STRATEGIC, JSON_PATCH, APPLY]),
                           label="patch type")
    if patch_type == JSON_PATCH:
        patch: Any = data.draw(objects.json_patches(base), label="json patch")
        payload = json.dumps(patch).encode()
    elif patch_type == APPLY:
        payload = yaml.safe_dump(obj, allow_unicode=True).encode()
    else:
        payload = json.dumps(obj).encode()
    path = item(res, version) + ("?fieldManager=fuzz" if patch_type == APPLY else "")
    check_answer(seeded.request("PATCH", path, payload, patch_type))
    _within_memory(start_rss)


STATUS_RESOURCES = ["pods", "replicationcontrollers", "services", "nodes", "namespaces",
                    "resourcequotas"]


@given(data=st.data())
@fuzz(80)
def test_mutated_subresource_writes(seeded: Server, start_rss: int,
                                    data: st.DataObject) -> None:
    by_name = {r.name: r for r in ALL}
    sub = data.draw(st.sampled_from(["status", "scale", "binding", "eviction", "finalize"]),
                    label="subresource")
    if sub == "status":
        res = by_name[data.draw(st.sampled_from(STATUS_RESOURCES), label="resource")]
        base = objects.VALID[res.name]
    elif sub == "scale":
        res, base = by_name["replicationcontrollers"], objects.SCALE
    elif sub == "finalize":
        res, base = by_name["namespaces"], objects.VALID["namespaces"]
    else:
        res = by_name["pods"]
        base = objects.BINDING if sub == "binding" else objects.EVICTION
    obj = data.draw(objects.mutated(base), label="object")
    path = f"{item(res)}/{sub}"
    if sub == "eviction":
        # A pod of its own: an eviction that goes through deletes it.
        evictee = {**objects.VALID["pods"], "metadata": {"name": "fuzz-evictee"}}
        ans = seeded.json("POST", collection(res), evictee)
        assert ans.status in (201, 409), ans.body
        path = f"{collection(res)}/fuzz-evictee/eviction"
    if sub in ("binding", "eviction"):
        check_answer(seeded.json("POST", path, obj))
    else:
        method = data.draw(st.sampled_from(["PUT", "PATCH"]), label="method")
        if method == "PUT":
            check_answer(seeded.json("PUT", path, obj))
        elif sub != "finalize":
            patch_type = data.draw(st.sampled_from([MERGE, STRATEGIC, JSON_PATCH]))
            patch: Any = obj if patch_type != JSON_PATCH else data.draw(
                objects.json_patches(base))
            check_answer(seeded.json("PATCH", path, patch, patch_type))
    # Bindings succeed once per pod; put the pod back unbound for the next example.
    if sub == "binding":
        check_answer(seeded.json("DELETE", item(res) + "?gracePeriodSeconds=0", {}))
        ans = seeded.json("POST", collection(res), objects.VALID["pods"])
        assert ans.status in (201, 409), ans.body
    _within_memory(start_rss)


@given(data=st.data())
@fuzz(60)
def test_collection_and_item_urls_with_bad_names(seeded: Server, data: st.DataObject) -> None:
    """Names with bad characters in the URL and the body: 4xx, and never another object."""
    res = data.draw(st.sampled_from(WRITABLE), label="resource")
    name = data.draw(st.text(alphabet="aZ09-._~%:@!$&'()*+,;= \u00e9\u540d", min_size=1,
                             max_size=30), label="name")
    from urllib.parse import quote

    obj = {**objects.VALID[res.name], "metadata": {"name": name}}
    url = f"{collection(res)}/{quote(name, safe='')}"
    for method in ("PUT", "PATCH", "GET", "DELETE"):
        ctype = MERGE if method == "PATCH" else JSON
        check_answer(seeded.json(method, url, obj if method != "DELETE" else {}, ctype))
    check_answer(seeded.json("POST", collection(res), obj))
