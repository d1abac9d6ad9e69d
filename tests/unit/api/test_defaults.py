"""defaults.py: Kubernetes v1 defaulting."""

from __future__ import annotations

import pytest

from minikube8s.api.defaults import apply_defaults, image_pull_policy


def pod(**spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "nginx"}], **spec}}


def test_pod_spec_defaults() -> None:
    p = pod()
    apply_defaults(p)
    s = p["spec"]
    assert s["restartPolicy"] == "Always"
    assert s["dnsPolicy"] == "ClusterFirst"
    assert s["terminationGracePeriodSeconds"] == 30
    assert s["schedulerName"] == "default-scheduler"
    assert s["securityContext"] == {}
    c = s["containers"][0]
    assert c["imagePullPolicy"] == "Always"
    assert c["terminationMessagePath"] == "/dev/termination-log"
    assert c["terminationMessagePolicy"] == "File"
    assert c["resources"] == {}


def test_pod_keeps_explicit_values() -> None:
    p = pod(restartPolicy="Never", terminationGracePeriodSeconds=0)
    p["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    apply_defaults(p)
    assert p["spec"]["restartPolicy"] == "Never"
    assert p["spec"]["terminationGracePeriodSeconds"] == 0
    assert p["spec"]["containers"][0]["imagePullPolicy"] == "Never"


@pytest.mark.parametrize(("image", "policy"), [
    ("nginx", "Always"), ("nginx:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/nginx", "Always"), ("localhost:5000/nginx:v1", "IfNotPresent"),
    ("nginx@sha256:abcd", "IfNotPresent"), ("busybox:latest", "Always"),
])
def test_image_pull_policy(image: str, policy: str) -> None:
    assert image_pull_policy(image) == policy


def test_container_ports_probes_env_resources() -> None:
    p = pod()
    c = p["spec"]["containers"][0]
    c["ports"] = [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]
    c["livenessProbe"] = {"httpGet": {"port": 80}}
    c["readinessProbe"] = {"tcpSocket": {"port": 80}, "periodSeconds": 5}
    c["env"] = [{"name": "A", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]
    c["resources"] = {"limits": {"cpu": "0.5", "memory": 1073741824}}
    apply_defaults(p)
    assert [x["protocol"] for x in c["ports"]] == ["TCP", "UDP"]
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                  "timeoutSeconds": 1, "periodSeconds": 10,
                                  "successThreshold": 1, "failureThreshold": 3}
    assert c["readinessProbe"]["periodSeconds"] == 5
    assert c["env"][0]["valueFrom"]["fieldRef"]["apiVersion"] == "v1"
    assert c["resources"]["limits"] == {"cpu": "500m", "memory": "1073741824"}
    assert c["resources"]["requests"] == {"cpu": "500m", "memory": "1073741824"}


def test_host_network_host_ports() -> None:
    p = pod(hostNetwork=True)
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    apply_defaults(p)
    assert p["spec"]["containers"][0]["ports"][0]["hostPort"] == 8080


def test_volumes() -> None:
    p = pod(volumes=[{"name": "a"}, {"name": "b", "secret": {"secretName": "s"}},
                     {"name": "c", "hostPath": {"path": "/x"}}])
    apply_defaults(p)
    v = p["spec"]["volumes"]
    assert v[0]["emptyDir"] == {}
    assert v[1]["secret"]["defaultMode"] == 420
    assert v[2]["hostPath"]["type"] == ""


def test_replication_controller() -> None:
    rc = {"kind": "ReplicationController", "metadata": {"name": "r"},
          "spec": {"template": {"metadata": {"labels": {"name": "nginx"}},
                                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}}
    apply_defaults(rc)
    assert rc["spec"]["selector"] == {"name": "nginx"}
    assert rc["metadata"]["labels"] == {"name": "nginx"}
    assert rc["spec"]["replicas"] == 1
    tspec = rc["spec"]["template"]["spec"]
    assert tspec["restartPolicy"] == "Always"
    assert tspec["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    rc["spec"]["selector"]["name"] = "x"  # a copy, not shared with the template
    assert rc["spec"]["template"]["metadata"]["labels"] == {"name": "nginx"}


def test_replication_controller_keeps_selector_labels_and_zero_replicas() -> None:
    rc = {"kind": "ReplicationController", "metadata": {"name": "r", "labels": {"a": "b"}},
          "spec": {"replicas": 0, "selector": {"x": "y"},
                   "template": {"metadata": {"labels": {"x": "y", "z": "w"}}, "spec": {}}}}
    apply_defaults(rc)
    assert rc["spec"]["selector"] == {"x": "y"}
    assert rc["metadata"]["labels"] == {"a": "b"}
    assert rc["spec"]["replicas"] == 0


def test_service() -> None:
    svc = {"kind": "Service", "metadata": {"name": "s"},
           "spec": {"ports": [{"port": 80}, {"port": 443, "targetPort": 8443, "protocol": "TCP"},
                              {"port": 53, "protocol": "UDP", "targetPort": "dns"}]}}
    apply_defaults(svc)
    s = svc["spec"]
    assert s["type"] == "ClusterIP"
    assert s["sessionAffinity"] == "None"
    assert s["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in s
    assert s["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}
    assert s["ipFamilyPolicy"] == "SingleStack" and s["ipFamilies"] == ["IPv4"]
    assert "clusterIPs" not in s
    svc2 = {"kind": "Service", "spec": {"clusterIP": "192.168.3.7", "ports": [{"port": 1}]}}
    apply_defaults(svc2)
    assert svc2["spec"]["clusterIPs"] == ["192.168.3.7"]
    headless = {"kind": "Service", "spec": {"clusterIP": "None"}}
    apply_defaults(headless)
    assert "ipFamilies" not in headless["spec"]
    assert s["ports"][1]["targetPort"] == 8443
    assert s["ports"][2]["targetPort"] == "dns"


def test_service_nodeport_and_affinity() -> None:
    svc = {"kind": "Service", "spec": {"type": "NodePort", "sessionAffinity": "ClientIP",
                                       "ports": [{"port": 80}]}}
    apply_defaults(svc)
    assert svc["spec"]["externalTrafficPolicy"] == "Cluster"
    assert svc["spec"]["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}


def test_namespace() -> None:
    ns = {"kind": "Namespace", "metadata": {"name": "dev"}}
    apply_defaults(ns)
    assert ns["spec"]["finalizers"] == ["kubernetes"]
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "dev"


def test_node_endpoints_limitrange() -> None:
    node = {"kind": "Node", "status": {"capacity": {"cpu": "2", "memory": "2048Mi"}}}
    apply_defaults(node)
    assert node["status"]["allocatable"] == {"cpu": "2", "memory": "2Gi"}
    ep = {"kind": "Endpoints", "subsets": [{"ports": [{"port": 80}]}]}
    apply_defaults(ep)
    assert ep["subsets"][0]["ports"][0]["protocol"] == "TCP"
    lr = {"kind": "LimitRange", "spec": {"limits": [
        {"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "10Mi"}}]}}
    apply_defaults(lr)
    item = lr["spec"]["limits"][0]
    assert item["default"] == {"cpu": "1"}
    assert item["defaultRequest"] == {"cpu": "1", "memory": "10Mi"}


def test_malformed_does_not_crash() -> None:
    for obj in ({"kind": "Pod", "spec": "x"}, {"kind": "Pod", "spec": {"containers": "x"}},
                {"kind": "Pod", "spec": {"containers": [1, None, {"ports": "x"}]}},
                {"kind": "ReplicationController", "spec": {"template": {"metadata": 3}}},
                {"kind": "Service", "spec": {"ports": [None]}}, {"kind": "Unknown"}):
        apply_defaults(obj)
