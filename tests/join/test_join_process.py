"""Joining a real control plane: ``minikube8s --role a`` (HTTPS on a free loopback port) and
``minikube8s --role i --runtime hollow --server https://... --token ...`` as subprocesses.

The node pins the CA, gets its own credential, registers and turns Ready; node.token and
pki/ca.crt are 0600 and a restart reuses them (no second join). A wrong token or no token
ends the node with one line and exit 1. The bundled CLI reaches the cluster with the admin
kubeconfig the control plane writes (CA + admin token) and prints kubectl's Unauthorized line
for a wrong token."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from minikube8s.auth import join
from minikube8s.client import Client, NotFound, resource
from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import free_port

NODES = resource("nodes")


class Master:
    def __init__(self, proc: ApiServerProcess) -> None:
        self.proc = proc
        self.kubeconfig = proc.data_dir / "kubeconfig"
        doc = yaml.safe_load(self.kubeconfig.read_text())
        self.url = str(doc["clusters"][0]["cluster"]["server"])
        self.admin_token = str(doc["users"][0]["user"]["token"])
        self.join_token = (proc.data_dir / "token").read_text().strip()
        self.ca_file = proc.data_dir / "pki" / "ca.crt"

    def client(self) -> Client:
        return Client(self.url, token=self.admin_token, ca_file=self.ca_file)


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Master]:
    """A control plane on HTTPS (a free loopback port) for nodes to join; other modules import
    this fixture to get one of their own."""
    with ApiServerProcess(tmp_path_factory.mktemp("master") / "data").serving() as proc:
        yield Master(proc)


class Node:
    def __init__(self, data_dir: Path, name: str) -> None:
        self.data_dir, self.name = data_dir, name
        self.log = data_dir.parent / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, server: str, *extra: str) -> Node:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "minikube8s", "--role", "i", "--runtime", "hollow",
                 "--server", server, "--data-dir", str(self.data_dir), "--node-name",
                 self.name, "--node-ip", "127.0.0.1", "--kubelet-port", str(free_port()),
                 "--disable", "proxy", *extra],
                stdout=log, stderr=subprocess.STDOUT,
                env={k: v for k, v in os.environ.items() if not k.startswith("MINIKUBE8S_")}
                | {"PYTHONUNBUFFERED": "1"})
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_exit(self, timeout: float = 30) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)


async def wait_ready(master: Master, name: str, *, after: str = "") -> None:
    """The Node's Ready condition True, with a heartbeat later than ``after`` (RFC 3339),
    within 30 s."""
    deadline = time.monotonic() + 30
    async with master.client() as c:
        while time.monotonic() < deadline:
            try:
                node = await c.get(NODES, name)
            except NotFound:
                node = {}
            for cond in (node.get("status") or {}).get("conditions") or []:
                if cond.get("type") == "Ready" and cond.get("status") == "True" and \
                        str(cond.get("lastHeartbeatTime")) > after:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"node {name} never Ready")


def error_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if " ERROR " in line]


async def test_join_ready_and_restart_reuses_credentials(master: Master, tmp_path: Path) -> None:
    node = Node(tmp_path / "n1", "join-n1").start(master.url, "--token", master.join_token)
    try:
        await wait_ready(master, "join-n1")
    finally:
        assert node.stop() == 0, node.output()
    first = node.output()
    assert first.count("joined https://127.0.0.1:") == 1, first
    assert master.join_token not in first
    for f in (node.data_dir / join.NODE_TOKEN_FILE, node.data_dir / join.CA_FILE):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert (node.data_dir / join.CA_FILE).read_bytes() == master.ca_file.read_bytes()
    token = (node.data_dir / join.NODE_TOKEN_FILE).read_text()
    assert token.startswith("node:join-n1:")

    async with master.client() as c:
        stamp = max(str(cond["lastHeartbeatTime"]) for cond in
                    (await c.get(NODES, "join-n1"))["status"]["conditions"])
    # restart without the join token: the stored credentials are enough
    node.start(master.url)
    try:
        await wait_ready(master, "join-n1", after=stamp)
    finally:
        assert node.stop() == 0, node.output()
    second = node.output()[len(first):]
    assert "using the node credentials stored" in second, second
    assert "joined https://" not in second, second
    assert (node.data_dir / join.NODE_TOKEN_FILE).read_text() == token


def test_wrong_token_exits_with_one_line(master: Master, tmp_path: Path) -> None:
    wrong_secret = master.join_token.rsplit(":", 1)[0] + ":not-the-secret"
    node = Node(tmp_path / "bad", "join-bad").start(master.url, "--token", wrong_secret)
    assert node.wait_exit() == 1, node.output()
    errs = error_lines(node.output())
    assert len(errs) == 1 and errs[0].endswith(
        f"{master.url} refused the join token (401 Unauthorized): check --token (the master "
        f"prints it; it is in DATA_DIR/token)"), node.output()
    assert "not-the-secret" not in node.output()
    assert not (node.data_dir / join.NODE_TOKEN_FILE).exists()

    other_cluster = "K10" + "0" * 64 + "::server:" + master.join_token.rsplit(":", 1)[1]
    node = Node(tmp_path / "bad2", "join-bad2").start(master.url, "--token", other_cluster)
    assert node.wait_exit() == 1, node.output()
    errs = error_lines(node.output())
    assert len(errs) == 1 and "does not match the join token's hash" in errs[0]


def test_https_without_token_exits(master: Master, tmp_path: Path) -> None:
    node = Node(tmp_path / "none", "join-none").start(master.url)
    assert node.wait_exit() == 1, node.output()
    errs = error_lines(node.output())
    assert len(errs) == 1 and errs[0].endswith(
        f"a node joining {master.url} needs --token (the master prints it; it is in "
        f"DATA_DIR/token)"), node.output()


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": os.environ.get("PATH", ""), "HOME": "/nonexistent", "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "minikube8s", *args], capture_output=True,
                          text=True, timeout=60, env=base | (env or {}))


async def test_cli_with_the_admin_kubeconfig(master: Master, tmp_path: Path) -> None:
    node = Node(tmp_path / "n2", "join-n2").start(master.url, "--token", master.join_token)
    try:
        await wait_ready(master, "join-n2")
        res = cli("get", "nodes", "--kubeconfig", str(master.kubeconfig))
        assert res.returncode == 0, res.stderr
        assert "join-n2" in res.stdout and "Ready" in res.stdout
        res = cli("get", "nodes", env={"KUBECONFIG": str(master.kubeconfig)})
        assert res.returncode == 0 and "join-n2" in res.stdout, res.stderr
        res = cli("get", "nodes", "--kubeconfig", str(master.kubeconfig), "--token", "wrong")
        assert (res.returncode, res.stderr) == (
            1, "error: You must be logged in to the server (Unauthorized)\n")
        # the read-only user may list but not write
        ro = master.proc.data_dir / "kubeconfig-readonly"
        res = cli("get", "nodes", "--kubeconfig", str(ro))
        assert res.returncode == 0 and "join-n2" in res.stdout, res.stderr
        res = cli("delete", "node", "join-n2", "--kubeconfig", str(ro))
        assert res.returncode == 1
        assert res.stderr.startswith('Error from server (Forbidden): nodes "join-n2" is '
                                     'forbidden: User "kubernetes-ro" cannot delete'), res.stderr
        # a kubeconfig trusting another CA: kubectl's x509 line
        doc = yaml.safe_load(master.kubeconfig.read_text())
        doc["clusters"][0]["cluster"].pop("certificate-authority-data")
        bad = tmp_path / "kc-system-cas"
        bad.write_text(yaml.safe_dump(doc))
        res = cli("get", "nodes", "--kubeconfig", str(bad))
        assert (res.returncode, res.stderr) == (
            1, "Unable to connect to the server: tls: failed to verify certificate: x509: "
               "certificate signed by unknown authority\n")
    finally:
        assert node.stop() == 0, node.output()
