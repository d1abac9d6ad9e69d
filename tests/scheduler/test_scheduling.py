"""The scheduler against a real API server: spreading, FailedScheduling with Kubernetes'
messages, nodeSelector, host ports, retries when the cluster changes, assumed bursts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from minikube8s.client import Client, InformerFactory, RealClock, resource
from minikube8s.config import NodeConfig, Role
from minikube8s.roles import scheduler
from minikube8s.roles.context import RoleContext
from minikube8s.tasks import Supervisor
from tests.fixtures.apiserver import InProcessApi
from tests.scheduler.conftest import NODES, PODS, RCS, Cluster, eventually, node, pod


async def all_bound(c: Cluster, n: int, ns: str = "default") -> bool:
    placed = await c.placement(ns)
    return len(placed) == n and all(placed.values())


async def test_rc_pods_spread_two_per_node(cluster: Cluster) -> None:
    c = cluster
    for i in range(3):
        await c.add_node(f"n{i}")
    rc = await c.client.create(RCS, {
        "metadata": {"name": "web"},
        "spec": {"replicas": 6, "selector": {"app": "web"},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}},
        namespace="default")
    # Busier n0 would win on least-requested alone if spreading did not count.
    await c.add_pod("other", cpu="300m", node_name="n0")
    ref = {"apiVersion": "v1", "kind": "ReplicationController", "name": "web",
           "uid": rc["metadata"]["uid"], "controller": True}
    for i in range(6):
        # No controller manager runs here: the test plays the RC's part.
        obj = pod(f"web-{i}", labels={"app": "web"})
        obj["metadata"]["ownerReferences"] = [ref]
        del obj["metadata"]["uid"]
        await c.client.create(PODS, obj, namespace="default")
    await eventually(lambda: all_bound(c, 7), what="all pods bound")
    placed = await c.placement()
    per_node = Counter(v for k, v in placed.items() if k.startswith("web-"))
    assert sorted(per_node.values()) == [2, 2, 2], per_node
    ev = await c.events("web-0", "Scheduled")
    assert ev and ev[0]["message"] == f"Successfully assigned default/web-0 to {placed['web-0']}"
    assert ev[0]["type"] == "Normal" and ev[0]["source"]["component"] == "default-scheduler"
    bound = await c.client.get(PODS, "web-0", namespace="default")
    conds = {x["type"]: x["status"] for x in bound["status"].get("conditions", [])}
    assert conds.get("PodScheduled") == "True"


async def test_pod_too_big_for_every_node_stays_pending_with_reason(cluster: Cluster) -> None:
    c = cluster
    for i in range(3):
        await c.add_node(f"n{i}", cpu="2")
    await c.add_pod("huge", cpu="16")
    msg = "0/3 nodes are available: 3 Insufficient cpu."

    async def failed() -> bool:
        ev = await c.events("huge", "FailedScheduling")
        return bool(ev) and ev[0]["message"] == msg and ev[0]["type"] == "Warning"
    await eventually(failed, what="FailedScheduling event")

    async def condition() -> bool:
        p = await c.client.get(PODS, "huge", namespace="default")
        cond = [x for x in p["status"].get("conditions", []) if x["type"] == "PodScheduled"]
        return bool(cond) and cond[0]["status"] == "False" \
            and cond[0]["reason"] == "Unschedulable" and cond[0]["message"] == msg
    await eventually(condition, what="PodScheduled=False condition")
    p = await c.client.get(PODS, "huge", namespace="default")
    assert not p["spec"].get("nodeName") and p["status"]["phase"] == "Pending"


async def test_mixed_reasons_are_aggregated_and_sorted(cluster: Cluster) -> None:
    c = cluster
    await c.add_node("n0", cpu="1", labels={"disk": "ssd"})
    await c.add_node("n1", cpu="1", labels={"disk": "ssd"})
    await c.add_node("n2", cpu="8")
    await c.add_pod("picky", cpu="2", node_selector={"disk": "ssd"})
    msg = ("0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
           "2 Insufficient cpu.")

    async def failed() -> bool:
        return any(e["message"] == msg for e in await c.events("picky", "FailedScheduling"))
    await eventually(failed, what=msg)


async def test_node_selector_respected(cluster: Cluster) -> None:
    c = cluster
    await c.add_node("n0")
    await c.add_node("n1", labels={"disk": "ssd"})
    await c.add_node("n2")
    for i in range(4):
        await c.add_pod(f"ssd-{i}", node_selector={"disk": "ssd"})
    await eventually(lambda: all_bound(c, 4), what="bound")
    assert set((await c.placement()).values()) == {"n1"}


async def test_host_port_conflicts_respected(cluster: Cluster) -> None:
    c = cluster
    for i in range(3):
        await c.add_node(f"n{i}")
    for i in range(4):
        await c.add_pod(f"hp-{i}", host_port=8080)

    async def three_bound() -> bool:
        return sum(1 for v in (await c.placement()).values() if v) == 3
    await eventually(three_bound, what="three bound")
    placed = await c.placement()
    assert sorted(v for v in placed.values() if v) == ["n0", "n1", "n2"]
    pending = next(k for k, v in placed.items() if not v)
    msg = ("0/3 nodes are available: 3 node(s) didn't have free ports for the requested "
           "pod ports.")

    async def failed() -> bool:
        return any(e["message"] == msg for e in await c.events(pending, "FailedScheduling"))
    await eventually(failed, what=msg)
    # Another protocol on the same port is no conflict.
    await c.add_pod("udp", host_port=8080, protocol="UDP")

    async def udp_bound() -> bool:
        return bool((await c.placement()).get("udp"))
    await eventually(udp_bound, what="udp bound")


async def test_unschedulable_pod_is_placed_when_a_big_enough_node_appears(
        cluster: Cluster) -> None:
    c = cluster
    await c.add_node("small", cpu="1")
    await c.add_pod("big", cpu="4")

    async def failed() -> bool:
        return bool(await c.events("big", "FailedScheduling"))
    await eventually(failed, what="FailedScheduling")
    await c.add_node("large", cpu="8")

    async def placed() -> bool:
        return (await c.placement()).get("big") == "large"
    await eventually(placed, within=5.0, what="placed on the new node")


async def test_freed_resources_and_node_changes_trigger_retries(cluster: Cluster) -> None:
    c = cluster
    await c.add_node("n0", cpu="2")
    await c.add_pod("hog", cpu="2")
    await eventually(lambda: all_bound(c, 1), what="hog bound")
    await c.add_pod("waiter", cpu="1")

    async def failed() -> bool:
        return bool(await c.events("waiter", "FailedScheduling"))
    await eventually(failed, what="waiter unschedulable")
    await c.client.delete(PODS, "hog", namespace="default", grace_period_seconds=0)

    async def placed() -> bool:
        return (await c.placement()).get("waiter") == "n0"
    await eventually(placed, within=5.0, what="waiter placed after the hog went")

    # A cordoned node takes nothing; uncordoning it is a change worth a retry.
    await c.client.patch(NODES, "n0", {"spec": {"unschedulable": True}})
    await c.add_pod("late")

    async def cordoned() -> bool:
        return any("node(s) were unschedulable" in e["message"]
                   for e in await c.events("late", "FailedScheduling"))
    await eventually(cordoned, what="cordoned")
    await c.client.patch(NODES, "n0", {"spec": {"unschedulable": False}})

    async def late_placed() -> bool:
        return (await c.placement()).get("late") == "n0"
    await eventually(late_placed, within=5.0, what="placed after uncordon")


async def test_not_ready_nodes_are_skipped(cluster: Cluster) -> None:
    c = cluster
    await c.add_node("sick", ready=False)
    await c.add_node("well")
    for i in range(3):
        await c.add_pod(f"p{i}")
    await eventually(lambda: all_bound(c, 3), what="bound")
    assert set((await c.placement()).values()) == {"well"}


async def test_assumed_burst_spreads_over_equal_nodes(cluster: Cluster) -> None:
    c = cluster
    for i in range(3):
        await c.add_node(f"n{i}")
    # Pods exist before the scheduler sees any of them bound: only assumptions can spread them.
    for i in range(30):
        await c.add_pod(f"b{i:02}", cpu="100m")
    await eventually(lambda: all_bound(c, 30), what="all bound")
    counts = Counter((await c.placement()).values())
    assert all(9 <= n <= 11 for n in counts.values()), counts
    assert c.scheduler.bound == 30 and c.scheduler.bind_failures == 0


async def test_pods_for_another_scheduler_are_left_alone(cluster: Cluster) -> None:
    c = cluster
    await c.add_node("n0")
    foreign = pod("foreign")
    foreign["spec"]["schedulerName"] = "my-scheduler"
    del foreign["metadata"]["uid"]
    await c.client.create(PODS, foreign, namespace="default")
    await c.add_pod("mine")

    async def mine_bound() -> bool:
        return bool((await c.placement()).get("mine"))
    await eventually(mine_bound, what="mine bound")
    await c.scheduler.idle()
    assert (await c.placement())["foreign"] == ""
    assert not await c.events("foreign", "FailedScheduling")


async def test_start_from_role_context(api: InProcessApi, tmp_path: Path) -> None:
    """The role's entry point as run_node calls it: shared informers, supervisor tasks."""
    client = Client(api.url)
    sup = Supervisor()
    factory = InformerFactory(client)
    ctx = RoleContext(config=NodeConfig(role=Role.A, data_dir=tmp_path), client=client,
                      informers=factory, supervisor=sup, clock=RealClock(),
                      server_url=api.url)
    try:
        await scheduler.start(ctx)
        await factory.start(sup)
        await client.create(NODES, node("n0"))
        p = pod("p")
        del p["metadata"]["uid"]
        await client.create(PODS, p, namespace="default")

        async def bound() -> bool:
            got = await client.get(PODS, "p", namespace="default")
            return got["spec"].get("nodeName") == "n0"
        await eventually(bound, what="bound through start(ctx)")
        assert factory.informer(resource("pods")).has_synced()
    finally:
        await sup.stop()
        await client.close()
    assert not sup.failed.is_set(), sup.failure
