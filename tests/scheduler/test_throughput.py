"""Throughput: 1,000 pending pods on 100 nodes, in-process API server (memory store).

Measures pods bound per second from the scheduler's start (all pods already pending) to the
last binding seen through the API, and checks the placement is balanced. The issue's target
is >= 300 pods/s end to end for the whole cluster; the scheduler alone must be well above it.
The rate is printed (``pytest -s``) and asserted only loosely, so a slow CI box does not fail.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from minikube8s.client import Client, InformerFactory, resource
from minikube8s.roles.scheduler import Scheduler
from minikube8s.tasks import Supervisor
from tests.fixtures.apiserver import InProcessApi
from tests.scheduler.conftest import NODES, PODS, eventually, node, pod

NODE_COUNT = 100
POD_COUNT = 1000


async def test_1000_pods_on_100_nodes(api: InProcessApi) -> None:
    client = Client(api.url)
    sup = Supervisor()
    try:
        sem = asyncio.Semaphore(32)

        async def create(kind: str, obj: dict[str, object]) -> None:
            async with sem:
                if kind == "node":
                    await client.create(NODES, obj)
                else:
                    await client.create(PODS, obj, namespace="default")

        await asyncio.gather(*(create("node", node(f"n{i:03}", cpu="32", memory="64Gi"))
                               for i in range(NODE_COUNT)))
        pods = []
        for i in range(POD_COUNT):
            p = pod(f"p{i:04}", cpu="100m", memory="64Mi")
            del p["metadata"]["uid"]
            pods.append(p)
        await asyncio.gather(*(create("pod", p) for p in pods))

        factory = InformerFactory(client)
        sched = Scheduler(client, pods=factory.informer(PODS), nodes=factory.informer(NODES),
                          services=factory.informer(resource("services")))
        started = time.perf_counter()
        sched.start(sup)
        await factory.start(sup)
        await eventually(lambda: sched.bound >= POD_COUNT, within=120.0, what="all bound")
        elapsed = time.perf_counter() - started
        rate = POD_COUNT / elapsed
        print(f"\nscheduler: {POD_COUNT} pods on {NODE_COUNT} nodes in {elapsed:.2f}s "
              f"= {rate:.0f} pods/s (bind failures {sched.bind_failures})")
        items = (await client.list(PODS, namespace="default"))["items"]
        per_node = Counter(p["spec"].get("nodeName", "") for p in items)
        assert "" not in per_node
        assert max(per_node.values()) - min(per_node.values()) <= 1, per_node
        assert rate > 50
        await sched.stop()
    finally:
        await sup.stop()
        await client.close()
    assert not sup.failed.is_set(), sup.failure
