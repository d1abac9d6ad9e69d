"""REST CRUD and error Statuses at the HTTP level, against the in-process API server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.fixtures.apiserver import InProcessApi

PODS = "/api/v1/namespaces/default/pods"


def pod(name: str, **labels: str) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name}
    if labels:
        md["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md,
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


async def create(api: InProcessApi, obj: dict[str, Any], path: str = PODS) -> dict[str, Any]:
    r = await api.http.post(path, json=obj)
    body = await r.json()
    assert r.status == 201, body
    return dict(body)


async def test_create_get_list_delete(api: InProcessApi) -> None:
    created = await create(api, pod("p1"))
    md = created["metadata"]
    assert md["namespace"] == "default" and md["uid"] and md["resourceVersion"].isdigit()
    assert created["status"]["phase"] == "Pending"

    r = await api.http.get(f"{PODS}/p1")
    assert r.status == 200
    assert (await r.json())["metadata"]["resourceVersion"] == md["resourceVersion"]

    r = await api.http.get(PODS + "/")
    lst = await r.json()
    assert lst["kind"] == "PodList" and lst["apiVersion"] == "v1"
    assert [i["metadata"]["name"] for i in lst["items"]] == ["p1"]
    assert int(lst["metadata"]["resourceVersion"]) >= int(md["resourceVersion"])

    r = await api.http.get("/api/v1/pods")  # cluster-wide
    assert [i["metadata"]["name"] for i in (await r.json())["items"]] == ["p1"]

    r = await api.http.delete(f"{PODS}/p1")  # unscheduled: deleted at once
    assert r.status == 200
    assert (await r.json())["metadata"]["name"] == "p1"
    r = await api.http.get(f"{PODS}/p1")
    assert r.status == 404


async def test_post_without_content_type_is_json(api: InProcessApi) -> None:
    import json

    r = await api.http.post(PODS, data=json.dumps(pod("raw")).encode(),
                            headers={"Content-Type": ""})
    assert r.status == 201, await r.text()


async def test_yaml_body(api: InProcessApi) -> None:
    body = b"apiVersion: v1\nkind: Pod\nmetadata: {name: y1}\nspec:\n  containers:\n" \
           b"  - {name: c, image: nginx}\n"
    r = await api.http.post(PODS, data=body, headers={"Content-Type": "application/yaml"})
    assert r.status == 201, await r.text()


async def test_not_found_status(api: InProcessApi) -> None:
    r = await api.http.get(f"{PODS}/p9")
    assert r.status == 404
    st = await r.json()
    assert st["kind"] == "Status" and st["reason"] == "NotFound"
    assert st["message"] == 'pods "p9" not found'
    assert st["details"] == {"name": "p9", "kind": "pods"}


async def test_already_exists(api: InProcessApi) -> None:
    await create(api, pod("dup"))
    r = await api.http.post(PODS, json=pod("dup"))
    assert r.status == 409
    st = await r.json()
    assert st["reason"] == "AlreadyExists"
    assert st["message"] == 'pods "dup" already exists'


async def test_update_conflict_and_unconditional(api: InProcessApi) -> None:
    p = await create(api, pod("u1"))
    p["metadata"]["labels"] = {"a": "1"}
    r = await api.http.put(f"{PODS}/u1", json=p)
    assert r.status == 200, await r.text()
    updated = await r.json()
    assert updated["metadata"]["labels"] == {"a": "1"}
    assert int(updated["metadata"]["resourceVersion"]) > int(p["metadata"]["resourceVersion"])
    # the stale resourceVersion loses
    r = await api.http.put(f"{PODS}/u1", json=p)
    assert r.status == 409
    st = await r.json()
    assert st["reason"] == "Conflict"
    assert st["message"] == ('Operation cannot be fulfilled on pods "u1": the object has been '
                             "modified; please apply your changes to the latest version and "
                             "try again")
    # without a resourceVersion the update is unconditional
    del p["metadata"]["resourceVersion"]
    p["metadata"]["labels"] = {"a": "2"}
    r = await api.http.put(f"{PODS}/u1", json=p)
    assert r.status == 200
    assert (await r.json())["metadata"]["labels"] == {"a": "2"}


async def test_update_missing_is_404(api: InProcessApi) -> None:
    r = await api.http.put(f"{PODS}/nope", json=pod("nope"))
    assert r.status == 404


async def test_body_checks(api: InProcessApi) -> None:
    p = pod("ns1")
    p["metadata"]["namespace"] = "other"
    r = await api.http.post(PODS, json=p)
    assert r.status == 400
    assert "does not match the namespace" in (await r.json())["message"]
    r = await api.http.post(PODS, json={**pod("k"), "kind": "Service"})
    assert r.status == 400
    r = await api.http.post(PODS, data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert (await r.json())["reason"] == "BadRequest"
    r = await api.http.put(f"{PODS}/other", json=pod("p"))
    assert r.status == 400


async def test_too_large_is_413(api: InProcessApi) -> None:
    big = pod("big")
    big["metadata"]["annotations"] = {"x": "a" * (3 * 1024 * 1024 + 10)}
    r = await api.http.post(PODS, json=big)
    assert r.status == 413
    st = await r.json()
    assert st["reason"] == "RequestEntityTooLarge" and st["code"] == 413


async def test_unknown_path_and_method(api: InProcessApi) -> None:
    for path in ("/nope", "/api/v1/frobs", "/api/v2/pods", "/api/v1/namespaces/default/pods/a/b/c"):
        r = await api.http.get(path)
        assert r.status == 404, path
        assert (await r.json())["kind"] == "Status"
    r = await api.http.post("/api/v1/pods", json=pod("x"))  # no namespace: list/watch only
    assert r.status == 405
    assert (await r.json())["reason"] == "MethodNotAllowed"
    r = await api.http.request("OPTIONS", f"{PODS}/x")
    assert r.status == 405


async def test_trailing_slashes_and_health(api: InProcessApi) -> None:
    for path in ("/healthz", "/livez/", "/readyz", "/version/", "/api/", "/api/v1/"):
        r = await api.http.get(path)
        assert r.status == 200, path


async def test_invalid_is_422_with_causes(api: InProcessApi) -> None:
    bad = pod("Bad_Name")
    bad["spec"]["containers"][0].pop("image")
    r = await api.http.post(PODS, json=bad)
    assert r.status == 422, await r.text()
    st = await r.json()
    assert st["reason"] == "Invalid" and st["details"]["kind"] == "Pod"
    fields = {c["field"] for c in st["details"]["causes"]}
    assert "metadata.name" in fields


async def test_generate_name(api: InProcessApi) -> None:
    p = pod("")
    p["metadata"] = {"generateName": "web-"}
    created = await create(api, p)
    assert created["metadata"]["name"].startswith("web-")
    assert len(created["metadata"]["name"]) == len("web-") + 5


async def test_cluster_scoped(api: InProcessApi) -> None:
    r = await api.http.post("/api/v1/nodes", json={"kind": "Node", "apiVersion": "v1",
                                                   "metadata": {"name": "n1"}})
    assert r.status == 201, await r.text()
    node = await r.json()
    assert "namespace" not in node["metadata"]
    r = await api.http.get("/api/v1/nodes/n1")
    assert r.status == 200
    r = await api.http.get("/api/v1/namespaces/default/nodes")
    assert r.status == 404
    r = await api.http.get("/api/v1/namespaces/default")
    assert r.status == 200 and (await r.json())["kind"] == "Namespace"


async def test_unexpected_exception_is_500_status(api: InProcessApi) -> None:
    async def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("kaput")

    api.registry.get = boom  # type: ignore[method-assign]
    api.registry.get_cached = boom  # type: ignore[method-assign]  # what GET calls
    r = await api.http.get(f"{PODS}/x")
    assert r.status == 500
    st = await r.json()
    assert st["kind"] == "Status" and st["reason"] == "InternalError"


SEED = Path(__file__).resolve().parents[2] / "examples" / "seed"
RC_TEXT = (SEED / "nginx_rc.yaml").read_text()
SVC_TEXT = (SEED / "nginx_service.yaml").read_text()


async def test_seed_v1beta3_manifests(api: InProcessApi) -> None:
    """The seed's v1beta3 RC and Service create v1 objects; dropped fields come back as
    Warning headers, even with fieldValidation=Strict (kubectl's default)."""
    rc = yaml.safe_load(RC_TEXT)
    r = await api.http.post("/api/v1beta3/namespaces/default/replicationcontrollers",
                            json=rc, params={"fieldValidation": "Strict"})
    body = await r.json()
    assert r.status == 201, body
    assert body["apiVersion"] == "v1beta3"
    warnings = " ".join(r.headers.getall("Warning", []))
    assert "portals" in warnings and "enabled" in warnings
    stored = await (await api.http.get(
        "/api/v1/namespaces/default/replicationcontrollers/nginx-controller")).json()
    assert stored["apiVersion"] == "v1"
    probe = stored["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert probe["httpGet"]["port"] == 80 and probe["timeoutSeconds"] == 5

    svc = yaml.safe_load(SVC_TEXT)
    r = await api.http.post("/api/v1beta3/namespaces/default/services", json=svc)
    assert r.status == 201, await r.text()
    stored = await (await api.http.get("/api/v1/namespaces/default/services/nginx")).json()
    assert stored["spec"]["externalIPs"] == ["12.0.0.5"]
    assert stored["spec"]["clusterIP"].startswith("192.168.3.")
    # a v1beta3 body under a v1 URL is refused, as Kubernetes does
    r = await api.http.post("/api/v1/namespaces/default/services", json=svc)
    assert r.status == 400
