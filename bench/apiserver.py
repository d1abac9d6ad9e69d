"""API server benchmark: the real API server beside bare aiohttp (``make bench``).

Issue 3 asks four things of the API server on the embedded SQLite store, and this script
measures them in one run without judging (a report, never a pass/fail on time):

- requests/s for GET of one pod and LIST of 1,000 pods, beside a bare aiohttp handler that
  returns the very same bytes (the API server's own responses, saved once), so the ratio
  API/bare is the cost of the API machinery alone (target: GET >= 0.5 of bare);
- p99 create latency with 100 concurrent clients (target <= 50 ms; Kubernetes' SLO is 1 s);
- 1,000 concurrent HTTP watchers on the pods of one namespace, spread over a few client
  processes, all receiving the same new pod: delivery latency from the write's response to
  each watcher's receipt (target p99 <= 200 ms);
- RSS of the API server process when idle and with 10,000 pods stored.

Both servers are subprocesses on 127.0.0.1 (the API server started the way the test fixture
does it, tests/fixtures/apiserver.py), measured the same way: ``wrk`` (Debian's, installed by
scripts/system-deps.sh test) with a fixed duration, or an aiohttp client in this process when
wrk is missing. Clocks are time.monotonic (CLOCK_MONOTONIC, system-wide on Linux), so watcher
processes' receipt times compare with this process's write times. bench/store.py is the
store's benchmark; results of both are recorded in docs/benchmarks.md.

The API server runs alone by default (``apiserver``, an internal sub-command: the store and
``ApiServer`` exactly as ``run_node`` starts them, with the same logging, minus the scheduler
and controllers that ``--role a`` now also runs). ``--role-a`` benchmarks the whole
``minikube8s --role a`` instead: there the scheduler reacts to every created pod (no nodes:
a status patch and an event per pod), so its create and LIST figures measure the control plane.

Internal sub-commands (``apiserver``, ``bare``, ``watchers``) are the child processes this
script starts.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def pod(name: str) -> dict[str, Any]:
    """A small, realistic pod: one container with a port, requests and labels."""
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "bench", "tier": "web"}},
        "spec": {"containers": [{
            "name": "nginx", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
        }]},
    }


def percentile(samples: list[float], q: float) -> float:
    if len(samples) < 2:
        return samples[0] if samples else float("nan")
    return statistics.quantiles(samples, n=1000, method="inclusive")[round(q * 10) - 1]


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS/VmHWM of a process in KiB, from /proc/PID/status."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# -- child: the bare aiohttp server -----------------------------------------------------------


def bare_main(args: argparse.Namespace) -> int:
    """A bare aiohttp app serving fixed bytes: /get and /list, nothing else."""
    bodies = {"get": Path(args.get).read_bytes(), "list": Path(args.list).read_bytes()}

    def handler(body: bytes) -> Any:
        async def h(request: web.Request) -> web.Response:
            return web.Response(body=body, content_type="application/json")
        return h

    app = web.Application()
    for name, body in bodies.items():
        app.router.add_get(f"/{name}", handler(body))
    web.run_app(app, host=HOST, port=args.port, access_log=None, print=None,
                handle_signals=True)
    return 0


# -- child: the API server alone ----------------------------------------------------------------


def apiserver_main(args: argparse.Namespace) -> int:
    """The store and the API server as ``run_node`` starts them for the control plane, with
    ``minikube8s``'s own logging, and nothing else; stops on SIGTERM."""
    import logging
    import signal

    from minikube8s.config import NodeConfig, Role
    from minikube8s.roles.apiserver.server import ApiServer
    from minikube8s.store import open_store

    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        cfg = NodeConfig(role=Role.A, data_dir=Path(args.data_dir), insecure_port=args.port,
                         insecure_bind_address=HOST, secure_port=-1)
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        store = await open_store(cfg.store_url)
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
        api = ApiServer(cfg, store, ready=asyncio.Event())
        await api.start()
        try:
            await stop.wait()
        finally:
            await api.stop()
            await store.close()

    asyncio.run(serve())
    return 0


