"""Unknown fields are dropped from what the API server stores, on every write path.

Kubernetes' decoder prunes fields a built-in type does not have: ``fieldValidation=Warn`` (the
default) answers with one ``unknown field "spec.foo"`` warning per field, ``Ignore`` drops them
silently, ``Strict`` refuses the body with 400. Before, minikube8s kept them, so every later
write of the object repeated the warnings. Checked here for create, update, every patch type,
server-side apply, the status subresource, v1beta3 bodies, at any depth; with real kubectl 1.33
and the official Python client against a real process; and the schema table against the
official client's models, because pruning a field the table forgot would lose real data.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from minikube8s.api import schema
from tests.apiserver.test_crud import PODS, create, pod
from tests.compat.kubectl import Kubectl, binary
from tests.fixtures.apiserver import ApiServerProcess, InProcessApi

RCS = "/api/v1/namespaces/default/replicationcontrollers"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
JSONPATCH = {"Content-Type": "application/json-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


def warning(path: str) -> str:
    return f'299 - "unknown field \\"{path}\\""'


def with_unknowns(name: str) -> dict[str, Any]:
    p = pod(name)
    p["metadata"]["foo"] = "m"
    p["spec"]["foo"] = 1
    p["spec"]["containers"][0]["bar"] = {"deep": [1, 2]}
    return p


# In the order of the JSON body, as Kubernetes reports them.
UNKNOWNS = ["metadata.foo", "spec.containers[0].bar", "spec.foo"]


def assert_clean(obj: dict[str, Any]) -> None:
    assert "foo" not in obj["metadata"]
    assert "foo" not in obj["spec"]
    assert "bar" not in obj["spec"]["containers"][0]
    assert schema.unknown_fields(obj) == []


async def stored(api: InProcessApi, path: str) -> dict[str, Any]:
    r = await api.http.get(path)
    body = await r.json()
    assert r.status == 200, body
    return dict(body)


# -- the write paths -------------------------------------------------------------------------


async def test_create_warns_once_and_stores_none(api: InProcessApi) -> None:
    r = await api.http.post(PODS, json=with_unknowns("u1"))
    body = await r.json()
    assert r.status == 201, body
    assert r.headers.getall("Warning") == [warning(p) for p in UNKNOWNS]
    assert_clean(body)
    assert_clean(await stored(api, f"{PODS}/u1"))
    # The same object written back (what kubectl edit/replace does) warns no more.
    cur = await stored(api, f"{PODS}/u1")
    cur["metadata"]["labels"] = {"again": "1"}
    r = await api.http.put(f"{PODS}/u1", json=cur)
    assert r.status == 200, await r.json()
    assert "Warning" not in r.headers
    r = await api.http.patch(f"{PODS}/u1", json={"metadata": {"labels": {"x": "y"}}},
                             headers=MERGE)
    assert r.status == 200 and "Warning" not in r.headers


async def test_ignore_drops_silently_and_strict_refuses(api: InProcessApi) -> None:
    r = await api.http.post(PODS, json=with_unknowns("ig"), params={"fieldValidation": "Ignore"})
    assert r.status == 201, await r.json()
    assert "Warning" not in r.headers
    assert_clean(await stored(api, f"{PODS}/ig"))

    r = await api.http.post(PODS, json=with_unknowns("st"), params={"fieldValidation": "Strict"})
    body = await r.json()
    assert r.status == 400, body
    assert body["reason"] == "BadRequest"
    assert body["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "metadata.foo", unknown field "spec.containers[0].bar", '
        'unknown field "spec.foo"')
    assert (await api.http.get(f"{PODS}/st")).status == 404


async def test_update_drops_new_unknowns(api: InProcessApi) -> None:
    await create(api, pod("up"))
    cur = await stored(api, f"{PODS}/up")
    cur["spec"]["containers"][0]["bar"] = 1
    cur["spec"]["tolerations"] = [{"key": "k", "operator": "Exists", "zz": 1}]
    r = await api.http.put(f"{PODS}/up", json=cur)
    assert r.status == 200, await r.json()
    assert r.headers.getall("Warning") == [warning("spec.containers[0].bar"),
                                           warning("spec.tolerations[0].zz")]
    got = await stored(api, f"{PODS}/up")
    assert got["spec"]["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert_clean(got)
    cur["metadata"]["resourceVersion"] = got["metadata"]["resourceVersion"]
    r = await api.http.put(f"{PODS}/up", json=cur, params={"fieldValidation": "Strict"})
    assert r.status == 400
    assert 'strict decoding error: unknown field "spec.containers[0].bar"' in (
        await r.json())["message"]


@pytest.mark.parametrize("kind", ["merge", "strategic", "json", "apply"])
async def test_every_patch_type_drops_unknowns(api: InProcessApi, kind: str) -> None:
    name = f"pa-{kind}"
    await create(api, pod(name))
    url = f"{PODS}/{name}"
    body: Any
    if kind == "json":
        body, headers = [{"op": "add", "path": "/spec/foo", "value": 1},
                         {"op": "add", "path": "/spec/containers/0/bar", "value": "b"},
                         {"op": "add", "path": "/metadata/foo", "value": "m"}], JSONPATCH
    else:
        body = {"metadata": {"foo": "m"},
                "spec": {"foo": 1, "containers": [{"name": "c", "bar": "b"}]}}
        headers = {"merge": MERGE, "strategic": STRATEGIC, "apply": APPLY}[kind]
        if kind == "merge":  # a merge patch replaces lists whole
            body["spec"]["containers"][0]["image"] = "nginx"
        if kind == "apply":
            body = {"apiVersion": "v1", "kind": "Pod", **body}
    params = {"fieldManager": "t"} if kind == "apply" else {}
    r = await api.http.patch(url, data=json.dumps(body), headers=headers, params=params)
    out = await r.json()
    assert r.status == 200, out
    assert sorted(r.headers.getall("Warning")) == sorted(warning(p) for p in UNKNOWNS)
    assert_clean(out)
    assert_clean(await stored(api, url))
    # Strict: server-side apply refuses the body (400); the other patchers report the failed
    # decode of the patched object on the field "patch" (422), as Kubernetes' patch.go does.
    r = await api.http.patch(url, data=json.dumps(body), headers=headers,
                             params={**params, "fieldValidation": "Strict"})
    refusal = await r.json()
    assert r.status == (400 if kind == "apply" else 422), refusal
    assert 'strict decoding error: unknown field "' in refusal["message"]


async def test_server_side_apply_create(api: InProcessApi) -> None:
    body = with_unknowns("ssa")
    r = await api.http.patch(f"{PODS}/ssa", data=json.dumps(body), headers=APPLY,
                             params={"fieldManager": "t"})
    assert r.status == 201, await r.json()
    assert r.headers.getall("Warning") == [warning(p) for p in UNKNOWNS]
    assert_clean(await stored(api, f"{PODS}/ssa"))


async def test_status_subresource(api: InProcessApi) -> None:
    await create(api, pod("su"))
    cur = await stored(api, f"{PODS}/su")
    cur["status"]["bogus"] = 1
    cur["status"]["conditions"] = [{"type": "Ready", "status": "False", "zz": "1"}]
    r = await api.http.put(f"{PODS}/su/status", json=cur)
    assert r.status == 200, await r.json()
    assert sorted(r.headers.getall("Warning")) == [warning("status.bogus"),
                                                   warning("status.conditions[0].zz")]
    r = await api.http.patch(f"{PODS}/su/status", json={"status": {"more": 2}}, headers=MERGE)
    assert r.status == 200, await r.json()
    assert r.headers.getall("Warning") == [warning("status.more")]
    got = await stored(api, f"{PODS}/su")
    assert got["status"]["conditions"] == [{"type": "Ready", "status": "False"}]
    assert "bogus" not in got["status"] and "more" not in got["status"]


async def test_nested_template_of_a_replication_controller(api: InProcessApi) -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": "rc"},
          "spec": {"replicas": 0, "selector": {"a": "b"}, "foo": 1,
                   "template": {"metadata": {"labels": {"a": "b"}, "bar": 2},
                                "spec": {"containers": [{
                                    "name": "c", "image": "nginx",
                                    "ports": [{"containerPort": 80, "baz": 3}],
                                    "livenessProbe": {"httpGet": {"port": 80, "qux": 4}}}]}}}}
    r = await api.http.post(RCS, json=rc)
    assert r.status == 201, await r.json()
    paths = ["spec.foo", "spec.template.metadata.bar",
             "spec.template.spec.containers[0].ports[0].baz",
             "spec.template.spec.containers[0].livenessProbe.httpGet.qux"]
    assert sorted(r.headers.getall("Warning")) == sorted(warning(p) for p in paths)
    got = await stored(api, f"{RCS}/rc")
    assert schema.unknown_fields(got) == []
    c = got["spec"]["template"]["spec"]["containers"][0]
    assert c["ports"][0]["containerPort"] == 80 and c["livenessProbe"]["httpGet"]["port"] == 80


async def test_v1beta3_body(api: InProcessApi) -> None:
    url = "/api/v1beta3/namespaces/default/pods"
    p = with_unknowns("b3")
    p["apiVersion"] = "v1beta3"
    p["spec"]["host"] = ""  # a v1beta3 field that converts, not an unknown one
    r = await api.http.post(url, json=p)
    assert r.status == 201, await r.json()
    assert r.headers.getall("Warning") == [warning(x) for x in UNKNOWNS]
    assert_clean(await stored(api, f"{PODS}/b3"))
    old = await stored(api, f"{url}/b3")
    assert old["apiVersion"] == "v1beta3"
    assert "foo" not in old["spec"] and "bar" not in old["spec"]["containers"][0]
    r = await api.http.patch(f"{url}/b3", json={"spec": {"foo": 2}}, headers=MERGE)
    assert r.status == 200, await r.json()
    assert r.headers.getall("Warning") == [warning("spec.foo")]
    assert_clean(await stored(api, f"{PODS}/b3"))


async def test_free_form_fields_are_kept(api: InProcessApi) -> None:
    """Fields the table declares free form (``object``) and real fields the table lists for
    volumes minikube8s cannot mount are stored as sent."""
    p = pod("ff")
    p["spec"]["affinity"] = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 1, "preference": {"matchExpressions": [
            {"key": "k", "operator": "In", "values": ["v"]}]}}]}}
    p["spec"]["securityContext"] = {"runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
    p["spec"]["volumes"] = [{"name": "ebs", "awsElasticBlockStore": {"volumeID": "vol-1"}},
                            {"name": "img", "image": {"reference": "busybox"}}]
    r = await api.http.post(PODS, json=p)
    assert r.status == 201, await r.json()
    assert "Warning" not in r.headers
    got = await stored(api, f"{PODS}/ff")
    assert got["spec"]["affinity"] == p["spec"]["affinity"]
    assert got["spec"]["securityContext"] == p["spec"]["securityContext"]
    assert got["spec"]["volumes"][0]["awsElasticBlockStore"] == {"volumeID": "vol-1"}


# -- the schema table is complete where it prunes ----------------------------------------------


def _client_models() -> dict[str, Any]:
    models = pytest.importorskip("kubernetes.client.models")
    out: dict[str, Any] = {}
    for t in schema.TYPES:
        cls = (getattr(models, f"V1{t}", None) or getattr(models, f"CoreV1{t}", None))
        if cls is not None:
            out[t] = cls
    return out


def test_schema_knows_every_field_of_the_official_client() -> None:
    """Every type the table describes lists every field the official client (generated from
    Kubernetes' OpenAPI) knows: pruning never drops a real field."""
    models = _client_models()
    assert {"Pod", "PodSpec", "Container", "Volume", "ObjectMeta", "ServiceSpec",
            "NodeStatus", "Event", "EndpointPort", "LeaseSpec"} <= set(models)
    missing = {}
    for t, cls in models.items():
        real = set(cls.attribute_map.values()) - {"apiVersion", "kind"}
        gap = real - set(schema.fields_of(t) or {})
        if gap:
            missing[t] = sorted(gap)
    assert missing == {}


def test_prune_unknown_fields_unit() -> None:
    obj = with_unknowns("x")
    obj["spec"]["affinity"] = {"free": {"form": 1}}
    obj["status"] = {"conditions": [{"type": "Ready", "zz": 1}, "notadict"]}
    before = copy.deepcopy(obj)
    assert schema.unknown_fields(obj) == [*UNKNOWNS, "status.conditions[0].zz"]
    assert obj == before  # reporting does not change the object
    assert schema.prune_unknown_fields(obj) == [*UNKNOWNS, "status.conditions[0].zz"]
    assert_clean(obj)
    assert obj["spec"]["affinity"] == {"free": {"form": 1}}
    assert obj["status"]["conditions"] == [{"type": "Ready"}, "notadict"]
    assert schema.prune_unknown_fields({"kind": "Widget", "x": 1}) == []


# -- real clients against a real process ------------------------------------------------------


MANIFEST = """apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  foo: true
  containers:
    - name: web
      image: nginx
      bar: 1
"""


def test_kubectl_create_warns_and_get_lacks_the_field(
        apiserver: ApiServerProcess, tmp_path: Path) -> None:
    if not binary("1.33").exists():
        pytest.skip("kubectl 1.33 is not installed")
    kubectl = Kubectl("1.33", apiserver.url, tmp_path / "home")
    f = tmp_path / "pod.yaml"
    f.write_text(MANIFEST.format(name="kc"))
    refused = kubectl.fail("create", "-f", str(f))  # kubectl's default is --validate=strict
    assert refused.err.startswith("Error from server (BadRequest)"), refused
    assert 'strict decoding error: unknown field "spec.containers[0].bar", unknown field ' \
           '"spec.foo"' in refused.err, refused
    ok = kubectl("create", "-f", str(f), "--validate=warn")
    assert ok.out.strip() == "pod/kc created"
    assert ok.err.count("Warning: unknown field") == 2, ok.err
    assert 'Warning: unknown field "spec.foo"' in ok.err
    assert 'Warning: unknown field "spec.containers[0].bar"' in ok.err
    got = kubectl("get", "pod", "kc", "-o", "yaml").out
    assert "foo:" not in got and "bar:" not in got, got
    # The next write warns about nothing: the stored object has no unknown field.
    label = kubectl("label", "pod", "kc", "x=y")
    assert "Warning" not in label.err, label.err
    # Client-side apply of the same manifest (last-applied annotation, strategic merge).
    f.write_text(MANIFEST.format(name="ka"))
    applied = kubectl("apply", "-f", str(f), "--validate=warn")
    assert 'Warning: unknown field "spec.foo"' in applied.err
    again = kubectl("apply", "-f", str(f), "--validate=warn")
    assert "pod/ka" in again.out
    assert "foo:" not in kubectl("get", "pod", "ka", "-o", "yaml").out


def test_python_client_create_and_read(apiserver: ApiServerProcess) -> None:
    """The official client's typed calls refuse unknown fields themselves (pydantic models);
    its REST layer sends a raw body, as an older client or a dict-based caller would."""
    client = pytest.importorskip("kubernetes.client")
    cfg = client.Configuration()
    cfg.host = apiserver.url
    with client.ApiClient(cfg) as api_client:
        resp = api_client.rest_client.request(
            "POST", f"{apiserver.url}{PODS}", headers={"Content-Type": "application/json"},
            body=with_unknowns("pyc"))
        assert resp.status == 201, resp.data
        assert resp.headers.getlist("Warning") == [warning(p) for p in UNKNOWNS]
        raw = client.CoreV1Api(api_client).read_namespaced_pod("pyc", "default",
                                                                _preload_content=False)
        assert_clean(json.loads(raw.data))


# -- typed metadata lists -----------------------------------------------------------------------


async def test_non_list_finalizers_and_owner_references_are_refused(api: InProcessApi) -> None:
    """A number stored as metadata.finalizers made every later DELETE of the object a 500
    (found by the thorough fuzz run while checking the pruning)."""
    await create(api, pod("fin"))
    cur = await stored(api, f"{PODS}/fin")
    for key in ("finalizers", "ownerReferences"):
        bad = copy.deepcopy(cur)
        bad["metadata"][key] = 5
        r = await api.http.put(f"{PODS}/fin", json=bad)
        body = await r.json()
        # Go's decoder refuses it (400, before validation); after a patch it is 422 on "patch".
        assert r.status == 400, body
        assert (f"json: cannot unmarshal number into Go struct field ObjectMeta.metadata.{key} "
                "of type []") in body["message"], body
        r = await api.http.patch(f"{PODS}/fin", json={"metadata": {key: "x"}}, headers=MERGE)
        body = await r.json()
        assert r.status == 422, body
        assert body["details"]["causes"][0]["field"] == "patch"
    r = await api.http.delete(f"{PODS}/fin?gracePeriodSeconds=0")
    assert r.status == 200, await r.json()
