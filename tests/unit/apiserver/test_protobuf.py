"""Protobuf request bodies: the exact bytes kubectl 1.33 sent for its generator verbs decode to
the objects ``kubectl create ... --dry-run=client -o json`` prints."""

from __future__ import annotations

import pytest

from minikube8s.api import errors
from minikube8s.roles.apiserver import protobuf

# kubectl 1.33: create namespace nsx
NAMESPACE = bytes.fromhex(
    "6b3873000a0f0a02763112094e616d657370616365121b0a130a036e737812001a0022002a00320038004200"
    "12001a020a001a002200")
# kubectl 1.33: create service clusterip svx --tcp=8080:80 --tcp=53:dns --clusterip=10.0.0.9
SERVICE = bytes.fromhex(
    "6b3873000a0d0a027631120753657276696365128f010a1f0a0373767812001a0022002a0032003800420"
    "05a0a0a03617070120373767812680a1b0a07383038302d3830120354435018903f2206080010501a0028"
    "000a1c0a0635332d646e73120354435018352209080110001a03646e732800120a0a0361707012037376781"
    "a0831302e302e302e392209436c757374657249503a00420052005a00600068001a020a001a002200")
# kubectl 1.33: create quota qx --hard=pods=10,cpu=2,limits.memory=1Gi --scopes=BestEffort
QUOTA = bytes.fromhex(
    "6b3873000a130a027631120d5265736f7572636551756f746112560a120a02717812001a0022002a0032003"
    "8004200123e0a0a0a0363707512030a01320a160a0d6c696d6974732e6d656d6f727912050a033147690a0"
    "c0a04706f647312040a023130120a426573744566666f72741a001a002200")
# kubectl 1.33: create service loadbalancer lbx --tcp=443
LOADBALANCER = bytes.fromhex(
    "6b3873000a0d0a02763112075365727669636512690a1f0a036c627812001a0022002a003200380042005a0"
    "a0a0361707012036c627812420a180a03343433120354435018bb032207080010bb031a002800120a0a036170"
    "7012036c62781a00220c4c6f616442616c616e6365723a00420052005a00600068001a020a001a002200")


def test_namespace() -> None:
    assert protobuf.decode(NAMESPACE) == {"apiVersion": "v1", "kind": "Namespace",
                                          "metadata": {"name": "nsx"}}


def test_service() -> None:
    assert protobuf.decode(SERVICE) == {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "svx", "labels": {"app": "svx"}},
        "spec": {"ports": [{"name": "8080-80", "protocol": "TCP", "port": 8080,
                            "targetPort": 80},
                           {"name": "53-dns", "protocol": "TCP", "port": 53,
                            "targetPort": "dns"}],
                 "selector": {"app": "svx"}, "clusterIP": "10.0.0.9", "type": "ClusterIP"}}
    lb = protobuf.decode(LOADBALANCER)
    assert lb["spec"]["type"] == "LoadBalancer"
    assert lb["spec"]["ports"] == [{"name": "443", "protocol": "TCP", "port": 443,
                                    "targetPort": 443}]


def test_quota() -> None:
    assert protobuf.decode(QUOTA) == {
        "apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "qx"},
        "spec": {"hard": {"cpu": "2", "limits.memory": "1Gi", "pods": "10"},
                 "scopes": ["BestEffort"]}}


@pytest.mark.parametrize("body", [
    b"", b"k8s", b"{}", NAMESPACE[:-3], b"k8s\x00\x0a\x0c\x0a\x02v1\x12\x03Pod\x12\x00",
    NAMESPACE[:20] + b"\xff",
    # an ObjectMeta field number this decoder does not know (16)
    b"k8s\x00\x0a\x0f\x0a\x02v1\x12\x09Namespace\x12\x06\x0a\x04\x82\x01\x01x",
])
def test_bad_bodies_are_415(body: bytes) -> None:
    with pytest.raises(errors.APIError) as e:
        protobuf.decode(body)
    assert e.value.code == 415
