"""Mixed load on the API server: many concurrent clients reading, writing and watching at once.

Issue 9 asks that 200 concurrent clients mixing reads, writes and watches for 60 s get no 5xx
and lose no update. This module is the load itself, shared by the test
(tests/load/test_mixed_load.py, which asserts) and the benchmark (bench/load.py, which only
reports): ``run_load(url, ...)`` drives a running API server and returns a ``LoadResult``.
tests/load/procs.py spreads the same clients over several processes (for the benchmark, so
that the load generator is not the bottleneck); ``Load`` takes the slice of worker and watcher
indices it runs and exposes its phases for that.

The objects are coordination.k8s.io Leases in ``default`` (this API has no ConfigMaps; a
Lease is the smallest writable object). Clients are asyncio tasks in one process, each with
its own aiohttp session (its own connection, as separate programs would have):

- **workers** loop over a weighted mix until the deadline: GET (one of their own Leases or a
  shared counter), LIST (a page of 100, or their own Leases by label, which must be exactly
  the ones they created and did not delete: read-your-writes), create, delete (their oldest
  own Lease; each keeps at most ``own_cap``), and **increment**: read-modify-write of one of
  the shared counters (an annotation on a counter Lease), PUT with the resourceVersion just
  read, retried from the read on 409 Conflict. Each success is counted client-side; at the
  end every counter must equal its count (no lost update, no double apply);
- **watchers** list the Leases, then watch from that resourceVersion (timeoutSeconds 10-20 s,
  so each re-watches from its last resourceVersion or bookmark several times a run). Since
  every counter write adds exactly one, each watcher must see every counter go up by exactly
  one per event (no event missed, repeated or out of order), and after the load stops it must
  reach the counters' final values. The delay from an increment's 200 to a watcher reading it
  is the watch delivery latency.

Every request's latency and status is recorded per verb. What counts as a failure (any 5xx,
a 429 since this API server never throttles, a transport error, a wrong status for the verb,
a stale own-list, a watch gap) is collected in ``LoadResult.problems``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
COUNT = "load.minikube8s.io/count"
VERBS = ("get", "list", "create", "update", "delete", "watch")
EXPECTED = {"get": {200}, "list": {200}, "create": {201}, "update": {200, 409},
            "delete": {200}, "watch": {200}}
"""The statuses each verb may answer in this load; anything else is a problem."""
MIX = (("get", 30), ("list", 10), ("create", 15), ("increment", 30), ("delete", 15))
Object = dict[str, Any]
ROOT = Path(__file__).resolve().parents[2]


def server_args() -> list[str]:
    """Flags for the API server under load: ``--role a`` with the scheduler and controllers
    off (the API alone), and the secure port off where this build has one (the load speaks
    plain HTTP on loopback, and test servers run side by side)."""
    args = ["--disable", "scheduler,controllers"]
    if "--secure-port" in (ROOT / "minikube8s" / "__main__.py").read_text():
        args += ["--secure-port", "0"]
    return args


@dataclass
class LoadConfig:
    clients: int = 200
    duration: float = 60.0
    watchers: int = 20
    """Of ``clients``, how many only watch."""
    counters: int = 32
    own_cap: int = 5
    settle: float = 15.0
    """After the deadline: how long the watchers may take to reach the final counts."""
    seed: int = 9


@dataclass
class LoadResult:
    config: LoadConfig
    elapsed: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    increments: Counter[str] = field(default_factory=Counter)
    final: dict[str, int] = field(default_factory=dict)
    conflicts: int = 0
    watch_events: int = 0
    watch_restarts: int = 0
    delivery: list[float] = field(default_factory=list)
    writes: dict[tuple[str, int], float] = field(default_factory=dict)
    """(counter, value) -> when its PUT's 200 reached the writer (time.monotonic, which is
    one clock for every process on Linux): the start of its delivery latency."""
    sightings: list[tuple[str, int, float]] = field(default_factory=list)
    """(counter, value, when a watcher read it); ``delivery`` is computed from both at the
    end, so writer and watcher may be in different processes."""
    client_cpu: float = 0.0
    """CPU seconds the load's process(es) used during the run."""
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < 200:  # enough to diagnose, bounded under a storm
            self.problems.append(text)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def compute_delivery(self) -> None:
        """Delivery latency of every sighting whose write's answer was seen (0 when the
        watcher read it before the writer had its 200)."""
        self.delivery = [max(0.0, t - self.writes[(name, value)])
                         for name, value, t in self.sightings if (name, value) in self.writes]

    def server_errors(self) -> Counter[tuple[str, int]]:
        return Counter({k: n for k, n in self.statuses.items() if k[1] >= 500 or k[1] == 429})

    def lost_updates(self) -> dict[str, tuple[int, int]]:
        """counter -> (successful increments, stored value) where they differ."""
        return {name: (self.increments[name], value) for name, value in self.final.items()
                if self.increments[name] != value}

    def summary(self) -> list[tuple[str, int, float, float, float]]:
        """(verb, count, p50 ms, p99 ms, max ms) per verb that ran, then watch delivery."""
        rows = []
        for verb in VERBS:
            xs = self.latencies.get(verb) or []
            if xs:
                rows.append((verb, len(xs), percentile(xs, 50) * 1e3,
                             percentile(xs, 99) * 1e3, max(xs) * 1e3))
        if self.delivery:
            rows.append(("watch delivery", len(self.delivery),
                         percentile(self.delivery, 50) * 1e3,
                         percentile(self.delivery, 99) * 1e3, max(self.delivery) * 1e3))
        return rows

    def report(self) -> str:
        c = self.config
        lines = [f"{c.clients} clients ({c.clients - c.watchers} workers, {c.watchers} "
                 f"watchers) for {c.duration:.0f} s: {self.requests} requests in "
                 f"{self.elapsed:.1f} s ({self.requests / max(self.elapsed, 1e-9):.0f}/s), "
                 f"{sum(self.increments.values())} increments, {self.conflicts} conflicts "
                 f"retried, {self.watch_events} watch events, {self.watch_restarts} re-watches",
                 f"{'verb':<15} {'count':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"]
        for verb, n, p50, p99, top in self.summary():
            lines.append(f"{verb:<15} {n:>7} {p50:>8.1f} {p99:>8.1f} {top:>8.1f}")
        status = ", ".join(f"{v} {s}: {n}" for (v, s), n in sorted(self.statuses.items()))
        lines.append(f"statuses: {status}")
        return "\n".join(lines)


