"""Node lifecycle and pod CIDRs against the real API server. The controller's clock is a
FakeClock, so the 40 s grace period and 5 minute eviction timeout are stepped through, not
waited for. The test plays the kubelets: it posts node status heartbeats, renews a Lease, and
writes pod status."""

from __future__ import annotations

import copy
import itertools
import time

from minikube8s.client import FakeClock, errors, resource
from minikube8s.roles.controllers import podutil
from minikube8s.roles.controllers.node_lifecycle import NodeLifecycleController
from tests.controllers.conftest import PODS, Cluster, Object, eventually

NODES = resource("nodes")
LEASES = resource("leases")
EVENTS = resource("events")

_tick = itertools.count(1)


def stamp() -> str:
    """A heartbeat time that differs from the last one (as a kubelet's would)."""
    return podutil.format_time(time.time() + next(_tick))


async def make_node(cluster: Cluster, name: str) -> None:
    await cluster.client.create(NODES, {"metadata": {"name": name}})
    await heartbeat(cluster, name)


async def heartbeat(cluster: Cluster, name: str) -> str:
    node = copy.deepcopy(await cluster.client.get(NODES, name))
    t = stamp()
    node["status"] = {**(node.get("status") or {}), "conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady",
         "message": "kubelet is posting ready status", "lastHeartbeatTime": t,
         "lastTransitionTime": t}]}
    await cluster.client.update_status(NODES, node)
    return t


async def renew_lease(cluster: Cluster, name: str) -> str:
    renew = stamp().replace("Z", ".000000Z")
    try:
        lease = await cluster.client.get(LEASES, name, namespace="kube-node-lease")
    except errors.NotFound:
        await cluster.client.create(LEASES, {
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                     "renewTime": renew}})
        return renew
    lease["spec"]["renewTime"] = renew
    await cluster.client.update(LEASES, lease)
    return renew


async def running_pod(cluster: Cluster, ns: str, name: str, node: str) -> None:
    await cluster.client.create(PODS, {"metadata": {"name": name, "labels": {"app": "x"}},
                                       "spec": {"containers": [{"name": "c", "image": "i"}]}},
                                namespace=ns)
    await cluster.client.bind(ns, name, node)
    p = copy.deepcopy(await cluster.client.get(PODS, name, namespace=ns))
    p["status"] = {"phase": "Running", "podIP": "172.16.9.9",
                   "conditions": [{"type": "Ready", "status": "True"}]}
    await cluster.client.update_status(PODS, p)


async def ready_of(cluster: Cluster, name: str) -> Object:
    return podutil.condition(await cluster.client.get(NODES, name), "Ready") or {}


