"""``make cluster`` / ``make cluster-down`` through their script (examples/cluster/cluster.py):
the seed's names (mk8s-node1..3), the kubeconfig the host uses with real kubectl and the
bundled CLI, and nothing left afterwards. Skipped while a developer's ``make cluster`` is up
(the names are fixed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.docker import KUBECTL, missing_prerequisite, skip_or_fail
from tests.fixtures.netcluster import netns_exists

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "examples" / "cluster" / "cluster.py"
STATE = ROOT / ".cluster"
NAMES = ("mk8s-net", "mk8s-node1", "mk8s-node2", "mk8s-node3")


def script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=150)


def test_cluster_up_kubeconfig_and_down() -> None:
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    if any(netns_exists(n) for n in NAMES) or STATE.exists():
        pytest.skip("a `make cluster` is up (or left .cluster/): not touching it")
    try:
        up = script("up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert all(netns_exists(n) for n in NAMES)
        kubeconfig = str(STATE / "kubeconfig")
        nodes = subprocess.run([KUBECTL, "--kubeconfig", kubeconfig, "get", "nodes",
                                "--no-headers"], capture_output=True, text=True, timeout=30)
        rows = [line.split()[:2] for line in nodes.stdout.splitlines()]
        assert rows == [["192.168.0.10", "Ready"], ["192.168.0.11", "Ready"],
                        ["192.168.0.12", "Ready"]], nodes.stdout + nodes.stderr
        cli = subprocess.run([sys.executable, "-m", "minikube8s", "get", "services"],
                             capture_output=True, text=True, timeout=30,
                             env={**os.environ, "KUBECONFIG": kubeconfig})
        assert "kubernetes" in cli.stdout and "192.168.3.1" in cli.stdout, cli.stderr
        again = script("up")  # idempotent: the running cluster is kept
        assert again.returncode == 0 and "already up" in again.stdout
        assert "192.168.0.12" in script("status").stdout
    finally:
        down = script("down")
    assert down.returncode == 0, down.stderr
    assert not any(netns_exists(n) for n in NAMES)
    assert not STATE.exists()
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert "mk8s-host" not in links
