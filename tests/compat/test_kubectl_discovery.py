"""kubectl version, api-resources, api-versions, explain and shortnames against the server."""

from __future__ import annotations

import json

from .kubectl import Kubectl


def test_version(kubectl: Kubectl) -> None:
    out = kubectl("version", "-o", "json").out
    doc = json.loads(out)
    server = doc["serverVersion"]
    assert server["major"] == "1"
    assert "minikube8s" in server["gitVersion"]
    plain = kubectl("version").out
    assert "Server Version:" in plain and "minikube8s" in plain


def test_api_resources(kubectl: Kubectl) -> None:
    out = kubectl("api-resources").out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    assert out.splitlines()[0].split() == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED",
                                           "KIND"]
    for name, short, kind in (("pods", "po", "Pod"), ("replicationcontrollers", "rc",
                                                      "ReplicationController"),
                              ("services", "svc", "Service"), ("nodes", "no", "Node"),
                              ("namespaces", "ns", "Namespace"), ("endpoints", "ep",
                                                                  "Endpoints"),
                              ("events", "ev", "Event")):
        assert rows[name][1] == short, rows[name]
        assert rows[name][2] == "v1"
        assert rows[name][-1] == kind
    assert rows["nodes"][3] == "false"
    assert rows["pods"][3] == "true"
    assert rows["leases"][1:3] == ["coordination.k8s.io/v1", "true"]
    # v1 stays the preferred core version: each resource is listed once.
    assert len([r for r in out.splitlines() if r.startswith("pods ")]) == 1
    wide = kubectl("api-resources", "-o", "wide").out
    assert "all" in next(line for line in wide.splitlines() if line.startswith("pods "))
    namespaced = kubectl("api-resources", "--namespaced=false", "-o", "name").out.split()
    assert set(namespaced) == {"namespaces", "nodes"}


def test_api_versions(kubectl: Kubectl) -> None:
    versions = kubectl("api-versions").out.split()
    assert "v1" in versions
    assert "v1beta3" in versions
    assert "coordination.k8s.io/v1" in versions


def test_shortnames_resolve(kubectl: Kubectl) -> None:
    for name in ("no", "nodes", "node", "ns", "namespaces", "po", "rc", "svc", "ep", "ev"):
        kubectl("get", name)
    namespaces = kubectl("get", "ns", "-o", "name").out.split()
    assert "namespace/default" in namespaces


def test_explain_pod_containers(kubectl: Kubectl) -> None:
    out = kubectl("explain", "pods.spec.containers").out
    assert "KIND:" in out and "Pod" in out
    assert "image" in out and "FIELDS:" in out