# -- child: a process of HTTP watchers --------------------------------------------------------


async def watchers_main(args: argparse.Namespace) -> int:
    """Opens ``--count`` watches, prints {"ready": n} once all have their response headers,
    then stamps each event's arrival and prints {"arrivals": {pod: [t, ...]}} when every
    watcher has seen ``--events`` events (or ``--timeout`` passes)."""
    url = (f"{args.url}/api/v1/namespaces/{args.namespace}/pods"
           f"?watch=true&resourceVersion={args.rv}")
    arrivals: dict[str, list[float]] = {}
    state = {"open": 0, "failed": 0}
    settled = asyncio.Event()
    connect_slots = asyncio.Semaphore(32)  # the server's listen backlog is 128

    def account(ok: bool) -> None:
        state["open" if ok else "failed"] += 1
        if state["open"] + state["failed"] == args.count:
            settled.set()

    async def watcher(session: aiohttp.ClientSession) -> None:
        resp = None
        async with connect_slots:
            for attempt in range(3):
                try:
                    resp = await session.get(url)
                    break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1 * (attempt + 1))
        if resp is None or resp.status != 200:
            account(False)
            return
        account(True)
        seen = 0
        async with resp:
            while seen < args.events:
                line = await resp.content.readline()
                now = time.monotonic()
                if not line:
                    return
                ev = json.loads(line)
                name = ev.get("object", {}).get("metadata", {}).get("name", "?")
                arrivals.setdefault(name, []).append(now)
                seen += 1

    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_read=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        tasks = [asyncio.create_task(watcher(session)) for _ in range(args.count)]
        try:
            await asyncio.wait_for(settled.wait(), args.timeout)
        except TimeoutError:
            pass
        print(json.dumps({"ready": state["open"], "failed": state["failed"]}), flush=True)
        await asyncio.wait(tasks, timeout=args.timeout)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps({"arrivals": arrivals}), flush=True)
    return 0


# -- the coordinator --------------------------------------------------------------------------


@dataclass
class Throughput:
    rps: float = float("nan")
    p50_ms: float = float("nan")
    p99_ms: float = float("nan")
    cpu: float = float("nan")  # the server's CPU use during the run, 1.0 = one core
    errors: int = 0


@dataclass
class Results:
    tool: str = ""
    sizes: dict[str, int] = field(default_factory=dict)
    api: dict[str, Throughput] = field(default_factory=dict)
    bare: dict[str, Throughput] = field(default_factory=dict)
    figures: list[tuple[str, str, str]] = field(default_factory=list)  # metric, value, target
    notes: list[str] = field(default_factory=list)


_WRK_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk_ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _WRK_UNITS[m.group(2)] if m else float("nan")


async def wrk(url: str, *, pid: int, conns: int, duration: float) -> Throughput:
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        "wrk", "-t1", f"-c{conns}", f"-d{duration:g}s", "--latency", url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out = (await proc.communicate())[0].decode()
    out_tp = Throughput(cpu=(cpu_seconds(pid) - cpu0) / (time.monotonic() - t0))
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        out_tp.rps = float(m.group(1))
    for q, attr in (("50", "p50_ms"), ("99", "p99_ms")):
        if m := re.search(rf"^\s+{q}%\s+(\S+)", out, re.M):
            setattr(out_tp, attr, _wrk_ms(m.group(1)))
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        out_tp.errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                      out):
        out_tp.errors += sum(int(x) for x in m.groups())
    if proc.returncode != 0 or out_tp.rps != out_tp.rps:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{out}")
    return out_tp


