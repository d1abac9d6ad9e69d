"""EventRecorder against the real API server: Events are created, identical ones are
deduplicated into count/lastTimestamp, cluster-scoped objects get events in default."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from minikube8s.client.events import EventRecorder
from minikube8s.client.rest import Client, resource
from minikube8s.tasks import Supervisor
from tests.client.test_rest import pod
from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import free_port

PODS = resource("pods")
NODES = resource("nodes")
EVENTS = resource("events")


@pytest.fixture
async def client(bare_apiserver: ApiServerProcess) -> AsyncIterator[Client]:
    async with Client(bare_apiserver.url) as c:
        yield c


async def test_event_created_then_deduplicated(client: Client) -> None:
    p = await client.create(PODS, pod("ev-pod"), namespace="default")
    sup = Supervisor()
    rec = EventRecorder(client, component="test-scheduler", host="h1")
    rec.start(sup)
    try:
        rec.event(p, "Normal", "Scheduled", "Successfully assigned default/ev-pod to n1")
        await asyncio.wait_for(rec.flush(), 10)
        sel = "involvedObject.name=ev-pod,reason=Scheduled"
        evs = (await client.list(EVENTS, namespace="default", field_selector=sel))["items"]
        assert len(evs) == 1
        ev = evs[0]
        assert ev["count"] == 1
        assert ev["type"] == "Normal"
        assert ev["source"] == {"component": "test-scheduler", "host": "h1"}
        assert ev["involvedObject"]["uid"] == p["metadata"]["uid"]
        assert ev["involvedObject"]["kind"] == "Pod"
        assert ev["metadata"]["name"].startswith("ev-pod.")
        first = ev["firstTimestamp"]

        await asyncio.sleep(1.1)  # timestamps have second precision
        rec.event(p, "Normal", "Scheduled", "Successfully assigned default/ev-pod to n1")
        rec.event(p, "Warning", "FailedMount", "different reason: a new event")
        await asyncio.wait_for(rec.flush(), 10)
        evs = (await client.list(EVENTS, namespace="default", field_selector=sel))["items"]
        assert len(evs) == 1, "an identical event is counted, not duplicated"
        assert evs[0]["count"] == 2
        assert evs[0]["firstTimestamp"] == first
        assert evs[0]["lastTimestamp"] > first
        other = (await client.list(EVENTS, namespace="default",
                                   field_selector="involvedObject.name=ev-pod,"
                                                  "reason=FailedMount"))["items"]
        assert len(other) == 1 and other[0]["type"] == "Warning"
        assert rec.written == 3
    finally:
        await sup.stop()


async def test_event_about_a_node_lands_in_default(client: Client) -> None:
    rec = EventRecorder(client, component="node-controller")
    task = asyncio.create_task(rec.run())
    try:
        ref = {"kind": "Node", "name": "n-ev", "uid": "n-ev"}
        rec.event(ref, "Normal", "NodeNotReady", "Node n-ev status is now: NodeNotReady")
        await asyncio.wait_for(rec.flush(), 10)
        evs = (await client.list(EVENTS, namespace="default",
                                 field_selector="involvedObject.name=n-ev"))["items"]
        assert len(evs) == 1 and evs[0]["involvedObject"]["kind"] == "Node"
        assert "namespace" not in evs[0]["involvedObject"]
    finally:
        task.cancel()


async def test_recorder_never_blocks_and_gives_up_when_server_is_down() -> None:
    async with Client(f"http://127.0.0.1:{free_port()}", timeout=2) as c:
        rec = EventRecorder(c, component="x", queue_size=4, workers=1, retries=1,
                            retry_delay=0.01)
        for i in range(10):
            rec.event({"kind": "Pod", "namespace": "d", "name": f"p{i}"}, "Normal", "R", "m")
        assert rec.dropped == 6
        task = asyncio.create_task(rec.run())
        try:
            await asyncio.wait_for(rec.flush(), 10)
        finally:
            task.cancel()
        assert rec.written == 0
