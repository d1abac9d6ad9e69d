"""Strategic merge patch checked against the real implementation: ``kubectl patch --local``.

kubectl applies a strategic merge patch to a file without any server, using Kubernetes' own
strategicpatch package and the compiled-in Go types; our result must be identical.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from minikube8s.api.patch import strategic_merge_patch

KUBECTL = Path("/usr/lib/google-cloud-sdk/bin/kubectl.1.33")
pytestmark = [pytest.mark.kubectl,
              pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl.1.33 not installed")]

POD: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "labels": {"app": "web", "tier": "fe"},
                 "finalizers": ["a", "c"],
                 "ownerReferences": [{"apiVersion": "v1", "kind": "ReplicationController",
                                      "name": "rc", "uid": "u1"}]},
    "spec": {
        "containers": [
            {"name": "web", "image": "nginx:1",
             "ports": [{"containerPort": 80, "protocol": "TCP"},
                       {"containerPort": 443, "protocol": "TCP"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"},
                     {"name": "C", "value": "3"}],
             "volumeMounts": [{"name": "data", "mountPath": "/d"}],
             "args": ["-x"]},
            {"name": "side", "image": "busybox"},
            {"name": "third", "image": "alpine"},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "hostPath": {"path": "/c"}}],
        "tolerations": [{"key": "a", "operator": "Exists"}],
        "nodeSelector": {"disk": "ssd"},
    },
    "status": {"conditions": [{"type": "Ready", "status": "False"},
                              {"type": "PodScheduled", "status": "True"}]},
}

RC: dict[str, Any] = {
    "apiVersion": "v1", "kind": "ReplicationController",
    "metadata": {"name": "rc"},
    "spec": {"replicas": 2, "selector": {"app": "web"},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "a", "image": "x",
                                                   "env": [{"name": "E", "value": "1"}]}]}}},
}

SVC: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
    "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
                       {"name": "https", "port": 443, "targetPort": 443, "protocol": "TCP"}],
             "selector": {"app": "web"}, "externalIPs": ["1.2.3.4"]},
}

NODE: dict[str, Any] = {
    "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"},
    "spec": {"podCIDR": "10.0.0.0/24", "podCIDRs": ["10.0.0.0/24"]},
    "status": {"conditions": [{"type": "Ready", "status": "True"},
                              {"type": "MemoryPressure", "status": "False"}],
               "addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                             {"type": "Hostname", "address": "n"}],
               "capacity": {"cpu": "2"}},
}

CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("image change", POD, {"spec": {"containers": [{"name": "side", "image": "busybox:2"}]}}),
    ("new container", POD, {"spec": {"containers": [{"name": "new", "image": "x"}]}}),
    ("new and existing", POD, {"spec": {"containers": [{"name": "third", "image": "y"},
                                                       {"name": "new", "image": "x"}]}}),
    ("reorder patch", POD, {"spec": {"containers": [{"name": "third", "image": "y"},
                                                    {"name": "web", "image": "z"}]}}),
    ("apply removes env", POD, {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}, {"name": "third"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}, {"name": "C"}],
                        "env": [{"$patch": "delete", "name": "B"}], "name": "web"}]}}),
    ("apply adds env in middle", POD, {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "side"}, {"name": "third"}],
        "containers": [{"$setElementOrder/env": [{"name": "A"}, {"name": "N"}, {"name": "B"},
                                                 {"name": "C"}],
                        "env": [{"name": "N", "value": "n"}], "name": "web"}]}}),
    ("apply removes container", POD, {"spec": {
        "$setElementOrder/containers": [{"name": "web"}, {"name": "third"}],
        "containers": [{"$patch": "delete", "name": "side"}]}}),
    ("set element order only", POD, {"spec": {
        "$setElementOrder/containers": [{"name": "third"}, {"name": "web"},
                                        {"name": "side"}]}}),
    ("remove port", POD, {"spec": {"containers": [{
        "$setElementOrder/ports": [{"containerPort": 80}], "name": "web",
        "ports": [{"$patch": "delete", "containerPort": 443}]}]}}),
    ("add port", POD, {"spec": {"containers": [{
        "name": "web", "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]}}),
    ("null deletes", POD, {"metadata": {"labels": {"tier": None}},
                           "spec": {"nodeSelector": None,
                                    "containers": [{"name": "web", "args": None}]}}),
    ("atomic tolerations", POD, {"spec": {"tolerations": [{"key": "b", "operator": "Exists"}]}}),
    ("args replaced", POD, {"spec": {"containers": [{"name": "web", "args": ["-y", "-z"]}]}}),
    ("replace list", POD, {"spec": {"containers": [{"name": "only", "image": "o"},
                                                   {"$patch": "replace"}]}}),
    ("replace map", POD, {"metadata": {"labels": {"$patch": "replace", "x": "y"}}}),
    ("delete map", POD, {"spec": {"nodeSelector": {"$patch": "delete"}}}),
    ("finalizers union", POD, {"metadata": {"finalizers": ["b", "a"]}}),
    ("finalizers delete", POD, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
    ("finalizers order", POD, {"metadata": {"$setElementOrder/finalizers": ["c", "a"]}}),
    ("retain keys", POD, {"spec": {"volumes": [{"$retainKeys": ["hostPath", "name"],
                                                "hostPath": {"path": "/x"}, "name": "data"}]}}),
    ("owner refs", POD, {"metadata": {"ownerReferences": [
        {"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u2"}]}}),
    ("conditions", POD, {"status": {"conditions": [{"type": "Ready", "status": "True"},
                                                   {"type": "Initialized", "status": "True"}]}}),
    ("mounts", POD, {"spec": {"containers": [{"name": "web", "volumeMounts": [
        {"mountPath": "/e", "name": "cfg"}, {"mountPath": "/d", "readOnly": True}]}]}}),
    ("rc scale and env", RC, {"spec": {"replicas": 5, "template": {"spec": {"containers": [
        {"name": "a", "env": [{"name": "F", "value": "2"}]}]}}}}),
    ("rc selector", RC, {"spec": {"selector": {"v": "2"},
                                  "template": {"metadata": {"labels": {"v": "2"}}}}}),
    ("svc ports", SVC, {"spec": {"ports": [{"port": 443, "targetPort": 8443},
                                           {"port": 8080, "name": "alt"}]}}),
    ("svc remove port", SVC, {"spec": {"$setElementOrder/ports": [{"port": 80}],
                                       "ports": [{"$patch": "delete", "port": 443}]}}),
    ("svc external ips", SVC, {"spec": {"externalIPs": ["5.6.7.8"]}}),
    ("node status", NODE, {"status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
                                      "addresses": [{"type": "ExternalIP",
                                                     "address": "1.1.1.1"}]}}),
    ("node podCIDRs", NODE, {"spec": {"podCIDRs": ["10.1.0.0/24"]}}),
    ("annotations", POD, {"metadata": {"annotations": {
        "kubectl.kubernetes.io/last-applied-configuration": "{\"a\":1}"}}}),
]


def kubectl_patch(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "obj.json"
        path.write_text(json.dumps(obj))
        env = dict(os.environ, KUBECONFIG="/dev/null", HOME=d)
        res = subprocess.run(
            [str(KUBECTL), "patch", "-f", str(path), "--local", "--type=strategic",
             "-p", json.dumps(patch), "-o", "json"],
            capture_output=True, text=True, env=env, timeout=30, check=False)
        assert res.returncode == 0, res.stderr
        out: dict[str, Any] = json.loads(res.stdout)
        return out


@pytest.mark.parametrize(("name", "obj", "patch"), CASES, ids=[c[0] for c in CASES])
def test_same_as_kubectl(name: str, obj: dict[str, Any], patch: dict[str, Any]) -> None:
    want = kubectl_patch(obj, patch)
    got = strategic_merge_patch(copy.deepcopy(obj), patch, kind=obj["kind"])
    assert got == want
