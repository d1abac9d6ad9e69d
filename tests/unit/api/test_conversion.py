"""conversion.py: the seed's v1beta3 manifests become valid v1 objects, with warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from minikube8s.api import errors, meta
from minikube8s.api.conversion import from_v1, to_v1
from minikube8s.api.defaults import apply_defaults
from minikube8s.api.validation import validate

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def load(rel: str) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES / rel).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def admit(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What the API server does with a POSTed body: convert, stamp, default, validate."""
    v1, warnings = to_v1(obj)
    meta.prepare_for_create(v1, namespace="default")
    apply_defaults(v1)
    validate(v1)
    return v1, warnings


def test_seed_rc() -> None:
    raw = load("seed/nginx_rc.yaml")
    assert raw["apiVersion"] == "v1beta3"
    v1, warnings = admit(raw)
    assert v1["apiVersion"] == "v1"
    assert v1["spec"]["replicas"] == 6
    tspec = v1["spec"]["template"]["spec"]
    assert "portals" not in tspec
    probe = tspec["containers"][0]["livenessProbe"]
    assert probe["httpGet"]["path"] == "/"
    assert probe["httpGet"]["port"] == 80
    assert probe["initialDelaySeconds"] == 30
    assert probe["timeoutSeconds"] == 5
    assert not {"enabled", "type", "TimeoutSeconds"} & set(probe)
    assert [p["containerPort"] for p in tspec["containers"][0]["ports"]] == [80, 443]
    assert warnings == [
        'v1beta3: field "spec.template.spec.containers[0].livenessProbe.TimeoutSeconds" read as '
        '"timeoutSeconds" (Kubernetes v0.17 matched field names case-insensitively)',
        'v1beta3: unknown field "spec.template.spec.containers[0].livenessProbe.enabled" '
        "dropped: a probe runs whenever it is set",
        'v1beta3: unknown field "spec.template.spec.containers[0].livenessProbe.type" dropped: '
        "the handler (httpGet) gives the probe type",
        'v1beta3: unknown field "spec.template.spec.portals" dropped: no Kubernetes version has '
        "pod-level portals (a Service gives pods a portal IP)",
    ]
    assert raw["spec"]["template"]["spec"]["portals"]  # the input is not mutated


def test_seed_service() -> None:
    v1, warnings = admit(load("seed/nginx_service.yaml"))
    assert warnings == []
    spec = v1["spec"]
    assert spec["externalIPs"] == ["12.0.0.5"]
    assert "publicIPs" not in spec
    assert [(p["name"], p["port"], p["targetPort"]) for p in spec["ports"]] == [
        ("http", 80, 80), ("https", 443, 443)]
    assert spec["selector"] == {"name": "nginx"}


def test_seed_matches_v1_examples() -> None:
    seed_rc, _ = admit(load("seed/nginx_rc.yaml"))
    v1_rc, warnings = admit(load("v1/nginx-rc.yaml"))
    assert warnings == []
    assert seed_rc["spec"] == v1_rc["spec"]
    seed_svc, _ = admit(load("seed/nginx_service.yaml"))
    v1_svc, _ = admit(load("v1/nginx-service.yaml"))
    assert seed_svc["spec"] == v1_svc["spec"]
    pod, _ = admit(load("v1/pod.yaml"))
    assert pod["spec"]["containers"][0]["image"].startswith("busybox")


def test_v1_passthrough_is_a_copy() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    out, warnings = to_v1(obj)
    assert out == obj and out is not obj and warnings == []
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}
    assert to_v1(lease)[0] == lease
    assert to_v1({"kind": "Pod"})[0] == {"kind": "Pod"}


@pytest.mark.parametrize("version", ["v1beta1", "v2", "apps/v1", "nonsense"])
def test_unknown_version(version: str) -> None:
    with pytest.raises(errors.BadRequest) as ei:
        to_v1({"apiVersion": version, "kind": "ReplicationController"})
    assert ei.value.message == (
        f'no kind "ReplicationController" is registered for version "{version}"')


