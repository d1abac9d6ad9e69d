"""A 3-member etcd cluster loses a member under load: the API server keeps serving.

One real etcd cluster (tests/fixtures/etcd.py EtcdCluster) and one ``minikube8s --role a`` on
``--store etcd://m0,m1,m2`` (API alone: no scheduler, no controllers) per module. Each test
drives the same load through real HTTP, in its own namespace: writers creating pods and
incrementing a counter annotation (read, then PUT guarded by resourceVersion), readers listing
and getting, and one watch on the namespace. Then it SIGKILLs a member:

- ``test_killing_the_member_in_use``: m0, the member the API server is talking to (the
  store's preferred endpoint: the first of the URL; checked from the server's TCP
  connections), after moving the raft leadership away from it;
- ``test_killing_the_leader``: the leader, moved first to m2, which is not the member the
  server prefers after the first test (m1, next in URL order): the server keeps its
  connection for reads and writes and must wait out the election (its watch streams may
  run on m2: the store's watch fails over on its own);
- ``test_killing_the_leader_in_use``: both at once, the leader moved to m1 (preferred).

What must hold (the killed member is started again at the end; it rejoins):

- every answer is 2xx, a 409 Conflict on a counter (then retried), or, during the transition,
  a Kubernetes Status 503/504 with Retry-After: never a 500 or a bare error; those failures
  are few, and every write or read issued more than SETTLE seconds after the kill succeeds;
- no acknowledged write is lost: each acknowledged create is listed at the end, each counter
  is at least its acknowledged increments and at most those plus the failed attempts (a 503
  after the request reached etcd may still have been applied: ambiguous, never duplicated);
- the watch goes on: resourceVersions strictly increase, no event is repeated, and the pods
  it saw added are exactly the pods listed at the end (none missed); counters end on the
  value the watch saw last.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from minikube8s.store.etcd import RPC_TIMEOUT
from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import EtcdCluster

pytestmark = pytest.mark.slow

WRITERS = 4
READERS = 2
BEFORE_KILL = 2.0  # seconds of load before the kill
AFTER_KILL = 7.0  # and after it
SETTLE = 3.0  # a request issued this long after the kill must succeed
MAX_FAILURES = 3 * WRITERS  # transient 503/504s allowed over the whole transition
COUNTER = "minikube8s.test/counter"
Object = dict[str, Any]


@dataclass
class Outcome:
    op: str
    issued: float
    done: float
    status: int
    body: Any
    retry_after: str | None


@dataclass
class Load:
    """The load against one namespace, and everything it saw."""

    url: str
    ns: str
    outcomes: list[Outcome] = field(default_factory=list)
    acked: set[str] = field(default_factory=set)
    failed_creates: set[str] = field(default_factory=set)
    increments: dict[str, int] = field(default_factory=dict)  # acknowledged, per counter
    ambiguous: dict[str, int] = field(default_factory=dict)  # 503/504 answers, per counter
    events: list[tuple[str, str, int, Object]] = field(default_factory=list)
    rewatches: int = 0
    final: list[Object] = field(default_factory=list)  # the list at the end
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def base(self) -> str:
        return f"{self.url}/api/v1/namespaces/{self.ns}/pods"

    async def call(self, http: aiohttp.ClientSession, op: str, method: str, url: str,
                   body: Object | None = None) -> Outcome:
        issued = time.monotonic()
        try:
            async with http.request(method, url, json=body) as r:
                try:
                    data: Any = await r.json(content_type=None)
                except ValueError:
                    data = None
                out = Outcome(op, issued, time.monotonic(), r.status, data,
                              r.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as e:
            out = Outcome(op, issued, time.monotonic(), 0, repr(e), None)
        self.outcomes.append(out)
        return out

    async def writer(self, http: aiohttp.ClientSession, i: int) -> None:
        counter = f"counter-{i}"
        self.increments[counter] = self.ambiguous[counter] = 0
        n = 0
        while not self.stop.is_set():
            n += 1
            name = f"w{i}-{n}"
            out = await self.call(http, "create", "POST", self.base, pod(name))
            if out.status == 201:
                self.acked.add(name)
            else:
                self.failed_creates.add(name)
            if n % 2 == 0:
                await self.increment(http, counter)

    async def increment(self, http: aiohttp.ClientSession, counter: str) -> None:
        while not self.stop.is_set():
            got = await self.call(http, "get", "GET", f"{self.base}/{counter}")
            if got.status != 200:
                return
            obj = got.body
            annotations = obj["metadata"].setdefault("annotations", {})
            annotations[COUNTER] = str(int(annotations.get(COUNTER, "0")) + 1)
            out = await self.call(http, "update", "PUT", f"{self.base}/{counter}", obj)
            if out.status == 200:
                self.increments[counter] += 1
                return
            if out.status != 409:
                self.ambiguous[counter] += 1
                return

    async def reader(self, http: aiohttp.ClientSession) -> None:
        while not self.stop.is_set():
            await self.call(http, "list", "GET", self.base)
            await self.call(http, "get", "GET", f"{self.base}/counter-0")
            await asyncio.sleep(0.01)

    async def watch(self, http: aiohttp.ClientSession, rv: str) -> None:
        """Follow the namespace's pods from rv, re-watching from the last event if the server
        ends the stream (as a reflector does); never relisting."""
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        while True:
            url = f"{self.base}?watch=1&resourceVersion={rv}&allowWatchBookmarks=false"
            try:
                async with http.get(url, timeout=timeout) as r:
                    assert r.status == 200, await r.text()
                    async for line in r.content:
                        if not line.strip():
                            continue
                        ev = json.loads(line)
                        obj = ev["object"]
                        assert ev["type"] in ("ADDED", "MODIFIED", "DELETED"), ev
                        rv = obj["metadata"]["resourceVersion"]
                        self.events.append(
                            (ev["type"], obj["metadata"]["name"], int(rv), obj))
            except (aiohttp.ClientError, TimeoutError):
                pass
            self.rewatches += 1
            await asyncio.sleep(0.1)


def pod(name: str) -> Object:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


def connected_members(cluster: EtcdCluster, server: ApiServerProcess) -> set[str]:
    """Members the API server process holds a TCP connection to (on their client port)."""
    assert server.proc is not None
    out = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True,
                         text=True, check=True).stdout
    found = set()
    for line in out.splitlines():
        cols = line.split()
        if f"pid={server.proc.pid}," not in line or len(cols) < 4:
            continue
        for name, client, _ in cluster.members:
            if cols[3].endswith(f"127.0.0.1]:{client}") or cols[3] == f"127.0.0.1:{client}":
                if name in cluster.procs:
                    found.add(name)
    return found


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    c = EtcdCluster(tmp_path_factory.mktemp("etcd-cluster"))
    try:
        c.start()
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def server(cluster: EtcdCluster, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[ApiServerProcess]:
    s = ApiServerProcess(tmp_path_factory.mktemp("apiserver") / "data",
                         "--disable", "scheduler,controllers", "--store", cluster.url)
    with s.serving():
        yield s


async def run_load(server: ApiServerProcess, ns: str, kill: Any) -> tuple[Load, float]:
    """Load ``ns``, call ``kill()`` (in a thread) after BEFORE_KILL seconds, stop AFTER_KILL
    seconds later; returns the load and the moment the kill returned."""
    load = Load(server.url, ns)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        out = await load.call(http, "setup", "POST", f"{server.url}/api/v1/namespaces",
                              {"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": ns}})
        assert out.status == 201, out.body
        for i in range(WRITERS):
            counter = pod(f"counter-{i}")
            counter["metadata"]["annotations"] = {COUNTER: "0"}
            out = await load.call(http, "setup", "POST", load.base, counter)
            assert out.status == 201, out.body
        listed = await load.call(http, "setup", "GET", load.base)
        load.outcomes.clear()
        watch = asyncio.create_task(load.watch(http, listed.body["metadata"]["resourceVersion"]))
        workers = [asyncio.create_task(load.writer(http, i)) for i in range(WRITERS)]
        workers += [asyncio.create_task(load.reader(http)) for _ in range(READERS)]
        await asyncio.sleep(BEFORE_KILL)
        await asyncio.to_thread(kill)
        killed_at = time.monotonic()
        await asyncio.sleep(AFTER_KILL)
        load.stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), 30)

        final = await load.call(http, "final", "GET", load.base)
        assert final.status == 200, final.body
        items: list[Object] = final.body["items"]
        want = {(p["metadata"]["name"], int(p["metadata"]["resourceVersion"])) for p in items}
        # The watch catches up with the final list (each pod's last version seen).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = {(n, rv) for _, n, rv, _ in load.events}
            if want <= seen:
                break
            await asyncio.sleep(0.1)
        if watch.done():
            watch.result()  # the watcher's own assertion, if it failed
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
    load.final = items
    return load, killed_at


def check(load: Load, killed_at: float) -> None:
    served = [o for o in load.outcomes if o.op != "final"]
    bad = [o for o in served if not (
        200 <= o.status < 300 or (o.status == 409 and o.op == "update")
        or retriable(o))]
    assert not bad, f"answers that are neither success nor a retriable Status: {bad[:5]}"
    failures = [o for o in served if retriable(o)]
    assert len(failures) <= MAX_FAILURES, f"{len(failures)} failures: {failures[:5]}"
    # A write in flight when the leader dies waits for etcd's own request timeout (7 s with
    # the default election timeout), never longer than the store's deadline per call.
    slow = [o for o in served if o.done - o.issued > RPC_TIMEOUT + 1]
    assert not slow, f"requests that hung: {slow[:5]}"
    late = [o for o in failures if o.issued > killed_at + SETTLE]
    assert not late, f"requests issued {SETTLE}s after the kill still failed: {late[:5]}"
    writes_after = [o for o in served if o.op in ("create", "update")
                    and o.issued > killed_at + SETTLE]
    assert len(writes_after) >= WRITERS, "the writers made no progress after the kill"

    items = load.final
    listed = {p["metadata"]["name"] for p in items}
    creates = listed - {f"counter-{i}" for i in range(WRITERS)}
    assert load.acked <= creates, f"acknowledged creates lost: {load.acked - creates}"
    assert creates <= load.acked | load.failed_creates

    by_name = {p["metadata"]["name"]: p for p in items}
    for counter, acked in load.increments.items():
        value = int(by_name[counter]["metadata"]["annotations"][COUNTER])
        assert acked <= value <= acked + load.ambiguous[counter], (counter, value, acked)

    revs = [rv for _, _, rv, _ in load.events]
    assert revs == sorted(revs) and len(set(revs)) == len(revs), "watch events out of order"
    added = [n for t, n, _, _ in load.events if t == "ADDED"]
    assert len(added) == len(set(added)), "a pod was added twice on the watch"
    assert set(added) == creates, (set(added) ^ creates)
    last: dict[str, Object] = {n: obj for _, n, _, obj in load.events}
    for counter in load.increments:
        if counter in last:
            assert last[counter]["metadata"]["resourceVersion"] == \
                by_name[counter]["metadata"]["resourceVersion"]


def retriable(o: Outcome) -> bool:
    """A transient failure Kubernetes clients retry: a Status 503/504 with Retry-After."""
    return (o.status in (503, 504) and o.retry_after is not None
            and isinstance(o.body, dict) and o.body.get("kind") == "Status"
            and o.body.get("code") == o.status)


def report(load: Load, killed_at: float, what: str) -> str:
    failures = [o for o in load.outcomes if retriable(o)]
    slowest = max((o.done - o.issued for o in load.outcomes), default=0.0)
    return (f"{what}: {len(load.outcomes)} requests, {len(load.acked)} creates acknowledged, "
            f"{len(failures)} retriable failures "
            f"({[(o.op, o.status, round(o.issued - killed_at, 2)) for o in failures]}), "
            f"slowest {slowest:.2f}s, {len(load.events)} watch events, "
            f"{load.rewatches} re-watches")


async def test_killing_the_member_in_use(cluster: EtcdCluster,
                                         server: ApiServerProcess) -> None:
    # The first endpoint of the URL is preferred; the only one talked to so far.
    assert connected_members(cluster, server) == {"m0"}
    if cluster.leader() == "m0":  # this test is about the member in use, not the leader
        await asyncio.to_thread(cluster.move_leader, "m1")

    load, killed_at = await run_load(server, "member-loss", lambda: cluster.kill("m0"))
    print(report(load, killed_at, "killed the member in use (m0)"))
    check(load, killed_at)
    assert load.rewatches == 0, "the API server ended the watch"
    # Failover goes in URL order: m1 answered, so it is preferred from now on.
    assert "m1" in connected_members(cluster, server)
    await asyncio.to_thread(cluster.restart, "m0")


async def test_killing_the_leader(cluster: EtcdCluster, server: ApiServerProcess) -> None:
    # m1 is in use (previous test); make m2 the leader, so the API server's member loses
    # its leader and must wait for an election, not a new connection.
    await asyncio.to_thread(cluster.move_leader, "m2")

    load, killed_at = await run_load(server, "leader-loss", lambda: cluster.kill("m2"))
    print(report(load, killed_at, "killed the leader (m2)"))
    check(load, killed_at)
    assert load.rewatches == 0, "the API server ended the watch"
    assert cluster.leader() != "m2"
    await asyncio.to_thread(cluster.restart, "m2")


async def test_killing_the_leader_in_use(cluster: EtcdCluster,
                                         server: ApiServerProcess) -> None:
    assert "m1" in connected_members(cluster, server)
    await asyncio.to_thread(cluster.move_leader, "m1")

    load, killed_at = await run_load(server, "leader-in-use-loss",
                                     lambda: cluster.kill("m1"))
    print(report(load, killed_at, "killed the leader in use (m1)"))
    check(load, killed_at)
    assert load.rewatches == 0, "the API server ended the watch"
    assert cluster.leader() != "m1"
    await asyncio.to_thread(cluster.restart, "m1")
