"""Controller manager tests against the real API server, with the controllers in-process.

``cluster`` gives a client to an in-process API server (memory store) and ``start()`` to run
a controller manager over it the way ``run_node`` does (one RoleContext, shared informers,
its own Supervisor), so a test can stop one and start another (a restart). No kubelet and no
scheduler run: where a test needs what a kubelet would write (pod status, node heartbeats) the
test writes it through the client, as a peer would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from minikube8s.client import Client, InformerFactory, RealClock, resource
from minikube8s.client.clock import Clock
from minikube8s.config import NodeConfig, Role
from minikube8s.roles.context import RoleContext
from minikube8s.roles.controllers import ControllerManager, start_manager
from minikube8s.tasks import Supervisor
from tests.fixtures.apiserver import InProcessApi

PODS = resource("pods")
RCS = resource("replicationcontrollers")
NAMESPACES = resource("namespaces")
EVENTS = resource("events")

Object = dict[str, Any]


@dataclass
class Running:
    ctx: RoleContext
    manager: ControllerManager
    supervisor: Supervisor

    async def stop(self) -> None:
        await self.manager.stop()
        await self.supervisor.stop()
        assert not self.supervisor.failed.is_set(), self.supervisor.failure


@dataclass
class Cluster:
    url: str
    client: Client
    running: list[Running] = field(default_factory=list)

    async def start(self, *, only: set[str] | None = None, clock: Clock | None = None,
                    config: NodeConfig | None = None,
                    before_start: Callable[[RoleContext], None] | None = None) -> Running:
        sup = Supervisor()
        cfg = config or NodeConfig(role=Role.A, data_dir=Path("/nonexistent"))
        ctx = RoleContext(config=cfg, client=self.client, informers=InformerFactory(self.client),
                          supervisor=sup, clock=clock or RealClock(), server_url=self.url)
        mgr = start_manager(ctx, only=only)
        if before_start is not None:
            before_start(ctx)
        await ctx.informers.start(sup)
        await ctx.informers.wait_synced(timeout=10)
        run = Running(ctx, mgr, sup)
        self.running.append(run)
        return run

    async def stop(self, run: Running) -> None:
        self.running.remove(run)
        await run.stop()


@pytest.fixture
async def cluster(api: InProcessApi) -> AsyncIterator[Cluster]:
    async with Client(api.url) as client:
        c = Cluster(api.url, client)
        try:
            yield c
        finally:
            for run in list(c.running):
                await c.stop(run)


@pytest.fixture
async def ns(cluster: Cluster) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    await cluster.client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


async def eventually(cond: Callable[[], Awaitable[bool]], within: float = 10.0,
                     what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await cond():
        if loop.time() > deadline:
            raise AssertionError(f"{what} not met within {within}s")
        await asyncio.sleep(0.05)


def rc_manifest(name: str, replicas: int, *, app: str = "web") -> Object:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": app},
                     "template": {"metadata": {"labels": {"app": app}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx",
                                                           "ports": [{"name": "http",
                                                                      "containerPort": 80}]}]}}}}


async def pods_in(client: Client, ns: str, selector: str = "") -> list[Object]:
    out = await client.list(PODS, namespace=ns, label_selector=selector)
    items: list[Object] = out["items"]
    return items


async def events_in(client: Client, ns: str, reason: str = "") -> list[Object]:
    out = await client.list(EVENTS, namespace=ns)
    return [e for e in out["items"] if not reason or e.get("reason") == reason]