def percentile(xs: Iterable[float], q: float) -> float:
    s = sorted(xs)
    if not s:
        return 0.0
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s)) - 1))]


def lease(name: str, *, labels: dict[str, str] | None = None, count: int | None = None) -> Object:
    md: Object = {"name": name, "namespace": "default"}
    if labels:
        md["labels"] = labels
    if count is not None:
        md["annotations"] = {COUNT: str(count)}
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md,
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 30}}


def count_of(obj: Object) -> int:
    return int(((obj.get("metadata") or {}).get("annotations") or {}).get(COUNT) or 0)


class Load:
    """One run: the shared state of the clients (see the module docstring)."""

    def __init__(self, url: str, config: LoadConfig, *, workers: range | None = None,
                 watchers: range | None = None) -> None:
        self.url = url.rstrip("/")
        self.cfg = config
        self.res = LoadResult(config)
        self.counters = [f"counter-{i}" for i in range(config.counters)]
        # Indices are global (they name a worker's Leases and seed its random choices), so
        # slices run in several processes make up exactly the one-process load.
        self.worker_ids = workers if workers is not None \
            else range(config.clients - config.watchers)
        self.watcher_ids = watchers if watchers is not None else range(config.watchers)
        self.deadline = 0.0
        self.workers: list[asyncio.Task[None]] = []
        self.watchers: list[asyncio.Task[None]] = []
        self.seen: list[dict[str, int]] = []
        self.all_caught_up = asyncio.Event()
        self.timeout = aiohttp.ClientTimeout(total=30)

    async def request(self, http: aiohttp.ClientSession, verb: str, method: str, path: str,
                      body: Object | None = None) -> tuple[int, Object]:
        t0 = time.monotonic()
        try:
            async with http.request(method, self.url + path, json=body,
                                    timeout=self.timeout) as resp:
                data = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as e:
            self.res.problem(f"{verb} {method} {path}: transport error {e!r}")
            self.res.statuses[(verb, 0)] += 1
            return 0, {}
        self.res.latencies[verb].append(time.monotonic() - t0)
        self.res.statuses[(verb, status)] += 1
        if status not in EXPECTED[verb]:
            self.res.problem(f"{verb} {method} {path}: {status} {data[:300]!r}")
        try:
            return status, json.loads(data) if data else {}
        except ValueError:
            self.res.problem(f"{verb} {method} {path}: {status}, not JSON: {data[:200]!r}")
            return status, {}

    # -- the counters -------------------------------------------------------------------------

    async def setup(self) -> None:
        async with aiohttp.ClientSession() as http:
            for name in self.counters:
                status, body = await self.request(http, "create", "POST", LEASES,
                                                  lease(name, labels={"load": "counter"},
                                                        count=0))
                if status != 201:
                    raise RuntimeError(f"cannot create counter {name}: {status} {body}")

    async def increment(self, http: aiohttp.ClientSession, rng: random.Random) -> None:
        name = rng.choice(self.counters)
        while time.monotonic() < self.deadline + 10:  # a started increment finishes
            status, obj = await self.request(http, "get", "GET", f"{LEASES}/{name}")
            if status != 200:
                return
            value = count_of(obj) + 1
            obj["metadata"].setdefault("annotations", {})[COUNT] = str(value)
            status, out = await self.request(http, "update", "PUT", f"{LEASES}/{name}", obj)
            if status == 200:
                self.res.writes[(name, value)] = time.monotonic()
                self.res.increments[name] += 1
                if count_of(out) != value:
                    self.res.problem(f"PUT {name} to {value} answered {count_of(out)}")
                return
            if status != 409:
                return
            self.res.conflicts += 1

    # -- clients ------------------------------------------------------------------------------

    async def worker(self, index: int) -> None:
        rng = random.Random(self.cfg.seed * 100_003 + index)
        ops = [op for op, _ in MIX]
        weights = [w for _, w in MIX]
        own: list[str] = []
        seq = 0
        label = f"w{index}"
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < self.deadline:
                op = rng.choices(ops, weights)[0]
                if op == "create" and len(own) >= self.cfg.own_cap:
                    op = "delete"
                if op == "delete" and not own:
                    op = "create"
                if op == "get":
                    target = rng.choice(own) if own and rng.random() < 0.5 \
                        else rng.choice(self.counters)
                    await self.request(http, "get", "GET", f"{LEASES}/{target}")
                elif op == "list":
                    if rng.random() < 0.5:
                        await self.request(http, "list", "GET", f"{LEASES}?limit=100")
                    else:
                        status, body = await self.request(
                            http, "list", "GET", f"{LEASES}?labelSelector=owner%3D{label}")
                        names = sorted(i["metadata"]["name"] for i in body.get("items") or [])
                        if status == 200 and names != sorted(own):
                            self.res.problem(f"{label}: list of own Leases {names}, "
                                             f"expected {sorted(own)}")
                elif op == "create":
                    seq += 1
                    name = f"{label}-{seq}"
                    status, _ = await self.request(http, "create", "POST", LEASES,
                                                   lease(name, labels={"owner": label}))
                    if status == 201:
                        own.append(name)
                elif op == "delete":
                    name = own.pop(0)
                    await self.request(http, "delete", "DELETE", f"{LEASES}/{name}")
                else:
                    await self.increment(http, rng)

    async def watcher(self, index: int) -> None:
        rng = random.Random(self.cfg.seed * 7_919 + index)
        seen: dict[str, int] = {}
        self.seen.append(seen)
        final_by = self.deadline + self.cfg.settle
        async with aiohttp.ClientSession() as http:
            status, body = await self.request(http, "list", "GET", LEASES)
            if status != 200:
                return
            for item in body.get("items") or []:
                if item["metadata"]["name"] in self.counters:
                    seen[item["metadata"]["name"]] = count_of(item)
            rv = str(body["metadata"]["resourceVersion"])
            while time.monotonic() < final_by and not self._caught_up(seen):
                rv = await self._watch_once(http, rng, rv, seen, final_by)
                if not rv:
                    return
                self.res.watch_restarts += 1

    def _check_caught_up(self) -> None:
        if len(self.seen) == len(self.watcher_ids) and all(self._caught_up(s) for s in self.seen):
            self.all_caught_up.set()

    def _caught_up(self, seen: dict[str, int]) -> bool:
        return time.monotonic() >= self.deadline and bool(self.res.final) and all(
            seen.get(n) == v for n, v in self.res.final.items())

    async def _watch_once(self, http: aiohttp.ClientSession, rng: random.Random, rv: str,
                          seen: dict[str, int], final_by: float) -> str:
        """One watch from ``rv``; returns the resourceVersion to go on from ('' to stop)."""
        path = (f"{LEASES}?watch=true&allowWatchBookmarks=true&resourceVersion={rv}"
                f"&timeoutSeconds={rng.randint(10, 20)}")
        t0 = time.monotonic()
        try:
            async with http.get(self.url + path, timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=30, sock_read=40)) as resp:
                self.res.latencies["watch"].append(time.monotonic() - t0)
                self.res.statuses[("watch", resp.status)] += 1
                if resp.status != 200:
                    self.res.problem(f"watch from {rv}: {resp.status} "
                                     f"{(await resp.read())[:300]!r}")
                    return ""
                async for line in resp.content:
                    if not line.strip():
                        continue
                    ev = json.loads(line)
                    obj = ev.get("object") or {}
                    if ev.get("type") == "ERROR":
                        self.res.problem(f"watch from {rv}: ERROR event {obj}")
                        return ""
                    rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
                    if ev.get("type") == "BOOKMARK":
                        continue
                    self.res.watch_events += 1
                    self._saw(obj, seen)
                    if self._caught_up(seen) or time.monotonic() >= final_by:
                        return ""
        except (TimeoutError, aiohttp.ClientError) as e:
            self.res.problem(f"watch from {rv}: transport error {e!r}")
            self.res.statuses[("watch", 0)] += 1
            return ""
        return rv

    def _saw(self, obj: Object, seen: dict[str, int]) -> None:
        name = str((obj.get("metadata") or {}).get("name"))
        if name not in self.counters:
            return
        value = count_of(obj)
        before = seen.get(name)
        if before is not None and value != before + 1:
            self.res.problem(f"watcher saw {name} go {before} -> {value}")
        seen[name] = value
        self.res.sightings.append((name, value, time.monotonic()))
        if self.res.final:
            self._check_caught_up()

    # -- the run ------------------------------------------------------------------------------

    async def run(self) -> LoadResult:
        """The whole load in this process: setup, clients, final counts, checks."""
        await self.setup()
        cpu0 = time.process_time()
        t0 = time.monotonic()
        self.start(t0 + self.cfg.duration)
        await self.workers_done()
        self.res.elapsed = time.monotonic() - t0
        self.res.final = await self.read_final()
        await self.settle()
        self.res.client_cpu = time.process_time() - cpu0
        self.res.compute_delivery()
        return self.res

    def start(self, deadline: float) -> None:
        """Start this load's clients; workers stop at ``deadline`` (time.monotonic)."""
        self.deadline = deadline
        self.workers = [asyncio.create_task(self.worker(i), name=f"load worker {i}")
                        for i in self.worker_ids]
        self.watchers = [asyncio.create_task(self.watcher(i), name=f"load watcher {i}")
                         for i in self.watcher_ids]

    async def workers_done(self) -> None:
        await asyncio.gather(*self.workers)

    async def read_final(self) -> dict[str, int]:
        """The counters' stored values, once every worker (in every process) is done."""
        final = {}
        async with aiohttp.ClientSession() as http:
            for name in self.counters:
                status, obj = await self.request(http, "get", "GET", f"{LEASES}/{name}")
                if status == 200:
                    final[name] = count_of(obj)
        return final

    async def settle(self) -> None:
        """With ``res.final`` set: let the watchers reach it, stop them, note who is behind."""
        # A watcher that already saw the final values may sit in a quiet watch until its
        # timeout: stop them all once every one is caught up (or the settle time is over).
        self._check_caught_up()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.all_caught_up.wait(),
                                   max(0.0, self.deadline + self.cfg.settle - time.monotonic()))
        for w in self.watchers:
            w.cancel()
        await asyncio.gather(*self.watchers, return_exceptions=True)
        for i, seen in zip(self.watcher_ids, self.seen, strict=False):
            behind = {n: (seen.get(n), v) for n, v in self.res.final.items()
                      if seen.get(n) != v}
            if behind:
                self.res.problem(f"watcher {i} ended behind (seen, final): {behind}")


async def run_load(url: str, config: LoadConfig | None = None) -> LoadResult:
    """Drive the API server at ``url`` with the mixed load and return what happened."""
    return await Load(url, config or LoadConfig()).run()
