"""The API server restarted under 100 open watches: every watcher resumes, nothing missed or
repeated, checked against the store's own history.

Issue 9, fault tests. A real ``minikube8s --role a`` process (scheduler and controllers off,
so the writes are ours alone). 100 watchers stream ``GET .../pods?watch=1&resourceVersion=R``
over loopback, across namespaces, label selectors, a ``metadata.name`` field selector (the
hubs' indexed path) and with or without ``allowWatchBookmarks``. Each behaves as client-go's
reflector does after its first list: when the stream ends or breaks it watches again from the
last resourceVersion it saw (an event's or a bookmark's). A writer creates, relabels and
deletes pods in four namespaces the whole time, reusing names so the same name comes and goes.
The server is restarted twice mid-stream: SIGTERM (graceful), then SIGKILL.

Then the server is stopped and the store opened directly: its history after the watchers'
starting revision, run through each watcher's scope and selector with Kubernetes' rules (an
update that makes an object match is ADDED, one that makes it stop matching is DELETED), is
the exact sequence of (type, namespace/name, resourceVersion) that watcher must have seen:
no gap, no duplicate, no reordering. An ERROR event (410 Gone included) fails the test: no
revision the store still holds may be refused after a restart.

Neighbours: tests/fixtures/apiserver.py (ApiServerProcess), tests/fixtures/etcd.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from minikube8s.roles.apiserver.keys import BOOKMARK_INTERVAL_ENV
from minikube8s.store import open_store
from minikube8s.store.base import Event, EventType
from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import EtcdProcess

NAMESPACES = ("w0", "w1", "w2", "w3")
NAMES_PER_NAMESPACE = 12  # names are reused: created, relabelled, deleted, created again
WATCHERS = 100
WRITERS = 4
PHASE = 2.0  # seconds of writes before each restart and after the last one

Labels = dict[str, str]
Seen = tuple[str, str, int]  # (ADDED|MODIFIED|DELETED, namespace/name, resourceVersion)


@dataclass(frozen=True)
class Spec:
    """One watcher's scope and selector, with the predicate the expectation uses."""

    namespace: str  # "" = all namespaces
    label_selector: str
    predicate: Callable[[Labels], bool]
    name: str = ""  # a metadata.name field selector
    bookmarks: bool = False
    timeout: int = 0
    """timeoutSeconds: the server ends the watch, the client re-watches from its last
    revision on the same server (resumption from the hub's buffer, not after a restart)."""

    def path(self) -> str:
        scope = f"/namespaces/{self.namespace}" if self.namespace else ""
        return f"/api/v1{scope}/pods"

    def params(self, rv: int) -> dict[str, str]:
        p = {"watch": "1", "resourceVersion": str(rv)}
        if self.label_selector:
            p["labelSelector"] = self.label_selector
        if self.name:
            p["fieldSelector"] = f"metadata.name={self.name}"
        if self.bookmarks:
            p["allowWatchBookmarks"] = "true"
        if self.timeout:
            p["timeoutSeconds"] = str(self.timeout)
        return p

    def selects(self, key: str, labels: Labels) -> bool:
        ns, _, name = key.removeprefix("/registry/pods/").partition("/")
        if self.namespace and ns != self.namespace:
            return False
        if self.name and name != self.name:
            return False
        return self.predicate(labels)


SELECTORS: list[tuple[str, Callable[[Labels], bool]]] = [
    ("", lambda lb: True),
    ("app=a", lambda lb: lb.get("app") == "a"),
    ("app in (a,b)", lambda lb: lb.get("app") in ("a", "b")),
    ("tier!=x", lambda lb: lb.get("tier") != "x"),
    ("app=b,tier=y", lambda lb: lb.get("app") == "b" and lb.get("tier") == "y"),
    ("!tier", lambda lb: "tier" not in lb),
]


