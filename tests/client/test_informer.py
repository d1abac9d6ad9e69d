"""Reflector and informer against real API server processes: handlers, selectors, relist
after an API server restart with no event missed, Gone after compaction."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from minikube8s.client import errors
from minikube8s.client.clock import Backoff
from minikube8s.client.informer import Informer, InformerFactory, key_of
from minikube8s.client.rest import Client, Object, resource
from minikube8s.client.workqueue import WorkQueue
from minikube8s.tasks import Supervisor
from tests.client.test_rest import pod
from tests.fixtures.apiserver import ApiServerProcess, InProcessApi

PODS = resource("pods")
NAMESPACES = resource("namespaces")


async def eventually(cond: Callable[[], bool], within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def names(objs: list[Object]) -> list[str]:
    return sorted(key_of(o) for o in objs)


@pytest.fixture
async def client(bare_apiserver: ApiServerProcess) -> AsyncIterator[Client]:
    async with Client(bare_apiserver.url) as c:
        yield c


@pytest.fixture
async def ns(client: Client) -> str:
    name = f"i-{uuid.uuid4().hex[:8]}"
    await client.create(NAMESPACES, {"metadata": {"name": name}})
    return name


@pytest.fixture
async def supervisor() -> AsyncIterator[Supervisor]:
    sup = Supervisor()
    yield sup
    await sup.stop()
    assert not sup.failed.is_set(), sup.failure


async def test_informer_handlers_enqueue_keys(client: Client, ns: str,
                                              supervisor: Supervisor) -> None:
    await client.create(PODS, pod("pre"), namespace=ns)
    factory = InformerFactory(client)
    pods = factory.informer(PODS, namespace=ns)
    assert factory.informer(PODS, namespace=ns) is pods
    queue = WorkQueue("t")
    seen: list[tuple[str, str]] = []

    def on_update(old: Object, new: Object) -> None:
        seen.append(("update", key_of(new)))
        queue.add(key_of(new))

    pods.add_handler(on_add=lambda o: (seen.append(("add", key_of(o))), queue.add(key_of(o))),
                     on_update=on_update,
                     on_delete=lambda o: (seen.append(("delete", key_of(o))),
                                          queue.add(key_of(o))))
    pods.add_indexer("app", lambda o: [o["metadata"].get("labels", {}).get("app", "")])
    await factory.start(supervisor)
    await factory.wait_synced(timeout=10)
    assert names(pods.list()) == [f"{ns}/pre"]

    await client.create(PODS, pod("a", app="web"), namespace=ns)
    await client.patch(PODS, "pre", {"metadata": {"labels": {"app": "web"}}}, namespace=ns)
    await client.delete(PODS, "a", namespace=ns, grace_period_seconds=0)
    await eventually(lambda: len(seen) >= 4)
    assert seen == [("add", f"{ns}/pre"), ("add", f"{ns}/a"), ("update", f"{ns}/pre"),
                    ("delete", f"{ns}/a")]
    assert names(pods.by_index("app", "web")) == [f"{ns}/pre"]
    # keys are deduplicated while nobody works the queue
    assert len(queue) == 2


async def test_field_selector_informer(client: Client, ns: str,
                                       supervisor: Supervisor) -> None:
    factory = InformerFactory(client)
    mine = factory.informer(PODS, namespace=ns, field_selector="spec.nodeName=n1")
    await factory.start(supervisor)
    await factory.wait_synced(timeout=10)
    await client.create(PODS, pod("x"), namespace=ns)
    await client.create(PODS, pod("y"), namespace=ns)
    await client.bind(ns, "y", "n1")
    await eventually(lambda: names(mine.list()) == [f"{ns}/y"])
    got = mine.get(f"{ns}/y")
    assert got is not None and got["spec"]["nodeName"] == "n1"


async def test_relist_on_gone_after_compaction(api: InProcessApi,
                                               supervisor: Supervisor) -> None:
    async with Client(api.url) as c:
        for name in ("a", "b"):
            await c.create(PODS, pod(name), namespace="default")
        inf = Informer(c, PODS, namespace="default")
        events: list[tuple[str, str]] = []
        inf.add_handler(on_add=lambda o: events.append(("add", key_of(o))),
                        on_delete=lambda o: events.append(("delete", key_of(o))))
        await inf.reflector.list_and_replace()
        stale = inf.last_sync_resource_version
        # Changes the reflector does not see, then compaction past its resourceVersion:
        # resuming the watch gets 410 Gone and the reflector must relist.
        await c.delete(PODS, "a", namespace="default", grace_period_seconds=0)
        await c.create(PODS, pod("c"), namespace="default")
        store = api.registry.store
        await store.compact(await store.current_revision())
        inf.start(supervisor)
        await eventually(lambda: sorted(inf.keys()) == ["default/b", "default/c"])
        assert inf.reflector.lists == 2
        assert int(inf.last_sync_resource_version) > int(stale)
        assert events == [("add", "default/a"), ("add", "default/b"),
                          ("delete", "default/a"), ("add", "default/c")]
        await c.create(PODS, pod("d"), namespace="default")
        await eventually(lambda: "default/d" in inf)


async def test_reflector_survives_api_server_restart(tmp_path: Path,
                                                     supervisor: Supervisor) -> None:
    server = ApiServerProcess(tmp_path / "data")
    server.start()
    try:
        async with Client(server.url) as c:
            await c.create(NAMESPACES, {"metadata": {"name": "r"}})
            for i in range(5):
                await c.create(PODS, pod(f"p{i}"), namespace="r")
            inf = Informer(c, PODS, namespace="r")
            inf.reflector.backoff = Backoff(base=0.2, cap=1.0)
            events: list[tuple[str, str]] = []
            inf.add_handler(
                on_add=lambda o: events.append(("add", key_of(o))),
                on_update=lambda old, new: events.append(("update", key_of(new))),
                on_delete=lambda o: events.append(("delete", key_of(o))))
            inf.start(supervisor)
            await inf.wait_synced(timeout=10)
            assert len(inf) == 5

            assert server.stop() == 0
            await asyncio.sleep(0.5)  # the reflector is now failing and backing off
            with pytest.raises(errors.Unavailable):
                await c.get(PODS, "p0", namespace="r")

            # Changes made while the reflector cannot see them: a restarted server, and
            # writes by someone else before the reflector reconnects.
            server.start()
            async with Client(server.url) as other:
                await other.delete(PODS, "p0", namespace="r", grace_period_seconds=0)
                await other.patch(PODS, "p1", {"metadata": {"labels": {"v": "2"}}},
                                  namespace="r")
                await other.create(PODS, pod("p9"), namespace="r")

                async def matches() -> bool:
                    fresh = await other.list(PODS, namespace="r")
                    want = {key_of(o): o["metadata"]["resourceVersion"]
                            for o in fresh["items"]}
                    have = {key_of(o): o["metadata"]["resourceVersion"] for o in inf.list()}
                    return want == have

                deadline = asyncio.get_running_loop().time() + 20
                while not await matches():
                    assert asyncio.get_running_loop().time() < deadline, "cache never caught up"
                    await asyncio.sleep(0.1)

            assert ("delete", "r/p0") in events
            assert ("update", "r/p1") in events
            assert ("add", "r/p9") in events
            assert inf.reflector.lists >= 2

            # and the watch is live again
            await c.create(PODS, pod("p10"), namespace="r")
            await eventually(lambda: "r/p10" in inf)
    finally:
        code = server.stop()
        assert code == 0, server.logs()[-3000:]


async def test_controller_pattern_end_to_end(client: Client, ns: str,
                                             supervisor: Supervisor) -> None:
    """A toy level-triggered controller: every pod gets label seen=<its app label>. Handlers
    only enqueue; reconcile reads the cache; a failing first attempt is retried."""
    from minikube8s.client.controller import Controller
    from minikube8s.client.informer import split_key

    factory = InformerFactory(client)
    pods = factory.informer(PODS, namespace=ns)
    queue = WorkQueue("labeler", base_delay=0.01)
    pods.add_handler(on_add=lambda o: queue.add(key_of(o)),
                     on_update=lambda old, new: queue.add(key_of(new)))
    attempts: dict[str, int] = {}

    async def reconcile(key: str) -> None:
        attempts[key] = attempts.get(key, 0) + 1
        if attempts[key] == 1:
            raise RuntimeError("first attempt fails")
        obj = pods.get(key)
        if obj is None:
            return
        labels = obj["metadata"].get("labels") or {}
        want = labels.get("app", "")
        if labels.get("seen") != want:
            namespace, name = split_key(key)
            await client.patch(PODS, name, {"metadata": {"labels": {"seen": want}}},
                               namespace=namespace)

    ctrl = Controller("labeler", queue, reconcile, workers=3)
    await factory.start(supervisor)
    await factory.wait_synced(timeout=10)
    ctrl.start(supervisor)
    for i in range(10):
        await client.create(PODS, pod(f"c{i}", app=f"a{i}"), namespace=ns)

    def all_labelled() -> bool:
        objs = pods.list()
        return len(objs) == 10 and all(
            o["metadata"]["labels"].get("seen") == o["metadata"]["labels"]["app"]
            for o in objs)

    await eventually(all_labelled)
    await client.patch(PODS, "c3", {"metadata": {"labels": {"app": "changed"}}}, namespace=ns)
    await eventually(lambda: (pods.get(f"{ns}/c3") or {})["metadata"]["labels"].get("seen")
                     == "changed")
    await ctrl.stop()
    assert ctrl.failures == 10
