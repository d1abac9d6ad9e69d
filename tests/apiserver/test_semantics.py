"""Pagination, selectors, graceful deletion, finalizers, subresources, fieldValidation, patches."""

from __future__ import annotations

import json
from typing import Any

from tests.apiserver.test_crud import PODS, create, pod
from tests.fixtures.apiserver import InProcessApi

MERGE = {"Content-Type": "application/merge-patch+json"}


async def names(api: InProcessApi, path: str, **params: str) -> list[str]:
    r = await api.http.get(path, params=params)
    body = await r.json()
    assert r.status == 200, body
    return [i["metadata"]["name"] for i in body["items"]]


async def test_pagination(api: InProcessApi) -> None:
    for i in range(7):
        await create(api, pod(f"p{i}", tier="a" if i % 2 else "b"))
    seen: list[str] = []
    token = ""
    rvs = set()
    while True:
        params = {"limit": "3"}
        if token:
            params["continue"] = token
        body = await (await api.http.get(PODS, params=params)).json()
        seen += [i["metadata"]["name"] for i in body["items"]]
        rvs.add(body["metadata"]["resourceVersion"])
        token = body["metadata"].get("continue", "")
        if not token:
            break
        # writes between pages do not show up: the list is read at one revision
        await create(api, pod(f"late{len(seen)}"))
    assert seen == [f"p{i}" for i in range(7)]
    assert len(rvs) == 1
    # pagination with a selector fills pages with matches only
    body = await (await api.http.get(PODS, params={"limit": "2",
                                                    "labelSelector": "tier=a"})).json()
    assert [i["metadata"]["name"] for i in body["items"]] == ["p1", "p3"]
    rest = await names(api, PODS, labelSelector="tier=a", limit="5",
                       **{"continue": body["metadata"]["continue"]})
    assert rest == ["p5"]


async def test_expired_continue_is_410(api: InProcessApi) -> None:
    for i in range(4):
        await create(api, pod(f"e{i}"))
    body = await (await api.http.get(PODS, params={"limit": "2"})).json()
    token = body["metadata"]["continue"]
    await create(api, pod("bump"))
    await api.registry.store.compact(await api.registry.store.current_revision())
    r = await api.http.get(PODS, params={"limit": "2", "continue": token})
    assert r.status == 410
    st = await r.json()
    assert st["reason"] == "Expired"
    assert st["message"].startswith("The provided continue parameter is too old")
    r = await api.http.get(PODS, params={"continue": "garbage!"})
    assert r.status == 400


async def test_selectors(api: InProcessApi) -> None:
    await create(api, pod("l1", app="web", tier="fe"))
    await create(api, pod("l2", app="web", tier="be"))
    await create(api, pod("l3", app="db"))
    assert await names(api, PODS, labelSelector="app=web") == ["l1", "l2"]
    assert await names(api, PODS, labelSelector="app=web,tier!=fe") == ["l2"]
    assert await names(api, PODS, labelSelector="tier in (fe,be)") == ["l1", "l2"]
    assert await names(api, PODS, labelSelector="!tier") == ["l3"]
    assert await names(api, PODS, fieldSelector="metadata.name=l3") == ["l3"]
    assert await names(api, "/api/v1/pods", fieldSelector="metadata.namespace=default",
                       labelSelector="app=db") == ["l3"]
    r = await api.http.get(PODS, params={"labelSelector": "a in (("})
    assert r.status == 400
    r = await api.http.get(PODS, params={"fieldSelector": "spec.bogus=1"})
    assert r.status == 400


async def test_graceful_pod_deletion(api: InProcessApi) -> None:
    await create(api, pod("g1"))
    # scheduling it makes deletion graceful
    r = await api.http.post(f"{PODS}/g1/binding", json={
        "apiVersion": "v1", "kind": "Binding", "metadata": {"name": "g1"},
        "target": {"kind": "Node", "name": "n1"}})
    assert r.status == 201, await r.text()
    r = await api.http.delete(f"{PODS}/g1", json={"propagationPolicy": "Background"})
    assert r.status == 200
    body = await r.json()
    assert body["metadata"]["deletionTimestamp"]
    assert body["metadata"]["deletionGracePeriodSeconds"] == 30
    # still there until the kubelet deletes with grace 0
    got = await (await api.http.get(f"{PODS}/g1")).json()
    assert got["metadata"]["deletionGracePeriodSeconds"] == 30
    r = await api.http.delete(f"{PODS}/g1", params={"gracePeriodSeconds": "0"})
    assert r.status == 200
    assert (await api.http.get(f"{PODS}/g1")).status == 404


