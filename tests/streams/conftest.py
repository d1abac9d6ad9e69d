"""Logs and exec end to end: a real ``minikube8s --role ai --runtime hollow`` process (API
server, scheduler, controllers and a kubelet whose server listens on 127.0.0.1), real kubectl
and the official ``kubernetes`` Python client.

``hollow_node`` (module scope) is that process, its kubelet on a free loopback port
(``--node-ip 127.0.0.1 --kubelet-port N``); ``kubectl`` is kubectl 1.33 against it;
``make_pod`` creates a pod in ``default`` and waits until it is Running.
"""

from __future__ import annotations

import itertools
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.compat.kubectl import Kubectl, binary
from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import free_port

if TYPE_CHECKING:
    from tests.fixtures.docker import NodeNamespace

NODE = "streams-node"
_names = itertools.count(1)


class HollowNode(ApiServerProcess):
    kubelet_port: int = 0


@pytest.fixture(scope="module")
def hollow_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HollowNode]:
    kport = free_port()
    node = HollowNode(tmp_path_factory.mktemp("streams") / "data", "--role", "ai",
                      "--runtime", "hollow", "--disable", "proxy", "--node-name", NODE,
                      "--node-ip", "127.0.0.1",
                      "--kubelet-port", str(kport))
    node.kubelet_port = kport
    node.start()
    try:
        yield node
    finally:
        code = node.stop()
        if code != 0:
            pytest.fail(f"minikube8s --role ai exited with {code}:\n{node.logs()[-4000:]}")


def kubectl_for(version: str, url: str, home: Path) -> Kubectl:
    if not binary(version).exists():
        pytest.skip(f"kubectl {version} is not installed")
    return Kubectl(version, url, home)


def kubectl_on(version: str, node: NodeNamespace, home: Path) -> Kubectl:
    """kubectl ``version`` for a Docker node (tests/fixtures/docker.py) with the node's
    kubeconfig: its CA and the admin token (kubectl's -s keeps the context's CA and user)."""
    k = kubectl_for(version, node.url, home)
    shutil.copy(node.kubeconfig, k.home / "config")
    return k


def wait_running(k: Kubectl, name: str) -> None:
    wait_for(lambda: k("get", "pod", name, "-o", "jsonpath={.status.phase}").out == "Running",
             within=60, what=f"pod {name} Running")


@pytest.fixture(scope="module")
def kubectl(hollow_node: HollowNode, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return kubectl_for("1.33", hollow_node.url, tmp_path_factory.mktemp("kube133"))


def pod_manifest(name: str, *containers: str, annotations: dict[str, str] | None = None,
                 restart_policy: str = "Always", node_name: str = "") -> str:
    spec: dict[str, Any] = {
        "restartPolicy": restart_policy,
        "containers": [{"name": c, "image": "nginx"} for c in containers or ("web",)]}
    if node_name:
        spec["nodeName"] = node_name
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "annotations": annotations or {}}, "spec": spec}
    return json.dumps(pod)


def wait_for(check: Callable[[], Any], *, within: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


MakePod = Callable[..., str]


@pytest.fixture
def make_pod(kubectl: Kubectl) -> MakePod:
    """``make_pod(*containers, annotations=, restart_policy=, running=True) -> name``."""

    def make(*containers: str, annotations: dict[str, str] | None = None,
             restart_policy: str = "Always", running: bool = True,
             node_name: str = "") -> str:
        name = f"s{next(_names)}"
        kubectl("create", "-f", "-", input=pod_manifest(
            name, *containers, annotations=annotations, restart_policy=restart_policy,
            node_name=node_name))
        if running:
            wait_for(lambda: kubectl("get", "pod", name, "-o",
                                     "jsonpath={.status.phase}").out == "Running",
                     what=f"pod {name} Running")
        return name

    return make
