"""create -f (v1 and the seed's v1beta3 manifests) and the many faces of kubectl get."""

from __future__ import annotations

import json
import re

import yaml

from .conftest import EXAMPLES, MANIFESTS
from .kubectl import Kubectl


def header(out: str) -> list[str]:
    return re.split(r"\s{2,}", out.splitlines()[0].strip())


def rows(out: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()[1:] if line.strip()]


def test_create_v1_examples(kubectl: Kubectl, ns: str) -> None:
    for f, what in (("pod.yaml", "pod/busybox"),
                    ("nginx-rc.yaml", "replicationcontroller/nginx-controller"),
                    ("nginx-service.yaml", "service/nginx")):
        out = kubectl("create", "-n", ns, "-f", str(EXAMPLES / "v1" / f)).out
        assert out.strip() == f"{what} created"
    svc = kubectl.json("get", "-n", ns, "svc", "nginx")
    assert svc["spec"]["externalIPs"] == ["12.0.0.5"]
    assert svc["spec"]["clusterIP"].startswith("192.168.3.")


def test_create_seed_v1beta3(kubectl: Kubectl, ns: str) -> None:
    rc = kubectl("create", "-n", ns, "-f", str(EXAMPLES / "seed" / "nginx_rc.yaml"))
    assert rc.out.strip() == "replicationcontroller/nginx-controller created"
    warnings = [line for line in rc.err.splitlines() if line.startswith("Warning:")]
    assert any("enabled" in w for w in warnings), rc.err
    assert any("portals" in w for w in warnings), rc.err
    svc = kubectl("create", "-n", ns, "-f", str(EXAMPLES / "seed" / "nginx_service.yaml"))
    assert svc.out.strip() == "service/nginx created"
    stored = kubectl.json("get", "-n", ns, "rc", "nginx-controller")
    assert stored["apiVersion"] == "v1"
    probe = stored["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]
    assert probe["httpGet"]["port"] == 80
    assert probe["initialDelaySeconds"] == 30
    assert probe["timeoutSeconds"] == 5
    assert stored["spec"]["replicas"] == 6
    service = kubectl.json("get", "-n", ns, "service", "nginx")
    assert service["spec"]["externalIPs"] == ["12.0.0.5"]
    assert [p["port"] for p in service["spec"]["ports"]] == [80, 443]


def test_get_forms(kubectl: Kubectl, ns: str) -> None:
    for f in ("pod.yaml", "rc.yaml", "svc.yaml"):
        kubectl("create", "-n", ns, "-f", str(MANIFESTS / f))

    pods = kubectl("get", "-n", ns, "pods").out
    assert header(pods) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    web = next(r for r in rows(pods) if r[0] == "web")
    assert web[1] == "0/1" and web[3] == "0"
    assert re.fullmatch(r"\d+s|\d+m\d*s?", web[4])

    wide = kubectl("get", "-n", ns, "pods", "web", "-o", "wide").out
    assert header(wide) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE",
                            "NOMINATED NODE", "READINESS GATES"]

    rc = kubectl("get", "-n", ns, "rc", "-o", "wide").out
    assert header(rc) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE", "CONTAINERS",
                          "IMAGES", "SELECTOR"]
    shop = rows(rc)[0]
    assert shop[0] == "shop" and shop[1] == "2"
    assert shop[5:] == ["shop,sidecar", "nginx:1.27,busybox:1.36", "app=shop"]

    svc = kubectl("get", "-n", ns, "services").out
    assert header(svc) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert rows(svc)[0][1:5] == ["ClusterIP", rows(svc)[0][2], "<none>", "80/TCP,443/TCP"]
    assert rows(svc)[0][2].startswith("192.168.3.")

    as_yaml = yaml.safe_load(kubectl("get", "-n", ns, "pod", "web", "-o", "yaml").out)
    assert as_yaml["kind"] == "Pod" and as_yaml["apiVersion"] == "v1"
    assert as_yaml["metadata"]["uid"] and as_yaml["metadata"]["resourceVersion"]
    assert as_yaml["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"

    as_json = kubectl.json("get", "-n", ns, "pods")
    assert as_json["kind"] == "List"
    # Besides web, the RC's own pods (its controller runs in --role a): shop-xxxxx.
    assert [i["metadata"]["name"] for i in as_json["items"]
            if not i["metadata"]["name"].startswith("shop-")] == ["web"]

    labelled = kubectl("get", "-n", ns, "pods", "-l", "tier=front", "-o", "name").out.split()
    assert labelled == ["pod/web"]
    assert all(n.startswith("pod/shop-") for n in kubectl(
        "get", "-n", ns, "pods", "-l", "tier!=front", "-o", "name").out.split())
    assert kubectl("get", "-n", ns, "pods", "-l", "tier in (back,front)", "-o",
                   "name").out.split() == ["pod/web"]
    assert "No resources found" in kubectl("get", "-n", ns, "pods", "-l", "tier=back").err

    show = kubectl("get", "-n", ns, "pods", "web", "--show-labels").out
    assert header(show)[-1] == "LABELS" and "app=web,tier=front" in show
    col = kubectl("get", "-n", ns, "pods", "web", "-L", "tier").out
    assert header(col)[-1] == "TIER" and rows(col)[0][-1] == "front"

    every = kubectl("get", "pods", "-A").out
    assert header(every)[0] == "NAMESPACE"
    assert [ns, "web"] in [r[:2] for r in rows(every)]

    both = kubectl("get", "-n", ns, "pods,rc").out
    assert "pod/web" in both and "replicationcontroller/shop" in both
    both2 = kubectl("get", "-n", ns, "rc,services", "-o", "name").out.split()
    assert both2 == ["replicationcontroller/shop", "service/shop"]

    every_kind = kubectl("get", "-n", ns, "all").out
    for name in ("pod/web", "replicationcontroller/shop", "service/shop"):
        assert name in every_kind

    names = kubectl("get", "-n", ns, "pods", "-l", "tier", "-o",
                    "custom-columns=N:.metadata.name,I:.spec.containers[0].image",
                    "--no-headers").out.split()
    assert names == ["web", "nginx:1.27"]
    jp = kubectl("get", "-n", ns, "svc", "shop", "-o", "jsonpath={.spec.ports[*].port}").out
    assert jp == "80 443"


def test_get_nodes_and_namespaces(kubectl: Kubectl) -> None:
    nodes = kubectl("get", "nodes").out + kubectl("get", "nodes").err
    assert "NAME" in nodes or "No resources found" in nodes
    out = kubectl("get", "no", "-o", "json").out
    assert json.loads(out)["kind"] == "List"
    nss = kubectl("get", "namespaces").out
    assert header(nss) == ["NAME", "STATUS", "AGE"]
    assert ["default", "Active"] == next(r for r in rows(nss) if r[0] == "default")[:2]
