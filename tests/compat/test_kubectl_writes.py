"""apply, scale, label, annotate, patch (three types), describe, delete and wait."""

from __future__ import annotations

import json
from typing import Any

from .conftest import MANIFESTS
from .kubectl import Kubectl

RC = str(MANIFESTS / "rc.yaml")
RC_CHANGED = str(MANIFESTS / "rc-changed.yaml")
POD = str(MANIFESTS / "pod.yaml")
SVC = str(MANIFESTS / "svc.yaml")


def env_of(rc: dict[str, Any], container: str = "shop") -> list[tuple[str, str]]:
    c = next(c for c in rc["spec"]["template"]["spec"]["containers"] if c["name"] == container)
    return [(e["name"], e.get("value", "")) for e in c.get("env", [])]


def test_apply_three_times(kubectl: Kubectl, ns: str) -> None:
    first = kubectl("apply", "-n", ns, "-f", RC)
    assert first.out.strip() == "replicationcontroller/shop created"
    stored = kubectl.json("get", "-n", ns, "rc", "shop")
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"][
        "annotations"]

    second = kubectl("apply", "-n", ns, "-f", RC)
    assert second.out.strip() == "replicationcontroller/shop unchanged"

    # Someone else adds an env entry: a three-way strategic merge leaves it alone, where a
    # JSON merge patch would replace the whole list.
    kubectl("patch", "-n", ns, "rc", "shop", "-p", json.dumps(
        {"spec": {"template": {"spec": {"containers": [
            {"name": "shop", "env": [{"name": "DELTA", "value": "4"}]}]}}}}))

    third = kubectl("apply", "-n", ns, "-f", RC_CHANGED)
    assert third.out.strip() == "replicationcontroller/shop configured"
    stored = kubectl.json("get", "-n", ns, "rc", "shop")
    env = env_of(stored)
    assert ("ALPHA", "1") in env
    assert ("CHARLIE", "3") in env
    assert ("DELTA", "4") in env
    assert "BRAVO" not in [n for n, _ in env]
    containers = stored["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["shop", "sidecar"]
    assert [p["containerPort"] for p in containers[0]["ports"]] == [80, 443]
    assert containers[1]["command"] == ["sleep", "3600"]


def test_apply_server_side(kubectl: Kubectl, ns: str) -> None:
    out = kubectl("apply", "--server-side", "-n", ns, "-f", SVC).out
    assert out.strip() == "service/shop serverside-applied"
    svc = kubectl.json("get", "-n", ns, "svc", "shop")
    assert [p["port"] for p in svc["spec"]["ports"]] == [80, 443]


def test_scale_label_annotate(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-n", ns, "-f", RC)
    assert kubectl("scale", "-n", ns, "rc", "shop", "--replicas=5").out.strip() == \
        "replicationcontroller/shop scaled"
    assert kubectl.json("get", "-n", ns, "rc", "shop")["spec"]["replicas"] == 5
    res = kubectl("scale", "-n", ns, "rc", "shop", "--replicas=1",
                  "--current-replicas=5")
    assert res.out.strip() == "replicationcontroller/shop scaled"
    kubectl.fail("scale", "-n", ns, "rc", "shop", "--replicas=3", "--current-replicas=7")

    assert kubectl("label", "-n", ns, "rc", "shop", "env=test").out.strip() == \
        "replicationcontroller/shop labeled"
    # kubectl 1.27 itself prints "annotate" (its printer was given the verb, fixed in 1.28).
    annotated = "annotate" if kubectl.minor <= 27 else "annotated"
    assert kubectl("annotate", "-n", ns, "rc", "shop", "owner=me").out.strip() == \
        f"replicationcontroller/shop {annotated}"
    rc = kubectl.json("get", "-n", ns, "rc", "shop")
    assert rc["metadata"]["labels"] == {"app": "shop", "env": "test"}
    assert rc["metadata"]["annotations"]["owner"] == "me"
    kubectl("label", "-n", ns, "rc", "shop", "env-")
    assert kubectl.json("get", "-n", ns, "rc", "shop")["metadata"]["labels"] == {"app": "shop"}
    res = kubectl.fail("label", "-n", ns, "rc", "shop", "app=other")
    assert "'app' already has a value (shop), and --overwrite is false" in res.err


def test_patch_types(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "-n", ns, "-f", RC)
    strategic = kubectl("patch", "-n", ns, "rc", "shop", "--type", "strategic", "-p",
                        json.dumps({"spec": {"template": {"spec": {"containers": [
                            {"name": "sidecar", "image": "busybox:1.37"}]}}}}))
    assert strategic.out.strip() == "replicationcontroller/shop patched"
    rc = kubectl.json("get", "-n", ns, "rc", "shop")
    containers = rc["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("shop", "nginx:1.27"),
                                                            ("sidecar", "busybox:1.37")]
    assert env_of(rc) == [("ALPHA", "1"), ("BRAVO", "2")]

    merge = kubectl("patch", "-n", ns, "rc", "shop", "--type", "merge", "-p",
                    '{"metadata":{"labels":{"tier":"web"}},"spec":{"replicas":3}}')
    assert merge.out.strip() == "replicationcontroller/shop patched"
    rc = kubectl.json("get", "-n", ns, "rc", "shop")
    assert rc["metadata"]["labels"] == {"app": "shop", "tier": "web"}
    assert rc["spec"]["replicas"] == 3

    jsonpatch = kubectl("patch", "-n", ns, "rc", "shop", "--type", "json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/replicas", "value": 4},
        {"op": "remove", "path": "/metadata/labels/tier"},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-",
         "value": {"name": "ECHO", "value": "5"}},
    ]))
    assert jsonpatch.out.strip() == "replicationcontroller/shop patched"
    rc = kubectl.json("get", "-n", ns, "rc", "shop")
    assert rc["spec"]["replicas"] == 4
    assert "tier" not in rc["metadata"]["labels"]
    assert env_of(rc)[-1] == ("ECHO", "5")

    # Kubernetes answers a failed JSON-patch test with a generic 422 (patch.go), which kubectl
    # prints as "The request is invalid: ..." with the json-patch library's message.
    res = kubectl.fail("patch", "-n", ns, "rc", "shop", "--type", "json", "-p",
                       '[{"op":"test","path":"/spec/replicas","value":99}]')
    assert res.err.startswith("The request is invalid: "), res.err
    assert "testing value /spec/replicas failed" in res.err

    nochange = kubectl("patch", "-n", ns, "rc", "shop", "--type", "merge", "-p",
                       '{"spec":{"replicas":4}}')
    assert nochange.out.strip() == "replicationcontroller/shop patched (no change)"


