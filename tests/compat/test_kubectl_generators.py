"""kubectl's generator verbs (create namespace/service/quota, expose, run). They build the
object inside kubectl and send it with the typed client, which 1.32+ encodes as protobuf."""

from __future__ import annotations

from .conftest import MANIFESTS
from .kubectl import Kubectl


def test_create_namespace(kubectl: Kubectl) -> None:
    name = f"gen-ns-k{kubectl.version.replace('.', '')}"
    assert kubectl("create", "namespace", name).out.strip() == f"namespace/{name} created"
    assert kubectl.json("get", "ns", name)["status"]["phase"] == "Active"


def test_create_service_and_quota(kubectl: Kubectl, ns: str) -> None:
    out = kubectl("create", "service", "clusterip", "gen", "--tcp=8080:80", "-n", ns).out
    assert out.strip() == "service/gen created"
    svc = kubectl.json("get", "-n", ns, "svc", "gen")
    assert svc["spec"]["ports"][0]["port"] == 8080
    assert svc["spec"]["ports"][0]["targetPort"] == 80
    out = kubectl("create", "quota", "q", "--hard=pods=10,cpu=2", "-n", ns).out
    assert out.strip() == "resourcequota/q created"


def test_expose_and_run(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-n", ns, "-f", str(MANIFESTS / "rc.yaml"))
    out = kubectl("expose", "rc", "shop", "--port=80", "--name=shop-svc", "-n", ns).out
    assert out.strip() == "service/shop-svc exposed"
    svc = kubectl.json("get", "-n", ns, "svc", "shop-svc")
    assert svc["spec"]["selector"] == {"app": "shop"}
    out = kubectl("run", "solo", "--image=nginx:1.27", "-n", ns).out
    assert out.strip() == "pod/solo created"
    pod = kubectl.json("get", "-n", ns, "pod", "solo")
    assert pod["metadata"]["labels"] == {"run": "solo"}
