"""Scale benchmark: 100 hollow nodes, 3,000 pods through 30 RCs (``make bench``).

Issue 4's benchmark, Kubernetes' 2015 density test in small: a real control plane
(``minikube8s --role a``: API server, scheduler, controller manager) and one
``minikube8s hollow-nodes --count 100`` process, all subprocesses on 127.0.0.1, then 30
ReplicationControllers of 100 replicas created at once. Measured, per store, side by side in
one run (the embedded SQLite store, then a real etcd started on free loopback ports with
tests/fixtures/etcd.py's EtcdProcess and ``--store etcd://...``):

- **pods/s end to end**: 3,000 / (time from the first RC POST to the moment the 3,000th pod is
  seen Running), with the times at which all pods were first seen created and scheduled;
- **pod startup latency** p50/p99, seen through ONE watch on the pods (from the list's
  resourceVersion, opened before the RCs): for each pod, the time its Running status is first
  seen minus the time its ADDED event was seen, both on this process's monotonic clock. That is
  "creation to Running" as a watcher sees it, with both ends delayed by the same watch. The
  server's creationTimestamp has 1 s resolution, so the figure from it (Running seen, wall
  clock, minus creationTimestamp) is printed beside it but is ±0.5 s;
- **API latency**: p99 from the server's own ``apiserver_request_duration_seconds``
  histogram (/metrics, before minus after the run: every timed request of every component,
  interpolated inside Kubernetes' buckets, so coarse above 25 ms), plus a client-side probe
  (one GET of a node every 50 ms during the run, timed here);
- **RSS** (VmRSS at the end, VmHWM peak) and CPU seconds of each process.

Each store runs twice (``--transports http,https``): the hollow nodes on the control plane's
insecure port (``--server http://...``: one shared client, no TLS, no authentication), then
joined to its HTTPS port (``--server https://... --token K10...``: every node joins under its
own name and talks through its own TLS client with its node token, so every node request pays
TLS, token authentication, the Node authorizer and NodeRestriction). "Nodes Ready" then
includes the 100 joins. The benchmark's own client (RC POSTs, the watch, the probe) and the
control plane's scheduler and controllers stay on the loopback insecure port in both, so the
difference is the nodes' path alone; a second table gives https / http per store.

Anchors: Kubernetes' 2015 goal was p99 pod startup < 5 s with 100 nodes and 3,000 pods
(kubernetes.io/blog/2015/09/kubernetes-performance-measurements-and); kube-scheduler's
published throughput is 100-330 pods/s. Targets here: >= 300 pods/s end to end, p99 startup
<= 2 s. This is a report, never a pass/fail; results go to docs/benchmarks.md by hand.

``--profile DIR`` also runs py-spy on the control plane and the hollow-nodes process during
the pod phase and prints the top functions by own samples (file:function, %).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime
import importlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
NAMESPACE = "bench"


def rc(name: str, replicas: int) -> dict[str, Any]:
    """An RC of small, realistic pods: one container with a port and requests."""
    return {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"rc": name},
                 "template": {"metadata": {"labels": {"rc": name, "app": "bench"}},
                              "spec": {"containers": [{
                                  "name": "nginx", "image": "nginx:1.25",
                                  "ports": [{"containerPort": 80}],
                                  "resources": {"requests": {"cpu": "100m",
                                                             "memory": "64Mi"}}}]}}},
    }


def latency_pod(name: str) -> dict[str, Any]:
    """One pod like the RCs' (created alone, the way Kubernetes' density test measures
    startup latency on a saturated cluster)."""
    template = rc(name, 1)["spec"]["template"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench-latency"}},
            "spec": template["spec"]}


def percentile(samples: list[float], q: float) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=1000, method="inclusive")[round(q * 10) - 1]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM in KiB (zeros once the process is gone)."""
    out = {"VmRSS": 0, "VmHWM": 0}
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in out:
                out[key] = int(rest.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    return float("nan")


# -- the server's latency histogram ------------------------------------------------------------

_BUCKET = re.compile(
    r'^apiserver_request_duration_seconds_bucket\{(?P<labels>[^}]*)\} (?P<value>\S+)$', re.M)


def histogram(text: str) -> dict[tuple[str, str], dict[float, float]]:
    """(verb, resource) -> {le: cumulative count} from a /metrics page."""
    out: dict[tuple[str, str], dict[float, float]] = collections.defaultdict(dict)
    for m in _BUCKET.finditer(text):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group("labels")))
        out[labels.get("verb", ""), labels.get("resource", "")][float(labels["le"])] = float(
            m.group("value"))
    return out