async def test_binding_twice_is_conflict(api: InProcessApi) -> None:
    await create(api, pod("b1"))
    binding = {"metadata": {"name": "b1"}, "target": {"kind": "Node", "name": "n1"}}
    r = await api.http.post("/api/v1/namespaces/default/bindings", json=binding)
    assert r.status == 201, await r.text()
    got = await (await api.http.get(f"{PODS}/b1")).json()
    assert got["spec"]["nodeName"] == "n1"
    assert [c["type"] for c in got["status"]["conditions"]] == ["PodScheduled"]
    r = await api.http.post(f"{PODS}/b1/binding", json=binding)
    assert r.status == 409
    assert 'already assigned to node "n1"' in (await r.json())["message"]


async def test_finalizers_hold_deletion(api: InProcessApi) -> None:
    svc = {"apiVersion": "v1", "kind": "Endpoints",
           "metadata": {"name": "fin", "finalizers": ["example.com/hold"]}}
    await create(api, svc, path="/api/v1/namespaces/default/endpoints")
    path = "/api/v1/namespaces/default/endpoints/fin"
    r = await api.http.delete(path)
    assert r.status == 200
    assert (await r.json())["metadata"]["deletionTimestamp"]
    assert (await api.http.get(path)).status == 200
    r = await api.http.patch(path, json={"metadata": {"finalizers": None}}, headers=MERGE)
    assert r.status == 200, await r.text()
    assert (await api.http.get(path)).status == 404


async def test_status_subresource(api: InProcessApi) -> None:
    p = await create(api, pod("st"))
    # the main resource ignores status
    p["status"] = {"phase": "Running"}
    r = await api.http.put(f"{PODS}/st", json=p)
    assert (await r.json())["status"]["phase"] == "Pending"
    # the status subresource changes only status
    cur = await (await api.http.get(f"{PODS}/st")).json()
    cur["status"] = {"phase": "Running", "podIP": "172.16.0.5"}
    cur["metadata"]["labels"] = {"ignored": "yes"}
    r = await api.http.put(f"{PODS}/st/status", json=cur)
    body = await r.json()
    assert r.status == 200, body
    assert body["status"]["phase"] == "Running"
    assert "ignored" not in (body["metadata"].get("labels") or {})
    r = await api.http.patch(f"{PODS}/st/status", json={"status": {"phase": "Succeeded"}},
                             headers=MERGE)
    assert (await r.json())["status"]["phase"] == "Succeeded"
    r = await api.http.get(f"{PODS}/st/status")
    assert (await r.json())["status"]["phase"] == "Succeeded"


async def test_log_and_exec_need_a_kubelet(api: InProcessApi) -> None:
    await create(api, pod("lg"))
    r = await api.http.get(f"{PODS}/lg/log")
    assert r.status == 400
    await api.http.post(f"{PODS}/lg/binding", json={"target": {"kind": "Node", "name": "n9"}})
    r = await api.http.get(f"{PODS}/lg/log")
    assert r.status == 503
    assert (await r.json())["message"] == "node n9 of pod lg is not registered; no kubelet to ask"
    r = await api.http.post(f"{PODS}/lg/exec", params={"command": "ls"})
    assert r.status == 503


async def test_field_validation(api: InProcessApi) -> None:
    p = pod("fv")
    p["spec"]["foo"] = 1
    r = await api.http.post(PODS, json=p, params={"fieldValidation": "Strict"})
    assert r.status == 400
    assert 'strict decoding error: unknown field "spec.foo"' in (await r.json())["message"]
    r = await api.http.post(PODS, json=p)  # default Warn
    assert r.status == 201
    assert r.headers.getall("Warning") == ['299 - "unknown field \\"spec.foo\\""']
    p["metadata"]["name"] = "fv2"
    r = await api.http.post(PODS, json=p, params={"fieldValidation": "Ignore"})
    assert r.status == 201
    assert "Warning" not in r.headers


