"""Issue 4's cross-component tests: a real control plane and three hollow nodes as processes.

Everything runs the way a user would run it (tests/fixtures/cluster.py): ``minikube8s --role a``
on SQLite with ``--node-monitor-grace-period 4 --pod-eviction-timeout 6``, and one
``hollow-nodes`` process per node. Each test works in its own namespace (fixture ``ns``) and
asserts through the official ``kubernetes`` client where it reads the cluster's state, and
minikube8s' own Client where it polls. Waiting is always ``eventually`` with a deadline.

The two tests that disturb the cluster (a node SIGKILLed, the control plane restarted) come
last and leave it as they found it (the node is started again, the control plane is back).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from kubernetes import client as k8s

from minikube8s.client import Client, NotFound, resource
from tests.fixtures.cluster import Cluster

pytestmark = pytest.mark.slow

PODS = resource("pods")
RCS = resource("replicationcontrollers")
SERVICES = resource("services")
ENDPOINTS = resource("endpoints")
NAMESPACES = resource("namespaces")
NODES = resource("nodes")
EVENTS = resource("events")

Object = dict[str, Any]
T = TypeVar("T")


async def eventually(check: Callable[[], Awaitable[T | None]], *, within: float,
                     what: str, every: float = 0.1) -> T:
    """Poll ``check`` until it returns something other than None/False, or fail."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: Any = None
    while True:
        last = await check()
        if last is not None and last is not False:
            return last
        if loop.time() >= deadline:
            pytest.fail(f"not within {within} s: {what}")
        await asyncio.sleep(every)


def rc_body(name: str, replicas: int, **spec: Any) -> Object:
    """An RC whose pods stop within a second (so evictions and deletions finish quickly)."""
    pod_spec: Object = {"terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "c", "image": "nginx"}], **spec}
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}}


def pod_body(name: str, **spec: Any) -> Object:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "nginx"}], **spec}}


def running(pods: list[Object]) -> list[Object]:
    """Pods that are Running on a node and not being deleted."""
    return [p for p in pods
            if (p.get("status") or {}).get("phase") == "Running"
            and not p["metadata"].get("deletionTimestamp")]


def per_node(pods: list[Object]) -> Counter[str]:
    return Counter(p["spec"].get("nodeName", "") for p in pods)


@pytest.fixture(scope="module")
def core(hollow_cluster: Cluster) -> Iterator[k8s.CoreV1Api]:
    cfg = k8s.Configuration()
    cfg.host = hollow_cluster.url
    with k8s.ApiClient(cfg) as api_client:
        yield k8s.CoreV1Api(api_client)


@pytest.fixture
async def c(hollow_cluster: Cluster) -> AsyncIterator[Client]:
    async with Client(hollow_cluster.url) as client:
        yield client


@pytest.fixture
async def ns(hollow_cluster: Cluster) -> AsyncIterator[str]:
    """A fresh namespace on a healthy cluster; deleted (not awaited) afterwards. Its own
    clients, since the test may restart the control plane in between."""
    await asyncio.to_thread(hollow_cluster.wait_nodes_ready)
    name = f"t-{uuid.uuid4().hex[:8]}"
    async with Client(hollow_cluster.url) as c:
        await c.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace",
                                    "metadata": {"name": name}})
    yield name
    async with Client(hollow_cluster.url) as c:
        with contextlib.suppress(NotFound):
            await c.delete(NAMESPACES, name)


async def pods_of(c: Client, ns: str, app: str) -> list[Object]:
    items: list[Object] = (await c.list(PODS, namespace=ns, label_selector=f"app={app}"))["items"]
    return items


async def wait_running(c: Client, ns: str, app: str, n: int, *,
                       within: float = 20.0) -> list[Object]:
    """Until exactly ``n`` pods of ``app`` exist, all Running (none Pending or terminating)."""
    async def check() -> list[Object] | None:
        pods = await pods_of(c, ns, app)
        ok = running(pods)
        return ok if len(ok) == n == len(pods) else None

    return await eventually(check, within=within, what=f"{n} Running pods of {ns}/{app}")


