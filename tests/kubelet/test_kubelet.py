"""The kubelet core on the hollow runtime against the real API server (in-process, memory
store): registration, heartbeats and the Lease, pods bound by hand running through their
lifecycle, restarts and backoff, graceful and forced deletion, restart and orphans."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

from minikube8s.client import Client, NotFound, resource
from tests.fixtures.apiserver import InProcessApi

from .conftest import Kubelets, eventually

PODS = resource("pods")
NODES = resource("nodes")
LEASES = resource("leases")
Object = dict[str, Any]


def pod_manifest(name: str, *, policy: str = "Always", grace: int | None = None,
                 **annotations: str) -> Object:
    ann = {f"hollow.minikube8s.io/{k.replace('_', '-')}": v for k, v in annotations.items()}
    spec: Object = {"restartPolicy": policy,
                    "containers": [{"name": "web", "image": "nginx",
                                    "ports": [{"containerPort": 80}]}]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": ann}, "spec": spec}


async def run_pod(c: Client, manifest: Object, node: str = "n1") -> Object:
    created = await c.create(PODS, manifest, namespace="default")
    await c.bind("default", manifest["metadata"]["name"], node)
    return created


def ready(node: Object) -> str:
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready":
            return str(cond["status"])
    return ""


async def test_registers_a_ready_node_with_capacity(api: InProcessApi,
                                                     kubelets: Kubelets) -> None:
    await kubelets.start(api.url, "n1", cpu="3", memory="6Gi", max_pods=50)
    async with Client(api.url) as c:
        node = await eventually(lambda: _ready_node(c, "n1"), what="n1 Ready")
    md, st = node["metadata"], node["status"]
    assert md["labels"]["kubernetes.io/hostname"] == "n1"
    assert md["labels"]["kubernetes.io/os"] == "linux"
    assert md["labels"]["kubernetes.io/arch"]
    assert st["capacity"] == {"cpu": "3", "memory": "6Gi", "pods": "50",
                              "ephemeral-storage": "10Gi"}
    assert st["allocatable"]["cpu"] == "3"
    assert {"type": "InternalIP", "address": "10.9.0.1"} in st["addresses"]
    assert {"type": "Hostname", "address": "n1"} in st["addresses"]
    assert st["nodeInfo"]["kubeletVersion"] == "v1.30.0-minikube8s"
    assert st["nodeInfo"]["containerRuntimeVersion"] == "hollow://0.1"
    conds = {c["type"]: c for c in st["conditions"]}
    assert conds["Ready"]["reason"] == "KubeletReady"
    for t in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert conds[t]["status"] == "False"


async def _ready_node(c: Client, name: str) -> Object | None:
    try:
        node = await c.get(NODES, name)
    except NotFound:
        return None
    return node if ready(node) == "True" else None


async def test_machine_capacity_by_default(api: InProcessApi, kubelets: Kubelets) -> None:
    await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        node = await c.get(NODES, "n1")
    assert node["status"]["capacity"]["cpu"] == str(os.cpu_count())
    assert node["status"]["capacity"]["memory"].endswith("Ki")
    assert node["status"]["capacity"]["pods"] == "110"


async def test_heartbeats_and_lease_renewal(api: InProcessApi, kubelets: Kubelets) -> None:
    r = await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        await eventually(lambda: _ready_node(c, "n1"))
        lease = await eventually(lambda: _lease(c, "n1"), what="the lease")
        assert lease["spec"]["holderIdentity"] == "n1"
        assert lease["spec"]["leaseDurationSeconds"] == 40
        assert lease["metadata"]["ownerReferences"][0]["kind"] == "Node"
        first = lease["spec"]["renewTime"]
        beat0 = _heartbeat(await c.get(NODES, "n1"))
        await asyncio.sleep(1.3)
        renewed = (await c.get(LEASES, "n1", namespace="kube-node-lease"))["spec"]["renewTime"]
        assert renewed > first
        beat1 = _heartbeat(await c.get(NODES, "n1"))
        assert beat1 > beat0
        assert r.kubelet.heartbeat.beats >= 2


def _heartbeat(node: Object) -> str:
    return next(c["lastHeartbeatTime"] for c in node["status"]["conditions"]
                if c["type"] == "Ready")


async def _lease(c: Client, name: str) -> Object | None:
    try:
        return await c.get(LEASES, name, namespace="kube-node-lease")
    except NotFound:
        return None


async def test_ready_follows_runtime_health(api: InProcessApi, kubelets: Kubelets) -> None:
    r = await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        await eventually(lambda: _ready_node(c, "n1"))
        r.runtime.health = (False, "hollow runtime switched off")

        async def not_ready() -> Object | None:
            node = await c.get(NODES, "n1")
            return node if ready(node) == "False" else None

        node = await eventually(not_ready, what="NotReady")
        cond = next(x for x in node["status"]["conditions"] if x["type"] == "Ready")
        assert (cond["reason"], cond["message"]) == ("KubeletNotReady",
                                                     "hollow runtime switched off")
        r.runtime.health = (True, "")
        await eventually(lambda: _ready_node(c, "n1"), what="Ready again")


async def test_a_restarted_kubelet_registers_again(api: InProcessApi,
                                                    kubelets: Kubelets) -> None:
    r = await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        uid = (await c.get(NODES, "n1"))["metadata"]["uid"]
        await c.patch(NODES, "n1", {"metadata": {"labels": {"admin": "mine"}}})
        await kubelets.stop(r)
        await kubelets.start(api.url, "n1", cpu="7")
        node = await c.get(NODES, "n1")
        assert node["metadata"]["uid"] == uid
        assert node["metadata"]["labels"]["admin"] == "mine"
        assert node["status"]["capacity"]["cpu"] == "7"
        assert len((await c.list(NODES))["items"]) == 1


async def _pod(c: Client, name: str) -> Object | None:
    try:
        return await c.get(PODS, name, namespace="default")
    except NotFound:
        return None


async def _phase(c: Client, name: str, phase: str) -> Object | None:
    p = await _pod(c, name)
    return p if p and (p.get("status") or {}).get("phase") == phase else None


async def test_a_bound_pod_runs(api: InProcessApi, kubelets: Kubelets) -> None:
    r = await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        await c.patch(NODES, "n1", {"spec": {"podCIDR": "172.16.7.0/24"}})
        # No heartbeat has seen it yet: the first sandbox asks the API for it.
        await run_pod(c, pod_manifest("web-1"))
        pod = await eventually(lambda: _ready_pod(c, "web-1"), what="web-1 Ready")
        # A change that is not the kubelet's business makes a sync but no status write.
        await asyncio.sleep(0.2)
        writes, syncs = r.kubelet.status.writes, r.kubelet.workers.syncs
        await c.patch(PODS, "web-1", {"metadata": {"labels": {"x": "y"}}}, namespace="default")

        async def synced() -> bool:
            return r.kubelet.workers.syncs > syncs

        await eventually(synced, what="a sync")
        await asyncio.sleep(0.2)
        assert r.kubelet.status.writes == writes
    st = pod["status"]
    assert st["phase"] == "Running"
    assert st["podIP"].startswith("172.16.7.") and st["podIPs"] == [{"ip": st["podIP"]}]
    assert st["hostIP"] == "10.9.0.1"
    assert st["startTime"]
    assert st["qosClass"] == "BestEffort"
    cs = st["containerStatuses"][0]
    assert cs["name"] == "web" and cs["image"] == "nginx"
    assert cs["containerID"].startswith("hollow://")
    assert cs["imageID"].startswith("hollow://sha256:")
    assert (cs["ready"], cs["started"], cs["restartCount"]) == (True, True, 0)
    assert "startedAt" in cs["state"]["running"]
    conds = {x["type"]: x["status"] for x in st["conditions"]}
    assert conds == {"PodScheduled": "True", "Initialized": "True",
                     "ContainersReady": "True", "Ready": "True"}


async def _ready_pod(c: Client, name: str) -> Object | None:
    p = await _phase(c, name, "Running")
    if p is None:
        return None
    conds = {x["type"]: x["status"] for x in p["status"].get("conditions") or []}
    return p if conds.get("Ready") == "True" else None


async def test_crash_loop_back_off(api: InProcessApi, kubelets: Kubelets) -> None:
    await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        await run_pod(c, pod_manifest("crash", exit_code="1", run_seconds="0.1"))
        reasons: set[str] = set()

        async def restarted_thrice() -> Object | None:
            p = await _pod(c, "crash")
            cs = ((p or {}).get("status") or {}).get("containerStatuses") or [{}]
            reasons.add(cs[0].get("state", {}).get("waiting", {}).get("reason", ""))
            return p if cs[0].get("restartCount", 0) >= 3 else None

        pod = await eventually(restarted_thrice, within=15, what="3 restarts")
    cs = pod["status"]["containerStatuses"][0]
    assert "CrashLoopBackOff" in reasons
    assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert pod["status"]["phase"] == "Running"


async def test_restart_policy_phases(api: InProcessApi, kubelets: Kubelets) -> None:
    await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        await run_pod(c, pod_manifest("ok", policy="OnFailure", exit_code="0"))
        await run_pod(c, pod_manifest("bad", policy="Never", exit_code="1"))
        await run_pod(c, pod_manifest("retry", policy="OnFailure", exit_code="1",
                                      run_seconds="0.1"))
        ok = await eventually(lambda: _phase(c, "ok", "Succeeded"), what="ok Succeeded")
        bad = await eventually(lambda: _phase(c, "bad", "Failed"), what="bad Failed")
        await asyncio.sleep(0.5)
        retry = await _pod(c, "retry")
    assert ok["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert bad["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 1
    assert bad["status"]["containerStatuses"][0]["restartCount"] == 0
    assert retry is not None and retry["status"]["phase"] == "Running"
    assert retry["status"]["containerStatuses"][0]["restartCount"] >= 1


async def test_graceful_deletion_ends_with_the_final_delete(api: InProcessApi,
                                                            kubelets: Kubelets) -> None:
    r = await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        await run_pod(c, pod_manifest("quick"))
        await run_pod(c, pod_manifest("stubborn", grace=1, ignore_sigterm="true"))
        await eventually(lambda: _ready_pod(c, "quick"))
        await eventually(lambda: _ready_pod(c, "stubborn"))
        gone = await c.delete(PODS, "quick", namespace="default")
        assert gone["metadata"]["deletionTimestamp"]  # graceful: the kubelet finishes it
        t0 = time.monotonic()
        await c.delete(PODS, "stubborn", namespace="default")
        await eventually(lambda: _absent(c, "quick"), what="quick gone")
        await eventually(lambda: _absent(c, "stubborn"), what="stubborn gone")
        assert time.monotonic() - t0 >= 0.9  # SIGTERM ignored: the full grace period
    assert len(r.runtime) == 0


async def _absent(c: Client, name: str) -> bool:
    return await _pod(c, name) is None


async def test_force_deleted_pod_is_killed(api: InProcessApi, kubelets: Kubelets) -> None:
    r = await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        await run_pod(c, pod_manifest("doomed"))
        await eventually(lambda: _ready_pod(c, "doomed"))
        assert len(r.runtime) == 1
        await c.delete(PODS, "doomed", namespace="default", grace_period_seconds=0)

        async def killed() -> bool:
            return len(r.runtime) == 0

        await eventually(killed, what="the runtime pod removed")


async def test_restart_adopts_running_pods_and_kills_orphans(api: InProcessApi,
                                                             kubelets: Kubelets) -> None:
    # The hollow runtime's state lives in the process, so a "kubelet restart" here is a new
    # Kubelet over the same HollowRuntime object: what a Docker node gets from its daemon.
    r = await kubelets.start(api.url, "n1")
    runtime = r.runtime
    async with Client(api.url) as c:
        await run_pod(c, pod_manifest("keeper"))
        await run_pod(c, pod_manifest("orphan"))
        keeper = await eventually(lambda: _ready_pod(c, "keeper"))
        await eventually(lambda: _ready_pod(c, "orphan"))
        cid = keeper["status"]["containerStatuses"][0]["containerID"]
        await kubelets.stop(r)
        # Force-deleted while no kubelet runs: nobody kills its containers yet.
        await c.delete(PODS, "orphan", namespace="default", grace_period_seconds=0)
        assert len(runtime) == 2
        started = runtime.started
        r2 = await kubelets.start(api.url, "n1", runtime=runtime)

        async def orphan_gone() -> bool:
            return len(runtime) == 1

        await eventually(orphan_gone, what="the orphan killed")
        assert r2.kubelet.orphans_killed == 1
        await asyncio.sleep(0.5)
        keeper = await _ready_pod(c, "keeper")
    assert keeper is not None
    cs = keeper["status"]["containerStatuses"][0]
    assert (cs["containerID"], cs["restartCount"]) == (cid, 0)
    assert runtime.started == started  # adopted, not started again


async def test_a_failing_sandbox_shows_the_pod_not_ready(api: InProcessApi,
                                                         kubelets: Kubelets) -> None:
    """The sandbox died and cannot be re-created (dockerd restarting): the pod's status says
    so while the worker retries, instead of keeping the last Running/ready picture."""
    from minikube8s.roles.kubelet.runtime import StartError

    r = await kubelets.start(api.url, "n1")
    async with Client(api.url) as c:
        await c.patch(NODES, "n1", {"spec": {"podCIDR": "172.16.8.0/24"}})
        await run_pod(c, pod_manifest("web-1"))
        pod = await eventually(lambda: _ready_pod(c, "web-1"), what="web-1 Ready")

        async def refuse(pod: Object, *, pod_cidr: str = "") -> str:
            raise StartError("CreatePodSandboxError", "the daemon is restarting")

        r.runtime.ensure_sandbox = refuse  # type: ignore[method-assign]
        r.runtime.kill_sandbox(pod["metadata"]["uid"])

        async def not_ready() -> Object | None:
            p = await c.get(PODS, "web-1", namespace="default")
            conds = {x["type"]: x["status"] for x in p["status"].get("conditions") or []}
            return p if conds.get("Ready") == "False" else None

        p = await eventually(not_ready, what="web-1 not ready")
    cs = p["status"]["containerStatuses"][0]
    assert cs["ready"] is False and "running" not in cs["state"]