def diff_histograms(before: dict[tuple[str, str], dict[float, float]],
                    after: dict[tuple[str, str], dict[float, float]]
                    ) -> dict[tuple[str, str], dict[float, float]]:
    out = {}
    for key, buckets in after.items():
        old = before.get(key, {})
        out[key] = {le: n - old.get(le, 0.0) for le, n in buckets.items()}
    return out


def merged(hists: list[dict[float, float]]) -> dict[float, float]:
    total: dict[float, float] = collections.defaultdict(float)
    for h in hists:
        for le, n in h.items():
            total[le] += n
    return dict(total)


def hist_quantile(buckets: dict[float, float], q: float) -> float:
    """Prometheus' histogram_quantile: linear interpolation inside the bucket."""
    les = sorted(buckets)
    count = buckets.get(float("inf"), 0.0)
    if count <= 0:
        return float("nan")
    rank = q * count
    prev_le, prev_n = 0.0, 0.0
    for le in les:
        n = buckets[le]
        if n >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * (rank - prev_n) / max(n - prev_n, 1e-9)
        prev_le, prev_n = le, n
    return les[-2] if len(les) > 1 else float("nan")


# -- one store's run ---------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    pid: int
    cpu0: float = 0.0
    cpu: float = float("nan")
    rss_kib: int = 0
    hwm_kib: int = 0


@dataclass
class StoreResult:
    store: str
    transport: str = "http"
    pods: int = 0
    nodes_ready_s: float = float("nan")
    created_s: float = float("nan")
    scheduled_s: float = float("nan")
    running_s: float = float("nan")
    running: int = 0
    startup: list[float] = field(default_factory=list)
    startup_ts: list[float] = field(default_factory=list)
    latency_startup: list[float] = field(default_factory=list)
    bench_cpu: float = float("nan")
    probe_ms: list[float] = field(default_factory=list)
    probe_errors: int = 0
    api_p99: dict[str, tuple[float, float, float]] = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)
    profile: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def pods_per_s(self) -> float:
        return self.running / self.running_s if self.running_s == self.running_s else 0.0

    @property
    def label(self) -> str:
        return f"{self.store} {self.transport}"

    def proc(self, name: str) -> Proc | None:
        return next((p for p in self.procs if p.name == name), None)


