"""Discovery (legacy and aggregated, negotiated on Accept) and /version on a bare aiohttp app
carrying only the discovery and OpenAPI routes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from minikube8s.roles.apiserver import discovery, openapi

V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
KUBECTL_130 = f"{V2},{V2BETA1},application/json"
KUBECTL_127 = f"{V2BETA1},application/json"


@pytest.fixture
async def client() -> AsyncIterator[TestClient[Any, Any]]:
    app = web.Application()
    discovery.register(app)
    openapi.register(app)
    async with TestClient(TestServer(app)) as c:
        yield c


async def get(client: TestClient[Any, Any], path: str, accept: str = "application/json",
              status: int = 200) -> tuple[dict[str, Any], str]:
    resp = await client.get(path, headers={"Accept": accept})
    assert resp.status == status, await resp.text()
    return await resp.json(content_type=None), resp.headers["Content-Type"]


@pytest.mark.parametrize(("accept", "want"), [
    (KUBECTL_130, "v2"),
    (KUBECTL_127, "v2beta1"),
    ("application/json", None),
    ("", None),
    ("*/*", None),
    (f"application/json;q=0.5,{V2}", "v2"),
    ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json",
     None),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
     f"{V2},application/json", "v2"),
])
def test_negotiation(accept: str, want: str | None) -> None:
    assert discovery.negotiate_discovery(accept) == want


async def test_legacy_api_and_core_list(client: TestClient[Any, Any]) -> None:
    doc, ctype = await get(client, "/api")
    assert ctype == "application/json"
    assert doc["kind"] == "APIVersions"
    assert doc["versions"] == ["v1", "v1beta3"]
    lst, _ = await get(client, "/api/v1/")
    assert lst["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in lst["resources"]}
    assert by_name["pods"]["shortNames"] == ["po"]
    assert by_name["pods"]["categories"] == ["all"]
    assert by_name["pods"]["singularName"] == "pod"
    assert by_name["pods"]["namespaced"] is True
    assert by_name["nodes"]["namespaced"] is False
    for short, name in (("rc", "replicationcontrollers"), ("svc", "services"),
                        ("ns", "namespaces"), ("no", "nodes"), ("ep", "endpoints"),
                        ("ev", "events")):
        assert short in by_name[name]["shortNames"]
    assert "watch" in by_name["pods"]["verbs"]
    scale = by_name["replicationcontrollers/scale"]
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")
    assert by_name["pods/log"]["kind"] == "Pod"
    assert "group" not in by_name["pods/log"]
    assert {"pods/exec", "pods/binding", "pods/status"} <= set(by_name)


async def test_legacy_v1beta3_list(client: TestClient[Any, Any]) -> None:
    for path in ("/apis/v1beta3", "/api/v1beta3", "/apis/v1beta3/"):
        lst, _ = await get(client, path)
        assert lst["groupVersion"] == "v1beta3"
        names = {r["name"] for r in lst["resources"]}
        assert {"pods", "replicationcontrollers", "services", "nodes"} <= names
        assert all("/" not in n for n in names)
        assert all("shortNames" not in r and "categories" not in r for r in lst["resources"])


async def test_legacy_groups(client: TestClient[Any, Any]) -> None:
    doc, _ = await get(client, "/apis")
    assert doc["kind"] == "APIGroupList"
    names = [g["name"] for g in doc["groups"]]
    assert names == ["coordination.k8s.io"]
    g = doc["groups"][0]
    assert g["preferredVersion"] == {"groupVersion": "coordination.k8s.io/v1", "version": "v1"}
    grp, _ = await get(client, "/apis/coordination.k8s.io")
    assert grp["kind"] == "APIGroup"
    lst, _ = await get(client, "/apis/coordination.k8s.io/v1")
    assert [r["name"] for r in lst["resources"]] == ["leases"]
    missing, _ = await get(client, "/apis/nope.example.com", status=404)
    assert missing["kind"] == "Status" and missing["reason"] == "NotFound"
    await get(client, "/apis/coordination.k8s.io/v9", status=404)
    await get(client, "/api/v2", status=404)


@pytest.mark.parametrize(("accept", "version"), [(KUBECTL_130, "v2"), (KUBECTL_127, "v2beta1")])
async def test_aggregated(client: TestClient[Any, Any], accept: str, version: str) -> None:
    doc, ctype = await get(client, "/api", accept)
    assert ctype == f"application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList"
    assert doc["apiVersion"] == f"apidiscovery.k8s.io/{version}"
    assert doc["kind"] == "APIGroupDiscoveryList"
    [core] = doc["items"]
    assert "name" not in core["metadata"]
    assert [v["version"] for v in core["versions"]] == ["v1", "v1beta3"]
    v1 = {r["resource"]: r for r in core["versions"][0]["resources"]}
    assert all("responseKind" in r for r in v1.values())
    pods = v1["pods"]
    assert pods["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}
    assert pods["scope"] == "Namespaced"
    assert v1["nodes"]["scope"] == "Cluster"
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    subs = {s["subresource"]: s for s in v1["replicationcontrollers"]["subresources"]}
    assert subs["scale"]["responseKind"] == {"group": "autoscaling", "version": "v1",
                                             "kind": "Scale"}
    assert all("responseKind" in s for r in v1.values() for s in r.get("subresources", []))
    beta = {r["resource"]: r for r in core["versions"][1]["resources"]}
    assert beta["replicationcontrollers"]["responseKind"]["version"] == "v1beta3"

    apis, ctype = await get(client, "/apis/", accept)
    assert "as=APIGroupDiscoveryList" in ctype
    assert [i["metadata"]["name"] for i in apis["items"]] == ["coordination.k8s.io"]


async def test_version(client: TestClient[Any, Any]) -> None:
    for path in ("/version", "/version/"):
        doc, _ = await get(client, path)
        assert doc["major"] == "1"
        assert doc["minor"].isdigit()
        assert doc["gitVersion"].startswith("v1.") and "minikube8s" in doc["gitVersion"]
        assert doc["platform"]


async def test_openapi_v3_index_and_documents(client: TestClient[Any, Any]) -> None:
    index, _ = await get(client, "/openapi/v3")
    keys = set(index["paths"])
    assert {"api/v1", "api/v1beta3", "apis/coordination.k8s.io/v1"} <= keys
    url = index["paths"]["api/v1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/api/v1?hash=")
    resp = await client.get(url, headers={"Accept": "application/json"})
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "public, immutable"
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    schemas = doc["components"]["schemas"]
    patched = set()
    for path, item in doc["paths"].items():
        for method in ("post", "put", "patch"):
            op = item.get(method)
            if op is None or op["x-kubernetes-action"] == "connect":
                continue
            names = {(p["name"], p["in"]) for p in op["parameters"]}
            assert ("fieldValidation", "query") in names, (path, method)
            gvk = op["x-kubernetes-group-version-kind"]
            assert set(gvk) == {"group", "version", "kind"}
            if method == "patch":
                patched.add((gvk["group"], gvk["version"], gvk["kind"]))
                assert "application/merge-patch+json" in op["requestBody"]["content"]
    for kind in ("Pod", "ReplicationController", "Service", "Node", "Namespace", "Endpoints"):
        assert ("", "v1", kind) in patched
        owners = [n for n, s in schemas.items()
                  if {"group": "", "version": "v1", "kind": kind}
                  in s.get("x-kubernetes-group-version-kind", [])]
        assert owners, kind
    assert ("autoscaling", "v1", "Scale") in patched
    pod_item = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]
    assert pod_item["patch"]["x-kubernetes-action"] == "patch"
    assert "/api/v1/pods" in doc["paths"]

    beta, _ = await get(client, index["paths"]["api/v1beta3"]["serverRelativeURL"])
    rc = beta["paths"]["/api/v1beta3/namespaces/{namespace}/replicationcontrollers/{name}"]
    assert rc["patch"]["x-kubernetes-group-version-kind"] == {
        "group": "", "version": "v1beta3", "kind": "ReplicationController"}
    assert "application/strategic-merge-patch+json" not in rc["patch"]["requestBody"]["content"]
    await get(client, "/openapi/v3/apis/nope/v1", status=404)


async def test_openapi_v2(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/openapi/v2", headers={
        "Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == \
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    assert await resp.read() == b""
    doc, _ = await get(client, "/openapi/v2")
    assert doc["swagger"] == "2.0"
    op = doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"]
    assert any(p["name"] == "fieldValidation" and p["type"] == "string"
               for p in op["parameters"])
    assert any(p["in"] == "body" for p in op["parameters"])
    assert "$ref" not in json.dumps(doc).replace('"$ref": "#/definitions/', "")


def test_endpoint_slices_mirror_endpoints() -> None:
    from minikube8s.roles.apiserver.endpointslices import slices_for

    ep = {"metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7"},
          "subsets": [{"addresses": [{"ip": "172.16.0.2", "nodeName": "n1"}],
                       "notReadyAddresses": [{"ip": "172.16.0.3"}],
                       "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]},
                      {"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}]}
    first, second = slices_for(ep)
    assert first["metadata"]["name"] == "web" and second["metadata"]["name"] == "web-1"
    assert first["metadata"]["labels"]["kubernetes.io/service-name"] == "web"
    assert [(e["addresses"], e["conditions"]["ready"]) for e in first["endpoints"]] == [
        (["172.16.0.2"], True), (["172.16.0.3"], False)]
    assert first["endpoints"][0]["nodeName"] == "n1"
    assert first["ports"] == [{"name": "http", "port": 80, "protocol": "TCP"}]
    assert second["addressType"] == "IPv6"
    assert slices_for({"metadata": {"name": "x"}}) == []
