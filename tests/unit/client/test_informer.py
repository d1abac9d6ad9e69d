"""Informer cache, indexes and handlers, fed by hand the way a reflector feeds it."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from minikube8s.api.resources import lookup
from minikube8s.client import errors
from minikube8s.client.clock import Backoff, FakeClock, settle
from minikube8s.client.informer import Informer, InformerFactory, key_of, split_key
from minikube8s.client.reflector import Reflector
from minikube8s.client.rest import Client, Object, WatchEvent
from minikube8s.tasks import Supervisor

PODS = lookup("pods")
NODES = lookup("nodes")
assert PODS and NODES


def pod(name: str, rv: int, node: str = "", ns: str = "default") -> Object:
    return {"metadata": {"name": name, "namespace": ns, "resourceVersion": str(rv)},
            "spec": {"nodeName": node}}


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def add(self, obj: Object) -> None:
        self.events.append(("add", key_of(obj)))

    def update(self, old: Object, new: Object) -> None:
        self.events.append(("update", key_of(new)))

    def delete(self, obj: Object) -> None:
        self.events.append(("delete", key_of(obj)))


def informer() -> tuple[Informer, Recorder]:
    inf = Informer(Client("http://127.0.0.1:1"), PODS)
    rec = Recorder()
    inf.add_handler(on_add=rec.add, on_update=rec.update, on_delete=rec.delete)
    return inf, rec


def test_keys() -> None:
    assert key_of(pod("a", 1)) == "default/a"
    assert key_of({"metadata": {"name": "n1"}}) == "n1"
    assert split_key("default/a") == ("default", "a")
    assert split_key("n1") == ("", "n1")


async def test_replace_then_events() -> None:
    inf, rec = informer()
    assert not inf.has_synced()
    inf.replace([pod("a", 1), pod("b", 2)], "2")
    assert inf.has_synced()
    await asyncio.wait_for(inf.wait_synced(), 1)
    assert rec.events == [("add", "default/a"), ("add", "default/b")]
    inf.apply(WatchEvent("ADDED", pod("c", 3)))
    inf.apply(WatchEvent("MODIFIED", pod("a", 4)))
    inf.apply(WatchEvent("DELETED", pod("b", 5)))
    assert rec.events[2:] == [("add", "default/c"), ("update", "default/a"),
                              ("delete", "default/b")]
    assert sorted(inf.keys()) == ["default/a", "default/c"]
    a = inf.get("default/a")
    assert a is not None and a["metadata"]["resourceVersion"] == "4"
    assert inf.get_by_name("c", "default") is not None
    assert len(inf) == 2


async def test_relist_delivers_deletes_for_vanished_and_updates_for_changed() -> None:
    inf, rec = informer()
    inf.replace([pod("a", 1), pod("b", 2), pod("c", 3)], "3")
    rec.events.clear()
    inf.replace([pod("a", 1), pod("c", 7), pod("d", 8)], "8")
    assert sorted(rec.events) == [("add", "default/d"), ("delete", "default/b"),
                                  ("update", "default/c")], "unchanged a is not re-announced"
    assert sorted(inf.keys()) == ["default/a", "default/c", "default/d"]


async def test_indexer_follows_changes() -> None:
    inf, _ = informer()
    inf.replace([pod("a", 1, "n1"), pod("b", 2, "n1"), pod("c", 3)], "3")
    inf.add_indexer("node", lambda o: [o["spec"].get("nodeName") or ""])
    assert [key_of(p) for p in inf.by_index("node", "n1")] == ["default/a", "default/b"]
    inf.apply(WatchEvent("MODIFIED", pod("c", 4, "n2")))
    inf.apply(WatchEvent("MODIFIED", pod("a", 5, "n2")))
    assert inf.index_keys("node", "n1") == ["default/b"]
    assert inf.index_keys("node", "n2") == ["default/a", "default/c"]
    inf.apply(WatchEvent("DELETED", pod("a", 6, "n2")))
    assert inf.index_keys("node", "n2") == ["default/c"]
    inf.replace([pod("b", 2, "n1")], "7")
    assert inf.index_keys("node", "n2") == []
    assert "n2" not in inf.index_values("node"), "empty index buckets are dropped"
    with pytest.raises(KeyError):
        inf.by_index("nope", "x")
    with pytest.raises(ValueError):
        inf.add_indexer("node", lambda o: [])


async def test_multi_valued_index_and_failing_indexer() -> None:
    inf, _ = informer()
    inf.add_indexer("labels", lambda o: [f"{k}={v}" for k, v in
                                         (o["metadata"].get("labels") or {}).items()])
    inf.add_indexer("broken", lambda o: [o["nope"]])
    p = pod("a", 1)
    p["metadata"]["labels"] = {"app": "web", "tier": "fe"}
    inf.apply(WatchEvent("ADDED", p))
    assert inf.index_keys("labels", "app=web") == ["default/a"]
    assert inf.index_keys("labels", "tier=fe") == ["default/a"]
    assert inf.index_keys("broken", "x") == []
    assert inf.get("default/a") is p


async def test_late_handler_gets_existing_objects_and_bad_handler_is_isolated() -> None:
    inf, rec = informer()
    inf.replace([pod("a", 1)], "1")

    def bad(obj: Object) -> None:
        raise RuntimeError("handler bug")

    inf.add_handler(on_add=bad)
    late = Recorder()
    inf.add_handler(on_add=late.add)
    assert late.events == [("add", "default/a")]
    inf.apply(WatchEvent("ADDED", pod("b", 2)))
    assert late.events[-1] == ("add", "default/b")
    assert rec.events[-1] == ("add", "default/b")


class FakeClient(Client):
    """Scripted list and watch: each watch call pops one script (a list of events, ending
    with an exception or normally)."""

    def __init__(self) -> None:
        super().__init__("http://127.0.0.1:1")
        self.lists: list[Object] = []
        self.watches: list[list[Any]] = []
        self.watch_rvs: list[str] = []
        self.list_calls = 0

    async def list_all(self, resource: Any, **kw: Any) -> Object:
        self.list_calls += 1
        if not self.lists:
            raise errors.Unavailable("down")
        item = self.lists.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    async def watch(self, resource: Any, **kw: Any) -> Any:  # type: ignore[override]
        self.watch_rvs.append(kw["resource_version"])
        script = self.watches.pop(0) if self.watches else [errors.Unavailable("down")]
        for step in script:
            if isinstance(step, Exception):
                raise step
            yield step


def plist(rv: int, *pods: Object) -> Object:
    return {"metadata": {"resourceVersion": str(rv)}, "items": list(pods)}


async def test_reflector_with_fake_feed_relists_on_gone_and_backs_off() -> None:
    clock = FakeClock()
    fc = FakeClient()
    fc.lists = [plist(5, pod("a", 1), pod("b", 5)), plist(20, pod("a", 12), pod("c", 15))]
    fc.watches = [
        [WatchEvent("ADDED", pod("x", 6)), WatchEvent("BOOKMARK", {"metadata": {
            "resourceVersion": "9"}})],            # ends normally: rewatch from 9
        [errors.Gone("too old")],                  # 410: relist at once
        [WatchEvent("MODIFIED", pod("c", 21))],    # ends; the rewatch from 21 fails
    ]
    inf = Informer(fc, PODS, clock=clock)
    inf.reflector.backoff = Backoff(base=1.0, cap=8.0, clock=clock, rng=random.Random(7))
    rec = Recorder()
    inf.add_handler(on_add=rec.add, on_update=rec.update, on_delete=rec.delete)
    task = asyncio.create_task(inf.run())
    await settle(30)
    assert fc.watch_rvs == ["5", "9", "20", "21"]
    assert fc.list_calls == 2, "relisted after Gone"
    assert sorted(inf.keys()) == ["default/a", "default/c"]
    assert ("delete", "default/x") in rec.events and ("delete", "default/b") in rec.events
    # the server is down: the rewatch failed, and relists are spaced by the backoff
    before = fc.list_calls
    await settle(50)
    assert fc.list_calls == before
    await clock.advance(60)
    tries = fc.list_calls - before
    # Jitter puts each delay in [d/2, d] for d = 1, 2, 4, 8, 8, ...: even the shortest
    # delays (0.5, 1, 2, 4, 4, ...) allow at most 17 tries in 60 s; no backoff would be
    # unbounded.
    assert 1 <= tries <= 17, tries
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_factory_shares_informers_and_starts_late_ones() -> None:
    fc = FakeClient()
    clock = FakeClock()
    f = InformerFactory(fc, clock=clock)
    a = f.informer(PODS)
    assert f.informer(PODS) is a
    assert f.informer(PODS, field_selector="spec.nodeName=n1") is not a
    fc.lists = [plist(1), plist(1), plist(1)]
    fc.watches = [[], [], []]
    sup = Supervisor()
    await f.start(sup)
    late = f.informer(NODES)
    assert late.started
    await asyncio.wait_for(f.wait_synced(), 1)
    assert all(i.has_synced() for i in f.informers)
    await sup.stop()


async def test_reflector_name_describes_selectors() -> None:
    r = Reflector(Client("http://127.0.0.1:1"), PODS, Informer(Client("http://x"), PODS),
                  namespace="ns", field_selector="spec.nodeName=n1")
    assert r.name == "pods[ns=ns,fields=spec.nodeName=n1]"


async def test_select_by_namespace_and_labels() -> None:
    inf, _ = informer()
    a, b, c = pod("a", 1), pod("b", 2, ns="other"), pod("c", 3)
    a["metadata"]["labels"] = {"app": "web", "tier": "fe"}
    b["metadata"]["labels"] = {"app": "web"}
    inf.replace([a, b, c], "3")
    assert names(inf.select(namespace="default")) == ["default/a", "default/c"]
    assert names(inf.select(selector={"app": "web"})) == ["default/a", "other/b"]
    assert names(inf.select(namespace="default", selector="app=web,tier in (fe)")) == \
        ["default/a"]
    assert names(inf.select(namespace="nowhere")) == []
    inf.apply(WatchEvent("DELETED", a))
    assert names(inf.select(namespace="default", selector={"app": "web"})) == []


def names(objs: list[Object]) -> list[str]:
    return sorted(key_of(o) for o in objs)


async def test_watches_that_end_at_once_do_not_busy_loop() -> None:
    clock = FakeClock()
    fc = FakeClient()
    fc.lists = [plist(5)]
    fc.watches = [[] for _ in range(1000)]  # the server ends every watch immediately
    inf = Informer(fc, PODS, clock=clock)
    inf.reflector.backoff = Backoff(base=1.0, cap=4.0, clock=clock)
    task = asyncio.create_task(inf.run())
    await settle(200)
    assert len(fc.watch_rvs) == 1, "the next watch waits for the backoff"
    await clock.advance(20)
    assert 3 <= len(fc.watch_rvs) <= 12
    assert fc.list_calls == 1, "a clean end resumes the watch, it does not relist"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