async def test_patch_types(api: InProcessApi) -> None:
    rcs = "/api/v1/namespaces/default/replicationcontrollers"
    rc = rc_body("pt")
    rc["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    await create(api, rc, path=rcs)
    url = f"{rcs}/pt"
    r = await api.http.patch(url, data=json.dumps({"spec": {"template": {"spec": {
        "containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]}}}}),
        headers={"Content-Type": "application/strategic-merge-patch+json"})
    body = await r.json()
    assert r.status == 200, body
    env = body["spec"]["template"]["spec"]["containers"][0]["env"]
    assert sorted(e["name"] for e in env) == ["A", "B"]
    r = await api.http.patch(url, data=json.dumps(
        [{"op": "replace", "path": "/metadata/labels", "value": {"j": "1"}}]),
        headers={"Content-Type": "application/json-patch+json"})
    assert (await r.json())["metadata"]["labels"] == {"j": "1"}
    r = await api.http.patch(url, data=b"{}", headers={"Content-Type": "text/plain"})
    assert r.status == 415
    assert (await r.json())["reason"] == "UnsupportedMediaType"
    # a stale resourceVersion in a patch is a conflict
    r = await api.http.patch(url, json={"metadata": {"resourceVersion": "1",
                                                     "labels": {"x": "y"}}}, headers=MERGE)
    assert r.status == 409
    r = await api.http.patch(f"{rcs}/missing", json={}, headers=MERGE)
    assert r.status == 404


async def test_server_side_apply(api: InProcessApi) -> None:
    doc = ("apiVersion: v1\nkind: ConfigMapLike\n").replace("ConfigMapLike", "Pod") + \
        "metadata: {name: ssa, labels: {a: '1'}}\nspec:\n  containers:\n" \
        "  - {name: c, image: nginx}\n"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    r = await api.http.patch(f"{PODS}/ssa", data=doc.encode(), headers=headers)
    assert r.status == 400  # fieldManager is required
    r = await api.http.patch(f"{PODS}/ssa", data=doc.encode(), headers=headers,
                             params={"fieldManager": "test"})
    assert r.status == 201, await r.text()
    doc2 = doc.replace("a: '1'", "a: '2'")
    r = await api.http.patch(f"{PODS}/ssa", data=doc2.encode(), headers=headers,
                             params={"fieldManager": "test"})
    assert r.status == 200, await r.text()
    assert (await r.json())["metadata"]["labels"] == {"a": "2"}


async def test_delete_collection(api: InProcessApi) -> None:
    for i in range(3):
        await create(api, pod(f"dc{i}", grp="x" if i < 2 else "y"))
    r = await api.http.delete(PODS, params={"labelSelector": "grp=x"})
    body: dict[str, Any] = await r.json()
    assert r.status == 200, body
    assert body["kind"] == "PodList" and len(body["items"]) == 2
    assert await names(api, PODS) == ["dc2"]


def rc_body(name: str, **selector: str) -> dict[str, Any]:
    sel = selector or {"app": name}
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": sel,
                     "template": {"metadata": {"labels": sel},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


async def test_scale_subresource(api: InProcessApi) -> None:
    rc = rc_body("web", app="web", tier="fe")
    await create(api, rc, path="/api/v1/namespaces/default/replicationcontrollers")
    url = "/api/v1/namespaces/default/replicationcontrollers/web/scale"
    sc = await (await api.http.get(url)).json()
    assert sc["kind"] == "Scale" and sc["apiVersion"] == "autoscaling/v1"
    assert sc["status"]["selector"] == "app=web,tier=fe"
    r = await api.http.patch(url, json={"spec": {"replicas": 4}}, headers=MERGE)
    assert (await r.json())["spec"]["replicas"] == 4
    r = await api.http.patch(url, json={"spec": {"replicas": -1}}, headers=MERGE)
    assert r.status == 422
    sc = await (await api.http.get(url)).json()
    sc["spec"]["replicas"] = 2
    r = await api.http.put(url, json=sc)
    assert (await r.json())["spec"]["replicas"] == 2
    r = await api.http.put(url, json=sc)  # stale resourceVersion
    assert r.status == 409


async def test_list_as_table(api: InProcessApi) -> None:
    await create(api, pod("tb"))
    r = await api.http.get(PODS, headers={
        "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    body = await r.json()
    assert body["kind"] == "Table"
    assert body["metadata"]["resourceVersion"]
    assert len(body["rows"]) == 1


async def test_namespace_termination_and_finalize(api: InProcessApi) -> None:
    r = await api.http.post("/api/v1/namespaces", json={"metadata": {"name": "gone"}})
    ns = await r.json()
    assert r.status == 201, ns
    assert ns["spec"]["finalizers"] == ["kubernetes"] and ns["status"]["phase"] == "Active"
    r = await api.http.delete("/api/v1/namespaces/gone")
    assert r.status == 200
    ns = await r.json()
    assert ns["status"]["phase"] == "Terminating" and ns["metadata"]["deletionTimestamp"]
    # the namespace controller's last step: empty spec.finalizers through /finalize
    ns["spec"]["finalizers"] = []
    r = await api.http.put("/api/v1/namespaces/gone/finalize", json=ns)
    assert r.status == 200, await r.text()
    assert (await api.http.get("/api/v1/namespaces/gone")).status == 404


async def test_node_and_service_status(api: InProcessApi) -> None:
    r = await api.http.post("/api/v1/nodes", json={"metadata": {"name": "n1"}})
    assert r.status == 201
    r = await api.http.patch("/api/v1/nodes/n1/status", headers=MERGE, json={
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert r.status == 200, await r.text()
    node = await (await api.http.get("/api/v1/nodes/n1")).json()
    assert node["status"]["conditions"][0]["type"] == "Ready"
    svc = {"metadata": {"name": "s"}, "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}
    r = await api.http.post("/api/v1/namespaces/default/services", json=svc)
    assert r.status == 201, await r.text()
    r = await api.http.patch("/api/v1/namespaces/default/services/s/status", headers=MERGE,
                             json={"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
                                   "spec": {"ports": [{"port": 81}]}})
    body = await r.json()
    assert r.status == 200, body
    assert body["status"]["loadBalancer"]["ingress"] == [{"ip": "1.2.3.4"}]
    assert body["spec"]["ports"][0]["port"] == 80


async def test_list_by_name_then_watch(api: InProcessApi) -> None:
    """kubectl wait/delete: list with metadata.name=X, then watch from the list's version."""
    await create(api, pod("w1"))
    body = await (await api.http.get(PODS, params={"fieldSelector": "metadata.name=w1"})).json()
    assert [i["metadata"]["name"] for i in body["items"]] == ["w1"]
    rv = body["metadata"]["resourceVersion"]
    assert int(rv) >= int(body["items"][0]["metadata"]["resourceVersion"])
    empty = await (await api.http.get(PODS, params={"fieldSelector": "metadata.name=zz"})).json()
    assert empty["items"] == [] and empty["metadata"]["resourceVersion"]
    await create(api, pod("w2"))
    await api.http.delete(f"{PODS}/w1")
    async with api.http.get(PODS, params={"watch": "true", "resourceVersion": rv,
                                          "fieldSelector": "metadata.name=w1",
                                          "allowWatchBookmarks": "true"}) as r:
        ev = json.loads(await r.content.readline())
        assert ev["type"] == "DELETED" and ev["object"]["metadata"]["name"] == "w1"


async def test_noop_update_is_not_written(api: InProcessApi) -> None:
    p = await create(api, pod("nc", app="x"))
    rv = p["metadata"]["resourceVersion"]
    r = await api.http.patch(f"{PODS}/nc", json={"metadata": {"labels": {"app": "x"}}},
                             headers=MERGE)
    assert (await r.json())["metadata"]["resourceVersion"] == rv
    r = await api.http.put(f"{PODS}/nc", json=p)
    assert (await r.json())["metadata"]["resourceVersion"] == rv


async def test_eviction_deletes(api: InProcessApi) -> None:
    await create(api, pod("ev1"))
    r = await api.http.post(f"{PODS}/ev1/eviction", json={
        "apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "ev1"}})
    assert r.status == 201, await r.text()
    assert (await api.http.get(f"{PODS}/ev1")).status == 404
