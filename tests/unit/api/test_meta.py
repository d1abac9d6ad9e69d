"""meta.py: server-owned metadata on create and update."""

from __future__ import annotations

import re

from minikube8s.api import meta


def test_now_rfc3339_format() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta.now_rfc3339())


def test_uid_unique() -> None:
    assert meta.new_uid() != meta.new_uid()
    assert re.fullmatch(r"[0-9a-f-]{36}", meta.new_uid())


def test_prepare_for_create_fills_metadata() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"generateName": "web-", "resourceVersion": "12",
                        "deletionTimestamp": "2020-01-01T00:00:00Z", "uid": "forged"}}
    meta.prepare_for_create(obj, namespace="ns1")
    md = obj["metadata"]
    assert re.fullmatch(r"web-[bcdfghjklmnpqrstvwxz2456789]{5}", md["name"])
    assert md["namespace"] == "ns1"
    assert md["generation"] == 1
    assert md["uid"] != "forged"
    assert "resourceVersion" not in md and "deletionTimestamp" not in md
    assert md["creationTimestamp"].endswith("Z")


def test_prepare_for_create_keeps_name_and_namespace() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "x", "generateName": "y-", "namespace": "a"}}
    meta.prepare_for_create(obj, namespace="a")
    assert obj["metadata"]["name"] == "x"
    assert obj["metadata"]["namespace"] == "a"


def test_prepare_for_create_cluster_scoped_drops_namespace() -> None:
    obj = {"kind": "Node", "metadata": {"name": "n1", "namespace": "default"}}
    meta.prepare_for_create(obj, namespace=None)
    assert "namespace" not in obj["metadata"]


def test_prepare_for_create_missing_metadata() -> None:
    obj: dict = {"kind": "Pod"}
    meta.prepare_for_create(obj, namespace=None)
    assert obj["metadata"]["namespace"] == "default"


def test_generated_name_truncated() -> None:
    assert len(meta.generate_name("a" * 100)) == 63


def test_prepare_for_update_carries_and_bumps() -> None:
    old = {"kind": "ReplicationController",
           "metadata": {"name": "rc", "namespace": "default", "uid": "u1",
                        "creationTimestamp": "2020-01-01T00:00:00Z", "generation": 3},
           "spec": {"replicas": 1}}
    new = {"kind": "ReplicationController", "metadata": {"uid": "other"},
           "spec": {"replicas": 2}}
    meta.prepare_for_update(new, old)
    md = new["metadata"]
    assert md["uid"] == "u1" and md["name"] == "rc" and md["namespace"] == "default"
    assert md["creationTimestamp"] == "2020-01-01T00:00:00Z"
    assert md["generation"] == 4


def test_prepare_for_update_metadata_only_keeps_generation() -> None:
    old = {"kind": "Pod", "metadata": {"name": "p", "generation": 2}, "spec": {"a": 1},
           "status": {"phase": "Pending"}}
    new = {"kind": "Pod", "metadata": {"name": "p", "labels": {"x": "y"}}, "spec": {"a": 1},
           "status": {"phase": "Running"}}
    meta.prepare_for_update(new, old)
    assert new["metadata"]["generation"] == 2


def test_prepare_for_update_ignores_defaulted_fields() -> None:
    from minikube8s.api.defaults import apply_defaults

    old = {"kind": "ReplicationController", "metadata": {"name": "rc", "generation": 1},
           "spec": {"selector": {"a": "b"},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    apply_defaults(old)
    new = {"kind": "ReplicationController", "metadata": {"name": "rc"},
           "spec": {"selector": {"a": "b"},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "x"}]}}}}
    meta.prepare_for_update(new, old)
    assert new["metadata"]["generation"] == 1
