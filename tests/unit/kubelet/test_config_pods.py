"""Pods that use secrets and config maps, through the pod workers on the hollow runtime under
FakeClock: waiting for a missing object (FailedMount, CreateContainerConfigError) and starting
once it exists, and volumes refreshed every sync period.

The API is faked (``Api``: test_pod_workers' FakeClient, whose pods/status patches land in the
cache the syncer reads, as the watch would, and GETs of secrets and configmaps); the real thing is
tests/docker/test_config_objects.py.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest

from minikube8s.client import NotFound
from minikube8s.client.clock import FakeClock, settle
from minikube8s.client.informer import Cache, key_of
from minikube8s.roles.kubelet.atomic_writer import FileProjection
from minikube8s.roles.kubelet.hollow import HollowRuntime
from minikube8s.roles.kubelet.pod_workers import PodSyncer, PodWorkers
from minikube8s.roles.kubelet.policy import CrashBackoff
from minikube8s.roles.kubelet.status import StatusManager
from minikube8s.tasks import Supervisor

from .test_pod_workers import FakeClient, Object

SYNC = 20.0


class Api(FakeClient):
    """test_pod_workers' FakeClient (status patches applied to the cache) plus GETs of
    secrets and configmaps from ``objects``."""

    def __init__(self, cache: Cache) -> None:
        super().__init__(cache)
        self.objects: dict[tuple[str, str], Object] = {}
        self.gets = 0

    def put(self, plural: str, name: str, **fields: Any) -> None:
        self.objects[plural, name] = {"metadata": {"name": name, "namespace": "default"},
                                      **fields}

    async def get(self, res: Any, name: str, *, namespace: str = "") -> Object:
        self.gets += 1
        obj = self.objects.get((res.name, name))
        if obj is None:
            raise NotFound(f'{res.name} "{name}" not found')
        return copy.deepcopy(obj)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    def event(self, obj: Any, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))

    def reasons(self) -> list[str]:
        return [r for _, r, _ in self.events]


class Node:
    def __init__(self, clock: FakeClock, sup: Supervisor) -> None:
        self.clock = clock
        self.cache = Cache()
        self.api = Api(self.cache)
        self.recorder = Recorder()
        self.runtime = HollowRuntime(node_name="n1", clock=clock, start_delay=(0.5, 0.5),
                                     wall=lambda: 1_700_000_000 + clock.now())
        self.projected: dict[str, dict[str, FileProjection]] = {}
        self.started: list[Object] = []
        start, project = self.runtime.start_container, self.runtime.project_volume

        async def start_container(pod: Object, container: Object, *, attempt: int) -> str:
            self.started.append(container)
            return await start(pod, container, attempt=attempt)

        async def project_volume(pod: Object, volume: str, *, plugin: str,
                                 files: Mapping[str, FileProjection]) -> None:
            self.projected[f"{plugin}/{volume}"] = dict(files)
            await project(pod, volume, plugin=plugin, files=files)

        self.runtime.start_container = start_container  # type: ignore[method-assign]
        self.runtime.project_volume = project_volume  # type: ignore[method-assign]
        self.status = StatusManager(self.api, supervisor=sup)  # type: ignore[arg-type]
        self.syncer = PodSyncer(client=self.api, runtime=self.runtime,  # type: ignore[arg-type]
                                pods=self.cache, status=self.status, clock=clock,
                                backoff=CrashBackoff(base=10, cap=40),
                                host_ip=lambda: "10.0.0.1", pod_cidr=self.pod_cidr,
                                recorder=self.recorder,  # type: ignore[arg-type]
                                sync_frequency=SYNC)
        self.syncer.ready.set()
        self.workers = PodWorkers(self.syncer.sync, supervisor=sup, clock=clock)
        self.runtime.subscribe(self.workers.update)

    async def pod_cidr(self) -> str:
        return "172.16.3.0/24"

    async def add(self, pod: Object) -> None:
        self.cache.put(key_of(pod), pod)
        self.workers.update(self.syncer.seen(pod))
        await settle()

    async def run_for(self, seconds: float, step: float = 0.25) -> None:
        for _ in range(int(seconds / step)):
            await self.clock.advance(step)

    def container(self, name: str = "c") -> Object:
        pod = self.cache.get("default/p")
        assert pod is not None
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            if cs["name"] == name:
                return dict(cs)
        return {}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def make_pod(**spec: Any) -> Object:
    container = {"name": "c", "image": "busybox", **spec.pop("container", {})}
    return {"metadata": {"name": "p", "namespace": "default", "uid": "uid-p",
                         "resourceVersion": "1"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always", "containers": [container],
                     **spec},
            "status": {"phase": "Pending"}}


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    sup = Supervisor()
    n = Node(FakeClock(), sup)
    yield n
    n.workers.stop()
    await sup.stop()


async def test_a_missing_secret_volume_keeps_the_pod_waiting_until_it_exists(
        node: Node) -> None:
    await node.add(make_pod(
        volumes=[{"name": "creds", "secret": {"secretName": "db", "defaultMode": 0o400}}],
        container={"volumeMounts": [{"name": "creds", "mountPath": "/etc/creds"}]}))
    await node.run_for(3)
    assert ("Warning", "FailedMount",
            'MountVolume.SetUp failed for volume "creds" : secret "db" not found') \
        in node.recorder.events
    assert node.started == [] and len(node.runtime) == 0  # not even a sandbox
    assert node.container()["state"] == {"waiting": {"reason": "ContainerCreating"}}
    node.api.put("secrets", "db", data={"pw": b64("s3cret")})
    await node.run_for(5)  # retried at 0.5 s doubling: within 4 s
    assert node.projected["kubernetes.io~secret/creds"] == {
        "pw": FileProjection(b"s3cret", 0o400)}
    assert "running" in node.container()["state"]


async def test_a_missing_env_secret_is_a_create_container_config_error_until_it_exists(
        node: Node) -> None:
    await node.add(make_pod(container={"env": [{"name": "PW", "valueFrom": {
        "secretKeyRef": {"name": "db", "key": "pw"}}}]}))
    await node.run_for(1)
    assert node.container()["state"] == {"waiting": {
        "reason": "CreateContainerConfigError", "message": 'secret "db" not found'}}
    assert ("Warning", "Failed", 'Error: secret "db" not found') in node.recorder.events
    assert node.started == []
    node.api.put("secrets", "db", data={"other": b64("x")})
    await node.run_for(2)
    assert node.container()["state"]["waiting"]["message"] == \
        "couldn't find key pw in Secret default/db"
    node.api.put("secrets", "db", data={"pw": b64("s3cret")})
    await node.run_for(10)
    assert "running" in node.container()["state"]
    assert node.started[-1]["env"] == [{"name": "PW", "value": "s3cret"}]


async def test_volumes_follow_updates_within_a_sync_period(node: Node) -> None:
    node.api.put("configmaps", "cfg", data={"mode": "slow"})
    await node.add(make_pod(volumes=[{"name": "conf", "configMap": {"name": "cfg"}}]))
    await node.run_for(1)
    assert "running" in node.container()["state"]
    assert node.projected["kubernetes.io~configmap/conf"]["mode"].data == b"slow"
    node.api.put("configmaps", "cfg", data={"mode": "fast"})
    await node.run_for(SYNC + 1)
    assert node.projected["kubernetes.io~configmap/conf"]["mode"].data == b"fast"
    # Deleted under the running pod: it keeps its files and runs on, with an event.
    del node.api.objects["configmaps", "cfg"]
    await node.run_for(SYNC + 1)
    assert "FailedMount" in node.recorder.reasons()
    assert node.projected["kubernetes.io~configmap/conf"]["mode"].data == b"fast"
    assert "running" in node.container()["state"]
    assert len(node.started) == 1


async def test_invalid_env_from_keys_are_skipped_with_an_event(node: Node) -> None:
    node.api.put("configmaps", "cfg", data={"GOOD": "1", "bad-key!": "2"})
    await node.add(make_pod(container={"envFrom": [{"configMapRef": {"name": "cfg"}}]}))
    await node.run_for(1)
    assert "running" in node.container()["state"]
    assert node.started[0]["env"] == [{"name": "GOOD", "value": "1"}]
    assert ("Warning", "InvalidEnvironmentVariableNames",
            "Keys [bad-key!] from the EnvFrom configMap default/cfg were skipped since they "
            "are considered invalid environment variable names.") in node.recorder.events