def make_specs(rng: random.Random) -> list[Spec]:
    specs: list[Spec] = []
    for i in range(WATCHERS):
        sel, pred = SELECTORS[i % len(SELECTORS)]
        ns = "" if i % 5 == 0 else NAMESPACES[i % len(NAMESPACES)]
        name = ""
        if i % 10 == 7:  # the indexed path: a watch of one name, as kubectl get pod X -w
            ns = NAMESPACES[i % len(NAMESPACES)]
            name = f"p{rng.randrange(NAMES_PER_NAMESPACE)}"
        specs.append(Spec(ns, sel, pred, name=name, bookmarks=i % 2 == 1,
                          timeout=1 + (i // 3) % 2 if i % 3 == 2 else 0))
    return specs


def random_labels(rng: random.Random) -> Labels:
    labels = {"app": rng.choice("abc")}
    if rng.random() < 0.7:
        labels["tier"] = rng.choice("xy")
    return labels


@dataclass
class Watcher:
    spec: Spec
    rv: int
    seen: list[Seen] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    connects: int = 0
    bookmarks: int = 0
    refused: int = 0
    last_activity: float = 0.0
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, session: aiohttp.ClientSession, base: str) -> None:
        """Watch, and on any end or break watch again from the last revision seen, backing
        off while the server is down (as the reflector does) so a hundred reconnect loops
        do not starve the restarting server of CPU."""
        delay = 0.05
        while True:
            try:
                async with session.get(base + self.spec.path(),
                                       params=self.spec.params(self.rv)) as resp:
                    if resp.status == 503:  # the server is stopping: retry (Retry-After)
                        self.refused += 1
                        await resp.read()
                        await asyncio.sleep(0.1)
                        continue
                    if resp.status != 200:
                        self.errors.append(f"HTTP {resp.status} at {self.rv}: "
                                           f"{(await resp.text())[:200]}")
                        await asyncio.sleep(0.1)
                        continue
                    self.connects += 1
                    self.connected.set()
                    delay = 0.05
                    async for line in resp.content:
                        if line.strip():
                            self.take(json.loads(line))
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                pass
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 0.8)

    def take(self, ev: dict[str, Any]) -> None:
        etype = ev["type"]
        md = ev["object"].get("metadata", {})
        if etype == "ERROR":
            self.errors.append(f"ERROR event after {self.rv}: {ev['object']}")
            return
        rv = int(md["resourceVersion"])
        if etype == "BOOKMARK":
            self.bookmarks += 1
            self.rv = rv
            return
        self.last_activity = time.monotonic()  # (not bookmarks: they never go quiet)
        self.seen.append((etype, f"{md['namespace']}/{md['name']}", rv))
        self.rv = rv


async def writer(session: aiohttp.ClientSession, base: str, rng: random.Random,
                 stop: asyncio.Event, stats: dict[str, int]) -> None:
    """Random creates, relabels and deletes; outcomes of failed requests do not matter (the
    expectation comes from the store), only that writes keep coming through the restarts."""
    while not stop.is_set():
        ns = rng.choice(NAMESPACES)
        name = f"p{rng.randrange(NAMES_PER_NAMESPACE)}"
        url = f"{base}/api/v1/namespaces/{ns}/pods"
        op = rng.choice(("create", "create", "patch", "patch", "delete"))
        try:
            if op == "create":
                body = {"apiVersion": "v1", "kind": "Pod",
                        "metadata": {"name": name, "labels": random_labels(rng)},
                        "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
                req = session.post(url, json=body)
            elif op == "patch":
                patch = {"metadata": {"labels": {**random_labels(rng),
                                                 "tier": rng.choice(["x", "y", None])}}}
                req = session.patch(f"{url}/{name}", data=json.dumps(patch),
                                    headers={"Content-Type": "application/merge-patch+json"})
            else:
                req = session.delete(f"{url}/{name}")
            async with req as resp:
                await resp.read()
                key = f"{op} {resp.status}"
        except (aiohttp.ClientError, ConnectionError, TimeoutError):
            key = f"{op} failed"
            await asyncio.sleep(0.05)
        stats[key] = stats.get(key, 0) + 1
        await asyncio.sleep(rng.uniform(0, 0.01))


def expected_for(spec: Spec, history: list[Event]) -> list[Seen]:
    """Kubernetes' watch semantics for one watcher over the store's history."""
    out: list[Seen] = []
    for ev in history:
        key = ev.kv.key
        ns_name = key.removeprefix("/registry/pods/")

        def labels(value: bytes) -> Labels:
            md = json.loads(value).get("metadata") or {}
            return dict(md.get("labels") or {})

        if ev.type is EventType.CREATE:
            if spec.selects(key, labels(ev.kv.value)):
                out.append(("ADDED", ns_name, ev.revision))
        elif ev.type is EventType.DELETE:
            assert ev.prev is not None
            if spec.selects(key, labels(ev.prev.value)):
                out.append(("DELETED", ns_name, ev.revision))
        else:
            assert ev.prev is not None
            now = spec.selects(key, labels(ev.kv.value))
            was = spec.selects(key, labels(ev.prev.value))
            if now or was:
                etype = "MODIFIED" if now and was else "ADDED" if now else "DELETED"
                out.append((etype, ns_name, ev.revision))
    return out


async def store_history(url: str, after: int) -> list[Event]:
    """Every pod event in the store after revision ``after`` (the server is stopped)."""
    backend = await open_store(url)
    history: list[Event] = []
    try:
        it = backend.watch("/registry/pods/", from_revision=after).__aiter__()
        while True:
            try:
                history.append(await asyncio.wait_for(it.__anext__(), timeout=1.0))
            except TimeoutError:
                break
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()
    finally:
        await backend.close()
    return history


def first_difference(got: list[Seen], want: list[Seen]) -> str:
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            return f"at #{i}: got {g}, want {w}; got {got[max(0, i - 2):i + 3]}"
    return f"lengths {len(got)} vs {len(want)}: tail got {got[-3:]}, want {want[-3:]}"


async def restart(server: ApiServerProcess, how: str) -> float:
    t0 = time.monotonic()
    if how == "SIGTERM":
        code = await asyncio.to_thread(server.stop)
        assert code == 0, server.logs()[-3000:]
    else:
        server.kill()
    await asyncio.to_thread(server.start)
    return time.monotonic() - t0


async def watch_through_restarts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *,
                                 store_url: str = "") -> None:
    # Bookmarks every half second (30 s by default), so the watchers that allow them
    # resume from bookmark revisions too.
    monkeypatch.setenv(BOOKMARK_INTERVAL_ENV, "0.5")
    rng = random.Random()
    extra = ["--disable", "scheduler,controllers"]
    if store_url:
        extra += ["--store", store_url]
    server = ApiServerProcess(tmp_path / "data", *extra)
    await asyncio.to_thread(server.start)
    base = server.url
    url = store_url or f"sqlite:///{(tmp_path / 'data' / 'store.db').resolve()}"
    tasks: list[asyncio.Task[None]] = []
    try:
        connector = aiohttp.TCPConnector(limit=0)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=5)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            for ns in NAMESPACES:
                async with session.post(f"{base}/api/v1/namespaces", json={
                        "apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": ns}}) as resp:
                    assert resp.status == 201, await resp.text()
            async with session.get(f"{base}/api/v1/pods") as resp:
                start = int((await resp.json())["metadata"]["resourceVersion"])

            watchers = [Watcher(spec, start) for spec in make_specs(rng)]
            tasks = [asyncio.create_task(w.run(session, base), name=f"watcher {i}")
                     for i, w in enumerate(watchers)]
            async with asyncio.timeout(20):
                await asyncio.gather(*(w.connected.wait() for w in watchers))

            stop = asyncio.Event()
            stats: dict[str, int] = {}
            writers = [asyncio.create_task(writer(session, base, random.Random(rng.random()),
                                                  stop, stats), name=f"writer {i}")
                       for i in range(WRITERS)]
            tasks += writers
            restarts = []
            for how in ("SIGTERM", "SIGKILL"):
                await asyncio.sleep(PHASE)
                restarts.append((how, round(await restart(server, how), 2)))
            await asyncio.sleep(PHASE)
            stop.set()
            await asyncio.gather(*writers)

            # Quiet: no watcher has had a new event for a second (10 s at most).
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if max(w.last_activity for w in watchers) < time.monotonic() - 1.0:
                    break
                await asyncio.sleep(0.1)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        code = await asyncio.to_thread(server.stop)
        assert code == 0, server.logs()[-3000:]

        history = await store_history(url, start)
        events = sum(len(w.seen) for w in watchers)
        print(f"\n{store_url or 'sqlite'}: {len(history)} pod revisions after {start}, "
              f"restarts {restarts} s, writes {dict(sorted(stats.items()))}; {WATCHERS} "
              f"watchers received {events} events and "
              f"{sum(w.bookmarks for w in watchers)} bookmarks over "
              f"{sum(w.connects for w in watchers)} connections "
              f"({sum(w.refused for w in watchers)} refused with 503 while stopping)")
        assert len(history) > 100
        assert all(w.connects >= 3 for w in watchers), "a watcher did not reconnect twice"
        assert all(w.bookmarks for w in watchers if w.spec.bookmarks), "a bookmark missing"
        bad = []
        for i, w in enumerate(watchers):
            want = expected_for(w.spec, history)
            if w.errors or w.seen != want:
                bad.append(f"watcher {i} {w.spec.path()} {w.spec.params(0)}: errors "
                           f"{w.errors[:2]}; {first_difference(w.seen, want)}")
        assert not bad, f"{len(bad)} of {WATCHERS} watchers wrong:\n" + "\n".join(bad[:8])
    finally:
        for task in tasks:
            task.cancel()
        server.kill()


async def test_watches_resume_across_restarts_sqlite(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    await watch_through_restarts(tmp_path, monkeypatch)


async def test_watches_resume_across_restarts_etcd(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    etcd = EtcdProcess(tmp_path / "etcd")
    await asyncio.to_thread(etcd.start)
    try:
        await watch_through_restarts(tmp_path, monkeypatch, store_url=etcd.url)
    finally:
        await asyncio.to_thread(etcd.stop)