async def scheduling_failure(c: Client, ns: str, pod: str, *, within: float = 10.0) -> str:
    """The message of the FailedScheduling event about ``pod``."""
    async def check() -> str | None:
        events = (await c.list(EVENTS, namespace=ns))["items"]
        for e in events:
            if e["involvedObject"].get("name") == pod and e.get("reason") == "FailedScheduling":
                return str(e.get("message"))
        return None

    return await eventually(check, within=within, what=f"FailedScheduling event for {pod}")


# -- replication and scheduling --------------------------------------------------------------


async def test_rc_of_six_gives_two_running_pods_per_node(
        c: Client, ns: str, core: k8s.CoreV1Api, hollow_cluster: Cluster) -> None:
    await c.create(RCS, rc_body("web", 6), namespace=ns)
    await wait_running(c, ns, "web", 6)

    pods = core.list_namespaced_pod(ns, label_selector="app=web").items
    assert len(pods) == 6
    assert Counter(p.spec.node_name for p in pods) == {n: 2 for n in hollow_cluster.node_names}
    for p in pods:
        assert p.metadata.name.startswith("web-") and len(p.metadata.name) == len("web-") + 5
        assert p.metadata.owner_references[0].kind == "ReplicationController"
        assert p.status.pod_ip and p.status.host_ip and p.status.start_time
        assert [s.ready for s in p.status.container_statuses] == [True]

    async def status() -> bool:
        rc = core.read_namespaced_replication_controller(name="web", namespace=ns)
        return rc.status.replicas == 6 and rc.status.ready_replicas == 6

    await eventually(status, within=10, what="RC status replicas=readyReplicas=6")
    reasons = {e.reason for e in core.list_namespaced_event(ns).items}
    assert {"SuccessfulCreate", "Scheduled"} <= reasons


async def test_a_deleted_pod_is_replaced(c: Client, ns: str, core: k8s.CoreV1Api) -> None:
    await c.create(RCS, rc_body("web", 3), namespace=ns)
    before = {p["metadata"]["name"] for p in await wait_running(c, ns, "web", 3)}
    victim = sorted(before)[0]
    core.delete_namespaced_pod(victim, ns)  # graceful: the kubelet finishes it

    after = {p["metadata"]["name"] for p in await wait_running(c, ns, "web", 3)}
    assert victim not in after
    assert len(after - before) == 1
    with pytest.raises(NotFound):
        await c.get(PODS, victim, namespace=ns)


async def test_scaling_six_to_ten_to_zero(c: Client, ns: str, core: k8s.CoreV1Api,
                                          hollow_cluster: Cluster) -> None:
    await c.create(RCS, rc_body("web", 6), namespace=ns)
    six = await wait_running(c, ns, "web", 6)

    core.patch_namespaced_replication_controller_scale("web", ns, {"spec": {"replicas": 10}})
    ten = await wait_running(c, ns, "web", 10)
    assert {p["metadata"]["name"] for p in six} < {p["metadata"]["name"] for p in ten}
    assert sorted(per_node(ten).values()) == [3, 3, 4]

    await c.update_scale(RCS, "web", 0, namespace=ns)

    async def gone() -> bool:
        return not await pods_of(c, ns, "web")

    await eventually(gone, within=20, what="every pod of web gone")
    rc = core.read_namespaced_replication_controller("web", ns)
    assert rc.spec.replicas == 0


async def test_a_pod_bigger_than_any_node_stays_pending(c: Client, ns: str,
                                                        core: k8s.CoreV1Api) -> None:
    big = pod_body("big", containers=[{"name": "c", "image": "nginx",
                                       "resources": {"requests": {"cpu": "5"}}}])
    await c.create(PODS, big, namespace=ns)
    message = await scheduling_failure(c, ns, "big")
    assert message == "0/3 nodes are available: 3 Insufficient cpu."
    pod = core.read_namespaced_pod("big", ns)
    assert pod.status.phase == "Pending" and not pod.spec.node_name
    conds = {x.type: x for x in pod.status.conditions or []}
    assert conds["PodScheduled"].status == "False"
    assert conds["PodScheduled"].reason == "Unschedulable"


