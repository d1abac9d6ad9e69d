"""A field with the wrong JSON type is refused as Kubernetes' decoder refuses it, and never
stored.

kube-apiserver decodes bodies into Go structs: ``"replicas": "3"`` is 400 BadRequest
``ReplicationController in version "v1" cannot be handled as a ReplicationController: json:
cannot unmarshal string into Go struct field ReplicationControllerSpec.spec.replicas of type
int32`` on create, update and server-side apply, and 422 on the field ``patch`` for JSON, merge
and strategic merge patches. Before, minikube8s stored such values when no validation rule
looked at the field (``args: [1]``, ``env[].value: 587``), and typed readers broke on them.
The type table is checked against the official client's models, so a valid object is never
refused because the table is wrong.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from minikube8s.api import jsontypes, schema
from minikube8s.api.schema_data import TYPES
from tests.apiserver.test_crud import PODS, create, pod
from tests.compat.kubectl import Kubectl, binary
from tests.fixtures.apiserver import ApiServerProcess, InProcessApi

RCS = "/api/v1/namespaces/default/replicationcontrollers"
SERVICES = "/api/v1/namespaces/default/services"
MERGE = {"Content-Type": "application/merge-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
JSONPATCH = {"Content-Type": "application/json-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}


def rc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                     **spec}}


def decode_error(kind: str, detail: str) -> str:
    return f'{kind} in version "v1" cannot be handled as a {kind}: {detail}'


async def refused(resp: Any, code: int) -> dict[str, Any]:
    body = await resp.json()
    assert resp.status == code, body
    assert body["kind"] == "Status" and body["code"] == code
    assert body["reason"] == {400: "BadRequest", 422: "Invalid"}[code]
    return dict(body)


async def absent(api: InProcessApi, path: str) -> None:
    r = await api.http.get(path)
    assert r.status == 404, await r.text()


# -- the table against the official client ------------------------------------------------------


_CLIENT_SCALAR = {"string": "str", "integer": "int", "int64": "int", "boolean": "bool",
                  "number": "float", "IntOrString": "object", "Quantity": "str",
                  "Time": "datetime", "bytes": "bytes"}


def test_every_field_type_matches_the_official_client() -> None:
    """The client is generated from Kubernetes' OpenAPI: each field's JSON type (and element
    type of lists and maps) in schema_data.py agrees with it."""
    models = pytest.importorskip("kubernetes.client.models")
    checked, wrong = 0, []
    for t in TYPES:
        cls = getattr(models, f"V1{t}", None) or getattr(models, f"CoreV1{t}", None)
        if cls is None:
            continue
        by_json = {v: k for k, v in cls.attribute_map.items()}
        for name, f in (schema.fields_of(t) or {}).items():
            if name not in by_json or f.type == "object":
                continue
            client_type = cls.openapi_types[by_json[name]]
            wrapper = {"list": r"List\[(.*)\]", "map": r"Dict\[str, (.*)\]"}.get(f.shape, "(.*)")
            m = re.fullmatch(wrapper, client_type)
            inner = m.group(1) if m else "?"
            want = _CLIENT_SCALAR.get(f.type) or f"(V1|CoreV1){f.type}"
            checked += 1
            if not re.fullmatch(want, inner):
                wrong.append((t, name, f.shape, f.type, client_type))
    assert wrong == []
    assert checked > 300


# -- the checker -----------------------------------------------------------------------------


@pytest.mark.parametrize(("obj", "message"), [
    (rc("a", replicas="3"), "json: cannot unmarshal string into Go struct field "
     "ReplicationControllerSpec.spec.replicas of type int32"),
    (rc("a", replicas=1.5), "json: cannot unmarshal number 1.5 into Go struct field "
     "ReplicationControllerSpec.spec.replicas of type int32"),
    (rc("a", replicas=2**31), "json: cannot unmarshal number 2147483648 into Go struct field "
     "ReplicationControllerSpec.spec.replicas of type int32"),
    (rc("a", selector={"app": 1}), "json: cannot unmarshal number into Go struct field "
     "ReplicationControllerSpec.spec.selector of type string"),
    (rc("a", selector=["app"]), "json: cannot unmarshal array into Go struct field "
     "ReplicationControllerSpec.spec.selector of type map[string]string"),
    ({**pod("p"), "spec": "x"}, "json: cannot unmarshal string into Go struct field Pod.spec "
     "of type v1.PodSpec"),
    ({**pod("p"), "spec": {"containers": {"name": "c"}}}, "json: cannot unmarshal object into "
     "Go struct field PodSpec.spec.containers of type []v1.Container"),
    ({**pod("p"), "spec": {"containers": ["c"]}}, "json: cannot unmarshal string into Go "
     "struct field PodSpec.spec.containers of type v1.Container"),
    ({**pod("p"), "spec": {"containers": [{"name": "c", "args": "sleep 1"}]}},
     "json: cannot unmarshal string into Go struct field Container.spec.containers.args of "
     "type []string"),
    ({**pod("p"), "spec": {"containers": [{"name": "c", "env": [{"name": "P", "value": 587}]}]}},
     "json: cannot unmarshal number into Go struct field EnvVar.spec.containers.env.value of "
     "type string"),
    ({**pod("p"), "spec": {"containers": [{"name": "c", "stdin": "yes"}]}},
     "json: cannot unmarshal string into Go struct field Container.spec.containers.stdin of "
     "type bool"),
    ({**pod("p"), "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": True}}}]}},
     "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"),
    ({"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": True}]}},
     "json: cannot unmarshal bool into Go struct field ServicePort.spec.ports.targetPort of "
     "type int32"),
    ({**pod("p"), "status": {"startTime": 5}}, "json: cannot unmarshal number into Go struct "
     "field PodStatus.status.startTime of type string"),
    ({**pod("p"), "status": {"startTime": "yesterday"}}, 'parsing time "yesterday" as '
     '"2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as RFC 3339'),
])
def test_type_error_names_the_field_as_go_does(obj: dict[str, Any], message: str) -> None:
    assert jsontypes.type_error(obj) == message


def test_the_first_error_in_document_order_wins() -> None:
    obj = pod("p")
    obj["metadata"]["labels"] = {"a": 1}
    obj["spec"]["containers"][0]["args"] = [2]
    assert "ObjectMeta.metadata.labels" in (jsontypes.type_error(obj) or "")


def test_valid_values_pass_and_integral_floats_become_ints() -> None:
    obj = rc("a", replicas=2.0, minReadySeconds=None)
    obj["spec"]["template"]["spec"]["containers"][0] |= {
        "ports": [{"containerPort": 80.0}], "args": ["x", None],
        "resources": {"limits": {"cpu": 0.5, "memory": "64Mi"}}}
    obj["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    obj["metadata"]["annotations"] = {"free": "text"}
    assert jsontypes.type_error(obj) is None
    assert obj["spec"]["replicas"] == 2 and isinstance(obj["spec"]["replicas"], int)
    port = obj["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    assert port == 80 and isinstance(port, int)
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": "http"},
                                                 {"port": 81, "targetPort": 8081.0}]}}
    assert jsontypes.type_error(svc) is None
    assert svc["spec"]["ports"][1]["targetPort"] == 8081
    when = {**pod("p"), "status": {"startTime": "2026-12-07T10:00:00.123456+01:00"}}
    assert jsontypes.type_error(when) is None
    # Kinds the table does not describe, and free-form fields, are not checked.
    assert jsontypes.type_error({"kind": "Unknown", "spec": {"replicas": "x"}}) is None
    assert jsontypes.type_error({**pod("p"), "spec": {"securityContext": {"runAsUser": "x"}}}) \
        is None


# -- the API ---------------------------------------------------------------------------------


async def test_create_is_400_and_stores_nothing(api: InProcessApi) -> None:
    r = await api.http.post(RCS, json=rc("w1", replicas="3"))
    body = await refused(r, 400)
    assert body["message"] == decode_error(
        "ReplicationController", "json: cannot unmarshal string into Go struct field "
        "ReplicationControllerSpec.spec.replicas of type int32")
    await absent(api, f"{RCS}/w1")
    p = pod("w2")
    p["spec"]["containers"][0]["env"] = [{"name": "SMTP_PORT", "value": 587}]
    body = await refused(await api.http.post(PODS, json=p), 400)
    assert body["message"] == decode_error(
        "Pod", "json: cannot unmarshal number into Go struct field "
        "EnvVar.spec.containers.env.value of type string")
    await absent(api, f"{PODS}/w2")


async def test_a_wrong_type_beats_strict_unknown_fields(api: InProcessApi) -> None:
    obj = rc("w3", replicas="3", foo=1)
    r = await api.http.post(RCS, json=obj, params={"fieldValidation": "Strict"})
    assert "cannot unmarshal string" in (await refused(r, 400))["message"]


async def test_integral_floats_are_stored_as_ints(api: InProcessApi) -> None:
    r = await api.http.post(RCS, data=json.dumps(rc("w4", replicas=2.0)).encode(),
                            headers={"Content-Type": "application/json"})
    assert r.status == 201, await r.text()
    got = await (await api.http.get(f"{RCS}/w4")).text()
    assert '"replicas":2,' in got.replace(" ", "") or '"replicas":2}' in got.replace(" ", "")


async def test_update_is_400_and_keeps_the_stored_object(api: InProcessApi) -> None:
    cur = await create(api, rc("u1"), RCS)
    cur["spec"]["replicas"] = "two"
    body = await refused(await api.http.put(f"{RCS}/u1", json=cur), 400)
    assert "ReplicationControllerSpec.spec.replicas of type int32" in body["message"]
    got = await (await api.http.get(f"{RCS}/u1")).json()
    assert got["spec"]["replicas"] == 1
    assert got["metadata"]["resourceVersion"] == cur["metadata"]["resourceVersion"]


async def test_json_and_merge_patches_are_422_on_the_patch_field(api: InProcessApi) -> None:
    await create(api, rc("pa"), RCS)
    url = f"{RCS}/pa"
    for data, headers in [({"spec": {"replicas": "x"}}, MERGE),
                          ([{"op": "replace", "path": "/spec/replicas", "value": "x"}],
                           JSONPATCH)]:
        r = await api.http.patch(url, data=json.dumps(data), headers=headers)
        body = await refused(r, 422)
        detail = ("json: cannot unmarshal string into Go struct field "
                  "ReplicationControllerSpec.spec.replicas of type int32")
        assert body["message"].startswith(' "" is invalid: patch: Invalid value: "{'), body
        assert body["message"].endswith(f'}}": {detail}'), body
        [cause] = body["details"]["causes"]
        assert cause["field"] == "patch" and cause["reason"] == "FieldValueInvalid"
    r = await api.http.patch(url, data=json.dumps({"spec": {"replicas": "x"}}),
                             headers=STRATEGIC)
    body = await refused(r, 422)
    assert body["message"].startswith(
        ' "" is invalid: patch: Invalid value: "map[spec:map[replicas:x]]": json: cannot '
        "unmarshal string"), body
    got = await (await api.http.get(url)).json()
    assert got["spec"]["replicas"] == 1


async def test_server_side_apply_is_400(api: InProcessApi) -> None:
    url = f"{RCS}/sa"
    params = {"fieldManager": "t"}
    r = await api.http.patch(url, data=json.dumps(rc("sa", replicas="x")), headers=APPLY,
                             params=params)
    assert "cannot unmarshal string" in (await refused(r, 400))["message"]
    await absent(api, url)
    r = await api.http.patch(url, data=json.dumps(rc("sa")), headers=APPLY, params=params)
    assert r.status == 201, await r.text()
    r = await api.http.patch(url, data=json.dumps(rc("sa", replicas="x")), headers=APPLY,
                             params=params)
    assert "cannot unmarshal string" in (await refused(r, 400))["message"]


async def test_status_subresource(api: InProcessApi) -> None:
    cur = await create(api, pod("st"))
    cur["status"] = {"podIP": 10}
    r = await api.http.put(f"{PODS}/st/status", json=cur)
    body = await refused(r, 400)
    assert "PodStatus.status.podIP of type string" in body["message"]


# -- real clients ----------------------------------------------------------------------------


MANIFEST = """\
apiVersion: v1
kind: ReplicationController
metadata:
  name: {name}
