"""Probes, volumes, the container spec and daemon outages on a real Docker node.

One node for the module (tests/fixtures/docker.py). Probes use busybox's httpd with 1 s
periods so each test takes seconds; the dockerd outage test runs last (it restarts every
container of the node).
"""

from __future__ import annotations

import json
from typing import Any

from tests.fixtures.docker import NodeNamespace

Object = dict[str, Any]
HTTPD = "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"


def create(node: NodeNamespace, pod: Object) -> None:
    pod.setdefault("apiVersion", "v1")
    pod.setdefault("kind", "Pod")
    # busybox as PID 1 ignores SIGTERM: a short grace period keeps kills quick.
    pod["spec"].setdefault("terminationGracePeriodSeconds", 2)
    node.kubectl("create", "-f", "-", stdin=json.dumps(pod))


def get_pod(node: NodeNamespace, name: str) -> Object:
    pod: Object = node.get(f"/api/v1/namespaces/default/pods/{name}")
    return pod


def status_of(node: NodeNamespace, name: str, container: str) -> Object:
    for cs in get_pod(node, name)["status"].get("containerStatuses") or []:
        if cs["name"] == container:
            return dict(cs)
    return {}


def condition(pod: Object, type_: str) -> str:
    for c in pod["status"].get("conditions") or []:
        if c["type"] == type_:
            return str(c["status"])
    return ""


def events_for(node: NodeNamespace, name: str) -> list[Object]:
    items: list[Object] = node.get(
        f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{name}")["items"]
    return items


def container_id(node: NodeNamespace, pod: str, container: str) -> str:
    return str(status_of(node, pod, container)["containerID"]).removeprefix("docker://")


def test_liveness_probe_failure_restarts_with_unhealthy_event(
        docker_node: NodeNamespace) -> None:
    create(docker_node, {"metadata": {"name": "live"}, "spec": {"containers": [{
        "name": "web", "image": "busybox", "command": ["sh", "-c", HTTPD],
        "livenessProbe": {"httpGet": {"path": "/missing", "port": 80},
                          "initialDelaySeconds": 1, "periodSeconds": 1,
                          "failureThreshold": 2}}]}})

    def restarted() -> bool:
        return int(status_of(docker_node, "live", "web").get("restartCount") or 0) >= 1

    docker_node.wait_for(restarted, timeout=30, what="the liveness probe to restart web")
    docker_node.wait_for(lambda: {"Unhealthy", "Killing"} <= {
        e["reason"] for e in events_for(docker_node, "live")},
        timeout=10, what="Unhealthy and Killing events")
    events = events_for(docker_node, "live")
    unhealthy = [e for e in events if e["reason"] == "Unhealthy"]
    assert unhealthy and unhealthy[0]["type"] == "Warning"
    assert unhealthy[0]["message"] == \
        "Liveness probe failed: HTTP probe failed with statuscode: 404"
    assert any(e["reason"] == "Killing" and "failed liveness probe" in e["message"]
               for e in events)
    docker_node.kubectl("delete", "pod", "live", "--grace-period=1", "--wait=false")


def test_readiness_probes_drive_the_ready_condition(docker_node: NodeNamespace) -> None:
    create(docker_node, {"metadata": {"name": "ready"}, "spec": {"containers": [
        {"name": "good", "image": "busybox", "command": ["sh", "-c", HTTPD],
         "readinessProbe": {"tcpSocket": {"port": 80}, "periodSeconds": 1}},
        {"name": "bad", "image": "busybox", "command": ["sleep", "3600"],
         "readinessProbe": {"exec": {"command": ["cat", "/nonexistent"]},
                            "periodSeconds": 1}}]}})

    def settled() -> Object | None:
        pod = get_pod(docker_node, "ready")
        statuses = {cs["name"]: cs for cs in pod["status"].get("containerStatuses") or []}
        if pod["status"].get("phase") == "Running" and statuses.get("good", {}).get("ready"):
            return pod
        return None

    pod = docker_node.wait_for(settled, timeout=30, what="the good container ready")
    statuses = {cs["name"]: cs for cs in pod["status"]["containerStatuses"]}
    assert statuses["bad"]["ready"] is False and "running" in statuses["bad"]["state"]
    assert condition(pod, "Ready") == "False"
    assert condition(pod, "ContainersReady") == "False"
    docker_node.wait_for(lambda: any(
        e["reason"] == "Unhealthy" and e["message"].startswith("Readiness probe failed")
        for e in events_for(docker_node, "ready")), timeout=10, what="an Unhealthy event")
    # No restart for a failing readiness probe.
    assert statuses["bad"]["restartCount"] == 0
    docker_node.kubectl("delete", "pod", "ready", "--grace-period=1", "--wait=false")


def test_empty_dir_localhost_host_port_env_and_resources(docker_node: NodeNamespace) -> None:
    create(docker_node, {"metadata": {"name": "shared", "labels": {"app": "x"}}, "spec": {
        "volumes": [{"name": "data", "emptyDir": {}}],
        "containers": [
            {"name": "writer", "image": "busybox",
             "command": ["sh", "-c"],
             "args": ["echo hello-from-writer > /data/msg && exec httpd -f -p 8080 -h /data"],
             "volumeMounts": [{"name": "data", "mountPath": "/data"}],
             "ports": [{"containerPort": 8080, "hostPort": 18080}],
             "resources": {"requests": {"cpu": "250m"},
                           "limits": {"cpu": "500m", "memory": "64Mi"}}},
            {"name": "reader", "image": "busybox", "command": ["sleep", "3600"],
             "workingDir": "/data",
             "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {
                         "fieldPath": "metadata.name"}}},
                     {"name": "POD_NS", "valueFrom": {"fieldRef": {
                         "fieldPath": "metadata.namespace"}}},
                     {"name": "POD_IP", "valueFrom": {"fieldRef": {
                         "fieldPath": "status.podIP"}}},
                     {"name": "GREETING", "value": "hi $(POD_NAME)"}],
             "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}]}]}})

    def running() -> Object | None:
        pod = get_pod(docker_node, "shared")
        return pod if condition(pod, "Ready") == "True" else None

    pod = docker_node.wait_for(running, timeout=30, what="pod shared Ready")
    reader = container_id(docker_node, "shared", "reader")
    writer = container_id(docker_node, "shared", "writer")
    out = docker_node.docker("exec", reader, "cat", "msg").stdout  # workingDir /data
    assert out.strip() == "hello-from-writer"
    # One network namespace: the reader reaches the writer's server on localhost.
    out = docker_node.docker("exec", reader, "wget", "-qO-", "http://127.0.0.1:8080/msg").stdout
    assert out.strip() == "hello-from-writer"
    # The hostPort is published on the node's address (by the sandbox, which owns the ports).
    assert docker_node.fetch(f"http://{docker_node.ip}:18080/msg").strip() == "hello-from-writer"
    env = dict(line.split("=", 1) for line in
               docker_node.docker("exec", reader, "env").stdout.splitlines() if "=" in line)
    assert env["POD_NAME"] == "shared" and env["POD_NS"] == "default"
    assert env["POD_IP"] == pod["status"]["podIP"]
    assert env["GREETING"] == "hi shared"
    assert docker_node.docker("exec", reader, "hostname").stdout.strip() == "shared"
    host = json.loads(docker_node.docker("inspect", writer).stdout)[0]["HostConfig"]
    assert host["CpuShares"] == 256 and host["CpuQuota"] == 50_000
    assert host["CpuPeriod"] == 100_000 and host["Memory"] == 64 * 1024 * 1024
    # Read-only mount in the reader.
    res = docker_node.docker("exec", reader, "sh", "-c", "echo x > /data/y", check=False)
    assert res.returncode != 0
    docker_node.kubectl("delete", "pod", "shared", "--grace-period=1")
    docker_node.wait_for(lambda: not docker_node.docker(
        "ps", "-aq", "--filter", "label=io.kubernetes.pod.name=shared").stdout.strip(),
        timeout=20, what="the pod's containers removed")
    assert not list((docker_node.data_dir / "pods").glob("*/volumes/*/data"))


def test_missing_image_never_pull_and_privileged_refused(docker_node: NodeNamespace) -> None:
    create(docker_node, {"metadata": {"name": "noimage"}, "spec": {"containers": [
        {"name": "c", "image": "not-built-here:1.0", "imagePullPolicy": "Never"}]}})
    # A privileged pod no longer gets as far as this node's kubelet (whose own check stays,
    # for role-i nodes stricter than their control plane): the API refuses it, since this
    # all-in-one node runs without --allow-privileged (roles/apiserver/podsecurity.py).
    priv = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "priv"}, "spec": {
        "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "3600"],
                        "securityContext": {"privileged": True}}]}}
    res = docker_node.kubectl("create", "-f", "-", stdin=json.dumps(priv), check=False)
    assert res.returncode == 1
    assert ('Error from server (Forbidden): error when creating "STDIN": pods "priv" is '
            "forbidden: privileged pods are disallowed by cluster policy") in res.stderr

    def waiting(name: str) -> Object | None:
        w = status_of(docker_node, name, "c").get("state", {}).get("waiting") or {}
        return w if w.get("reason") not in (None, "ContainerCreating") else None

    w = docker_node.wait_for(lambda: waiting("noimage"), timeout=20, what="ErrImageNeverPull")
    assert w["reason"] == "ErrImageNeverPull"
    assert "not-built-here:1.0" in w["message"] and "make images" in w["message"]
    assert "docker load" in w["message"]
    docker_node.kubectl("delete", "pod", "noimage", "--grace-period=0", "--force")


