"""``minikube8s hollow-nodes`` against a secure control plane (issue 9): a real ``minikube8s
--role a`` (HTTPS on a free loopback port, scheduler and controllers on) and one
``hollow-nodes --count 20 --server https://... --token K10...`` process.

Every hollow node joins under its own name and keeps ``node.token`` and ``pki/ca.crt`` (0600)
in ``DATA_DIR/<node>/``; the process holds no other credential, so everything its kubelets
write (Node registration, heartbeats, Leases, pods/status) goes through their node tokens and
the Node authorizer and NodeRestriction. The tests check the 20 Ready nodes, an RC's pods
Running on them, that one node's stored token cannot write another node's status (403) while
it can write its own, a second start on the stored credentials without ``--token``, a token
of another cluster or no token refused with one line, and joins that wait for an absent
server (one warning) until SIGTERM. One more hollow node runs pods that use a secret and a
config map: its kubelet reads them with its node token, which the Node authorizer allows for
objects its pods reference only, and a pod whose secret is missing waits (FailedMount) until
the secret is created.
"""

from __future__ import annotations

import asyncio
import base64
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minikube8s.auth import join
from minikube8s.client import Client, errors, resource
from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import free_port

from .conftest import eventually
from .test_process import ready_names, spawn, stop

NODES = resource("nodes")
PODS = resource("pods")
RCS = resource("replicationcontrollers")
SECRETS = resource("secrets")
CONFIGMAPS = resource("configmaps")
EVENTS = resource("events")
COUNT = 20
PREFIX = "sn-"


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    # Its own control plane: the shared one's earlier hollow nodes must not take these pods.
    with ApiServerProcess(tmp_path_factory.mktemp("secure-hollow") / "data").serving() as p:
        yield p


def admin(master: ApiServerProcess) -> Client:
    return Client(master.secure_url, token=master.admin_token, ca_file=master.ca_file)


def as_node(data_dir: Path, name: str, server: str) -> Client:
    """A client on the credentials the hollow-nodes process stored for ``name``."""
    creds = join.stored(data_dir / name, name)
    assert creds is not None, f"no stored credentials for {name} in {data_dir}"
    return Client(server, **creds.client_options())


def rc(name: str, replicas: int) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": labels,
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web",
                                                           "image": "nginx"}]}}}}


@pytest.mark.slow
async def test_twenty_hollow_nodes_join_and_run_pods_with_their_own_tokens(
        master: ApiServerProcess, tmp_path: Path) -> None:
    data_dir, log = tmp_path / "hollow", tmp_path / "hollow.log"
    proc = spawn("hollow-nodes", "--count", str(COUNT), "--server", master.secure_url,
                 "--token", master.join_token, "--data-dir", str(data_dir),
                 "--name-prefix", PREFIX, "--heartbeat-interval", "1",
                 "--start-delay", "0.05-0.2", log=log)
    names = {f"{PREFIX}{i}" for i in range(COUNT)}
    try:
        async with admin(master) as c:
            async def all_ready() -> set[str] | None:
                found = ready_names(await c.list(NODES), PREFIX)
                return found if len(found) == COUNT else None

            assert await eventually(all_ready, within=15, what=f"{COUNT} Ready nodes") == names

            # Each node joined on its own: its token names it, nothing else is kept there
            # (hollow nodes serve no kubelet port, so they hold no kubelet certificate).
            for name in names:
                token_file = data_dir / name / join.NODE_TOKEN_FILE
                assert token_file.read_text().startswith(f"node:{name}:")
                assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
                assert (data_dir / name / join.CA_FILE).read_bytes() == \
                    master.ca_file.read_bytes()
                assert not (data_dir / name / join.KUBELET_CERT_FILE).exists()

            await c.create(RCS, rc("web", 2 * COUNT))

            async def running() -> list[dict[str, Any]] | None:
                pods = (await c.list(PODS, namespace="default",
                                     label_selector="app=web"))["items"]
                up = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
                return up if len(up) == 2 * COUNT else None

            pods = await eventually(running, within=15, what=f"{2 * COUNT} Running pods")
            assert {p["spec"]["nodeName"] for p in pods} <= names
            # The scheduler spreads them: more than a handful of nodes did the work.
            assert len({p["spec"]["nodeName"] for p in pods}) >= COUNT // 2

        # NodeRestriction at work on the stored credentials: sn-0 writes its own status,
        # not sn-1's, nor the status of a pod bound elsewhere.
        async with as_node(data_dir, f"{PREFIX}0", master.secure_url) as n0:
            await n0.patch_status(NODES, f"{PREFIX}0", {"metadata": {"labels": {"seen": "1"}}})
            with pytest.raises(errors.Forbidden) as refused:
                await n0.patch_status(NODES, f"{PREFIX}1", {"metadata": {"labels": {"x": "1"}}})
            assert refused.value.code == 403
            assert f'User "system:node:{PREFIX}0"' in refused.value.message
            other = next(p for p in pods if p["spec"]["nodeName"] != f"{PREFIX}0")
            with pytest.raises(errors.Forbidden):
                await n0.patch_status(PODS, other["metadata"]["name"], namespace="default",
                                      patch={"status": {"message": "not yours"}})
    finally:
        code = stop(proc, log)
    assert code == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert f"{COUNT} hollow nodes registered" in text
    assert master.join_token not in text  # tokens are never logged

    # A second start needs no --token: every node finds its stored credentials.
    log2 = tmp_path / "again.log"
    again = spawn("hollow-nodes", "--count", "2", "--server", master.secure_url,
                  "--data-dir", str(data_dir), "--name-prefix", PREFIX,
                  "--heartbeat-interval", "1", log=log2)
    try:
        async def registered() -> bool:
            return "2 hollow nodes registered" in log2.read_text()

        await eventually(registered, within=10, what="2 nodes registered on stored tokens")
    finally:
        code = stop(again, log2)
    assert code == 0, log2.read_text()[-3000:]
    assert "joined" not in log2.read_text()
    assert log2.read_text().count("using the node credentials stored") == 2


