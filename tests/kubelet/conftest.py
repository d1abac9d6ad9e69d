"""In-process kubelets on the hollow runtime against a real API server (``api`` fixture or
a ``minikube8s --role a`` process): ``kubelets`` starts them and stops them at the end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from minikube8s.client import Client, InformerFactory, RealClock
from minikube8s.roles.kubelet.hollow import HollowRuntime
from minikube8s.roles.kubelet.kubelet import Kubelet, KubeletOptions
from minikube8s.tasks import Supervisor

T = TypeVar("T")


@dataclass
class Running:
    kubelet: Kubelet
    runtime: HollowRuntime
    client: Client
    supervisor: Supervisor

    async def stop(self) -> None:
        await self.kubelet.stop()
        await self.supervisor.stop()
        await self.client.close()
        assert self.supervisor.failure is None, self.supervisor.failure


class Kubelets:
    def __init__(self) -> None:
        self.running: list[Running] = []

    async def start(self, url: str, name: str = "n1", *, runtime: HollowRuntime | None = None,
                    **options: Any) -> Running:
        defaults: dict[str, Any] = {
            "heartbeat_interval": 0.5, "backoff_base": 0.4, "backoff_cap": 1.6,
            "node_ip": "10.9.0.1"}
        opts = KubeletOptions(node_name=name, **{**defaults, **options})
        clock = RealClock()
        rt = runtime or HollowRuntime(node_name=name, clock=clock, start_delay=(0.05, 0.1))
        client = Client(url)
        sup = Supervisor()
        informers = InformerFactory(client)
        k = Kubelet(opts, client=client, informers=informers, runtime=rt, supervisor=sup,
                    clock=clock)
        k.start()
        await informers.start(sup)
        r = Running(k, rt, client, sup)
        self.running.append(r)
        await asyncio.wait_for(k.registered.wait(), 10)
        return r

    async def stop(self, r: Running) -> None:
        self.running.remove(r)
        await r.stop()


@pytest.fixture
async def kubelets() -> AsyncIterator[Kubelets]:
    ks = Kubelets()
    yield ks
    for r in list(ks.running):
        await ks.stop(r)


async def eventually(fn: Callable[[], Awaitable[T | None]], *, within: float = 10.0,
                     interval: float = 0.05, what: str = "condition") -> T:
    """Call ``fn`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await fn()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")
