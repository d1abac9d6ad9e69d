"""The garbage collector with the replication controller, against the real API server:
deleting an RC deletes its pods (background), ``--cascade=orphan`` leaves them without
ownerReferences (with the real kubectl), foreground deletion keeps the RC until its pods are
gone, and a dependent with one live owner only loses the dangling reference."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from minikube8s.client import errors, resource
from tests.compat.kubectl import KUBECONFIG, binary
from tests.controllers.conftest import (
    PODS,
    RCS,
    Cluster,
    Object,
    eventually,
    pods_in,
    rc_manifest,
)

NODES = resource("nodes")


def write_kubeconfig(url: str, home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    cfg = home / "kubeconfig"
    cfg.write_text(KUBECONFIG.format(url=url))
    return cfg


async def kubectl(url: str, home: Path, *args: str) -> str:
    cfg = write_kubeconfig(url, home)
    proc = await asyncio.create_subprocess_exec(
        str(binary("1.33")), "-s", url, "--cache-dir", str(home / "cache"), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(home), "KUBECONFIG": str(cfg)})
    out, err = await proc.communicate()
    assert proc.returncode == 0, f"kubectl {args}: {err.decode()}"
    return out.decode()


async def rc_gone(cluster: Cluster, ns: str, name: str = "web") -> bool:
    try:
        await cluster.client.get(RCS, name, namespace=ns)
    except errors.NotFound:
        return True
    return False


async def start_rc(cluster: Cluster, ns: str, replicas: int = 3) -> Object:
    rc = await cluster.client.create(RCS, rc_manifest("web", replicas), namespace=ns)

    async def up() -> bool:
        return len(await pods_in(cluster.client, ns)) == replicas
    await eventually(up, what=f"{replicas} pods")
    return rc


async def test_deleting_an_rc_deletes_its_pods(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"replication", "garbage-collector"})
    await start_rc(cluster, ns)
    await cluster.client.delete(RCS, "web", namespace=ns)
    assert await rc_gone(cluster, ns)  # background: the owner goes at once

    async def no_pods() -> bool:
        return not await pods_in(cluster.client, ns)
    await eventually(no_pods, what="pods collected")


async def test_cascade_orphan_with_kubectl(cluster: Cluster, ns: str, tmp_path: Path) -> None:
    if not binary("1.33").exists():
        pytest.skip("kubectl 1.33 not installed")
    await cluster.start(only={"replication", "garbage-collector"})
    await start_rc(cluster, ns)
    before = {p["metadata"]["name"] for p in await pods_in(cluster.client, ns)}
    await kubectl(cluster.url, tmp_path, "-n", ns, "delete", "rc", "web", "--cascade=orphan")
    await eventually(lambda: rc_gone(cluster, ns), what="rc gone")
    pods = await pods_in(cluster.client, ns)
    assert {p["metadata"]["name"] for p in pods} == before
    assert not any(p["metadata"].get("ownerReferences") for p in pods)
    assert not any(p["metadata"].get("deletionTimestamp") for p in pods)
    # A new RC with the same selector adopts them instead of creating more.
    rc = await cluster.client.create(RCS, rc_manifest("web", 3), namespace=ns)

    async def adopted() -> bool:
        pods = await pods_in(cluster.client, ns)
        return len(pods) == 3 and all(
            (p["metadata"].get("ownerReferences") or [{}])[0].get("uid")
            == rc["metadata"]["uid"] for p in pods)
    await eventually(adopted, what="adoption by the new RC")
    assert {p["metadata"]["name"] for p in await pods_in(cluster.client, ns)} == before


async def test_foreground_waits_for_the_pods(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"replication", "garbage-collector"})
    await start_rc(cluster, ns, replicas=2)
    # One pod is on a node, so its deletion is graceful and waits for a kubelet (the test).
    node = f"n-{ns}"
    await cluster.client.create(NODES, {"metadata": {"name": node}})
    bound = (await pods_in(cluster.client, ns))[0]["metadata"]["name"]
    await cluster.client.bind(ns, bound, node)
    await cluster.client.delete(RCS, "web", namespace=ns, propagation_policy="Foreground")

    async def only_bound_left() -> bool:
        pods = await pods_in(cluster.client, ns)
        return [p["metadata"]["name"] for p in pods] == [bound] and bool(
            pods[0]["metadata"].get("deletionTimestamp"))
    await eventually(only_bound_left, what="unbound pod deleted, bound one terminating")
    rc = await cluster.client.get(RCS, "web", namespace=ns)
    assert rc["metadata"]["deletionTimestamp"]
    assert rc["metadata"]["finalizers"] == ["foregroundDeletion"]
    await asyncio.sleep(0.3)
    assert not await rc_gone(cluster, ns)
    # The kubelet's final delete: the last dependent goes, then the RC.
    await cluster.client.delete(PODS, bound, namespace=ns, grace_period_seconds=0)
    await eventually(lambda: rc_gone(cluster, ns), what="rc gone after its pods")
    await cluster.client.delete(NODES, node)


async def test_dangling_reference_is_dropped(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"garbage-collector"})
    keeper = await cluster.client.create(RCS, rc_manifest("keeper", 0, app="k"), namespace=ns)
    gone = await cluster.client.create(RCS, rc_manifest("gone", 0, app="g"), namespace=ns)
    refs = [{"apiVersion": "v1", "kind": "ReplicationController", "name": o["metadata"]["name"],
             "uid": o["metadata"]["uid"]} for o in (keeper, gone)]
    await cluster.client.create(PODS, {
        "metadata": {"name": "shared", "ownerReferences": refs},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}}, namespace=ns)
    await cluster.client.delete(RCS, "gone", namespace=ns)

    async def one_ref() -> bool:
        p = await cluster.client.get(PODS, "shared", namespace=ns)
        return [r["name"] for r in p["metadata"].get("ownerReferences") or []] == ["keeper"]
    await eventually(one_ref, what="dangling reference removed")


async def test_bad_propagation_policy_is_422(cluster: Cluster, ns: str) -> None:
    await cluster.client.create(RCS, rc_manifest("web", 0), namespace=ns)
    with pytest.raises(errors.Invalid):
        await cluster.client.delete(RCS, "web", namespace=ns, propagation_policy="Sideways")