class Group:
    """When each pod of one group was first seen added, bound and Running (monotonic), and
    the creationTimestamp-based startup times (against the wall clock)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.added: dict[str, float] = {}
        self.bound: dict[str, float] = {}
        self.running: dict[str, float] = {}
        self.startup_ts: list[float] = []
        self.all_running = asyncio.Event()
        self.t_added = self.t_bound = self.t_running = float("nan")

    def feed(self, obj: dict[str, Any], md: dict[str, Any], name: str, now: float) -> None:
        if name not in self.added:
            self.added[name] = now
            if len(self.added) == self.total:
                self.t_added = now
        if name not in self.bound and (obj.get("spec") or {}).get("nodeName"):
            self.bound[name] = now
            if len(self.bound) == self.total:
                self.t_bound = now
        if (name not in self.running and (obj.get("status") or {}).get("phase") == "Running"
                and not md.get("deletionTimestamp")):
            self.running[name] = now
            created = md.get("creationTimestamp")
            if created:
                ts = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
                self.startup_ts.append(time.time() - ts.timestamp())
            if len(self.running) == self.total:
                self.t_running = now
                self.all_running.set()

    def startup(self) -> list[float]:
        return [self.running[n] - self.added[n] for n in self.running]


class Watcher:
    """One watch on the bench namespace's pods, feeding the RC pods' Group and the latency
    pods' Group (names ``lat-*``)."""

    def __init__(self, *, rc_pods: int, latency_pods: int) -> None:
        self.rc = Group(rc_pods)
        self.lat = Group(latency_pods)

    def feed(self, ev: dict[str, Any], now: float) -> None:
        obj = ev.get("object") or {}
        md = obj.get("metadata") or {}
        name = md.get("name")
        if not name or ev.get("type") not in ("ADDED", "MODIFIED"):
            return
        (self.lat if name.startswith("lat-") else self.rc).feed(obj, md, name, now)

    async def run(self, session: aiohttp.ClientSession, url: str, rv: str) -> None:
        params = {"watch": "true", "resourceVersion": rv, "allowWatchBookmarks": "true"}
        async with session.get(f"{url}/api/v1/namespaces/{NAMESPACE}/pods", params=params,
                               timeout=aiohttp.ClientTimeout(total=None)) as resp:
            resp.raise_for_status()
            buf = b""
            async for chunk in resp.content.iter_any():
                now = time.monotonic()
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.strip():
                        self.feed(json.loads(line), now)


async def probe(session: aiohttp.ClientSession, url: str, res: StoreResult,
                stop: asyncio.Event, every: float) -> None:
    while not stop.is_set():
        t0 = time.monotonic()
        try:
            async with session.get(url) as r:
                await r.read()
                ok = r.status == 200
        except aiohttp.ClientError:
            ok = False
        if ok:
            res.probe_ms.append((time.monotonic() - t0) * 1000)
        else:
            res.probe_errors += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    async with session.get(url) as r:
        r.raise_for_status()
        return await r.json(content_type=None)


async def wait_nodes(session: aiohttp.ClientSession, url: str, n: int, within: float) -> None:
    deadline = time.monotonic() + within
    ready = 0
    while time.monotonic() < deadline:
        with contextlib.suppress(aiohttp.ClientError):
            items = (await get_json(session, f"{url}/api/v1/nodes"))["items"] or []
            ready = sum(1 for i in items for c in (i.get("status") or {}).get("conditions") or []
                        if c.get("type") == "Ready" and c.get("status") == "True")
            if ready >= n:
                return
        await asyncio.sleep(0.25)
    raise RuntimeError(f"only {ready} of {n} nodes Ready after {within:g} s")


def start_profilers(out: Path, procs: list[Proc], duration: float) -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    started = []
    for p in procs:
        if p.name == "etcd":
            continue
        started.append(subprocess.Popen(
            [spy, "record", "--pid", str(p.pid), "--duration", str(int(duration)),
             "--rate", "100", "--format", "raw", "--nonblocking",
             "--output", str(out / f"{p.name}.txt")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return started


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def top_functions(raw: Path, n: int) -> list[tuple[str, float]]:
    """Own samples per file:function from py-spy's collapsed stacks, as % of all samples."""
    own: collections.Counter[str] = collections.Counter()
    total = 0
    with contextlib.suppress(OSError):
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            leaf = stack.split(";")[-1]
            m = _FRAME.match(leaf)
            where = leaf
            if m:
                f = m.group("file")
                for marker in ("site-packages/", "lib/python3.11/", str(ROOT) + "/"):
                    if marker in f:
                        f = f.split(marker, 1)[1]
                where = f"{f}:{m.group('func')}"
            own[where] += int(count)
            total += int(count)
    return [(k, 100.0 * v / total) for k, v in own.most_common(n)] if total else []


def spawn_hollow_nodes(url: str, count: int, log_path: Path,
                       *join_args: str) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "minikube8s", "hollow-nodes", "--count", str(count),
             "--server", url, *join_args],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})


