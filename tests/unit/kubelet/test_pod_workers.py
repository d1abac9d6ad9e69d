"""Pod workers over the hollow runtime under FakeClock: restarts, backoff timing, deletion.

The API is faked by ``FakeClient`` (it applies status patches to the cache the syncer reads,
as the watch would); real-server behaviour is tested in tests/kubelet/.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube8s.client.clock import FakeClock, settle
from minikube8s.client.informer import Cache, key_of
from minikube8s.roles.kubelet.hollow import HollowRuntime
from minikube8s.roles.kubelet.pod_workers import PodSyncer, PodWorkers
from minikube8s.roles.kubelet.policy import CrashBackoff
from minikube8s.roles.kubelet.status import StatusManager
from minikube8s.tasks import Supervisor

Object = dict[str, Any]


class FakeClient:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.rv = 100
        self.deletes: list[tuple[str, str, int | None, Any]] = []
        self.status_writes = 0

    async def patch_status(self, res: Any, name: str, body: Object, *, namespace: str = "",
                           patch_type: str = "merge") -> Object:
        key = f"{namespace}/{name}"
        obj = copy.deepcopy(self.cache.get(key))
        assert obj is not None
        status = obj.setdefault("status", {})
        for k, v in body["status"].items():
            if v is None:
                status.pop(k, None)
            else:
                status[k] = v
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.cache.put(key, obj)
        self.status_writes += 1
        return obj

    async def delete(self, res: Any, name: str, *, namespace: str = "",
                     grace_period_seconds: int | None = None,
                     preconditions: Any = None) -> Object:
        self.deletes.append((namespace, name, grace_period_seconds, preconditions))
        return self.cache.remove(f"{namespace}/{name}") or {}


class Node:
    def __init__(self, clock: FakeClock, sup: Supervisor) -> None:
        self.clock = clock
        self.cache = Cache()
        self.client = FakeClient(self.cache)
        self.runtime = HollowRuntime(node_name="n1", clock=clock, start_delay=(1.0, 1.0),
                                     wall=lambda: 1_700_000_000 + clock.now())
        self.starts: list[tuple[float, str, int]] = []
        original = self.runtime.start_container

        async def start_container(pod: Object, container: Object, *, attempt: int) -> str:
            self.starts.append((clock.now(), container["name"], attempt))
            return await original(pod, container, attempt=attempt)

        self.runtime.start_container = start_container  # type: ignore[method-assign]
        self.status = StatusManager(self.client, supervisor=sup)  # type: ignore[arg-type]
        self.syncer = PodSyncer(client=self.client, runtime=self.runtime,  # type: ignore[arg-type]
                                pods=self.cache, status=self.status, clock=clock,
                                backoff=CrashBackoff(base=10, cap=40),
                                host_ip=lambda: "10.0.0.1", pod_cidr=self.pod_cidr)
        self.syncer.ready.set()
        self.workers = PodWorkers(self.syncer.sync, supervisor=sup, clock=clock)
        self.runtime.subscribe(self.workers.update)

    async def pod_cidr(self) -> str:
        return "172.16.3.0/24"

    async def add(self, pod: Object) -> str:
        self.cache.put(key_of(pod), pod)
        uid = self.syncer.seen(pod)
        self.workers.update(uid)
        await settle()
        return uid

    def pod(self, name: str = "p") -> Object:
        obj = self.cache.get(f"default/{name}")
        assert obj is not None
        return obj


def make_pod(name: str = "p", *, policy: str = "Always", grace: int = 30,
             **annotations: str) -> Object:
    ann = {f"hollow.minikube8s.io/{k.replace('_', '-')}": v for k, v in annotations.items()}
    return {"metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}",
                         "resourceVersion": "1", "annotations": ann},
            "spec": {"nodeName": "n1", "restartPolicy": policy,
                     "terminationGracePeriodSeconds": grace,
                     "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Pending"}}


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    sup = Supervisor()
    n = Node(FakeClock(), sup)
    yield n
    n.workers.stop()
    await sup.stop()


async def run_for(clock: FakeClock, seconds: float, step: float = 0.5) -> None:
    for _ in range(int(seconds / step)):
        await clock.advance(step)


async def test_pod_starts_and_runs(node: Node) -> None:
    await node.add(make_pod())
    st = node.pod()["status"]
    assert st["phase"] == "Pending"
    assert st["containerStatuses"][0]["state"]["waiting"]["reason"] == "ContainerCreating"
    assert st["podIP"] == "172.16.3.2" and st["hostIP"] == "10.0.0.1"
    await node.clock.advance(1.0)
    st = node.pod()["status"]
    assert st["phase"] == "Running"
    assert st["containerStatuses"][0]["ready"] is True
    writes = node.client.status_writes
    await run_for(node.clock, 60)
    assert node.client.status_writes == writes  # nothing changes, nothing is written
    assert node.starts == [(1000.0, "c", 0)]


async def test_crash_loop_restarts_with_doubling_backoff(node: Node) -> None:
    await node.add(make_pod(exit_code="1", run_seconds="2"))
    seen_backoff = False
    for _ in range(240):
        await node.clock.advance(0.5)
        cs = node.pod()["status"]["containerStatuses"][0]
        if cs["state"].get("waiting", {}).get("reason") == "CrashLoopBackOff":
            seen_backoff = True
            assert cs["lastState"]["terminated"]["exitCode"] == 1
    assert seen_backoff
    times = [t - 1000.0 for t, _, _ in node.starts]
    assert [a for _, _, a in node.starts] == list(range(len(times)))
    # Each run: 1 s to start + 2 s running. Restart 1 is immediate, then 10, 20, 40, 40 s
    # after the previous restart.
    assert times[:6] == pytest.approx([0, 3, 13, 33, 73, 113], abs=0.51)
    assert node.pod()["status"]["phase"] == "Running"
    assert node.pod()["status"]["containerStatuses"][0]["restartCount"] >= 5


@pytest.mark.parametrize(("policy", "code", "phase", "starts"), [
    ("Never", "1", "Failed", 1), ("Never", "0", "Succeeded", 1),
    ("OnFailure", "0", "Succeeded", 1), ("OnFailure", "2", "Running", 3),
])
async def test_restart_policies(node: Node, policy: str, code: str, phase: str,
                                starts: int) -> None:
    await node.add(make_pod(policy=policy, exit_code=code, run_seconds="1"))
    await run_for(node.clock, 20)
    assert node.pod()["status"]["phase"] == phase
    assert len(node.starts) == starts


async def test_graceful_deletion_kills_then_deletes_with_uid_precondition(node: Node) -> None:
    await node.add(make_pod(grace=5, ignore_sigterm="true"))
    await node.clock.advance(1.0)
    assert node.pod()["status"]["phase"] == "Running"
    pod = copy.deepcopy(node.pod())
    pod["metadata"]["deletionTimestamp"] = "2023-11-14T22:13:20Z"
    pod["metadata"]["deletionGracePeriodSeconds"] = 5
    await node.add(pod)
    await run_for(node.clock, 4.5)
    assert node.client.deletes == []  # the container ignores SIGTERM: grace is honoured
    await run_for(node.clock, 1.0)
    assert node.client.deletes == [("default", "p", 0, {"uid": "uid-p"})]
    assert len(node.runtime) == 0


async def test_vanished_pod_is_killed_and_forgotten(node: Node) -> None:
    uid = await node.add(make_pod())
    await node.clock.advance(1.0)
    assert len(node.runtime) == 1
    node.cache.remove("default/p")
    node.workers.update(uid)
    await settle()
    assert len(node.runtime) == 0
    assert node.client.deletes == []


async def test_start_errors_back_off(node: Node) -> None:
    await node.add(make_pod(start_error="ErrImageNeverPull"))
    cs = node.pod()["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "ErrImageNeverPull"
    await run_for(node.clock, 35)
    # Tries at 0, 10, 30 (10 s doubling).
    assert [t - 1000.0 for t, _, _ in node.starts] == pytest.approx([0, 10, 30], abs=0.51)
    assert node.pod()["status"]["phase"] == "Pending"


async def test_a_container_killed_behind_our_back_is_restarted(node: Node) -> None:
    uid = await node.add(make_pod())
    await node.clock.advance(1.0)
    node.runtime.crash(uid, "c")
    await settle()
    await node.clock.advance(1.0)
    cs = node.pod()["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 1 and "running" in cs["state"]
    assert cs["lastState"]["terminated"]["exitCode"] == 137


async def test_a_dead_sandbox_takes_its_containers_and_is_remade(node: Node) -> None:
    uid = await node.add(make_pod())
    await node.clock.advance(1.0)
    node.runtime.kill_sandbox(uid)
    await settle()
    await node.clock.advance(1.0)
    cs = node.pod()["status"]["containerStatuses"][0]
    assert cs["restartCount"] == 1 and "running" in cs["state"]
    assert [a for _, _, a in node.starts] == [0, 1]


async def test_readiness_hook_holds_ready_back(node: Node) -> None:
    verdict = {"c": False}
    node.syncer.readiness = lambda pod: verdict
    uid = await node.add(make_pod())
    await node.clock.advance(1.0)
    st = node.pod()["status"]
    assert st["phase"] == "Running" and st["containerStatuses"][0]["ready"] is False
    verdict["c"] = True
    node.workers.update(uid)
    await settle()
    assert node.pod()["status"]["containerStatuses"][0]["ready"] is True
