"""ConfigMaps and Secrets with real kubectl: the generators (``create configmap``, ``create
secret generic``: JSON before 1.32, protobuf from 1.32), ``get`` tables and YAML, ``describe``,
manifests with stringData through ``apply``, and the server's refusals as kubectl prints them."""

from __future__ import annotations

import base64
import re
from pathlib import Path

from .kubectl import Kubectl


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def test_create_configmap_get_describe(kubectl: Kubectl, ns: str, tmp_path: Path) -> None:
    conf = tmp_path / "nginx.conf"
    conf.write_text("server {\n  listen 80;\n}\n")
    out = kubectl("create", "configmap", "web", "-n", ns, "--from-literal=mode=fast",
                  f"--from-file={conf}", f"--from-file=blob={_binary(tmp_path)}").out
    assert out.strip() == "configmap/web created"
    table = kubectl("get", "cm", "-n", ns).out.splitlines()
    assert cells(table[0]) == ["NAME", "DATA", "AGE"]
    assert cells(table[1])[:2] == ["web", "3"]
    got = kubectl.json("get", "configmap", "web", "-n", ns)
    assert got["data"] == {"mode": "fast", "nginx.conf": "server {\n  listen 80;\n}\n"}
    assert got["binaryData"] == {"blob": "AP8B"}
    assert "generation" not in got["metadata"]
    described = kubectl("describe", "configmap", "web", "-n", ns).out
    for needle in ("Name:         web", f"Namespace:    {ns}", "Data\n====\n",
                   "mode:\n----\nfast\n", "BinaryData\n====\nblob: 3 bytes\n",
                   "Events:  <none>"):
        assert needle in described, (needle, described)


def _binary(tmp_path: Path) -> Path:
    p = tmp_path / "blob.bin"
    p.write_bytes(b"\x00\xff\x01")
    return p


def test_create_secret_generic_get_yaml_describe(kubectl: Kubectl, ns: str,
                                                 tmp_path: Path) -> None:
    key = tmp_path / "id_key"
    key.write_text("PRIVATE\n")
    out = kubectl("create", "secret", "generic", "db", "-n", ns,
                  "--from-literal=password=s3cret", f"--from-file={key}").out
    assert out.strip() == "secret/db created"
    table = kubectl("get", "secret", "-n", ns).out.splitlines()
    assert cells(table[0]) == ["NAME", "TYPE", "DATA", "AGE"]
    assert cells(table[1])[:3] == ["db", "Opaque", "2"]
    text = kubectl("get", "secret", "db", "-n", ns, "-o", "yaml").out
    assert f"password: {b64('s3cret')}" in text and f"id_key: {b64('PRIVATE' + chr(10))}" in text
    assert "type: Opaque" in text and "stringData" not in text
    described = kubectl("describe", "secret", "db", "-n", ns).out
    for needle in ("Name:         db", "Type:  Opaque", "Data\n====\n", "password:  6 bytes",
                   "id_key:    8 bytes"):
        assert needle in described, (needle, described)
    assert "s3cret" not in described
    # A typed secret from the same generator.
    kubectl("create", "secret", "generic", "typed", "-n", ns, "--type=example.com/x",
            "--from-literal=a=b")
    assert kubectl.json("get", "secret", "typed", "-n", ns)["type"] == "example.com/x"


def test_apply_string_data_and_errors(kubectl: Kubectl, ns: str) -> None:
    manifest = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n"
                "stringData:\n  token: abc\n")
    for _ in range(2):
        kubectl("apply", "-n", ns, "-f", "-", input=manifest)
    got = kubectl.json("get", "secret", "applied", "-n", ns)
    assert got["data"] == {"token": b64("abc")} and "stringData" not in got
    bad_key = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: badkey\n"
               "data:\n  a b: x\n")
    err = kubectl.fail("create", "-n", ns, "-f", "-", input=bad_key).err
    assert 'The ConfigMap "badkey" is invalid: data[a b]: Invalid value: "a b": a valid ' \
           "config key must consist of alphanumeric characters" in err, err
    bad_b64 = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad64\n"
               "data:\n  k: '!!!!'\n")
    err = kubectl.fail("create", "-n", ns, "-f", "-", input=bad_b64).err
    assert "illegal base64 data at input byte 0" in err, err
    frozen = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: frozen\n"
              "immutable: true\ndata:\n  a: '1'\n")
    kubectl("create", "-n", ns, "-f", "-", input=frozen)
    err = kubectl.fail("patch", "cm", "frozen", "-n", ns, "--type=merge",
                       "-p", '{"data":{"a":"2"}}').err
    assert "data: Forbidden: field is immutable when `immutable` is set" in err, err
    kubectl("delete", "cm", "frozen", "-n", ns)