def test_v1beta3_other_fields() -> None:
    pod = {"apiVersion": "v1beta3", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"host": "n1", "serviceAccount": "sa",
                    "containers": [{"name": "c", "image": "x", "privileged": True,
                                    "readinessProbe": {"enabled": False,
                                                       "tcpSocket": {"port": 80}}}]}}
    out, warnings = to_v1(pod)
    spec = out["spec"]
    assert spec["nodeName"] == "n1" and spec["serviceAccountName"] == "sa"
    assert spec["containers"][0]["securityContext"] == {"privileged": True}
    assert "readinessProbe" not in spec["containers"][0]
    assert any("enabled: false" in w for w in warnings)
    svc = {"apiVersion": "v1beta3", "kind": "Service",
           "spec": {"portalIP": "10.0.0.1", "port": 80, "containerPort": 8080,
                    "createExternalLoadBalancer": True}}
    out, warnings = to_v1(svc)
    assert out["spec"] == {"clusterIP": "10.0.0.1", "type": "LoadBalancer",
                           "ports": [{"port": 80, "targetPort": 8080}]}
    minion = {"apiVersion": "v1beta3", "kind": "Minion", "metadata": {"name": "n"}}
    out, warnings = to_v1(minion)
    assert out["kind"] == "Node" and warnings == ['v1beta3: kind "Minion" is "Node" in v1']


def test_v1beta3_list() -> None:
    lst = {"apiVersion": "v1beta3", "kind": "List", "items": [
        {"apiVersion": "v1beta3", "kind": "Service", "spec": {"publicIPs": ["1.2.3.4"]}},
        {"apiVersion": "v1beta3", "kind": "Pod",
         "spec": {"containers": [], "portals": []}}]}
    out, warnings = to_v1(lst)
    assert out["items"][0]["spec"]["externalIPs"] == ["1.2.3.4"]
    assert out["items"][1]["apiVersion"] == "v1"
    assert warnings[0].startswith('v1beta3: unknown field "items[1].spec.portals"')


def test_from_v1() -> None:
    svc = {"apiVersion": "v1", "kind": "Service",
           "spec": {"clusterIP": "192.168.3.5", "externalIPs": ["12.0.0.5"]}}
    out = from_v1(svc, "v1beta3")
    assert out == {"apiVersion": "v1beta3", "kind": "Service",
                   "spec": {"portalIP": "192.168.3.5", "publicIPs": ["12.0.0.5"]}}
    assert svc["spec"]["clusterIP"] == "192.168.3.5"
    lst = {"apiVersion": "v1", "kind": "PodList",
           "items": [{"kind": "Pod", "apiVersion": "v1", "spec": {"nodeName": "n"}}]}
    out = from_v1(lst, "v1beta3")
    assert out["items"][0]["spec"] == {"host": "n"}
    assert from_v1(svc, "v1") == svc
    status = {"kind": "Status", "apiVersion": "v1", "code": 404}
    assert from_v1(status, "v1beta3") == status
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "rows": []}
    assert from_v1(table, "v1beta3") == table
    with pytest.raises(errors.BadRequest):
        from_v1(svc, "v9")


def test_roundtrip_service() -> None:
    v1, _ = admit(load("seed/nginx_service.yaml"))
    v1["spec"]["clusterIP"] = "192.168.3.214"
    back, warnings = to_v1(from_v1(v1, "v1beta3"))
    assert back == v1 and warnings == []


def test_v1beta3_case_insensitive_fields() -> None:
    rc = {"apiVersion": "v1beta3", "kind": "ReplicationController",
          "spec": {"Replicas": 2, "template": {"spec": {"containers": [
              {"Name": "c", "image": "x", "Ports": [{"ContainerPort": 80}]}]}}}}
    out, warnings = to_v1(rc)
    assert out["spec"]["replicas"] == 2
    c = out["spec"]["template"]["spec"]["containers"][0]
    assert c == {"name": "c", "image": "x", "ports": [{"containerPort": 80}]}
    assert 'v1beta3: field "spec.Replicas" read as "replicas" (Kubernetes v0.17 matched field ' \
           "names case-insensitively)" in warnings
    assert any('"spec.template.spec.containers[0].Ports[0].ContainerPort"' not in w
               for w in warnings)
    assert len(warnings) == 4
    lst = {"apiVersion": "v1beta3", "kind": "List",
           "items": [{"apiVersion": "v1beta3", "kind": "Service", "spec": {"SessionAffinity":
                                                                            "None"}}]}
    out, warnings = to_v1(lst)
    assert out["items"][0]["spec"] == {"sessionAffinity": "None"}
    assert warnings == ['v1beta3: field "items[0].spec.SessionAffinity" read as '
                        '"sessionAffinity" (Kubernetes v0.17 matched field names '
                        "case-insensitively)"]