spec:
  replicas: "2"
  selector:
    app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      containers:
      - name: web
        image: nginx
"""


def test_kubectl_shows_the_servers_400(apiserver: ApiServerProcess, tmp_path: Path) -> None:
    if not binary("1.33").exists():
        pytest.skip("kubectl 1.33 is not installed")
    kubectl = Kubectl("1.33", apiserver.url, tmp_path / "home")
    f = tmp_path / "rc.yaml"
    f.write_text(MANIFEST.format(name="kwt"))
    r = kubectl.fail("create", "-f", str(f))
    assert r.err.startswith("Error from server (BadRequest)"), r
    assert "cannot unmarshal string into Go struct field ReplicationControllerSpec.spec." \
           "replicas of type int32" in r.err, r
    assert kubectl.fail("get", "rc", "kwt").err.startswith("Error from server (NotFound)")


def test_python_client_raw_body_gets_400(apiserver: ApiServerProcess) -> None:
    """The client's typed calls check types themselves (pydantic models); its REST layer sends
    a raw body, as an older client or a dict-based caller would."""
    client = pytest.importorskip("kubernetes.client")
    cfg = client.Configuration()
    cfg.host = apiserver.url
    with client.ApiClient(cfg) as api_client:
        resp = api_client.rest_client.request(
            "POST", f"{apiserver.url}{RCS}", headers={"Content-Type": "application/json"},
            body=rc("pwt", replicas="3"))
        data = resp.read()
        assert resp.status == 400, data
        status = json.loads(data)
        assert status["reason"] == "BadRequest"
        assert "ReplicationControllerSpec.spec.replicas of type int32" in status["message"]
