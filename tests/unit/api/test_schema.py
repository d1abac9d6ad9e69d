"""schema.py: unknown field detection and OpenAPI definitions."""

from __future__ import annotations

import json

from minikube8s.api import schema
from minikube8s.api.resources import ALL


def test_every_resource_kind_is_described() -> None:
    defs = schema.openapi_definitions()
    gvks = {(g["group"], g["version"], g["kind"])
            for d in defs.values() for g in d.get("x-kubernetes-group-version-kind", [])}
    for r in ALL:
        assert (r.group, r.version, r.kind) in gvks, r.kind
        assert (r.group, r.version, r.kind + "List") in gvks or r.kind == "Binding"
    assert ("autoscaling", "v1", "Scale") in gvks


def test_definition_names_and_refs_resolve() -> None:
    defs = schema.openapi_definitions()
    assert "io.k8s.api.core.v1.Pod" in defs
    assert "io.k8s.api.coordination.v1.Lease" in defs
    assert "io.k8s.api.autoscaling.v1.Scale" in defs
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in defs
    text = json.dumps(defs)
    prefix = "#/components/schemas/"
    for part in text.split('"$ref": "')[1:]:
        ref = part.split('"', 1)[0]
        assert ref.startswith(prefix) and ref[len(prefix):] in defs, ref
    v2 = schema.openapi_definitions("#/definitions/")
    assert "#/components/schemas/" not in json.dumps(v2)


def test_patch_metadata() -> None:
    defs = schema.openapi_definitions()
    containers = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    volumes = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["volumes"]
    assert volumes["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    ports = defs["io.k8s.api.core.v1.ServiceSpec"]["properties"]["ports"]
    assert ports["x-kubernetes-patch-merge-key"] == "port"
    cports = defs["io.k8s.api.core.v1.Container"]["properties"]["ports"]
    assert cports["x-kubernetes-patch-merge-key"] == "containerPort"
    tol = defs["io.k8s.api.core.v1.PodSpec"]["properties"]["tolerations"]
    assert "x-kubernetes-patch-strategy" not in tol


def test_field_lookup() -> None:
    f = schema.field_of("PodSpec", "containers")
    assert f is not None and f.shape == "list" and f.type == "Container" and f.merge_key == "name"
    assert schema.field_of("Container", "nope") is None
    assert schema.fields_of("object") is None
    assert "apiVersion" in (schema.fields_of("Pod") or {})


def test_unknown_fields() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "labels": {"any": "thing"}, "bogus": 1},
           "spec": {"containers": [{"name": "c", "image": "x", "foo": 1,
                                    "livenessProbe": {"enabled": True,
                                                      "httpGet": {"port": 80, "x": 1}},
                                    "resources": {"limits": {"cpu": "1"}}}],
                    "portals": [], "affinity": {"free": {"form": 1}}},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "zz": 1}]},
           "extra": 1}
    assert schema.unknown_fields(pod) == [
        "metadata.bogus", "spec.containers[0].foo", "spec.containers[0].livenessProbe.enabled",
        "spec.containers[0].livenessProbe.httpGet.x", "spec.portals",
        "status.conditions[0].zz", "extra"]
    assert schema.unknown_field_messages({"kind": "Pod", "spec": {"x": 1}}) == [
        'unknown field "spec.x"']
    assert schema.strict_decoding_message({"kind": "Service", "apiVersion": "v1",
                                           "spec": {"publicIPs": []}}) == (
        'Service in version "v1" cannot be handled as a Service: strict decoding error: '
        'unknown field "spec.publicIPs"')
    assert schema.strict_decoding_message({"kind": "Pod", "spec": {}}) is None


def test_unknown_kinds_and_malformed_values() -> None:
    assert schema.unknown_fields({"kind": "Widget", "x": 1}) == []
    assert schema.unknown_fields({"kind": "Pod", "spec": "notamap",
                                  "metadata": {"ownerReferences": "x"}}) == []


def test_examples_have_no_unknown_fields() -> None:
    import pathlib

    import yaml

    root = pathlib.Path(__file__).resolve().parents[3] / "examples" / "v1"
    for path in root.glob("*.yaml"):
        assert schema.unknown_fields(yaml.safe_load(path.read_text())) == [], path
