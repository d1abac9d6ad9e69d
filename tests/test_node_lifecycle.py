"""`minikube8s` start-up and shutdown as a real process (issue 8, build item 2): the milestones
come in order (store, API, node registered), a crashed task takes the process down with exit 1,
SIGTERM leaves pod containers alone unless --drain-on-exit, and --config places a node."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.fixtures.etcd import free_port
from tests.test_node_process import wait_for_line


def start(tmp_path: Path, *extra: str, env: dict[str, str] | None = None,
          ) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "minikube8s", "--role", "ai", "--data-dir", str(tmp_path / "d"),
         "--insecure-port", str(port), "--secure-port", "0", "--bind-address", "127.0.0.1",
         "--runtime", "hollow", "--node-ip", "127.0.0.1",
         "--node-name", "n1", "--kubelet-port", str(free_port()), "--disable", "proxy", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    return proc, port


def finish(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> str:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return out


def test_milestones_in_order(tmp_path: Path) -> None:
    proc, _ = start(tmp_path)
    try:
        out = wait_for_line(proc, "node n1 registered")
    finally:
        out += finish(proc)
    assert proc.returncode == 0, out
    order = [out.index(s) for s in ("store up", "API server ready", "minikube8s up",
                                    "node n1 registered", "stopped cleanly")]
    assert order == sorted(order), out


def test_a_crashing_task_exits_1(tmp_path: Path) -> None:
    proc, _ = start(tmp_path, env={"MINIKUBE8S_TEST_CRASH_AFTER": "0.5"})
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    assert "task test crash hook crashed" in out
    assert "stopped after a failure" in out


def _create_pod_and_wait_running(port: int) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/namespaces/default/pods",
        data=json.dumps(pod).encode(), headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v1/namespaces/default/pods/p", timeout=10) as r:
            if json.load(r).get("status", {}).get("phase") == "Running":
                return
        time.sleep(0.2)
    raise AssertionError("pod never Running")


def test_containers_stay_without_drain(tmp_path: Path) -> None:
    proc, port = start(tmp_path)
    try:
        wait_for_line(proc, "node n1 registered")
        _create_pod_and_wait_running(port)
    finally:
        out = finish(proc)
    assert proc.returncode == 0, out
    assert "draining" not in out


def test_drain_on_exit_removes_this_nodes_pods(tmp_path: Path) -> None:
    proc, port = start(tmp_path, "--drain-on-exit")
    try:
        wait_for_line(proc, "node n1 registered")
        _create_pod_and_wait_running(port)
    finally:
        out = finish(proc, signal.SIGINT)
    assert proc.returncode == 0, out
    assert "draining: removing the containers of 1 pod(s)" in out
    assert "stopped cleanly" in out


def test_config_file_and_env(tmp_path: Path) -> None:
    """A YAML --config, one setting overridden by MINIKUBE8S_*: the node comes up on it."""
    cfg = tmp_path / "node.yaml"
    cfg.write_text("nodes: [core@127.0.0.1]\nroles: [ai]\nportal-net: 10.7.0.0/24\n"
                   "insecure-bind-address: 127.0.0.1\n")
    proc, port = start(tmp_path, "--config", str(cfg),
                       env={"MINIKUBE8S_PORTAL_NET": "10.8.0.0/24"})
    out = ""
    try:
        out = wait_for_line(proc, "node n1 registered")
        with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v1/namespaces/default/services/kubernetes",
                timeout=10) as r:
            assert json.load(r)["spec"]["clusterIP"] == "10.8.0.1"
    finally:
        out += finish(proc)
    assert proc.returncode == 0, out
    assert "this node is 127.0.0.1 (role ai), master 127.0.0.1" in out
