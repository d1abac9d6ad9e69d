"""The namespace controller against the real API server: deleting a namespace removes its RCs,
pods, services and endpoints, then the namespace; a pod finishing its grace period holds it."""

from __future__ import annotations

import asyncio

from minikube8s.client import errors, resource
from tests.controllers.conftest import (
    NAMESPACES,
    PODS,
    RCS,
    Cluster,
    Object,
    eventually,
    pods_in,
    rc_manifest,
)

SERVICES = resource("services")
ENDPOINTS = resource("endpoints")
NODES = resource("nodes")


async def namespace_gone(cluster: Cluster, ns: str) -> bool:
    try:
        await cluster.client.get(NAMESPACES, ns)
    except errors.NotFound:
        return True
    return False


async def test_namespace_deletion_removes_everything(cluster: Cluster, ns: str) -> None:
    await cluster.start()
    await cluster.client.create(RCS, rc_manifest("web", 3), namespace=ns)
    await cluster.client.create(SERVICES, {"metadata": {"name": "web"},
                                           "spec": {"selector": {"app": "web"},
                                                    "ports": [{"port": 80}]}}, namespace=ns)

    async def ready() -> bool:
        try:
            await cluster.client.get(ENDPOINTS, "web", namespace=ns)
        except errors.NotFound:
            return False
        return len(await pods_in(cluster.client, ns)) == 3
    await eventually(ready, what="pods and endpoints")

    await cluster.client.delete(NAMESPACES, ns)
    await eventually(lambda: namespace_gone(cluster, ns), what="namespace gone")
    for res in (RCS, PODS, SERVICES, ENDPOINTS):
        assert (await cluster.client.list(res, namespace=ns))["items"] == [], res.name


async def test_terminating_pod_holds_the_namespace(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"namespace"})
    await cluster.client.create(NODES, {"metadata": {"name": f"n-{ns}"}})
    p: Object = {"metadata": {"name": "slow"},
                 "spec": {"containers": [{"name": "c", "image": "nginx"}],
                          "terminationGracePeriodSeconds": 30}}
    await cluster.client.create(PODS, p, namespace=ns)
    await cluster.client.bind(ns, "slow", f"n-{ns}")
    await cluster.client.delete(NAMESPACES, ns)

    async def remaining() -> bool:
        n = await cluster.client.get(NAMESPACES, ns)
        conds = (n.get("status") or {}).get("conditions") or []
        return any(c["type"] == "NamespaceContentRemaining" for c in conds)
    await eventually(remaining, what="NamespaceContentRemaining")
    pod = await cluster.client.get(PODS, "slow", namespace=ns)
    assert pod["metadata"]["deletionTimestamp"]
    await asyncio.sleep(0.3)
    assert not await namespace_gone(cluster, ns)
    # Acting as the pod's kubelet: its containers stopped, the final delete.
    await cluster.client.delete(PODS, "slow", namespace=ns, grace_period_seconds=0)
    await eventually(lambda: namespace_gone(cluster, ns), what="namespace gone")
    await cluster.client.delete(NODES, f"n-{ns}")
