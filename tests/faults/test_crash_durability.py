"""SIGKILL the control plane during 1,000 creates: every 201 survives, nothing is duplicated.

Issue 9, fault tests: a real ``minikube8s --role a`` process (scheduler and controllers off,
so only our writes happen) on the embedded SQLite store, then on a real etcd of its own. 32
client coroutines create 1,000 uniquely named pods over loopback HTTP and log every
answer. At random points (once, and in a second run twice) the process is SIGKILLed and
started again on the same data dir / etcd while the clients keep going:

- a request that failed with a connection error (or a 5xx) has an *unknown* outcome and is
  retried once the server is back; a retry answered 409 AlreadyExists is a "lost response"
  (the create was applied, its 201 never arrived) and is counted, not failed;
- in the end every name that got a 201 is listed with the uid and resourceVersion of that
  201, no name appears twice, every uid is distinct, the count equals the distinct names that
  got a 201 or a lost-response 409 (which is every name), and revisions handed out after a
  restart are above every revision acknowledged before it (the store's revision did not go
  back, which watch resumption relies on).

Neighbours: tests/fixtures/apiserver.py (ApiServerProcess) and tests/fixtures/etcd.py
(EtcdProcess); tests/store/test_sqlite_durability.py proves the same for the bare store.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import EtcdProcess

TOTAL = 1000
CLIENTS = 32
ATTEMPTS = 200  # per name; a restart takes about 0.5 s, the backoff tops out at 0.2 s
NAMESPACE = "default"


@dataclass
class Acked:
    uid: str
    rv: int
    sent: float
    received: float
    """time.monotonic() when the request was sent and its answer read."""


@dataclass
class Ledger:
    """What the clients saw, per name."""

    run: str
    acked: dict[str, Acked] = field(default_factory=dict)
    unknown: set[str] = field(default_factory=set)
    """Names with at least one attempt of unknown outcome (connection error, 5xx)."""
    lost_responses: set[str] = field(default_factory=set)
    """Names whose retry got 409: applied by an attempt whose answer never came."""
    unknown_attempts: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    """Set on every 201 (and at the end), for whoever waits for a number of them."""

    def name(self, i: int) -> str:
        return f"crash-{self.run}-{i:04d}"


class Chaos:
    """The server process, killed with SIGKILL at the given acknowledgement counts."""

    def __init__(self, server: ApiServerProcess, kill_at: list[int]) -> None:
        self.server = server
        self.kill_at = sorted(kill_at)
        self.kills: list[tuple[float, float]] = []
        """(when it was killed, when the restarted process answered /readyz)."""

    async def run(self, ledger: Ledger, done: asyncio.Event, rng: random.Random) -> None:
        for threshold in self.kill_at:
            while len(ledger.acked) < threshold and not done.is_set():
                ledger.progress.clear()
                await ledger.progress.wait()
            if done.is_set():
                return
            # A random moment a little later, so the kill lands among requests in flight
            # rather than right after this loop turn's answers were read.
            await asyncio.sleep(rng.uniform(0, 0.03))
            assert self.server.proc is not None
            killed = time.monotonic()
            self.server.proc.kill()  # SIGKILL: no shutdown code runs
            await asyncio.to_thread(self.server.proc.wait)
            await asyncio.to_thread(self.server.start)
            self.kills.append((killed, time.monotonic()))


async def create_all(base: str, ledger: Ledger, chaos: Chaos) -> None:
    todo: asyncio.Queue[int] = asyncio.Queue()
    for i in range(TOTAL):
        todo.put_nowait(i)
    url = f"{base}/api/v1/namespaces/{NAMESPACE}/pods"
    timeout = aiohttp.ClientTimeout(total=15)

    async def client(session: aiohttp.ClientSession) -> None:
        while True:
            try:
                i = todo.get_nowait()
            except asyncio.QueueEmpty:
                return
            name = ledger.name(i)
            body = {"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": name, "labels": {"run": ledger.run}},
                    "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
            for attempt in range(ATTEMPTS):
                sent = time.monotonic()
                try:
                    async with session.post(url, json=body) as resp:
                        status = resp.status
                        answer: dict[str, Any] = await resp.json(content_type=None)
                except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError):
                    status, answer = 0, {}
                ledger.statuses[status] = ledger.statuses.get(status, 0) + 1
                if status == 201:
                    md = answer["metadata"]
                    if name in ledger.acked:
                        ledger.failures.append(f"{name}: a second 201")
                    ledger.acked[name] = Acked(md["uid"], int(md["resourceVersion"]),
                                               sent, time.monotonic())
                    ledger.progress.set()
                    break
                if status == 409 and name in ledger.unknown:
                    ledger.lost_responses.add(name)
                    break
                if status == 0 or status >= 500:
                    ledger.unknown.add(name)
                    ledger.unknown_attempts += 1
                    # (connection refused while the server is down: back off a little)
                    await asyncio.sleep(0.02 * min(attempt + 1, 10))
                    continue
                ledger.failures.append(f"{name}: unexpected {status} {answer}")
                break
            else:
                ledger.failures.append(f"{name}: no definite answer after {ATTEMPTS} attempts")

    # A fresh connection per request: a pooled keep-alive connection to the killed process
    # would turn the first request after a restart into one more unknown outcome.
    connector = aiohttp.TCPConnector(limit=CLIENTS, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))


async def list_run(base: str, run: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cont = ""
    async with aiohttp.ClientSession() as session:
        while True:
            params = {"labelSelector": f"run={run}", "limit": "400"}
            if cont:
                params["continue"] = cont
            async with session.get(f"{base}/api/v1/namespaces/{NAMESPACE}/pods",
                                   params=params) as resp:
                assert resp.status == 200, await resp.text()
                page = await resp.json()
            items.extend(page["items"])
            cont = page["metadata"].get("continue", "")
            if not cont:
                return items


def check(ledger: Ledger, items: list[dict[str, Any]], chaos: Chaos) -> None:
    assert not ledger.failures, ledger.failures[:10]
    names = [it["metadata"]["name"] for it in items]
    assert len(names) == len(set(names)), "a name listed twice"
    uids = [it["metadata"]["uid"] for it in items]
    assert len(uids) == len(set(uids)), "two objects share a uid"
    by_name = {it["metadata"]["name"]: it for it in items}
    missing = sorted(n for n in ledger.acked if n not in by_name)
    assert not missing, f"{len(missing)} acknowledged creates lost, e.g. {missing[:5]}"
    changed = sorted(
        n for n, a in ledger.acked.items()
        if by_name[n]["metadata"]["uid"] != a.uid
        or int(by_name[n]["metadata"]["resourceVersion"]) != a.rv)
    assert not changed, f"objects differ from their 201: {changed[:5]}"
    assert not set(ledger.acked) & ledger.lost_responses
    expected = set(ledger.acked) | ledger.lost_responses
    assert set(by_name) == expected
    assert len(items) == TOTAL
    # Revisions never go back across a restart: a create sent after the restarted process
    # answered is acknowledged with a revision above every one acknowledged before the kill.
    for k, (killed, restarted) in enumerate(chaos.kills, 1):
        before = [a.rv for a in ledger.acked.values() if a.received < killed]
        after = [a.rv for a in ledger.acked.values() if a.sent > restarted]
        assert before and after
        assert min(after) > max(before), f"revision went back after restart {k}"


async def crash_run(tmp_path: Path, *, kills: int, store_url: str = "") -> None:
    rng = random.Random()
    extra = ["--disable", "scheduler,controllers"]
    if store_url:
        extra += ["--store", store_url]
    server = ApiServerProcess(tmp_path / "data", *extra)
    await asyncio.to_thread(server.start)
    ledger = Ledger(run=uuid.uuid4().hex[:8])
    # Kill points spread over the run, at least 150 acknowledgements apart, leaving creates
    # for after the last restart.
    points = [rng.randint(100, 400)]
    while len(points) < kills:
        points.append(rng.randint(points[-1] + 150, points[-1] + 400))
    chaos = Chaos(server, points)
    done = asyncio.Event()
    t0 = time.monotonic()
    try:
        killer = asyncio.create_task(chaos.run(ledger, done, rng), name="chaos")
        await create_all(server.url, ledger, chaos)
        done.set()
        ledger.progress.set()
        await killer
        assert not ledger.failures, ledger.failures[:10]
        items = await list_run(server.url, ledger.run)
        elapsed = time.monotonic() - t0
        print(f"\n{store_url or 'sqlite'}: {TOTAL} creates, SIGKILL at {points} acks, "
              f"{elapsed:.1f} s (restarts {[round(b - a, 2) for a, b in chaos.kills]} s); "
              f"{len(ledger.acked)} 201s, {len(ledger.lost_responses)} lost responses, "
              f"{len(ledger.unknown)} names with {ledger.unknown_attempts} unknown attempts; "
              f"statuses {dict(sorted(ledger.statuses.items()))}")
        assert len(chaos.kills) == kills
        check(ledger, items, chaos)
    finally:
        code = await asyncio.to_thread(server.stop)
    assert code == 0, server.logs()[-4000:]


@pytest.mark.parametrize("kills", [1, 2])
async def test_sigkill_during_creates_sqlite(tmp_path: Path, kills: int) -> None:
    await crash_run(tmp_path, kills=kills)


@pytest.mark.parametrize("kills", [1, 2])
async def test_sigkill_during_creates_etcd(tmp_path: Path, kills: int) -> None:
    # A fresh etcd per run: the keys under /registry are then only this run's.
    etcd = EtcdProcess(tmp_path / "etcd")
    await asyncio.to_thread(etcd.start)
    try:
        await crash_run(tmp_path, kills=kills, store_url=etcd.url)
    finally:
        await asyncio.to_thread(etcd.stop)
