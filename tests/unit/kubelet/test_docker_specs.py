"""Pure parts of the Docker runtime: spec translation (docker/containers.py) and volume
binds (docker/volumes.py). The runtime against a real dockerd is tests/docker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikube8s.roles.kubelet.docker import containers as spec
from minikube8s.roles.kubelet.docker import volumes
from minikube8s.roles.kubelet.runtime import ContainerState, StartError

POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "prod", "uid": "u-1",
                 "labels": {"app": "x"}, "annotations": {"team": "a"}},
    "spec": {"nodeName": "node1", "containers": [
        {"name": "c", "image": "nginx", "ports": [
            {"name": "http", "containerPort": 80, "hostPort": 8080},
            {"containerPort": 53, "protocol": "UDP"}]}]},
}


def test_image_refs_and_pull_policy() -> None:
    assert spec.image_ref("nginx") == "nginx:latest"
    assert spec.image_ref("localhost:5000/app") == "localhost:5000/app:latest"
    assert spec.image_ref("busybox:1.36") == "busybox:1.36"
    assert spec.image_ref("x@sha256:ab") == "x@sha256:ab"
    assert spec.pull_policy({"image": "nginx"}) == "Always"
    assert spec.pull_policy({"image": "nginx:1.25"}) == "IfNotPresent"
    assert spec.pull_policy({"image": "nginx", "imagePullPolicy": "Never"}) == "Never"
    assert spec.names_registry("quay.io/x/y") and spec.names_registry("localhost:5000/a")
    assert not spec.names_registry("library/nginx") and not spec.names_registry("nginx")
    err = spec.never_pull_error("nginx:latest")
    assert err.reason == "ErrImageNeverPull" and "make images" in err.message


def test_command_and_args_follow_kubernetes_semantics() -> None:
    env = {"X": "1"}
    assert spec.command_config({}, env) == {}
    assert spec.command_config({"args": ["-v", "$(X)"]}, env) == {"Cmd": ["-v", "1"]}
    assert spec.command_config({"command": ["sh"]}, env) == {"Entrypoint": ["sh"], "Cmd": []}
    assert spec.command_config({"command": ["echo"], "args": ["$$(X)", "$(Y)"]}, env) == \
        {"Entrypoint": ["echo"], "Cmd": ["$(X)", "$(Y)"]}


def test_env_with_field_refs_and_expansion() -> None:
    c = {"env": [
        {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "MSG", "value": "$(N).$(NS) at $(IP)"}]}
    env = spec.container_env(POD, c, pod_ip="172.16.0.5", host_ip="10.0.0.1")
    assert env == {"N": "web", "NS": "prod", "IP": "172.16.0.5", "HOST": "10.0.0.1",
                   "NODE": "node1", "APP": "x", "MSG": "web.prod at 172.16.0.5"}
    with pytest.raises(StartError) as e:
        spec.container_env(POD, {"env": [{"name": "S", "valueFrom": {
            "secretKeyRef": {"name": "s", "key": "k"}}}]}, pod_ip="", host_ip="")
    assert e.value.reason == "CreateContainerConfigError"


def test_resources_and_ports() -> None:
    res = spec.resources_config({"resources": {"requests": {"cpu": "100m"},
                                               "limits": {"cpu": "1500m", "memory": "1Gi"}}})
    assert res == {"CpuShares": 102, "CpuPeriod": 100_000, "CpuQuota": 150_000,
                   "Memory": 1 << 30}
    assert spec.resources_config({"resources": {"limits": {"cpu": "1"}}})["CpuShares"] == 1024
    assert spec.resources_config({}) == {}
    exposed, bindings = spec.port_bindings(POD)
    assert exposed == {"80/tcp": {}}
    assert bindings == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}


def test_labels_names_and_inspect() -> None:
    labels = spec.pod_labels(POD, node="node1")
    assert labels[spec.POD_UID] == "u-1" and labels[spec.NODE] == "node1"
    assert spec.container_name(POD, "c", 2) == "k8s_c_web_prod_u-1_2"
    info = {"Id": "abc", "Image": "sha256:1", "Created": "2026-01-02T03:04:05.5Z",
            "Config": {"Image": "nginx:latest", "Labels": {
                spec.CONTAINER_NAME: "c", spec.RESTART_COUNT: "3"}},
            "State": {"Status": "exited", "ExitCode": 137, "OOMKilled": True,
                      "StartedAt": "2026-01-02T03:04:06.123456789Z",
                      "FinishedAt": "0001-01-01T00:00:00Z"}}
    inst = spec.instance(info)
    assert inst.container_id == "docker://abc" and inst.attempt == 3
    assert inst.state == ContainerState.EXITED and inst.reason == "OOMKilled"
    assert inst.exit_code == 137 and inst.finished_at is None
    base = spec.parse_time("2026-01-02T03:04:06Z")
    assert base is not None and inst.started_at == pytest.approx(base + 0.123456789)
    assert spec.parse_time("2026-01-02T03:04:05.5Z") == pytest.approx(1767323045.5)


def test_volume_binds(tmp_path: Path) -> None:
    pod = {"metadata": {"uid": "u-2"}, "spec": {"volumes": [
        {"name": "scratch", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": str(tmp_path / "h"), "type": "DirectoryOrCreate"}},
        {"name": "secret", "secret": {"secretName": "s"}}]}}
    c = {"volumeMounts": [{"name": "scratch", "mountPath": "/data"},
                          {"name": "host", "mountPath": "/h", "readOnly": True}]}
    binds = volumes.binds(pod, c, data_dir=tmp_path)
    empty = tmp_path / "pods" / "u-2" / "volumes" / "kubernetes.io~empty-dir" / "scratch"
    assert binds == [f"{empty}:/data", f"{tmp_path / 'h'}:/h:ro"]
    assert empty.is_dir() and (tmp_path / "h").is_dir()
    with pytest.raises(StartError, match="not supported"):
        volumes.binds(pod, {"volumeMounts": [{"name": "secret", "mountPath": "/s"}]},
                      data_dir=tmp_path)
    with pytest.raises(StartError, match="no volume"):
        volumes.binds(pod, {"volumeMounts": [{"name": "nope", "mountPath": "/s"}]},
                      data_dir=tmp_path)
    volumes.remove_pod_dir(tmp_path, "u-2")
    assert not (tmp_path / "pods" / "u-2").exists() and (tmp_path / "h").is_dir()
