"""Size limits in Kubernetes' words: names, label keys and values, annotations, the request
body (3 MiB, every write path, chunked too) and the stored object (1.5 MiB, 413).

All on the in-process server (memory store): these are decisions of the API layer alone.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube8s.roles.apiserver.params import MAX_BODY
from minikube8s.roles.apiserver.rules import MAX_OBJECT_SIZE
from tests.fixtures.apiserver import InProcessApi

Object = dict[str, Any]
NS = "/api/v1/namespaces/default"
MERGE = {"Content-Type": "application/merge-patch+json"}


def pod(name: str, **md: Any) -> Object:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **md},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


async def causes(api: InProcessApi, path: str, body: Object) -> list[str]:
    r = await api.http.post(path, json=body)
    status = await r.json()
    assert r.status == 422, status
    assert status["reason"] == "Invalid"
    return [f'{c["field"]}: {c["message"]}' for c in status["details"]["causes"]]


async def test_name_lengths(api: InProcessApi) -> None:
    long = "a" * 254
    assert f'metadata.name: Invalid value: "{long}": must be no more than 253 characters' in \
        await causes(api, f"{NS}/pods", pod(long))
    assert (await api.http.post(f"{NS}/pods", json=pod("a" * 253))).status == 201
    ns = "n" * 64
    assert f'metadata.name: Invalid value: "{ns}": must be no more than 63 characters' in \
        await causes(api, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                 "metadata": {"name": ns}})
    svc = "s" * 64
    assert f'metadata.name: Invalid value: "{svc}": must be no more than 63 characters' in \
        await causes(api, f"{NS}/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": svc},
            "spec": {"ports": [{"port": 80}]}})
    got = await causes(api, f"{NS}/pods", pod("Bad_Name"))
    assert got == ['metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain '
                   "must consist of lower case alphanumeric characters, '-' or '.', and must "
                   "start and end with an alphanumeric character (e.g. 'example.com', regex "
                   "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]"
                   "([-a-z0-9]*[a-z0-9])?)*')"]


async def test_label_and_annotation_limits(api: InProcessApi) -> None:
    key, value, prefix = "k" * 64, "v" * 64, "p" * 254
    got = await causes(api, f"{NS}/pods", pod("l1", labels={key: "x", "ok": value,
                                                            f"{prefix}/name": "y"}))
    assert f'metadata.labels: Invalid value: "{key}": name part must be no more than 63 ' \
           "characters" in got
    assert f'metadata.labels: Invalid value: "{value}": must be no more than 63 characters' \
        in got
    assert any(g.startswith(f'metadata.labels: Invalid value: "{prefix}/name": prefix part '
                            "must be no more than 253 characters") for g in got), got
    big = {"a": "x" * (256 * 1024)}
    assert await causes(api, f"{NS}/pods", pod("a1", annotations=big)) == [
        "metadata.annotations: Too long: must have at most 262144 bytes"]
    ok = {"a": "x" * (256 * 1024 - 1)}
    assert (await api.http.post(f"{NS}/pods", json=pod("a2", annotations=ok))).status == 201


async def _too_large(r: Any) -> str:
    status = await r.json()
    assert r.status == 413, status
    assert status["reason"] == "RequestEntityTooLarge" and status["kind"] == "Status"
    message: str = status["message"]
    assert message.startswith("Request entity too large")
    return message


async def test_body_limit_on_every_write_path(api: InProcessApi) -> None:
    assert (await api.http.post(f"{NS}/pods", json=pod("big"))).status == 201
    blob = json.dumps(pod("big", annotations={"a": "x" * MAX_BODY})).encode()
    assert len(blob) > MAX_BODY
    sends = [
        ("POST", f"{NS}/pods", {}), ("PUT", f"{NS}/pods/big", {}),
        ("PATCH", f"{NS}/pods/big", MERGE), ("PUT", f"{NS}/pods/big/status", {}),
        ("PATCH", f"{NS}/pods/big/status", MERGE), ("POST", f"{NS}/pods/big/binding", {}),
        ("DELETE", f"{NS}/pods/big", {}),
        ("POST", f"{NS}/pods", {"Content-Type": "application/yaml"}),
    ]
    for method, path, headers in sends:
        msg = await _too_large(await api.http.request(method, path, data=blob,
                                                      headers=headers))
        assert msg == f"Request entity too large: limit is {MAX_BODY}", (method, path)

    async def chunks() -> AsyncIterator[bytes]:
        # chunked transfer: no Content-Length to refuse on, the reader stops at the limit
        for i in range(0, len(blob), 64 * 1024):
            yield blob[i:i + 64 * 1024]

    for method, path, headers in sends[:3]:
        r = await api.http.request(method, path, data=chunks(), headers=headers)
        assert await _too_large(r) == f"Request entity too large: limit is {MAX_BODY}"
    # still there, unchanged
    r = await api.http.get(f"{NS}/pods/big")
    assert r.status == 200 and "annotations" not in (await r.json())["metadata"]


async def test_object_size_limit(api: InProcessApi) -> None:
    """Under the body limit, over etcd's 1.5 MiB once stored: 413, on create and on a patch
    that grows an object."""
    args = ["x" * 1000] * 1600  # 1.6 MB of arguments in a 1.6 MB body
    body = pod("huge")
    body["spec"]["containers"][0]["args"] = args
    msg = await _too_large(await api.http.post(f"{NS}/pods", json=body))
    assert f"the limit is {MAX_OBJECT_SIZE}" in msg and 'pods "huge"' in msg
    assert (await api.http.get(f"{NS}/pods/huge")).status == 404
    rc: Object = {"apiVersion": "v1", "kind": "ReplicationController",
                  "metadata": {"name": "grow"}, "spec": {"replicas": 0, "selector": {"a": "b"},
                  "template": {"metadata": {"labels": {"a": "b"}},
                               "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}
    assert (await api.http.post(f"{NS}/replicationcontrollers", json=rc)).status == 201
    half = {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx", "args": ["y" * 1000] * 900}]}}}}
    r = await api.http.patch(f"{NS}/replicationcontrollers/grow", data=json.dumps(half),
                             headers=MERGE)
    assert r.status == 200, await r.text()
    more = {"spec": {"template": {"spec": {"containers": [
        {"name": "c", "image": "nginx", "args": ["y" * 1000] * 1700}]}}}}
    r = await api.http.patch(f"{NS}/replicationcontrollers/grow", data=json.dumps(more),
                             headers=MERGE)
    assert 'replicationcontrollers "grow"' in await _too_large(r)


@pytest.mark.parametrize("ctype", ["application/json", "application/yaml"])
async def test_small_hostile_bodies_are_400(api: InProcessApi, ctype: str) -> None:
    """Each refused as a 400 Status with a reason, never a 500."""
    yaml_ = ctype == "application/yaml"
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
        for i in range(8))
    bodies: list[tuple[bytes, str]] = [
        (b"[" * 10_000 + b"]" * 10_000, "depth"),
        (b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "depth"),
        (b'{"kind": "Pod", "n": ' + b"1" * 10_000 + b"}", "digits"),
        (b'{"kind": "Pod", "n": "\xff\xfe"}', "utf-8"),
    ]
    if yaml_:
        # YAML 1.1 spells them .nan and .inf (NaN and 1e999999 are strings there), and a
        # float needs a dot and a signed exponent
        bodies += [
            (laughs.encode(), "excessive aliasing"),
            (b"kind: Pod\nn: .nan\n", "NaN"),
            (b"kind: Pod\nn: -.inf\n", "Infinity"),
            (b"kind: Pod\nn: 1.0e+999999\n", "range"),
            (b"kind: Pod\nn: !!binary aGVsbG8=\n", "bytes"),
            ("\n".join("  " * i + f"k{i}:" for i in range(500)).encode() + b" v", "depth"),
            (b"[" + b"1," * 300_000 + b"1]", "too large"),
        ]
    else:
        bodies += [
            (b'{"kind": "Pod", "n": NaN}', "NaN"),
            (b'{"kind": "Pod", "n": -Infinity}', "Infinity"),
            (b'{"kind": "Pod", "n": 1e999999}', "range"),
            (b'{"kind": "Pod", "n": ' + str(2**64).encode() + b"}", "int64"),
        ]
    for body, what in bodies:
        r = await api.http.post(f"{NS}/pods", data=body, headers={"Content-Type": ctype})
        status = await r.json()
        assert r.status == 400, (what, status)
        assert status["reason"] == "BadRequest", (what, status)
    # lone surrogates: libyaml refuses the escape; in JSON they become U+FFFD, as Go's
    # decoder makes them
    text = json.dumps(pod("sur", annotations={"note": "\ud800x"}))
    r = await api.http.post(f"{NS}/pods", data=text.encode(), headers={"Content-Type": ctype})
    if yaml_:
        assert r.status == 400, await r.text()
        return
    assert r.status == 201, await r.text()
    assert (await r.json())["metadata"]["annotations"]["note"] == "\ufffdx"