def test_dockerd_outage_makes_the_node_not_ready(docker_node: NodeNamespace) -> None:
    create(docker_node, {"metadata": {"name": "survivor"}, "spec": {"containers": [
        {"name": "c", "image": "busybox", "command": ["sleep", "3600"]}]}})
    docker_node.wait_for(lambda: condition(get_pod(docker_node, "survivor"), "Ready") == "True",
                         timeout=30, what="survivor Ready")
    docker_node.stop_dockerd()

    def not_ready() -> Object | None:
        node = docker_node.get("/api/v1/nodes/node1")
        ready: Object = next(c for c in node["status"]["conditions"] if c["type"] == "Ready")
        return ready if ready["status"] == "False" else None

    ready = docker_node.wait_for(not_ready, timeout=30, what="node NotReady")
    assert ready["reason"] == "KubeletNotReady"
    assert "container runtime is down: cannot connect to Docker at unix://" in ready["message"]
    docker_node.start_dockerd()
    docker_node.wait_for(docker_node.node_ready, timeout=30, what="node Ready again")

    def back() -> bool:
        cs = status_of(docker_node, "survivor", "c")
        return "running" in cs.get("state", {}) and bool(docker_node.docker(
            "ps", "-q", "--filter", "label=io.kubernetes.pod.name=survivor").stdout.split())

    # Its containers died with the daemon; the kubelet starts the pod again.
    docker_node.wait_for(back, timeout=40, what="survivor running again")