def test_a_token_of_another_cluster_is_refused_in_one_line(master: ApiServerProcess,
                                                           tmp_path: Path) -> None:
    wrong = "K10" + "0" * 64 + "::server:" + "s" * 32
    out = subprocess.run(
        [sys.executable, "-m", "minikube8s", "hollow-nodes", "--count", "3", "--server",
         master.secure_url, "--token", wrong, "--data-dir", str(tmp_path / "hollow")],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, out.stderr
    assert "does not match the join token's hash" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "hollow" / "hollow-0" / join.NODE_TOKEN_FILE).exists()


def test_no_token_and_nothing_stored_is_one_line(master: ApiServerProcess,
                                                 tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "minikube8s", "hollow-nodes", "--count", "2", "--server",
         master.secure_url, "--data-dir", str(tmp_path / "hollow")],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 1, out.stderr
    assert "needs --token" in out.stderr and "Traceback" not in out.stderr


async def test_joins_wait_for_an_absent_server_and_stop_on_sigterm(tmp_path: Path) -> None:
    # Nothing listens there: the first join retries (one warning, not one per node or
    # attempt) and the others wait behind it; SIGTERM ends the process cleanly.
    log = tmp_path / "hollow.log"
    token = "K10" + "0" * 64 + "::server:" + "s" * 32
    proc = spawn("hollow-nodes", "--count", "30", "--server",
                 f"https://127.0.0.1:{free_port()}", "--token", token,
                 "--data-dir", str(tmp_path / "hollow"), log=log)
    try:
        async def warned() -> bool:
            return "cannot join" in log.read_text()

        await eventually(warned, within=10, what="a join warning")
        await asyncio.sleep(1.5)  # a few more attempts
    finally:
        code = stop(proc, log)
    assert code == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert text.count("cannot join") == 1, text
    assert "Traceback" not in text


async def test_a_joined_node_reads_what_its_pods_reference_and_waits_for_the_rest(
        master: ApiServerProcess, tmp_path: Path) -> None:
    data_dir, log = tmp_path / "hollow", tmp_path / "hollow.log"
    name = "cfg-0"
    proc = spawn("hollow-nodes", "--count", "1", "--server", master.secure_url,
                 "--token", master.join_token, "--data-dir", str(data_dir),
                 "--name-prefix", "cfg-", "--heartbeat-interval", "1",
                 "--start-delay", "0.05-0.1", log=log)

    def pod(pod_name: str, secret: str) -> dict[str, Any]:
        # Bound by name: the earlier test's stopped nodes may still look Ready.
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod_name},
                "spec": {"nodeName": name,
                         "volumes": [{"name": "creds", "secret": {"secretName": secret}}],
                         "containers": [{"name": "c", "image": "busybox",
                                         "volumeMounts": [{"name": "creds",
                                                           "mountPath": "/s"}],
                                         "env": [{"name": "MODE", "valueFrom": {
                                             "configMapKeyRef": {"name": "cfg",
                                                                 "key": "mode"}}}]}]}}

    def secret(secret_name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name},
                "data": {"pw": base64.b64encode(b"s3cret").decode()}}

    try:
        async with admin(master) as c:
            async def ready() -> bool:
                return name in ready_names(await c.list(NODES), "cfg-")

            await eventually(ready, within=15, what=f"{name} Ready")
            await c.create(SECRETS, secret("db"), namespace="default")
            await c.create(SECRETS, secret("unrelated"), namespace="default")
            await c.create(CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                        "metadata": {"name": "cfg"},
                                        "data": {"mode": "fast"}}, namespace="default")
            await c.create(PODS, pod("uses", "db"), namespace="default")
            await c.create(PODS, pod("waits", "late"), namespace="default")

            async def phase(pod_name: str) -> str:
                got = await c.get(PODS, pod_name, namespace="default")
                return str((got.get("status") or {}).get("phase") or "")

            async def running(pod_name: str) -> bool:
                return await phase(pod_name) == "Running"

            await eventually(lambda: running("uses"), within=15, what="pod uses Running")

            async def failed_mount() -> list[str]:
                items = (await c.list(EVENTS, namespace="default",
                                      field_selector="involvedObject.name=waits"))["items"]
                return [e["message"] for e in items if e["reason"] == "FailedMount"]

            messages = await eventually(failed_mount, within=15, what="FailedMount")
            assert messages[0] == \
                'MountVolume.SetUp failed for volume "creds" : secret "late" not found'
            assert await phase("waits") == "Pending"
            await c.create(SECRETS, secret("late"), namespace="default")
            await eventually(lambda: running("waits"), within=15, what="pod waits Running")

        # The node's own token reads what its pods reference, and nothing else.
        async with as_node(data_dir, name, master.secure_url) as node:
            assert (await node.get(SECRETS, "db", namespace="default"))["data"]["pw"]
            assert (await node.get(CONFIGMAPS, "cfg", namespace="default"))["data"]
            with pytest.raises(errors.Forbidden):
                await node.get(SECRETS, "unrelated", namespace="default")
    finally:
        code = stop(proc, log)
    assert code == 0, log.read_text()[-3000:]
