"""Secrets and config maps on a real Docker node: volume files, env, updates, a late secret;
downwardAPI and projected volumes (labels in Kubernetes' format, a label change reaching the
file, a secret and a config map key merged in one projected directory).

One node for the module (tests/fixtures/docker.py's NodeNamespace) started with
``--sync-frequency 2``, so that updated objects reach running pods in seconds rather than the
default minute. Objects are made with real kubectl (``create secret generic``, ``create
configmap``, ``patch``); what the containers see is read from their logs (busybox printing
files and variables) and, for the host side of Kubernetes' atomic-writer layout, from the
node's data dir.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.docker import NodeNamespace, missing_prerequisite, skip_or_fail

Object = dict[str, Any]
SYNC_FREQUENCY = 2


@pytest.fixture(scope="module")
def node() -> Iterator[NodeNamespace]:
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    ns = NodeNamespace(extra_args=["--sync-frequency", str(SYNC_FREQUENCY)])
    try:
        ns.start()
    except BaseException:
        sys.stderr.write(f"--- node log ---\n{ns.node_logs()[-4000:]}\n")
        ns.close()
        raise
    try:
        yield ns
    finally:
        ns.close()


def create_pod(node: NodeNamespace, name: str, spec: Object) -> None:
    # busybox as PID 1 ignores SIGTERM: a short grace period keeps kills quick.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"terminationGracePeriodSeconds": 1, **spec}}
    node.kubectl("create", "-f", "-", stdin=json.dumps(pod))


def get_pod(node: NodeNamespace, name: str) -> Object:
    pod: Object = node.get(f"/api/v1/namespaces/default/pods/{name}")
    return pod


def state(node: NodeNamespace, pod: str) -> Object:
    statuses = get_pod(node, pod)["status"].get("containerStatuses") or [{}]
    return dict(statuses[0].get("state") or {})


def logs(node: NodeNamespace, pod: str) -> str:
    return node.kubectl("logs", pod, check=False).stdout


def events(node: NodeNamespace, pod: str) -> list[Object]:
    items: list[Object] = node.get(
        f"/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D{pod}")["items"]
    return items


APP = """echo "PW=$PW USER=$DB_user LEVEL=$LEVEL"
echo "file-user=$(cat /etc/secret/user)"
echo "subpath=$(cat /etc/mode.conf)"
while true; do echo "mode=$(cat /etc/config/mode)"; sleep 0.5; done"""


def test_volume_files_env_and_a_config_map_update(node: NodeNamespace) -> None:
    node.kubectl("create", "secret", "generic", "db", "--from-literal=pw=s3cret",
                 "--from-literal=user=admin")
    node.kubectl("create", "configmap", "cfg", "--from-literal=mode=slow",
                 "--from-literal=LEVEL=3", "--from-literal=1st=x")
    create_pod(node, "app", {
        "volumes": [{"name": "creds", "secret": {"secretName": "db", "defaultMode": 0o400}},
                    {"name": "conf", "configMap": {"name": "cfg"}}],
        "containers": [{
            "name": "c", "image": "busybox", "command": ["sh", "-c", APP],
            "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}],
            "envFrom": [{"configMapRef": {"name": "cfg"}},
                        {"prefix": "DB_", "secretRef": {"name": "db"}}],
            "volumeMounts": [{"name": "creds", "mountPath": "/etc/secret"},
                             {"name": "conf", "mountPath": "/etc/config"},
                             {"name": "conf", "mountPath": "/etc/mode.conf",
                              "subPath": "mode"}]}]})
    node.wait_for(lambda: "mode=slow" in logs(node, "app"), timeout=30, what="app's output")
    out = logs(node, "app")
    assert "PW=s3cret USER=admin LEVEL=3" in out
    assert "file-user=admin" in out and "subpath=slow" in out
    assert any(e["reason"] == "InvalidEnvironmentVariableNames" and e["message"] ==
               "Keys [1st] from the EnvFrom configMap default/cfg were skipped "
               "since they are considered invalid environment variable names."
               for e in events(node, "app"))

    # Kubernetes' layout on the host: a version dir, ..data, and links to them; 0400 files.
    uid = get_pod(node, "app")["metadata"]["uid"]
    vol = node.data_dir / "pods" / uid / "volumes" / "kubernetes.io~secret" / "creds"
    version = os.readlink(vol / "..data")
    assert version.startswith("..") and os.readlink(vol / "pw") == "..data/pw"
    assert stat.S_IMODE((vol / version / "pw").stat().st_mode) == 0o400
    assert (vol / "pw").read_text() == "s3cret"
    cid = get_pod(node, "app")["status"]["containerStatuses"][0]["containerID"]
    res = node.docker("exec", cid.removeprefix("docker://"), "sh", "-c",
                      "echo x > /etc/secret/new", check=False)
    assert res.returncode != 0  # bound read-only

    node.kubectl("patch", "configmap", "cfg", "-p", '{"data":{"mode":"fast"}}')
    node.wait_for(lambda: "mode=fast" in logs(node, "app"), timeout=4 * SYNC_FREQUENCY + 5,
                  what="the updated config map in the running pod")
    # A subPath mount is a bind of the file as it was: no updates (as in Kubernetes).
    res = node.docker("exec", cid.removeprefix("docker://"), "cat", "/etc/mode.conf")
    assert res.stdout.strip() == "slow"
    assert get_pod(node, "app")["status"]["containerStatuses"][0]["restartCount"] == 0
    node.kubectl("delete", "pod", "app", "--grace-period=1", "--wait=false")


def test_pods_wait_for_a_missing_secret_then_start(node: NodeNamespace) -> None:
    create_pod(node, "late-vol", {
        "volumes": [{"name": "creds", "secret": {"secretName": "late"}}],
        "containers": [{"name": "c", "image": "busybox",
                        "command": ["sh", "-c", "cat /s/token; echo; exec sleep 3600"],
                        "volumeMounts": [{"name": "creds", "mountPath": "/s"}]}]})
    create_pod(node, "late-env", {"containers": [{
        "name": "c", "image": "busybox", "command": ["sh", "-c", "echo token=$T; sleep 3600"],
        "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "late",
                                                             "key": "token"}}}]}]})

    def failed_mount() -> Object | None:
        return next((e for e in events(node, "late-vol") if e["reason"] == "FailedMount"),
                    None)

    event = node.wait_for(failed_mount, timeout=20, what="a FailedMount event")
    assert event["type"] == "Warning" and event["message"] == \
        'MountVolume.SetUp failed for volume "creds" : secret "late" not found'
    # Its status is written a moment later (a Pending status waits 0.5 s: status.py).
    node.wait_for(lambda: state(node, "late-vol") == {"waiting": {"reason": "ContainerCreating"}},
                  timeout=10, what="late-vol's container ContainerCreating")
    pod = get_pod(node, "late-vol")
    assert pod["status"]["phase"] == "Pending" and not pod["status"].get("podIP")

    def config_error() -> Object | None:
        waiting: Object = state(node, "late-env").get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = node.wait_for(config_error, timeout=20, what="CreateContainerConfigError")
    assert waiting["message"] == 'secret "late" not found'
    assert get_pod(node, "late-env")["status"]["phase"] == "Pending"

    node.kubectl("create", "secret", "generic", "late", "--from-literal=token=t0k3n")
    node.wait_for(lambda: "running" in state(node, "late-vol")
                  and "running" in state(node, "late-env"), timeout=20,
                  what="both pods running once the secret exists")
    node.wait_for(lambda: logs(node, "late-vol").strip() == "t0k3n", timeout=10,
                  what="the secret file in late-vol")
    node.wait_for(lambda: "token=t0k3n" in logs(node, "late-env"), timeout=10,
                  what="the secret env in late-env")
    node.kubectl("delete", "pod", "late-vol", "late-env", "--grace-period=1", "--wait=false")


def test_downward_api_and_projected_volumes(node: NodeNamespace) -> None:
    node.kubectl("create", "secret", "generic", "pj", "--from-literal=pw=pr0j")
    node.kubectl("create", "configmap", "pjc", "--from-literal=mode=calm")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "dw", "labels": {"app": "dw", "v": "1"},
                        "annotations": {"note": 'say "hi"'}},
           "spec": {"terminationGracePeriodSeconds": 1, "volumes": [
               {"name": "info", "downwardAPI": {"items": [
                   {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                   {"path": "annotations", "fieldRef": {"fieldPath": "metadata.annotations"}},
                   {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
                   {"path": "cpu", "resourceFieldRef": {"containerName": "c",
                                                        "resource": "limits.cpu",
                                                        "divisor": "1m"}}]}},
               {"name": "all", "projected": {"defaultMode": 0o440, "sources": [
                   {"secret": {"name": "pj"}},
                   {"configMap": {"name": "pjc", "items": [{"key": "mode",
                                                            "path": "conf/mode"}]}},
                   {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {
                       "fieldPath": "metadata.namespace"}}]}}]}}],
               "containers": [{"name": "c", "image": "busybox",
                               "command": ["sh", "-c", "exec sleep 3600"],
                               "resources": {"limits": {"cpu": "250m"}},
                               "volumeMounts": [{"name": "info", "mountPath": "/etc/info"},
                                                {"name": "all", "mountPath": "/etc/all"}]}]}}
    node.kubectl("create", "-f", "-", stdin=json.dumps(pod))
    node.wait_for(lambda: "running" in state(node, "dw"), timeout=20, what="dw running")
    cid = get_pod(node, "dw")["status"]["containerStatuses"][0]["containerID"]

    def cat(path: str) -> str:
        res = node.docker("exec", cid.removeprefix("docker://"), "cat", path, check=False)
        return str(res.stdout)

    assert cat("/etc/info/labels") == 'app="dw"\nv="1"'
    assert cat("/etc/info/annotations") == 'note="say \\"hi\\""'
    assert cat("/etc/info/name") == "dw" and cat("/etc/info/cpu") == "250"
    assert cat("/etc/all/pw") == "pr0j" and cat("/etc/all/conf/mode") == "calm"
    assert cat("/etc/all/ns") == "default"
    uid = get_pod(node, "dw")["metadata"]["uid"]
    vol = node.data_dir / "pods" / uid / "volumes" / "kubernetes.io~projected" / "all"
    assert stat.S_IMODE((vol / "pw").stat().st_mode) == 0o440

    node.kubectl("label", "pod", "dw", "v=2", "--overwrite")
    node.wait_for(lambda: cat("/etc/info/labels") == 'app="dw"\nv="2"', timeout=5,
                  what="the label change in the downwardAPI file")
    node.kubectl("delete", "pod", "dw", "--grace-period=1", "--wait=false")