# -- nodeSelector and hostPort -----------------------------------------------------------------


async def test_node_selector_is_respected(c: Client, ns: str, core: k8s.CoreV1Api,
                                          hollow_cluster: Cluster) -> None:
    chosen = hollow_cluster.node_names[1]
    core.patch_node(chosen, {"metadata": {"labels": {"disk": "ssd"}}})
    try:
        await c.create(RCS, rc_body("ssd", 3, nodeSelector={"disk": "ssd"}), namespace=ns)
        pods = await wait_running(c, ns, "ssd", 3)
        assert per_node(pods) == {chosen: 3}

        # The built-in hostname label works the same way.
        other = hollow_cluster.node_names[2]
        await c.create(PODS, pod_body("pinned", nodeSelector={"kubernetes.io/hostname": other}),
                       namespace=ns)

        async def pinned() -> bool:
            p = await c.get(PODS, "pinned", namespace=ns)
            return bool(running([p])) and p["spec"]["nodeName"] == other

        await eventually(pinned, within=15, what=f"pinned Running on {other}")

        await c.create(PODS, pod_body("nowhere", nodeSelector={"disk": "nvme"}), namespace=ns)
        message = await scheduling_failure(c, ns, "nowhere")
        assert message == ("0/3 nodes are available: "
                           "3 node(s) didn't match Pod's node affinity/selector.")
    finally:
        core.patch_node(chosen, {"metadata": {"labels": {"disk": None}}})


async def test_host_ports_are_respected(c: Client, ns: str, hollow_cluster: Cluster) -> None:
    ports = [{"containerPort": 80, "hostPort": 18080}]
    await c.create(RCS, rc_body("hp", 4, containers=[{"name": "c", "image": "nginx",
                                                      "ports": ports}]), namespace=ns)

    async def three_running_one_pending() -> list[Object] | None:
        pods = await pods_of(c, ns, "hp")
        ok = running(pods)
        return pods if len(pods) == 4 and len(ok) == 3 else None

    pods = await eventually(three_running_one_pending, within=20,
                            what="3 hostPort pods Running, 1 Pending")
    placed = per_node(running(pods))
    assert placed == {n: 1 for n in hollow_cluster.node_names}
    pending = next(p for p in pods if not p["spec"].get("nodeName"))
    message = await scheduling_failure(c, ns, pending["metadata"]["name"])
    assert message == ("0/3 nodes are available: "
                       "3 node(s) didn't have free ports for the requested pod ports.")


# -- deletion ----------------------------------------------------------------------------------


async def test_deleting_a_namespace_removes_everything_in_it(c: Client, ns: str,
                                                             core: k8s.CoreV1Api) -> None:
    await c.create(RCS, rc_body("web", 3), namespace=ns)
    await c.create(SERVICES, {"apiVersion": "v1", "kind": "Service",
                              "metadata": {"name": "web"},
                              "spec": {"selector": {"app": "web"},
                                       "ports": [{"port": 80, "targetPort": 80}]}},
                   namespace=ns)
    await wait_running(c, ns, "web", 3)

    async def endpoints() -> bool:
        try:
            ep = await c.get(ENDPOINTS, "web", namespace=ns)
        except NotFound:
            return False
        addrs = [a for s in ep.get("subsets") or [] for a in s.get("addresses") or []]
        return len(addrs) == 3

    await eventually(endpoints, within=10, what="3 ready endpoint addresses")

    core.delete_namespace(ns)

    async def namespace_gone() -> bool:
        try:
            await c.get(NAMESPACES, ns)
        except NotFound:
            return True
        return False

    await eventually(namespace_gone, within=30, what=f"namespace {ns} gone")
    for res in (RCS, PODS, SERVICES, ENDPOINTS):
        left = (await c.list(res, namespace=ns))["items"]
        assert left == [], (res.name, [x["metadata"]["name"] for x in left])