async def test_silent_node_goes_unknown_then_its_pods_are_evicted(cluster: Cluster,
                                                                   ns: str) -> None:
    clock = FakeClock()
    await make_node(cluster, "dead")
    await make_node(cluster, "alive")   # heartbeats through node status
    await make_node(cluster, "leased")  # heartbeats through its Lease only
    await renew_lease(cluster, "leased")
    for i in range(2):
        await running_pod(cluster, ns, f"d{i}", "dead")
    await running_pod(cluster, ns, "a0", "alive")
    run = await cluster.start(only={"node-lifecycle"}, clock=clock)
    ctrl = run.manager["node-lifecycle"]
    assert isinstance(ctrl, NodeLifecycleController)

    async def beat() -> None:
        """Both live nodes report, and the controller has seen it before time moves on."""
        hb = await heartbeat(cluster, "alive")
        renew = await renew_lease(cluster, "leased")

        async def observed() -> bool:
            a, b = ctrl.health.get("alive"), ctrl.health.get("leased")
            return a is not None and b is not None and a.heartbeat == hb and b.renew == renew
        await eventually(observed, within=5, what="heartbeats observed")

    for _ in range(3):  # 45 s of fake time: past the 40 s grace period
        await beat()
        await clock.advance(15)

    async def dead_unknown() -> bool:
        return (await ready_of(cluster, "dead")).get("status") == "Unknown"
    await eventually(dead_unknown, what="Ready=Unknown")
    ready = await ready_of(cluster, "dead")
    assert ready["reason"] == "NodeStatusUnknown"
    assert ready["message"] == "Kubelet stopped posting node status."
    assert (await ready_of(cluster, "alive"))["status"] == "True"
    assert (await ready_of(cluster, "leased"))["status"] == "True"

    async def tainted() -> bool:
        node = await cluster.client.get(NODES, "dead")
        return {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"} in (
            node["spec"].get("taints") or [])
    await eventually(tainted, what="unreachable taint")

    async def pods_not_ready() -> bool:
        pods = [await cluster.client.get(PODS, f"d{i}", namespace=ns) for i in range(2)]
        return not any(podutil.is_ready(p) for p in pods)
    await eventually(pods_not_ready, what="pods on the dead node marked not ready")
    assert podutil.is_ready(await cluster.client.get(PODS, "a0", namespace=ns))

    async def node_event(reason: str) -> bool:
        evs = (await cluster.client.list(EVENTS, namespace="default"))["items"]
        return any(e["reason"] == reason and e["involvedObject"]["name"] == "dead"
                   for e in evs)
    await eventually(lambda: node_event("NodeNotReady"), what="NodeNotReady event")

    # Nothing is evicted before the 5 minute timeout.
    for _ in range(9):  # 270 s
        await beat()
        await clock.advance(30)
    assert not (await cluster.client.get(PODS, "d0", namespace=ns))["metadata"].get(
        "deletionTimestamp")
    await beat()
    await clock.advance(30)  # past 300 s since it went not ready

    async def evicted() -> bool:
        pods = (await cluster.client.list(PODS, namespace=ns))["items"]
        return all(p["metadata"].get("deletionTimestamp") for p in pods
                   if p["spec"].get("nodeName") == "dead") and len(pods) == 3
    await eventually(evicted, what="graceful eviction")
    await eventually(lambda: node_event("DeletingAllPods"), what="DeletingAllPods event")
    evs = (await cluster.client.list(EVENTS, namespace=ns))["items"]
    assert {e["involvedObject"]["name"] for e in evs
            if e["reason"] == "TaintManagerEviction"} == {"d0", "d1"}

    # No kubelet finishes them on an unreachable node: after their 30 s grace, force-deleted.
    await beat()
    await clock.advance(31)

    async def gone() -> bool:
        names = {p["metadata"]["name"]
                 for p in (await cluster.client.list(PODS, namespace=ns))["items"]}
        return names == {"a0"}
    await eventually(gone, what="force deletion")

    # The kubelet comes back: Ready again, taint removed.
    await heartbeat(cluster, "dead")

    async def untainted() -> bool:
        node = await cluster.client.get(NODES, "dead")
        return not node["spec"].get("taints")
    await eventually(untainted, what="taint removed")


async def test_pods_on_a_deleted_node_are_collected(cluster: Cluster, ns: str) -> None:
    clock = FakeClock()
    await make_node(cluster, "gone")
    await running_pod(cluster, ns, "p", "gone")
    await cluster.start(only={"node-lifecycle"}, clock=clock)
    await cluster.client.delete(NODES, "gone")
    await clock.advance(1)
    await clock.advance(45)

    async def collected() -> bool:
        return not (await cluster.client.list(PODS, namespace=ns))["items"]
    await eventually(collected, what="orphaned pod force-deleted")


async def test_each_node_gets_a_unique_pod_cidr(cluster: Cluster) -> None:
    await cluster.client.create(NODES, {"metadata": {"name": "pre"},
                                        "spec": {"podCIDR": "172.16.0.0/24"}})
    await cluster.start(only={"node-ipam"})
    for name in ("n1", "n2", "n3"):
        await cluster.client.create(NODES, {"metadata": {"name": name}})

    async def cidrs() -> dict[str, str]:
        nodes = (await cluster.client.list(NODES))["items"]
        return {n["metadata"]["name"]: n["spec"].get("podCIDR", "") for n in nodes}

    async def all_set() -> bool:
        return all((await cidrs()).values())
    await eventually(all_set, what="podCIDRs")
    got = await cidrs()
    assert got == {"pre": "172.16.0.0/24", "n1": "172.16.1.0/24", "n2": "172.16.2.0/24",
                   "n3": "172.16.3.0/24"}
    n1 = await cluster.client.get(NODES, "n1")
    assert n1["spec"]["podCIDRs"] == ["172.16.1.0/24"]
    # A deleted node's CIDR is free again.
    await cluster.client.delete(NODES, "n2")
    await eventually(lambda: _absent(cluster, "n2"), what="n2 gone")
    await cluster.client.create(NODES, {"metadata": {"name": "n4"}})

    async def n4_reuses() -> bool:
        return (await cidrs()).get("n4") == "172.16.2.0/24"
    await eventually(n4_reuses, what="n4 gets n2's CIDR")


async def _absent(cluster: Cluster, name: str) -> bool:
    try:
        await cluster.client.get(NODES, name)
    except errors.NotFound:
        return True
    return False