async def aiohttp_load(url: str, *, pid: int, conns: int, duration: float) -> Throughput:
    """The fallback load generator: ``conns`` connections, each GET after GET."""
    lat: list[float] = []
    errors = 0
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    deadline = t0 + duration
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=conns)) as s:
        async def worker() -> None:
            nonlocal errors
            while (start := time.monotonic()) < deadline and len(lat) < 2_000_000:
                async with s.get(url) as r:
                    await r.read()
                    if r.status != 200:
                        errors += 1
                lat.append((time.monotonic() - start) * 1000)
        await asyncio.gather(*(worker() for _ in range(conns)))
    elapsed = time.monotonic() - t0
    return Throughput(rps=len(lat) / elapsed, p50_ms=percentile(lat, 50),
                      p99_ms=percentile(lat, 99), cpu=(cpu_seconds(pid) - cpu0) / elapsed,
                      errors=errors)


class Client:
    """The coordinator's own HTTP client to the API server (setup, creates, probe writes)."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.s = session

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        async with self.s.post(self.base + path, json=body) as r:
            return r.status, await r.read()

    async def get(self, path: str) -> bytes:
        async with self.s.get(self.base + path) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {path}: {r.status} {body[:300]!r}")
            return body

    async def namespace(self, name: str) -> None:
        status, body = await self.post("/api/v1/namespaces", {"metadata": {"name": name}})
        if status not in (201, 409):
            raise RuntimeError(f"namespace {name}: {status} {body[:300]!r}")

    async def create_pods(self, ns: str, names: list[str], *, concurrency: int
                          ) -> tuple[list[float], int]:
        """Creates the pods with ``concurrency`` clients; per-create latency (ms), errors."""
        lat: list[float] = []
        errors = 0
        it = iter(names)

        async def worker() -> None:
            nonlocal errors
            for name in it:
                t0 = time.monotonic()
                status, _ = await self.post(f"/api/v1/namespaces/{ns}/pods", pod(name))
                lat.append((time.monotonic() - t0) * 1000)
                errors += status != 201

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return lat, errors


async def create_latency(c: Client, *, clients: int, duration: float, cap: int,
                         res: Results) -> int:
    """``clients`` concurrent creators, each creating pod after pod until the deadline (or
    ``cap`` creates in all). Returns the number of pods created."""
    ns = f"bench-create-{clients}"
    await c.namespace(ns)
    lat: list[float] = []
    errors = 0
    counter = iter(range(cap))
    t0 = time.monotonic()
    deadline = t0 + duration

    async def creator() -> None:
        nonlocal errors
        for i in counter:
            if time.monotonic() >= deadline:
                return
            start = time.monotonic()
            status, _ = await c.post(f"/api/v1/namespaces/{ns}/pods", pod(f"c-{i:06d}"))
            lat.append((time.monotonic() - start) * 1000)
            errors += status != 201

    await asyncio.gather(*(creator() for _ in range(clients)))
    elapsed = time.monotonic() - t0
    who = f"{clients} concurrent clients" if clients > 1 else "1 client"
    res.figures += [
        (f"create p50, {who} (ms)", f"{percentile(lat, 50):.1f}", ""),
        (f"create p99, {who} (ms)", f"{percentile(lat, 99):.1f}",
         "<= 50 (Kubernetes SLO 1000)" if clients > 1 else "service time, no queueing"),
        (f"create max, {who} (ms)", f"{max(lat):.1f}", ""),
        (f"creates/s, {who}", f"{len(lat) / elapsed:.0f}",
         f"{len(lat)} creates, {errors} errors"),
    ]
    return len(lat) - errors


async def watch_fanout(c: Client, *, url: str, watchers: int, procs: int, rounds: int,
                       res: Results) -> int:
    """``watchers`` HTTP watches over ``procs`` processes; ``rounds`` pods created one at a
    time, each delivered to every watcher. Returns the number of pods created."""
    ns = "bench-watch"
    await c.namespace(ns)
    rv = json.loads(await c.get(f"/api/v1/namespaces/{ns}/pods"))["metadata"]["resourceVersion"]
    sizes = [watchers // procs + (i < watchers % procs) for i in range(procs)]
    children = [await asyncio.create_subprocess_exec(
        sys.executable, __file__, "watchers", "--url", url, "--namespace", ns, "--rv", rv,
        "--count", str(n), "--events", str(rounds), "--timeout", "30",
        stdout=asyncio.subprocess.PIPE) for n in sizes]
    t_open = time.monotonic()
    ready = failed = 0
    for ch in children:
        assert ch.stdout is not None
        hello = json.loads(await ch.stdout.readline())
        ready, failed = ready + hello["ready"], failed + hello["failed"]
    t_open = time.monotonic() - t_open
    await asyncio.sleep(1.0)  # every watch's pump subscribes to the hub after its headers
    sent: dict[str, tuple[float, float]] = {}
    for r in range(rounds):
        name = f"probe-{r}"
        t0 = time.monotonic()
        status, body = await c.post(f"/api/v1/namespaces/{ns}/pods", pod(name))
        sent[name] = (t0, time.monotonic())
        if status != 201:
            raise RuntimeError(f"probe create: {status} {body[:300]!r}")
        await asyncio.sleep(1.0)
    arrivals: dict[str, list[float]] = {}
    for ch in children:
        assert ch.stdout is not None
        out = json.loads(await ch.stdout.readline())
        for name, ts in out["arrivals"].items():
            arrivals.setdefault(name, []).extend(ts)
        await ch.wait()
    after_resp = [(t - sent[n][1]) * 1000 for n in sent for t in arrivals.get(n, [])]
    after_send = [(t - sent[n][0]) * 1000 for n in sent for t in arrivals.get(n, [])]
    writes = [(b - a) * 1000 for a, b in sent.values()]
    got = len(after_resp)
    res.figures += [
        (f"watchers open ({procs} client processes)", f"{ready} of {watchers}",
         f"{failed} failed; opened in {t_open:.1f} s"),
        ("watch deliveries received", f"{got} of {ready * rounds}",
         f"{rounds} pods created, one at a time"),
        ("watch delivery p50 after write response (ms)", f"{percentile(after_resp, 50):.1f}",
         ""),
        ("watch delivery p99 after write response (ms)", f"{percentile(after_resp, 99):.1f}",
         "<= 200"),
        ("watch delivery max after write response (ms)", f"{max(after_resp, default=0):.1f}",
         ""),
        ("watch delivery p99 after write sent (ms)", f"{percentile(after_send, 99):.1f}",
         f"probe create took {statistics.mean(writes):.1f} ms on average"),
    ]
    return rounds


def report(res: Results, *, args: argparse.Namespace, elapsed: float) -> str:
    lines = [
        "| request | API server req/s | bare aiohttp req/s | API/bare | API p50 / p99 ms "
        "| bare p50 / p99 ms | server CPU API / bare | bytes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in res.api:
        a, b = res.api[name], res.bare.get(name, Throughput())
        ratio = f"{a.rps / b.rps:.2f}" if b.rps == b.rps and b.rps else "-"
        errs = f" ({a.errors} errors)" if a.errors else ""
        lines.append(
            f"| {name} | {a.rps:.0f}{errs} | {b.rps:.0f} | {ratio} | {a.p50_ms:.1f} / "
            f"{a.p99_ms:.1f} | {b.p50_ms:.1f} / {b.p99_ms:.1f} "
            f"| {a.cpu * 100:.0f} / {b.cpu * 100:.0f} % | {res.sizes.get(name, 0)} |")
    lines += ["", "| metric | value | target / note |", "|---|---|---|"]
    lines += [f"| {m} | {v} | {t} |" for m, v, t in res.figures]
    when = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines.append(
        f"\n{when}; python {platform.python_version()} on {platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} CPUs (load average {os.getloadavg()[0]:.1f} at the "
        f"end); load generator: {res.tool}, {args.connections} connections, "
        f"{args.duration:g} s per throughput run; run took {elapsed:.0f} s; server: "
        f"{'minikube8s --role a' if args.role_a else 'the API server alone'}.")
    lines += [f"note: {n}" for n in res.notes]
    return "\n".join(lines)


async def wait_http(url: str, *, within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(url) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not answer in {within:g} s")
            await asyncio.sleep(0.05)


async def run(args: argparse.Namespace, tmp: Path, res: Results) -> None:
    sys.path.insert(0, str(ROOT))
    fixture = importlib.import_module("tests.fixtures.apiserver")
    if args.role_a:
        api = fixture.ApiServerProcess(tmp / "data", *shlex.split(args.server_args))
    else:
        api = _alone(fixture.ApiServerProcess)(tmp / "data")
    print("starting the API server ...", file=sys.stderr, flush=True)
    api.start()
    bare: asyncio.subprocess.Process | None = None
    try:
        pid = api.proc.pid
        await asyncio.sleep(1.0)
        idle = proc_status(pid)
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            c = Client(api.url, session)
            stored = 0
            print("seeding pods for GET and LIST ...", file=sys.stderr, flush=True)
            await c.namespace("bench-get")
            await c.namespace("bench-list")
            _, errs = await c.create_pods("bench-get", ["one"], concurrency=1)
            _, errs2 = await c.create_pods(
                "bench-list", [f"l-{i:04d}" for i in range(args.list_size)], concurrency=32)
            stored += 1 + args.list_size - errs - errs2
            paths = {"GET pod": "/api/v1/namespaces/bench-get/pods/one",
                     f"LIST {args.list_size} pods": "/api/v1/namespaces/bench-list/pods"}
            files: dict[str, Path] = {}
            for (name, path), key in zip(paths.items(), ("get", "list"), strict=True):
                body = await c.get(path)
                res.sizes[name] = len(body)
                files[key] = tmp / f"{key}.json"
                files[key].write_bytes(body)
            bare_port = free_port()
            bare = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "bare", "--port", str(bare_port),
                "--get", str(files["get"]), "--list", str(files["list"]))
            bare_url = f"http://{HOST}:{bare_port}"
            await wait_http(bare_url + "/get")
            load = wrk if shutil.which("wrk") and not args.no_wrk else aiohttp_load
            res.tool = "wrk -t1" if load is wrk else "aiohttp client in the coordinator"
            for (name, path), key in zip(paths.items(), ("get", "list"), strict=True):
                for side, base, p, spid in (("api", api.url, path, pid),
                                            ("bare", bare_url, f"/{key}", bare.pid)):
                    print(f"{name} on {side} ...", file=sys.stderr, flush=True)
                    await load(base + p, pid=spid, conns=args.connections, duration=1.0)
                    tp = await load(base + p, pid=spid, conns=args.connections,
                                    duration=args.duration)
                    getattr(res, side)[name] = tp
            bare.terminate()
            await bare.wait()
            bare = None

            print("create latency ...", file=sys.stderr, flush=True)
            # One client first: the service time, without the queueing 100 clients add.
            stored += await create_latency(c, clients=1, duration=2.0, cap=1000, res=res)
            stored += await create_latency(c, clients=args.clients, duration=args.duration,
                                           cap=args.clients * 100, res=res)
            print(f"{args.watchers} watchers ...", file=sys.stderr, flush=True)
            stored += await watch_fanout(c, url=api.url, watchers=args.watchers,
                                         procs=args.watch_procs, rounds=args.watch_rounds,
                                         res=res)
            fill = max(0, args.pods - stored)
            print(f"filling up to {args.pods} pods ({fill} more) ...", file=sys.stderr,
                  flush=True)
            await c.namespace("bench-fill")
            t0 = time.monotonic()
            lat, errs = await c.create_pods(
                "bench-fill", [f"f-{i:05d}" for i in range(fill)], concurrency=64)
            fill_s = time.monotonic() - t0
            stored += fill - errs
            await asyncio.sleep(1.0)
            full = proc_status(pid)
        kib = full["VmRSS"] - idle["VmRSS"]
        res.figures += [
            ("RSS idle (MiB)", f"{idle['VmRSS'] / 1024:.1f}", "after start-up, before any load"),
            (f"RSS with {stored} pods stored (MiB)", f"{full['VmRSS'] / 1024:.1f}",
             f"+{kib / 1024:.1f} MiB, {kib * 1024 / max(stored, 1):.0f} bytes per pod; "
             f"peak (VmHWM) {full['VmHWM'] / 1024:.1f} MiB"),
        ]
        if fill:
            res.figures.append(("creates/s while filling, 64 clients", f"{len(lat) / fill_s:.0f}",
                                f"{fill} pods, {errs} errors, p99 {percentile(lat, 99):.1f} ms"))
    finally:
        if bare is not None and bare.returncode is None:
            bare.kill()
            await bare.wait()
        code = api.stop()
        if code != 0:
            res.notes.append(f"the API server exited with {code}; log tail:\n"
                             + api.logs()[-2000:])


def _alone(base: Any) -> Any:
    """The test fixture's process class, starting ``apiserver`` (this script) instead."""

    class Alone(base):
        def start(self, timeout: float = 30.0) -> None:
            import subprocess
            import urllib.request

            self.data_dir.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, __file__, "apiserver", "--data-dir", str(self.data_dir),
                     "--port", str(self.port)],
                    stdout=log, stderr=subprocess.STDOUT,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"})
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the API server exited:\n{self.logs()}")
                try:
                    with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as r:
                        if r.status == 200:
                            return
                except OSError:
                    pass
                time.sleep(0.05)
            self.kill()
            raise RuntimeError(f"the API server did not become ready:\n{self.logs()}")

    return Alone


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    res = Results()
    with tempfile.TemporaryDirectory(prefix="minikube8s-bench-") as tmp:
        try:
            await run(args, Path(tmp), res)
        except Exception as e:  # a report, not a test: print what was measured, say why not
            res.notes.append(f"the run stopped early: {type(e).__name__}: {e}")
    print(report(res, args=args, elapsed=time.monotonic() - started))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    sub = p.add_subparsers(dest="cmd")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per timed run")
    p.add_argument("--connections", type=int, default=32, help="load generator connections")
    p.add_argument("--list-size", type=int, default=1000, help="pods in the LIST")
    p.add_argument("--clients", type=int, default=100, help="concurrent creators")
    p.add_argument("--watchers", type=int, default=1000, help="concurrent HTTP watches")
    p.add_argument("--watch-procs", type=int, default=4, help="processes holding them")
    p.add_argument("--watch-rounds", type=int, default=3, help="pods each watcher receives")
    p.add_argument("--pods", type=int, default=10_000, help="pods stored for the RSS figure")
    p.add_argument("--no-wrk", action="store_true", help="use the aiohttp load generator")
    p.add_argument("--role-a", action="store_true",
                   help="benchmark `minikube8s --role a` (with scheduler and controllers) "
                        "instead of the API server alone")
    p.add_argument("--server-args", default="",
                   help="extra minikube8s flags (shell words; with --role-a)")
    a = sub.add_parser("apiserver", help="(internal) the API server alone")
    a.add_argument("--data-dir", required=True)
    a.add_argument("--port", type=int, required=True)
    b = sub.add_parser("bare", help="(internal) the bare aiohttp server")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--get", required=True)
    b.add_argument("--list", required=True)
    w = sub.add_parser("watchers", help="(internal) a process of HTTP watchers")
    w.add_argument("--url", required=True)
    w.add_argument("--namespace", required=True)
    w.add_argument("--rv", required=True)
    w.add_argument("--count", type=int, required=True)
    w.add_argument("--events", type=int, required=True)
    w.add_argument("--timeout", type=float, default=30.0)
    return p.parse_args(argv)


if __name__ == "__main__":
    ns = parse_args()
    if ns.cmd == "apiserver":
        sys.exit(apiserver_main(ns))
    if ns.cmd == "bare":
        sys.exit(bare_main(ns))
    if ns.cmd == "watchers":
        sys.exit(asyncio.run(watchers_main(ns)))
    sys.exit(asyncio.run(main(ns)))