async def test_deleting_an_rc_removes_its_pods(c: Client, ns: str, core: k8s.CoreV1Api) -> None:
    await c.create(RCS, rc_body("web", 4), namespace=ns)
    await c.create(RCS, rc_body("keep", 2), namespace=ns)
    await wait_running(c, ns, "web", 4)
    keep = await wait_running(c, ns, "keep", 2)

    core.delete_namespaced_replication_controller("web", ns)  # background propagation

    async def gone() -> bool:
        return not await pods_of(c, ns, "web")

    await eventually(gone, within=20, what="the pods of the deleted RC gone")
    still = await pods_of(c, ns, "keep")
    assert {p["metadata"]["uid"] for p in still} == {p["metadata"]["uid"] for p in keep}


# -- failures: a dead node, a restarted control plane -------------------------------------------


async def test_a_killed_node_goes_unknown_and_its_pods_move(
        c: Client, ns: str, core: k8s.CoreV1Api, hollow_cluster: Cluster) -> None:
    await c.create(RCS, rc_body("web", 6), namespace=ns)
    first = await wait_running(c, ns, "web", 6)
    dead = hollow_cluster.node_names[2]
    alive = set(hollow_cluster.node_names) - {dead}
    lost = {p["metadata"]["name"] for p in first if p["spec"]["nodeName"] == dead}
    assert len(lost) == 2

    hollow_cluster.kill_node(dead)  # SIGKILL: no goodbye
    try:
        async def unknown() -> bool:
            node = core.read_node(dead)
            ready = next(x for x in node.status.conditions if x.type == "Ready")
            return ready.status == "Unknown"

        await eventually(unknown, within=15, what=f"{dead} Ready=Unknown")

        async def tainted() -> bool:
            taints = {t.key for t in core.read_node(dead).spec.taints or []}
            return "node.kubernetes.io/unreachable" in taints

        await eventually(tainted, within=5, what=f"{dead} tainted unreachable")

        async def moved() -> list[Object] | None:
            pods = await pods_of(c, ns, "web")
            ok = running(pods)
            if len(ok) == 6 and len(pods) == 6 and set(per_node(ok)) <= alive:
                return ok
            return None

        # grace period (4 s) + eviction timeout (6 s) + the pods' 1 s grace, then creation
        now = await eventually(moved, within=30, what="6 Running pods on the live nodes")
        assert not lost & {p["metadata"]["name"] for p in now}
        assert sorted(per_node(now).values()) == [3, 3]
        reasons = {(e.reason, e.involved_object.name)
                   for e in core.list_event_for_all_namespaces().items}
        assert ("NodeNotReady", dead) in reasons
    finally:
        hollow_cluster.start_node(dead)
    await asyncio.to_thread(hollow_cluster.wait_nodes_ready)


async def test_restarting_the_control_plane_creates_no_extra_pods(
        ns: str, core: k8s.CoreV1Api, hollow_cluster: Cluster) -> None:
    async with Client(hollow_cluster.url) as c:
        await c.create(RCS, rc_body("web", 5), namespace=ns)
        before = {p["metadata"]["uid"] for p in await wait_running(c, ns, "web", 5)}

    await asyncio.to_thread(hollow_cluster.restart_control_plane)
    await asyncio.to_thread(hollow_cluster.wait_nodes_ready)

    async with Client(hollow_cluster.url) as c:
        # A canary RC created after the restart gets its pod Running only once the new
        # controller manager has synced and acted (on "web" too), and the scheduler and the
        # kubelets are back: after that, "web" must still have the very same pods.
        await c.create(RCS, rc_body("canary", 1), namespace=ns)
        await wait_running(c, ns, "canary", 1)
        after = await wait_running(c, ns, "web", 5)
        assert {p["metadata"]["uid"] for p in after} == before
        rc = core.read_namespaced_replication_controller("web", ns)
        assert rc.status.replicas == 5
        created = [e for e in core.list_namespaced_event(ns).items
                   if e.reason == "SuccessfulCreate" and e.involved_object.name == "web"]
        assert sum(e.count or 1 for e in created) == 5
