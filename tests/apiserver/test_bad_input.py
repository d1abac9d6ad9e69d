"""Regressions the write-endpoint fuzzing (tests/fuzz/test_writes.py) found: each of these
requests was a 500 InternalError (or a dropped connection) before its fix."""

from __future__ import annotations

from typing import Any

import pytest

from tests.apiserver.test_crud import PODS, create, pod
from tests.fixtures.apiserver import InProcessApi

MERGE = {"Content-Type": "application/merge-patch+json"}
NAMESPACES = "/api/v1/namespaces"


async def status_of(resp: Any, code: int) -> dict[str, Any]:
    body = await resp.json()
    assert resp.status == code, body
    assert body["kind"] == "Status" and body["code"] == code
    return dict(body)


@pytest.mark.parametrize("metadata", [1, "x", [], True])
async def test_put_with_non_object_metadata_is_400(api: InProcessApi, metadata: Any) -> None:
    # Cluster-scoped kinds skipped check_namespace, which replaced a bad metadata: .get crashed.
    await create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n1"}},
                 NAMESPACES)
    r = await api.http.put(f"{NAMESPACES}/n1", json={"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": metadata})
    body = await status_of(r, 400)
    assert "cannot unmarshal" in body["message"] and "Namespace.metadata" in body["message"]


async def test_put_with_null_metadata_takes_the_name_from_the_url(api: InProcessApi) -> None:
    await create(api, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n2"}},
                 NAMESPACES)
    r = await api.http.put(f"{NAMESPACES}/n2", json={"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": None})
    assert r.status == 200, await r.text()


async def test_merge_patch_replacing_metadata_with_a_number_is_400(api: InProcessApi) -> None:
    await create(api, pod("p1"))
    r = await api.http.patch(f"{PODS}/p1", json={"metadata": 1}, headers=MERGE)
    await status_of(r, 400)


async def test_limitrange_with_wrong_typed_max_is_not_a_500(api: InProcessApi) -> None:
    lr = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "l"},
          "spec": {"limits": [{"type": "Container", "max": [1], "min": True}]}}
    r = await api.http.post("/api/v1/namespaces/default/limitranges", json=lr)
    body = await status_of(r, 400)  # Go's decoder refuses it, before validation
    assert body["message"].endswith("json: cannot unmarshal array into Go struct field "
                                    "LimitRangeItem.spec.limits.max of type "
                                    "map[string]resource.Quantity"), body


async def test_unknown_field_with_a_newline_is_a_safe_warning(api: InProcessApi) -> None:
    # The Warning header quoted the field name raw; aiohttp refused the CR/LF and dropped the
    # connection instead of answering.
    obj = pod("p2")
    obj["spec"]["bad\r\nX-Injected: 1"] = 1
    obj["spec"]["x" * 5000] = 1
    r = await api.http.post(PODS, json=obj)
    assert r.status == 201, await r.text()
    warnings = r.headers.getall("Warning")
    assert "X-Injected" not in r.headers
    assert any("\\u000d\\u000aX-Injected" in w for w in warnings)
    assert all(len(w) < 300 for w in warnings)


async def test_many_unknown_fields_keep_the_warning_headers_bounded(api: InProcessApi) -> None:
    obj = pod("p3")
    for i in range(2000):
        obj["spec"][f"unknown{i}"] = i
    r = await api.http.post(PODS, json=obj)
    assert r.status == 201
    assert sum(len(w) for w in r.headers.getall("Warning")) <= 4096
    # Short ones too: http.client (the kubernetes Python client) refuses > 100 header lines.
    obj = pod("p6")
    for i in range(300):
        obj["spec"][f"u{i}"] = i
    r = await api.http.post(PODS, json=obj)
    assert r.status == 201
    assert len(r.headers.getall("Warning")) <= 50


@pytest.mark.parametrize("binding", [
    {"metadata": "x", "target": {"name": "n1"}},
    {"metadata": {"name": "p4"}, "target": "n1"},
    {"metadata": {"name": "p4"}, "target": {"name": ["n1"]}},
    {"metadata": {"annotations": [1]}, "target": {"name": "n1"}},
    {"metadata": {"annotations": {"a": 1}}, "target": {"name": "n1"}},
    {"target": {"name": "n1", "kind": {"x": 1}}},
])
async def test_binding_with_wrong_typed_fields_is_400(api: InProcessApi,
                                                      binding: dict[str, Any]) -> None:
    await create(api, pod("p4"))
    r = await api.http.post(f"{PODS}/p4/binding",
                            json={"apiVersion": "v1", "kind": "Binding", **binding})
    body = await status_of(r, 400)
    assert "cannot unmarshal" in body["message"]
    got = await (await api.http.get(f"{PODS}/p4")).json()
    assert not got["spec"].get("nodeName")


async def test_scale_and_eviction_with_wrong_typed_fields_are_400(api: InProcessApi) -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
          "spec": {"replicas": 1, "selector": {"a": "b"},
                   "template": {"metadata": {"labels": {"a": "b"}},
                                "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    await create(api, rc, "/api/v1/namespaces/default/replicationcontrollers")
    scale = "/api/v1/namespaces/default/replicationcontrollers/rc/scale"
    for body in ({"spec": "x"}, {"spec": {"replicas": 1}, "metadata": 7}):
        await status_of(await api.http.put(scale, json=body), 400)
    r = await api.http.patch(scale, json=[{"op": "replace", "path": "", "value": 1}],
                             headers={"Content-Type": "application/json-patch+json"})
    await status_of(r, 400)
    await create(api, pod("p5"))
    bodies: list[dict[str, Any]] = [{"deleteOptions": "x"},
                                    {"deleteOptions": {"gracePeriodSeconds": True}}]
    for body in bodies:
        await status_of(await api.http.post(f"{PODS}/p5/eviction", json=body), 400)
