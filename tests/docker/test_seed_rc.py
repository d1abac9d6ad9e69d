"""The seed's nginx ReplicationController on a real Docker node (tests/fixtures/docker.py).

In order, on one node: from the host the API answers only over HTTPS with a token (the
insecure port stays on the namespace's loopback); the v1beta3 nginx_rc.yaml gives 6 nginx
containers, each serving the welcome page on its pod IP; ``docker kill`` of one is restarted
(restartCount 1); the node process killed with SIGKILL and started again adopts the running
containers (same ids, none added) and removes a container labelled for a pod the API does not
have; deleting the RC removes every container of its pods within the grace period.
"""

from __future__ import annotations

import ssl
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.fixtures.docker import KUBECTL, ROOT, NodeNamespace

SEED_RC = ROOT / "examples" / "seed" / "nginx_rc.yaml"
Object = dict[str, Any]


def nginx_pods(node: NodeNamespace) -> list[Object]:
    path = "/api/v1/namespaces/default/pods?labelSelector=name%3Dnginx"
    items: list[Object] = node.get(path)["items"]
    return items


def running_ids(node: NodeNamespace, *filters: str) -> set[str]:
    args = ["ps", "-q", "--no-trunc"]
    for f in filters:
        args += ["--filter", f]
    return set(node.docker(*args).stdout.split())


def test_api_off_the_namespace_is_https_with_a_token_only(docker_node: NodeNamespace) -> None:
    # The insecure port listens on the namespace's loopback: nothing answers on the veth.
    with pytest.raises(urllib.error.URLError) as refused:
        urllib.request.urlopen(f"http://{docker_node.ip}:{docker_node.port}/api/v1/nodes",
                               timeout=5)
    assert isinstance(refused.value.reason, ConnectionRefusedError), refused.value
    assert docker_node.fetch(f"{docker_node.inner_url}/healthz") == "ok"  # it is there inside
    # HTTPS: the certificate verifies for the veth address; no token is 401.
    with pytest.raises(urllib.error.HTTPError) as anonymous:
        urllib.request.urlopen(f"{docker_node.url}/api/v1/nodes", timeout=5,
                               context=docker_node.ssl_context())
    assert anonymous.value.code == 401
    with pytest.raises(urllib.error.URLError) as unverified:
        urllib.request.urlopen(f"{docker_node.url}/healthz", timeout=5,
                               context=ssl.create_default_context())
    assert isinstance(unverified.value.reason, ssl.SSLCertVerificationError)
    assert docker_node.get("/api/v1/nodes/node1")["metadata"]["name"] == "node1"
    res = subprocess.run([KUBECTL, "--kubeconfig", str(docker_node.kubeconfig), "get", "nodes",
                          "-o", "name"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(docker_node.base)})
    assert res.returncode == 0 and res.stdout.split() == ["node/node1"], res


def test_seed_rc_runs_six_nginx_serving_the_welcome_page(docker_node: NodeNamespace) -> None:
    docker_node.kubectl("create", "-f", str(SEED_RC))

    def six_running() -> list[Object] | None:
        pods = [p for p in nginx_pods(docker_node)
                if p["status"].get("phase") == "Running" and p["status"].get("podIP")
                and all(cs.get("ready") for cs in p["status"].get("containerStatuses") or [])]
        return pods if len(pods) == 6 else None

    pods = docker_node.wait_for(six_running, timeout=60, what="6 nginx pods Running")
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 6
    assert all(ip.startswith("172.16.") for ip in ips), ips  # the node's podCIDR
    for ip in ips:
        assert "Welcome to nginx!" in docker_node.fetch(f"http://{ip}/")
    # 443 has the self-signed certificate made by scripts/build-images.sh.
    assert "Welcome to nginx!" in docker_node.fetch(f"https://{next(iter(ips))}/")
    app = running_ids(docker_node, "label=io.kubernetes.container.name=nginx")
    sandboxes = running_ids(docker_node, "label=io.kubernetes.docker.type=podsandbox")
    assert len(app) == 6 and len(sandboxes) == 6
    for p in pods:
        cs = p["status"]["containerStatuses"][0]
        assert cs["containerID"].removeprefix("docker://") in app
        assert cs["restartCount"] == 0
    node = docker_node.get("/api/v1/nodes/node1")
    engine = docker_node.docker("version", "-f", "{{.Server.Version}}").stdout.strip()
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"] == f"docker://{engine}"
    assert int(node["status"]["capacity"]["cpu"]) >= 1


