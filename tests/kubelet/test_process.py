"""Process shapes: ``minikube8s hollow-nodes`` and ``minikube8s --role i`` as subprocesses
against a real ``minikube8s --role a``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from minikube8s.client import Client, resource
from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import free_port

from .conftest import eventually

NODES = resource("nodes")
LEASES = resource("leases")


def spawn(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        return subprocess.Popen([sys.executable, "-m", "minikube8s", *args], stdout=f,
                                stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})


def stop(proc: subprocess.Popen[bytes], log: Path) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"did not stop on SIGTERM:\n{log.read_text()[-3000:]}")
    return int(proc.returncode)


def ready_names(nodes: dict[str, Any], prefix: str) -> set[str]:
    out = set()
    for n in nodes["items"]:
        name = n["metadata"]["name"]
        conds = {c["type"]: c["status"] for c in n["status"].get("conditions") or []}
        if name.startswith(prefix) and conds.get("Ready") == "True":
            out.add(name)
    return out


@pytest.mark.slow
async def test_hollow_nodes_registers_five_ready_nodes(apiserver: ApiServerProcess,
                                                       tmp_path: Path) -> None:
    log = tmp_path / "hollow.log"
    proc = spawn("hollow-nodes", "--count", "5", "--server", apiserver.url,
                 "--name-prefix", "hn-", "--heartbeat-interval", "1", log=log)
    try:
        async with Client(apiserver.url) as c:
            async def five() -> set[str] | None:
                names = ready_names(await c.list(NODES), "hn-")
                return names if len(names) == 5 else None

            names = await eventually(five, within=20, what="5 Ready hollow nodes")
            assert names == {f"hn-{i}" for i in range(5)}

            async def leases() -> bool:
                found = await c.list(LEASES, namespace="kube-node-lease")
                return {x["metadata"]["name"] for x in found["items"]} >= names

            await eventually(leases, within=10, what="5 leases")
    finally:
        code = stop(proc, log)
    assert code == 0, log.read_text()[-3000:]


@pytest.mark.slow
async def test_role_i_waits_for_the_api_then_registers(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "node.log"
    proc = spawn("--role", "i", "--runtime", "hollow", "--disable", "proxy", "--server", url,
                 "--node-name", "ni",
                 "--data-dir", str(tmp_path / "node"), log=log)
    api = ApiServerProcess(tmp_path / "api", port=port)
    try:
        await asyncio.sleep(1.0)  # the node starts first and must wait
        assert proc.poll() is None, log.read_text()
        await asyncio.to_thread(api.start)
        async with Client(url) as c:
            async def ready() -> set[str] | None:
                return ready_names(await c.list(NODES), "ni") or None

            await eventually(ready, within=20, what="node ni Ready")
    finally:
        code = stop(proc, log)
        api.stop()
    assert code == 0, log.read_text()[-3000:]


def test_role_i_unknown_runtime_fails_clearly(tmp_path: Path) -> None:
    # (The docker runtime exists since issue 5; tests/docker runs it on a real dockerd.)
    out = subprocess.run(
        [sys.executable, "-m", "minikube8s", "--role", "i", "--runtime", "rkt",
         "--server", "http://127.0.0.1:9", "--node-name", "nd",
         "--data-dir", str(tmp_path / "node")],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    assert "unknown runtime 'rkt'" in out.stderr and "hollow, docker" in out.stderr
    assert "Traceback" not in out.stderr
