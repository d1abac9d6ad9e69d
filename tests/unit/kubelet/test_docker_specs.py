"""Pure parts of the Docker runtime: spec translation (docker/containers.py) and volume
binds (docker/volumes.py). The runtime against a real dockerd is tests/docker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikube8s.roles.kubelet.atomic_writer import FileProjection
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
        {"name": "nfs", "nfs": {"server": "x", "path": "/"}}]}}
    c = {"volumeMounts": [{"name": "scratch", "mountPath": "/data"},
                          {"name": "host", "mountPath": "/h", "readOnly": True}]}
    binds = volumes.binds(pod, c, data_dir=tmp_path)
    empty = tmp_path / "pods" / "u-2" / "volumes" / "kubernetes.io~empty-dir" / "scratch"
    assert binds == [f"{empty}:/data", f"{tmp_path / 'h'}:/h:ro"]
    assert empty.is_dir() and (tmp_path / "h").is_dir()
    with pytest.raises(StartError, match="type nfs is not supported"):
        volumes.binds(pod, {"volumeMounts": [{"name": "nfs", "mountPath": "/s"}]},
                      data_dir=tmp_path)
    with pytest.raises(StartError, match="no volume"):
        volumes.binds(pod, {"volumeMounts": [{"name": "nope", "mountPath": "/s"}]},
                      data_dir=tmp_path)
    volumes.remove_pod_dir(tmp_path, "u-2")
    assert not (tmp_path / "pods" / "u-2").exists() and (tmp_path / "h").is_dir()


def test_secret_and_config_map_binds_are_read_only_once_projected(tmp_path: Path) -> None:
    pod = {"metadata": {"uid": "u-3"}, "spec": {"volumes": [
        {"name": "creds", "secret": {"secretName": "s"}},
        {"name": "conf", "configMap": {"name": "c"}}]}}
    mounts = {"name": "app", "volumeMounts": [
        {"name": "creds", "mountPath": "/s"},
        {"name": "conf", "mountPath": "/c", "readOnly": False},
        {"name": "conf", "mountPath": "/etc/app.conf", "subPath": "app.conf"}]}
    with pytest.raises(StartError, match="volume creds: the secret volume is not set up yet"):
        volumes.binds(pod, mounts, data_dir=tmp_path)
    assert volumes.project(tmp_path, "u-3", plugin="kubernetes.io~secret", name="creds",
                           files={"pw": FileProjection(b"x", 0o400)})
    volumes.project(tmp_path, "u-3", plugin="kubernetes.io~configmap", name="conf",
                    files={"app.conf": FileProjection(b"a=1")})
    base = tmp_path / "pods" / "u-3" / "volumes"
    assert volumes.binds(pod, mounts, data_dir=tmp_path) == [
        f"{base / 'kubernetes.io~secret' / 'creds'}:/s:ro",
        f"{base / 'kubernetes.io~configmap' / 'conf'}:/c:ro",
        f"{base / 'kubernetes.io~configmap' / 'conf' / 'app.conf'}:/etc/app.conf:ro"]
    assert oct((base / "kubernetes.io~secret").stat().st_mode & 0o777) == "0o700"
    missing = {"name": "app", "volumeMounts": [
        {"name": "conf", "mountPath": "/x", "subPath": "nope"}]}
    with pytest.raises(StartError, match='failed to prepare subPath for volumeMount "conf" '
                                         'of container "app"'):
        volumes.binds(pod, missing, data_dir=tmp_path)
    assert not (base / "kubernetes.io~configmap" / "conf" / "nope").exists()
