"""The scheduler inside ``minikube8s --role a`` (run_node wires it): a pod created through the
API lands on a Node created through the API, with the Scheduled event, and a too-big pod gets
the FailedScheduling event."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from minikube8s.client import Client
from tests.fixtures.apiserver import ApiServerProcess
from tests.scheduler.conftest import EVENTS, NODES, PODS, eventually, node, pod


@pytest.fixture
async def client(apiserver: ApiServerProcess) -> AsyncIterator[Client]:
    async with Client(apiserver.url) as c:
        yield c


async def test_role_a_process_schedules(client: Client) -> None:
    await client.create(NODES, node("proc-n0", cpu="2"))
    for name, cpu in (("proc-small", "500m"), ("proc-huge", "64")):
        p = pod(name, cpu=cpu)
        del p["metadata"]["uid"]
        await client.create(PODS, p, namespace="default")

    async def bound() -> bool:
        got = await client.get(PODS, "proc-small", namespace="default")
        return got["spec"].get("nodeName") == "proc-n0"
    await eventually(bound, within=20.0, what="bound by the process's scheduler")

    async def events(name: str, reason: str) -> list[str]:
        items = (await client.list(EVENTS, namespace="default",
                                   field_selector=f"involvedObject.name={name}"))["items"]
        return [e["message"] for e in items if e["reason"] == reason]

    async def scheduled() -> bool:
        return "Successfully assigned default/proc-small to proc-n0" in await events(
            "proc-small", "Scheduled")
    await eventually(scheduled, what="Scheduled event")

    async def failed() -> bool:
        return "0/1 nodes are available: 1 Insufficient cpu." in await events(
            "proc-huge", "FailedScheduling")
    await eventually(failed, what="FailedScheduling event")
