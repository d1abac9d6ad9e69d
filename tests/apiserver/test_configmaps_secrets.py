"""ConfigMaps and Secrets through the in-process API: CRUD, stringData, base64, immutable, key
and size validation, the kubectl tables, protobuf bodies, in Kubernetes' words."""

from __future__ import annotations

import base64
from typing import Any

from minikube8s.api import b64
from minikube8s.roles.apiserver import protobuf
from tests.fixtures.apiserver import InProcessApi

CMS = "/api/v1/namespaces/default/configmaps"
SECRETS = "/api/v1/namespaces/default/secrets"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MERGE = {"Content-Type": "application/merge-patch+json"}


def enc(text: str | bytes) -> str:
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


def cm(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, **fields}


def secret(name: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **fields}


async def send(api: InProcessApi, method: str, path: str, body: Any = None,
               headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    r = await api.http.request(method, path, json=body, headers=headers)
    return r.status, dict(await r.json())


async def test_configmap_crud_and_watch(api: InProcessApi) -> None:
    code, created = await send(api, "POST", CMS, cm(
        "cfg", data={"mode": "fast", "nginx.conf": "server {}\n"},
        binaryData={"blob": enc(b"\x00\xff")}))
    assert code == 201, created
    assert created["data"] == {"mode": "fast", "nginx.conf": "server {}\n"}
    assert created["binaryData"] == {"blob": "AP8="}
    assert "generation" not in created["metadata"]  # as Kubernetes: no spec, no generation
    code, got = await send(api, "GET", f"{CMS}/cfg")
    assert code == 200 and got == created
    code, listed = await send(api, "GET", CMS)
    assert listed["kind"] == "ConfigMapList" and [i["metadata"]["name"]
                                                  for i in listed["items"]] == ["cfg"]
    rv = listed["metadata"]["resourceVersion"]
    code, patched = await send(api, "PATCH", f"{CMS}/cfg", {"data": {"mode": "slow"}}, MERGE)
    assert code == 200 and patched["data"]["mode"] == "slow"
    async with api.http.get(f"{CMS}?watch=1&resourceVersion={rv}") as r:
        line = await r.content.readline()
    assert b'"MODIFIED"' in line and b'"slow"' in line
    assert (await send(api, "DELETE", f"{CMS}/cfg"))[0] == 200
    assert (await send(api, "GET", f"{CMS}/cfg"))[0] == 404


async def test_secret_string_data_and_type(api: InProcessApi) -> None:
    code, created = await send(api, "POST", SECRETS, secret(
        "db", data={"user": enc("admin"), "password": enc("old")},
        stringData={"password": "s3cret", "host": "db.local"}))
    assert code == 201, created
    # stringData is merged into data (winning over the same key) and never stored.
    assert created["data"] == {"user": enc("admin"), "password": enc("s3cret"),
                               "host": enc("db.local")}
    assert "stringData" not in created
    assert created["type"] == "Opaque"
    code, got = await send(api, "GET", f"{SECRETS}/db")
    assert "stringData" not in got and got["data"] == created["data"]
    # A merge patch of stringData lands in data too.
    code, patched = await send(api, "PATCH", f"{SECRETS}/db",
                               {"stringData": {"user": "root"}}, MERGE)
    assert code == 200 and patched["data"]["user"] == enc("root")
    assert "stringData" not in patched
    # The type never changes.
    code, st = await send(api, "PATCH", f"{SECRETS}/db", {"type": "kubernetes.io/tls"}, MERGE)
    assert (code, st["reason"]) == (422, "Invalid")
    assert 'type: Invalid value: "kubernetes.io/tls": field is immutable' in st["message"]


async def test_base64_is_decoded_as_go_does(api: InProcessApi) -> None:
    # Go's StdEncoding skips newlines and the stored value is re-encoded canonically.
    code, created = await send(api, "POST", SECRETS, secret("nl", data={"k": "YW\nJj"}))
    assert code == 201 and created["data"] == {"k": "YWJj"}
    for bad, byte in (("YWJj!", 4), ("YQ", 0), ("YQ=", 3), ("not base64", 3)):
        code, st = await send(api, "POST", SECRETS, secret("bad", data={"k": bad}))
        assert (code, st["reason"]) == (400, "BadRequest"), bad
        assert st["message"] == ('Secret in version "v1" cannot be handled as a Secret: '
                                 f"illegal base64 data at input byte {byte}")
    code, st = await send(api, "POST", CMS, cm("bad", binaryData={"k": "@@@@"}))
    assert (code, st["message"]) == (400, 'ConfigMap in version "v1" cannot be handled as a '
                                     "ConfigMap: illegal base64 data at input byte 0")
    code, st = await send(api, "POST", SECRETS, secret("bad", data={"k": 1}))
    assert (code, st["message"]) == (400, 'Secret in version "v1" cannot be handled as a '
                                     "Secret: json: cannot unmarshal number into Go struct "
                                     "field Secret.data of type []uint8")
    # In a patch, the decoding error is Kubernetes' 422 on the field "patch".
    await send(api, "POST", SECRETS, secret("ok", data={"k": enc("v")}))
    code, st = await send(api, "PATCH", f"{SECRETS}/ok", {"data": {"k": "!"}}, MERGE)
    assert (code, st["reason"]) == (422, "Invalid")
    assert "illegal base64 data at input byte 0" in st["message"]


def test_go_base64_offsets() -> None:
    assert b64.decode("aGVsbG8gd29ybGQ=") == b"hello world"
    assert b64.decode("aGVs\r\nbG8=") == b"hello"
    assert b64.decode("") == b""
    for text, offset in (("YQ==x", 4), ("Y===", 1), ("YWJjYQ", 4), ("YW=j", 2),
                         ("é", 0), ("YQ==\n", None)):
        assert b64.corrupt_at(text) == offset, text


async def test_key_validation(api: InProcessApi) -> None:
    code, st = await send(api, "POST", CMS, cm("keys", data={"a b": "1", "..x": "2"}))
    assert (code, st["reason"]) == (422, "Invalid")
    assert st["message"] == (
        'ConfigMap "keys" is invalid: [data[..x]: Invalid value: "..x": must not start with '
        "'..', data[a b]: Invalid value: \"a b\": a valid config key must consist of "
        "alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or "
        "'key-name', regex used for validation is '[-._a-zA-Z0-9]+')]")
    assert [c["field"] for c in st["details"]["causes"]] == ["data[..x]", "data[a b]"]
    code, st = await send(api, "POST", CMS, cm("dup", data={"k": "1"},
                                                binaryData={"k": enc("2")}))
    assert (code, st["message"]) == (422, 'ConfigMap "dup" is invalid: data[k]: Invalid '
                                     'value: "k": duplicate of key present in binaryData')
    code, st = await send(api, "POST", SECRETS, secret("s", data={"": enc("x")}))
    assert code == 422 and st["details"]["causes"][0]["field"] == "data[]"
    code, st = await send(api, "POST", SECRETS, secret(
        "tls", type="kubernetes.io/tls", data={"tls.crt": enc("c")}))
    assert (code, st["message"]) == (422, 'Secret "tls" is invalid: data[tls.key]: Required '
                                     "value")


async def test_size_limit(api: InProcessApi) -> None:
    mib = 1024 * 1024
    code, _ = await send(api, "POST", SECRETS, secret("max", data={"k": enc(b"x" * mib)}))
    assert code == 201
    code, st = await send(api, "POST", SECRETS, secret(
        "big", data={"a": enc(b"x" * (mib // 2)), "b": enc(b"x" * (mib // 2 + 1))}))
    assert (code, st["message"]) == (422, 'Secret "big" is invalid: data: Too long: may not be '
                                     "more than 1048576 bytes")
    code, st = await send(api, "POST", CMS, cm("big", data={"a": "x" * mib},
                                               binaryData={"b": enc(b"y")}))
    # The whole object's path is "": Go's field.Error still prints "<path>: ".
    assert (code, st["message"]) == (422, 'ConfigMap "big" is invalid: : Too long: may not be '
                                     "more than 1048576 bytes")


async def test_immutable(api: InProcessApi) -> None:
    await send(api, "POST", CMS, cm("frozen", data={"a": "1"}, immutable=True))
    code, st = await send(api, "PATCH", f"{CMS}/frozen", {"data": {"a": "2"}}, MERGE)
    assert (code, st["message"]) == (422, 'ConfigMap "frozen" is invalid: data: Forbidden: '
                                     "field is immutable when `immutable` is set")
    code, st = await send(api, "PATCH", f"{CMS}/frozen", {"immutable": False}, MERGE)
    assert (code, st["message"]) == (422, 'ConfigMap "frozen" is invalid: immutable: '
                                     "Forbidden: field is immutable when `immutable` is set")
    # Metadata still changes; the same data re-sent is no change.
    code, got = await send(api, "PATCH", f"{CMS}/frozen",
                           {"metadata": {"labels": {"a": "b"}}, "data": {"a": "1"}}, MERGE)
    assert code == 200 and got["metadata"]["labels"] == {"a": "b"}
    await send(api, "POST", SECRETS, secret("frozen", data={"k": enc("v")}, immutable=True))
    code, st = await send(api, "PATCH", f"{SECRETS}/frozen", {"stringData": {"k": "w"}},
                          MERGE)
    assert (code, st["message"]) == (422, 'Secret "frozen" is invalid: data: Forbidden: '
                                     "field is immutable when `immutable` is set")
    # A mutable one may become immutable; deleting an immutable one works.
    await send(api, "POST", SECRETS, secret("later", data={"k": enc("v")}))
    assert (await send(api, "PATCH", f"{SECRETS}/later", {"immutable": True}, MERGE))[0] == 200
    assert (await send(api, "DELETE", f"{SECRETS}/frozen"))[0] == 200


async def test_tables(api: InProcessApi) -> None:
    await send(api, "POST", CMS, cm("t", data={"a": "1", "b": "2"},
                                    binaryData={"c": enc("3")}))
    await send(api, "POST", SECRETS, secret("t", stringData={"a": "1"}))
    r = await api.http.get(CMS, headers={"Accept": TABLE})
    table = await r.json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    assert table["rows"][0]["cells"][:2] == ["t", 3]
    r = await api.http.get(SECRETS, headers={"Accept": TABLE})
    table = await r.json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Type", "Data", "Age"]
    assert table["rows"][0]["cells"][:3] == ["t", "Opaque", 1]


async def test_discovery_and_openapi(api: InProcessApi) -> None:
    r = await api.http.get("/api/v1")
    by_name = {x["name"]: x for x in (await r.json())["resources"]}
    assert by_name["configmaps"]["shortNames"] == ["cm"]
    assert by_name["configmaps"]["kind"] == "ConfigMap"
    assert by_name["secrets"]["namespaced"] and "shortNames" not in by_name["secrets"]
    r = await api.http.get("/openapi/v2")
    defs = (await r.json())["definitions"]
    assert defs["io.k8s.api.core.v1.Secret"]["properties"]["data"]["additionalProperties"] \
        == {"type": "string", "format": "byte"}


def _proto_field(num: int, payload: bytes) -> bytes:
    assert len(payload) < 128 and num < 16
    return bytes([num << 3 | 2, len(payload)]) + payload


def _proto_entry(num: int, key: bytes, value: bytes) -> bytes:
    return _proto_field(num, _proto_field(1, key) + _proto_field(2, value))


def test_protobuf_bodies() -> None:
    """kubectl 1.32+ sends ``create configmap|secret`` as protobuf (generated.proto numbers)."""
    meta = _proto_field(1, _proto_field(1, b"pb"))
    cm_raw = meta + _proto_entry(2, b"k", b"v") + _proto_entry(3, b"bin", b"\x00\x01") \
        + bytes([4 << 3, 0])  # immutable: false, set on purpose
    secret_raw = meta + _proto_entry(2, b"pw", b"s3cret") + _proto_field(3, b"Opaque")

    def envelope(kind: bytes, raw: bytes) -> bytes:
        return protobuf.MAGIC + _proto_field(1, _proto_field(1, b"v1") + _proto_field(2, kind)) \
            + _proto_field(2, raw)

    assert protobuf.decode(envelope(b"ConfigMap", cm_raw)) == {
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pb"},
        "data": {"k": "v"}, "binaryData": {"bin": "AAE="}, "immutable": False}
    assert protobuf.decode(envelope(b"Secret", secret_raw)) == {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pb"},
        "data": {"pw": enc("s3cret")}, "type": "Opaque"}


async def test_pod_references_are_validated(api: InProcessApi) -> None:
    """What a kubelet will read from a pod's references is checked as Kubernetes checks it:
    one source per valueFrom/envFrom, config keys, relative item paths without '..'."""
    container = {"name": "c", "image": "busybox", "env": [
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "bad key"}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"},
                                    "configMapKeyRef": {"name": "c", "key": "k"}}},
        {"name": "C", "valueFrom": {}}],
        "envFrom": [{"configMapRef": {"name": ""}}, {"prefix": "1X", "secretRef": {"name": "s"}}]}
    volumes = [{"name": "s", "secret": {"secretName": "s", "defaultMode": 0o1777,
                                        "items": [{"key": "k", "path": "../../etc/passwd"}]}},
               {"name": "c", "configMap": {"name": "c", "items": [{"key": "k",
                                                                   "path": "/abs"}]}},
               {"name": "p", "projected": {"sources": [{"secret": {"items": [
                   {"key": "", "path": "ok"}]}}]}}]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "refs"},
           "spec": {"containers": [container], "volumes": volumes}}
    code, st = await send(api, "POST", "/api/v1/namespaces/default/pods", pod)
    assert (code, st["reason"]) == (422, "Invalid")
    fields = [c["field"] for c in st["details"]["causes"]]
    for f in ("spec.containers[0].env[0].valueFrom.secretKeyRef.key",
              "spec.containers[0].env[1].valueFrom", "spec.containers[0].env[2].valueFrom",
              "spec.containers[0].envFrom[0].configMapRef.name",
              "spec.containers[0].envFrom[1].prefix",
              "spec.volumes[0].secret.defaultMode", "spec.volumes[0].secret.items[0].path",
              "spec.volumes[1].configMap.items[0].path",
              "spec.volumes[2].projected.sources[0].secret.name",
              "spec.volumes[2].projected.sources[0].secret.items[0].key"):
        assert f in fields, (f, fields)
    messages = st["message"]
    assert ('spec.volumes[0].secret.items[0].path: Invalid value: "../../etc/passwd": must not '
            "contain '..'") in messages
    assert 'spec.volumes[1].configMap.items[0].path: Invalid value: "/abs": must be a ' \
           "relative path" in messages
    assert ("spec.containers[0].env[1].valueFrom: Invalid value: \"\": may not have more than "
            "one field specified at a time") in messages