def test_docker_kill_restarts_the_container(docker_node: NodeNamespace) -> None:
    pod = nginx_pods(docker_node)[0]
    name = pod["metadata"]["name"]
    old = pod["status"]["containerStatuses"][0]["containerID"].removeprefix("docker://")
    docker_node.docker("kill", old)

    def restarted() -> Object | None:
        p = docker_node.get(f"/api/v1/namespaces/default/pods/{name}")
        cs = p["status"]["containerStatuses"][0]
        if cs["restartCount"] == 1 and "running" in cs["state"]:
            return cs
        return None

    cs = docker_node.wait_for(restarted, timeout=30, what=f"{name} restarted")
    assert cs["containerID"] != f"docker://{old}"
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    assert cs["lastState"]["terminated"]["containerID"] == f"docker://{old}"
    ip = docker_node.get(f"/api/v1/namespaces/default/pods/{name}")["status"]["podIP"]
    assert "Welcome to nginx!" in docker_node.fetch(f"http://{ip}/")
    # The dead instance is kept for `logs --previous`.
    assert docker_node.docker("inspect", old).returncode == 0


def test_restarted_kubelet_adopts_running_containers(docker_node: NodeNamespace) -> None:
    before = running_ids(docker_node)
    assert len(before) == 12
    docker_node.kill_node()  # SIGKILL: no clean-up of any kind
    assert running_ids(docker_node) == before  # containers outlive their kubelet
    docker_node.start_node()
    docker_node.wait_for(docker_node.node_ready, timeout=30, what="node Ready again")
    time.sleep(4)  # every pod has been synced by then (informer list + one sync each)
    after = running_ids(docker_node)
    assert after == before
    all_ids = set(docker_node.docker("ps", "-aq", "--no-trunc").stdout.split())
    assert len(all_ids) == 13  # 12 running + the container killed by the test before
    assert all(p["status"]["phase"] == "Running" for p in nginx_pods(docker_node))


def test_restarted_kubelet_removes_containers_of_unknown_pods(
        docker_node: NodeNamespace) -> None:
    before = running_ids(docker_node)
    docker_node.kill_node()
    labels = {"io.kubernetes.pod.uid": "gone-uid", "io.kubernetes.pod.name": "gone",
              "io.kubernetes.pod.namespace": "default", "io.kubernetes.container.name": "c",
              "io.kubernetes.docker.type": "container", "minikube8s.io/node": "node1"}
    args = [a for k, v in labels.items() for a in ("--label", f"{k}={v}")]
    orphan = docker_node.docker("run", "-d", *args, "busybox", "sleep", "3600").stdout.strip()
    docker_node.start_node()
    docker_node.wait_for(lambda: docker_node.docker("inspect", orphan, check=False).returncode
                         != 0, timeout=30, what="the orphan container removed")
    assert running_ids(docker_node) == before


def test_deleting_the_rc_removes_its_containers(docker_node: NodeNamespace) -> None:
    assert running_ids(docker_node)
    start = time.monotonic()
    docker_node.kubectl("delete", "rc", "nginx-controller", "--wait=false")

    def gone() -> bool:
        return not docker_node.docker("ps", "-aq").stdout.split() and not nginx_pods(
            docker_node)

    docker_node.wait_for(gone, timeout=40, what="every container of the RC's pods removed")
    assert time.monotonic() - start < 35  # the 30 s grace period, and nginx stops at once
