"""The scheduling loop under fake time, fed by informers without a server: failed binds are
retried with backoff, unconfirmed assumptions expire, unschedulable pods wait out their
backoff before a cluster change retries them, and are retried periodically anyway."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from minikube8s.client import Client, EventRecorder, Informer, errors, key_of, resource
from minikube8s.client.clock import FakeClock, settle
from minikube8s.client.rest import WatchEvent
from minikube8s.roles.scheduler import Scheduler
from minikube8s.tasks import Supervisor
from tests.unit.scheduler.helpers import node, pod

Object = dict[str, Any]


@dataclass
class FakeClient:
    """The three writes the scheduler makes, recorded; bind can be told to fail."""

    binds: list[tuple[str, str]] = field(default_factory=list)
    fail_binds: int = 0
    events: list[Object] = field(default_factory=list)
    patches: list[tuple[str, Any]] = field(default_factory=list)

    async def bind(self, namespace: str, pod: str, node: str, *, uid: str = "") -> None:
        if self.fail_binds:
            self.fail_binds -= 1
            raise errors.ServerError("etcd is sad", code=500)
        self.binds.append((pod, node))

    async def create(self, res: Any, obj: Object, **kw: Any) -> Object:
        self.events.append(obj)
        return obj

    async def patch(self, res: Any, name: str, patch: Any, **kw: Any) -> Object:
        return {}

    async def patch_status(self, res: Any, name: str, patch: Any, **kw: Any) -> Object:
        self.patches.append((name, patch))
        return {}


@dataclass
class Loop:
    clock: FakeClock
    client: FakeClient
    pods: Informer
    nodes: Informer
    sched: Scheduler

    def add(self, inf: Informer, obj: Object) -> None:
        inf.apply(WatchEvent("ADDED" if key_of(obj) not in inf else "MODIFIED", obj))

    def confirm(self, name: str, node_name: str) -> None:
        p = copy.deepcopy(self.pods.get(f"default/{name}"))
        assert p is not None
        p["spec"]["nodeName"] = node_name
        self.add(self.pods, p)

    def reasons(self) -> list[str]:
        return [e["reason"] for e in self.client.events]


@pytest.fixture
async def loop() -> AsyncIterator[Loop]:
    clock = FakeClock()
    fake = FakeClient()
    client = cast(Client, fake)
    pods = Informer(client, resource("pods"), clock=clock)
    nodes = Informer(client, resource("nodes"), clock=clock)
    pods.replace([], "1")
    nodes.replace([], "1")
    recorder = EventRecorder(client, component="default-scheduler")
    sup = Supervisor()
    recorder.start(sup)
    sched = Scheduler(client, pods=pods, nodes=nodes, recorder=recorder, clock=clock,
                      bind_workers=2, retry_interval=30.0, assume_ttl=30.0)
    sched.start(sup)
    await settle()
    yield Loop(clock, fake, pods, nodes, sched)
    await sched.stop()
    await recorder.stop()
    await sup.stop()
    assert not sup.failed.is_set(), sup.failure


async def test_failed_bind_is_forgotten_and_retried_after_backoff(loop: Loop) -> None:
    loop.add(loop.nodes, node("n1", cpu="1"))
    loop.client.fail_binds = 1
    loop.add(loop.pods, pod("a", cpu="1"))
    await settle(30)
    assert loop.client.binds == []
    # The assumption was dropped: the node's cpu is free again.
    assert loop.sched.cache.nodes["n1"].req_cpu == 0
    assert "FailedScheduling" in loop.reasons()
    await loop.clock.advance(0.1)
    await settle(30)
    assert loop.client.binds == [("a", "n1")]
    assert loop.sched.cache.is_assumed("default/a")


async def test_unconfirmed_assumption_expires_and_the_pod_is_scheduled_again(
        loop: Loop) -> None:
    loop.add(loop.nodes, node("n1"))
    loop.add(loop.pods, pod("a", cpu="1"))
    await settle(30)
    assert loop.client.binds == [("a", "n1")]
    await loop.clock.advance(29.0)
    assert loop.sched.cache.nodes["n1"].req_cpu == 1000
    # The informer never shows the binding: after the TTL the scheduler tries again.
    await loop.clock.advance(2.0)
    await settle(30)
    assert loop.client.binds == [("a", "n1"), ("a", "n1")]
    # A confirmed assumption never expires.
    loop.confirm("a", "n1")
    await loop.clock.advance(100.0)
    assert loop.sched.cache.nodes["n1"].req_cpu == 1000
    assert not loop.sched.cache.is_assumed("default/a")


async def test_unschedulable_pod_waits_out_its_backoff_then_a_node_change_retries_it(
        loop: Loop) -> None:
    loop.add(loop.nodes, node("n1", cpu="1"))
    loop.add(loop.pods, pod("a", cpu="2"))
    await settle(30)
    assert "default/a" in loop.sched.unschedulable
    assert loop.client.patches and loop.client.patches[0][0] == "a"
    cond = loop.client.patches[0][1]["status"]["conditions"][0]
    assert cond["reason"] == "Unschedulable"
    assert cond["message"] == "0/1 nodes are available: 1 Insufficient cpu."
    # A heartbeat is no change: nothing is retried.
    beat = node("n1", cpu="1")
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2025-01-01T00:00:00Z"
    loop.add(loop.nodes, beat)
    await loop.clock.advance(0.2)
    assert loop.client.binds == []
    # A bigger node 0.2 s after the failure: the retry waits for the 1 s backoff.
    loop.add(loop.nodes, node("n2", cpu="4"))
    await loop.clock.advance(0.1)
    assert loop.client.binds == []
    await loop.clock.advance(0.8)
    await settle(30)
    assert loop.client.binds == [("a", "n2")]


async def test_unschedulable_pods_are_retried_periodically(loop: Loop) -> None:
    loop.add(loop.pods, pod("a", cpu="2"))
    await settle(30)
    assert "default/a" in loop.sched.unschedulable
    # A node appears in a way the scheduler cannot see as a change (say, a missed event):
    loop.sched.cache.set_node(node("n1", cpu="4"))
    await loop.clock.advance(25.0)
    assert loop.client.binds == []
    await loop.clock.advance(6.0)
    await settle(30)
    assert loop.client.binds == [("a", "n1")]


async def test_deleting_a_bound_pod_retries_the_waiting_ones(loop: Loop) -> None:
    loop.add(loop.nodes, node("n1", cpu="1"))
    hog = pod("hog", cpu="1", node_name="n1")
    loop.add(loop.pods, hog)
    loop.add(loop.pods, pod("a", cpu="1"))
    await settle(30)
    assert "default/a" in loop.sched.unschedulable
    await loop.clock.advance(2.0)
    loop.pods.apply(WatchEvent("DELETED", hog))
    await loop.clock.advance(0.1)
    await settle(30)
    assert loop.client.binds == [("a", "n1")]