async def run_store(store: str, transport: str, tmp: Path,
                    args: argparse.Namespace) -> StoreResult:
    sys.path.insert(0, str(ROOT))
    api_fx = importlib.import_module("tests.fixtures.apiserver")
    etcd_fx = importlib.import_module("tests.fixtures.etcd")
    res = StoreResult(store=store, transport=transport, pods=args.rcs * args.replicas)
    base = tmp / f"{store}-{transport}"
    base.mkdir()
    etcd = None
    extra: list[str] = list(args.server_args.split())
    if store == "etcd":
        etcd = etcd_fx.EtcdProcess(base / "etcd")
        etcd.start()
        extra += ["--store", etcd.url]
    control = api_fx.ApiServerProcess(base / "control", *extra)
    hollow: subprocess.Popen[bytes] | None = None
    hollow_log = base / "hollow.log"
    try:
        print(f"[{res.label}] starting the control plane ...", file=sys.stderr, flush=True)
        control.start()
        t_nodes = time.monotonic()
        if transport == "https":
            hollow = spawn_hollow_nodes(control.secure_url, args.nodes, hollow_log,
                                        "--token", control.join_token,
                                        "--data-dir", str(base / "hollow-nodes"))
        else:
            hollow = spawn_hollow_nodes(control.url, args.nodes, hollow_log)
        res.procs = [Proc("control-plane", control.proc.pid), Proc("hollow-nodes", hollow.pid)]
        if etcd is not None and etcd.proc is not None:
            res.procs.append(Proc("etcd", etcd.proc.pid))
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            print(f"[{res.label}] waiting for {args.nodes} Ready nodes ...", file=sys.stderr,
                  flush=True)
            await wait_nodes(session, control.url, args.nodes, within=args.timeout)
            res.nodes_ready_s = time.monotonic() - t_nodes
            async with session.post(f"{control.url}/api/v1/namespaces", json={
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": NAMESPACE}}) as r:
                r.raise_for_status()
            rv = (await get_json(session, f"{control.url}/api/v1/namespaces/{NAMESPACE}/pods")
                  )["metadata"]["resourceVersion"]
            before = histogram(await (await session.get(f"{control.url}/metrics")).text())
            watcher = Watcher(rc_pods=res.pods, latency_pods=args.latency_pods)
            watch_task = asyncio.create_task(watcher.run(session, control.url, rv))
            stop_probe = asyncio.Event()
            probe_task = asyncio.create_task(probe(
                session, f"{control.url}/api/v1/nodes/hollow-0", res, stop_probe, 0.05))
            for p in res.procs:
                p.cpu0 = cpu_seconds(p.pid)
            self_cpu0 = time.process_time()
            profilers = []
            if args.profile:
                out = Path(args.profile) / f"{store}-{transport}"
                out.mkdir(parents=True, exist_ok=True)
                profilers = start_profilers(out, res.procs, args.profile_seconds)

            print(f"[{res.label}] creating {args.rcs} RCs of {args.replicas} ...",
                  file=sys.stderr, flush=True)
            t0 = time.monotonic()
            posts = [session.post(f"{control.url}/api/v1/namespaces/{NAMESPACE}/"
                                  "replicationcontrollers", json=rc(f"rc-{i:02d}", args.replicas))
                     for i in range(args.rcs)]
            for r in await asyncio.gather(*posts):
                r.raise_for_status()
                r.release()
            group = watcher.rc
            if not await wait_group(group, watch_task, args.timeout, res, "RC"):
                res.running_s = time.monotonic() - t0
            else:
                res.running_s = group.t_running - t0
            stop_probe.set()
            await probe_task
            res.created_s = group.t_added - t0
            res.scheduled_s = group.t_bound - t0
            res.running = len(group.running)
            res.startup = group.startup()
            res.startup_ts = group.startup_ts
            res.bench_cpu = time.process_time() - self_cpu0
            for p in res.procs:
                p.cpu = cpu_seconds(p.pid) - p.cpu0
                st = proc_status(p.pid)
                p.rss_kib, p.hwm_kib = st["VmRSS"], st["VmHWM"]
            after = histogram(await (await session.get(f"{control.url}/metrics")).text())
            delta = diff_histograms(before, after)
            res.api_p99["all (excl. watch)"] = summary(merged(list(delta.values())))
            for key, h in sorted(delta.items(), key=lambda kv: -kv[1].get(float("inf"), 0))[:6]:
                res.api_p99[f"{key[0]} {key[1]}"] = summary(h)

            if args.latency_pods and not watch_task.done():
                print(f"[{res.label}] {args.latency_pods} latency pods at "
                      f"{args.latency_rate:g}/s "
                      "...", file=sys.stderr, flush=True)
                for i in range(args.latency_pods):
                    async with session.post(
                            f"{control.url}/api/v1/namespaces/{NAMESPACE}/pods",
                            json=latency_pod(f"lat-{i:03d}")) as r:
                        r.raise_for_status()
                    await asyncio.sleep(1.0 / args.latency_rate)
                await wait_group(watcher.lat, watch_task, 30.0, res, "latency")
                res.latency_startup = watcher.lat.startup()
            watch_task.cancel()
            with contextlib.suppress(BaseException):
                await watch_task
            for prof in profilers:
                await asyncio.to_thread(prof.wait)
            if args.profile:
                for p in res.procs:
                    raw = Path(args.profile) / f"{store}-{transport}" / f"{p.name}.txt"
                    if raw.exists():
                        res.profile[p.name] = top_functions(raw, args.profile_top)
    finally:
        if hollow is not None and hollow.poll() is None:
            hollow.terminate()
            try:
                hollow.wait(30)
            except subprocess.TimeoutExpired:
                hollow.kill()
                hollow.wait()
        if hollow is not None and hollow.returncode not in (0, None):
            res.notes.append(f"hollow-nodes exited with {hollow.returncode}: "
                             + hollow_log.read_text(errors="replace")[-1500:])
        code = control.stop(timeout=30)
        if code != 0:
            res.notes.append(f"the control plane exited with {code}: "
                             + control.logs()[-1500:])
        if etcd is not None:
            etcd.stop()
    return res


async def wait_group(group: Group, watch_task: asyncio.Task[None], within: float,
                     res: StoreResult, what: str) -> bool:
    """Until every pod of ``group`` was seen Running; False (with a note) when not in time."""
    done = asyncio.create_task(group.all_running.wait())
    await asyncio.wait([done, watch_task], timeout=within, return_when=asyncio.FIRST_COMPLETED)
    done.cancel()
    if watch_task.done() and not watch_task.cancelled() and watch_task.exception() is not None:
        res.notes.append(f"the watch failed: {watch_task.exception()!r}")
    if not group.all_running.is_set():
        res.notes.append(f"only {len(group.running)} of {group.total} {what} pods Running "
                         f"after {within:g} s")
        return False
    return True


def summary(h: dict[float, float]) -> tuple[float, float, float]:
    """(requests, p50 ms, p99 ms) of one histogram."""
    return (h.get(float("inf"), 0.0), hist_quantile(h, 0.50) * 1000,
            hist_quantile(h, 0.99) * 1000)


# -- the report --------------------------------------------------------------------------------


def report(results: list[StoreResult], *, args: argparse.Namespace, elapsed: float,
           load: tuple[float, float]) -> str:
    names = [r.label for r in results]
    lines = ["| metric | " + " | ".join(names) + " | target / anchor |",
             "|---|" + "---|" * len(names) + "---|"]

    def row(metric: str, values: list[str], target: str = "") -> None:
        lines.append(f"| {metric} | " + " | ".join(values) + f" | {target} |")

    row("pods Running / asked", [f"{r.running} / {r.pods}" for r in results])
    row(f"{args.nodes} nodes Ready after (s)", [f"{r.nodes_ready_s:.1f}" for r in results])
    row("all pods created (s after the first RC POST)", [f"{r.created_s:.1f}" for r in results])
    row("all pods scheduled (s)", [f"{r.scheduled_s:.1f}" for r in results])
    row("all pods Running (s)", [f"{r.running_s:.1f}" for r in results])
    row("**pods/s end to end**", [f"**{r.pods_per_s:.0f}**" for r in results],
        ">= 300 (kube-scheduler alone: 100-330)")
    row("**startup p50 / p99 (s)**, watch ADDED -> Running",
        [f"**{percentile(r.startup, 50):.2f} / {percentile(r.startup, 99):.2f}**"
         for r in results], "p99 <= 2 (Kubernetes 2015: p99 < 5)")
    row("startup p50 / p99 (s) from creationTimestamp (1 s resolution)",
        [f"{percentile(r.startup_ts, 50):.2f} / {percentile(r.startup_ts, 99):.2f}"
         for r in results], "±0.5 s")
    row("startup p50 / p99 (s), pods created one at a time after the burst",
        [f"{percentile(r.latency_startup, 50):.2f} / {percentile(r.latency_startup, 99):.2f}"
         f" ({len(r.latency_startup)} pods)" for r in results],
        "how Kubernetes' density test measured its p99 < 5 s")
    keys = list(dict.fromkeys(k for r in results for k in r.api_p99))
    for k in keys:
        vals = []
        for r in results:
            n, p50, p99 = r.api_p99.get(k, (0.0, float("nan"), float("nan")))
            vals.append(f"{n:.0f} req, {p50:.1f} / {p99:.1f}")
        row(f"API p50 / p99 ms (server histogram): {k}", vals,
            "Kubernetes SLO: p99 <= 1 s" if k.startswith("all") else "")
    row("API probe GET node p50 / p99 ms (client)",
        [f"{percentile(r.probe_ms, 50):.1f} / {percentile(r.probe_ms, 99):.1f}"
         + (f" ({r.probe_errors} errors)" if r.probe_errors else "") for r in results])
    procs = list(dict.fromkeys(p.name for r in results for p in r.procs))
    for pname in procs:
        vals = []
        for r in results:
            p = next((x for x in r.procs if x.name == pname), None)
            vals.append("-" if p is None else
                        f"{p.rss_kib / 1024:.0f} MiB (peak {p.hwm_kib / 1024:.0f}), "
                        f"{p.cpu:.1f} CPU s")
        row(f"{pname}: RSS at the end, CPU during the pod phase", vals)
    row("this benchmark's own CPU during the pod phase (watch, probe)",
        [f"{r.bench_cpu:.1f} CPU s" for r in results])
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines.append(
        f"\n{when}; python {platform.python_version()} on {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs; load average {load[0]:.1f} before, "
        f"{load[1]:.1f} after; {args.nodes} nodes, {args.rcs} RCs x {args.replicas} replicas; "
        f"run took {elapsed:.0f} s.")
    for r in results:
        lines += [f"note ({r.label}): {n}" for n in r.notes]
        for pname, top in r.profile.items():
            lines.append(f"\nprofile ({r.label}, {pname}, own samples):")
            lines += [f"  {pct:5.1f} %  {where}" for where, pct in top]
    ratios = ratio_table(results)
    if ratios:
        lines += ["", *ratios]
    return "\n".join(lines)


def _ratio(secure: float, plain: float) -> str:
    if not (secure == secure and plain == plain) or plain == 0:  # NaN or nothing to divide
        return "-"
    return f"{secure / plain:.2f}"


def ratio_table(results: list[StoreResult]) -> list[str]:
    """https / http per store, for the figures the nodes' transport can move (> 1: more
    time, CPU or memory with TLS and node tokens; < 1 for pods/s: fewer)."""
    pairs = []
    for store in dict.fromkeys(r.store for r in results):
        by = {r.transport: r for r in results if r.store == store}
        if "http" in by and "https" in by:
            pairs.append((store, by["http"], by["https"]))
    if not pairs:
        return []
    lines = ["| https / http | " + " | ".join(s for s, _, _ in pairs) + " |",
             "|---|" + "---|" * len(pairs)]

    def row(metric: str, pick: Any) -> None:
        lines.append(f"| {metric} | "
                     + " | ".join(_ratio(pick(sec), pick(plain)) for _, plain, sec in pairs)
                     + " |")

    def proc(name: str, what: str) -> Any:
        def pick(r: StoreResult) -> float:
            p = r.proc(name)
            if p is None:
                return float("nan")
            return p.cpu if what == "cpu" else float(p.rss_kib)
        return pick

    row("nodes Ready after (joins included)", lambda r: r.nodes_ready_s)
    row("all pods Running (s)", lambda r: r.running_s)
    row("pods/s end to end", lambda r: r.pods_per_s)
    row("startup p50", lambda r: percentile(r.startup, 50))
    row("startup p99", lambda r: percentile(r.startup, 99))
    row("startup p99, pods one at a time", lambda r: percentile(r.latency_startup, 99))
    row("API p99, server histogram, all",
        lambda r: r.api_p99.get("all (excl. watch)", (0.0, float("nan"), float("nan")))[2])
    row("API probe p99 (client)", lambda r: percentile(r.probe_ms, 99))
    row("control plane CPU", proc("control-plane", "cpu"))
    row("control plane RSS", proc("control-plane", "rss"))
    row("hollow-nodes CPU", proc("hollow-nodes", "cpu"))
    row("hollow-nodes RSS", proc("hollow-nodes", "rss"))
    return lines


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    load0 = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory(prefix="minikube8s-scale-") as tmp:
        for store in args.stores.split(","):
            for transport in args.transports.split(","):
                try:
                    results.append(await run_store(store, transport, Path(tmp), args))
                except Exception as e:  # a report: say why a column is missing, keep the rest
                    r = StoreResult(store=store, transport=transport,
                                    pods=args.rcs * args.replicas)
                    r.notes.append(f"the run stopped early: {type(e).__name__}: {e}")
                    results.append(r)
    print(report(results, args=args, elapsed=time.monotonic() - started,
                 load=(load0, os.getloadavg()[0])))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--stores", default="sqlite,etcd", help="comma-separated: sqlite, etcd")
    p.add_argument("--transports", default="http,https",
                   help="comma-separated: http (hollow nodes on the insecure port), https "
                        "(each joined with the join token, its own node token over TLS)")
    p.add_argument("--nodes", type=int, default=100)
    p.add_argument("--rcs", type=int, default=30)
    p.add_argument("--replicas", type=int, default=100)
    p.add_argument("--timeout", type=float, default=90.0,
                   help="seconds allowed for the nodes, then again for the pods (per store)")
    p.add_argument("--latency-pods", type=int, default=100,
                   help="pods created one by one after the RCs' pods run (0: none)")
    p.add_argument("--latency-rate", type=float, default=10.0, help="latency pods per second")
    p.add_argument("--server-args", default="", help="extra minikube8s --role a flags")
    p.add_argument("--profile", default="", help="directory for py-spy profiles (optional)")
    p.add_argument("--profile-seconds", type=float, default=20.0)
    p.add_argument("--profile-top", type=int, default=15)
    args = p.parse_args(argv)
    unknown = set(args.transports.split(",")) - {"http", "https"}
    if unknown:
        p.error(f"--transports: unknown {', '.join(sorted(unknown))} (http, https)")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