def test_describe(kubectl: Kubectl, ns: str) -> None:
    for f in (POD, RC, SVC):
        kubectl("create", "-n", ns, "-f", f)
    pod = kubectl("describe", "-n", ns, "pod", "web").out
    for needle in ("Name:", "web", f"Namespace:    {ns}", "Labels:", "app=web",
                   "Containers:", "nginx:1.27", "80/TCP", "Events:"):
        assert needle in pod, (needle, pod)
    rc = kubectl("describe", "-n", ns, "rc", "shop").out
    for needle in ("Name:", "shop", "Selector:", "app=shop", "Replicas:", "Pods Status:",
                   "Pod Template:", "ALPHA:", "Events:"):
        assert needle in rc, (needle, rc)
    svc = kubectl("describe", "-n", ns, "svc", "shop").out
    for needle in ("Name:", "shop", "Type:", "ClusterIP", "IP:", "192.168.3.", "Port:",
                   "80/TCP", "443/TCP", "Selector:", "app=shop"):
        assert needle in svc, (needle, svc)


def test_delete_and_wait(kubectl: Kubectl, ns: str) -> None:
    for f in (POD, RC, SVC):
        kubectl("create", "-n", ns, "-f", f)
    out = kubectl("delete", "-n", ns, "-f", SVC).out
    assert out.startswith('service "shop" deleted'), out
    kubectl.fail("get", "-n", ns, "svc", "shop")

    kubectl("delete", "-n", ns, "rc", "shop", "--wait=false")
    res = kubectl("wait", "-n", ns, "--for=delete", "rc/shop", "--timeout=20s", check=False)
    assert res.code == 0, res

    kubectl("delete", "-n", ns, "pod", "web", "--wait=false", "--grace-period=0", "--force",
            check=False)
    res = kubectl("wait", "-n", ns, "--for=delete", "pod/web", "--timeout=20s", check=False)
    assert res.code == 0, res
    kubectl.fail("get", "-n", ns, "pod", "web")

    kubectl("create", "-n", ns, "-f", POD)
    out = kubectl("delete", "-n", ns, "pod", "web", "--grace-period=0", "--force").out
    assert 'pod "web" force deleted' in out
