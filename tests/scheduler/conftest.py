"""A scheduler running in-process against a real (in-process) API server, with Node objects
created directly through the client: no kubelet, no controllers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from minikube8s.client import Client, InformerFactory, resource
from minikube8s.roles.scheduler import Scheduler
from minikube8s.tasks import Supervisor
from tests.fixtures.apiserver import InProcessApi
from tests.unit.scheduler.helpers import node, pod

Object = dict[str, Any]
PODS = resource("pods")
NODES = resource("nodes")
EVENTS = resource("events")
RCS = resource("replicationcontrollers")

__all__ = ["Cluster", "eventually", "node", "pod"]


async def eventually(cond: Callable[[], Any], within: float = 15.0, what: str = "") -> None:
    """Poll a sync or async condition until it is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        got = cond()
        if asyncio.iscoroutine(got):
            got = await got
        if got:
            return
        if loop.time() > deadline:
            raise AssertionError(f"condition not met in {within}s: {what}")
        await asyncio.sleep(0.05)


@dataclass
class Cluster:
    client: Client
    scheduler: Scheduler
    supervisor: Supervisor

    async def add_node(self, name: str, **kw: Any) -> Object:
        return await self.client.create(NODES, node(name, **kw))

    async def add_pod(self, name: str, **kw: Any) -> Object:
        obj = pod(name, **kw)
        obj["metadata"].pop("uid", None)
        if not obj["metadata"].get("ownerReferences"):
            obj["metadata"].pop("ownerReferences", None)
        return await self.client.create(PODS, obj, namespace=kw.get("ns", "default"))

    async def pods(self, ns: str = "default") -> list[Object]:
        out: list[Object] = (await self.client.list(PODS, namespace=ns))["items"]
        return out

    async def placement(self, ns: str = "default") -> dict[str, str]:
        return {p["metadata"]["name"]: p["spec"].get("nodeName", "")
                for p in await self.pods(ns)}

    async def events(self, name: str, reason: str, ns: str = "default") -> list[Object]:
        items = (await self.client.list(
            EVENTS, namespace=ns,
            field_selector=f"involvedObject.name={name}"))["items"]
        return [e for e in items if e.get("reason") == reason]


@pytest.fixture
async def cluster(api: InProcessApi) -> AsyncIterator[Cluster]:
    client = Client(api.url)
    sup = Supervisor()
    factory = InformerFactory(client)
    sched = Scheduler(client, pods=factory.informer(PODS), nodes=factory.informer(NODES),
                      services=factory.informer(resource("services")), retry_interval=5.0)
    sched.start(sup)
    await factory.start(sup)
    try:
        yield Cluster(client, sched, sup)
    finally:
        await sched.stop()
        await sup.stop()
        await client.close()
    assert not sup.failed.is_set(), sup.failure
