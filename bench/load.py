"""Mixed-load benchmark: 200 concurrent clients reading, writing and watching for 60 s.

The load is tests/load/mixed.py, the very code of tests/load/test_mixed_load.py (issue 9):
clients that GET, LIST, create, delete, increment shared counters by read-modify-write with
resourceVersion preconditions (retried on 409), and watch. The test asserts correctness (no
5xx, no lost update, watchers miss nothing); this script runs the same load against the same
server, a real ``minikube8s --role a --disable scheduler,controllers`` subprocess on the
embedded SQLite store on 127.0.0.1 (tests/fixtures/apiserver.py's ApiServerProcess), and
reports: requests/s, p50/p99/max latency per verb and for watch delivery, conflicts, the
server's CPU and RSS, and the load average around the run (the machine may be shared). A
report, never a pass/fail on time; figures are recorded in docs/benchmarks.md ("Load").
bench/apiserver.py measures the API server one request kind at a time.

One Python process cannot generate this load as fast as the server answers it (the server sat
at ~30 % of a core while the clients queued), so each run has two halves, each on a fresh
server: the same 200 clients spread over ``--procs`` generator processes
(tests/load/procs.py), started with ``--nice`` so the server wins the CPU when both want it,
and then in this one process as the test runs them (``--no-single`` skips that half). The
side-by-side table's multi/single ratio says how much of the one-process latency was the
generator. By default (on 2 or more CPUs) the server is pinned to CPU 0 and the generators of
both halves to the other CPUs (os.sched_setaffinity, every thread), so the server has one core
of its own (it is one asyncio process: one core is all it can use) and its CPU figure says
whether it was the bottleneck; ``--server-cpus``/``--client-cpus`` choose others, ``none``
pins nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.apiserver import ApiServerProcess  # noqa: E402
from tests.load.mixed import LoadConfig, LoadResult, run_load, server_args  # noqa: E402
from tests.load.procs import run_load_procs  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out.get("VmRSS", 0.0), out.get("VmHWM", 0.0)


def git_head() -> str:
    res = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False)
    return res.stdout.strip() or "?"


@dataclass
class Run:
    """What one half of a run measured (the LoadResult plus the processes' CPU)."""

    label: str
    res: LoadResult
    wall: float
    server_cpu: float
    """% of one core over ``wall``."""
    client_cpu: float
    rss: float
    hwm: float


def cpus(text: str) -> frozenset[int] | None:
    """'0', '1,2' or '1-3' -> that set; '' or 'none' -> None (no pinning)."""
    if text in ("", "none"):
        return None
    out: set[int] = set()
    for item in text.split(","):
        lo, _, hi = item.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return frozenset(out)


def placement(args: argparse.Namespace) -> tuple[frozenset[int] | None, frozenset[int] | None]:
    """(server CPUs, generator CPUs); 'auto' is CPU 0 and the rest when there are two or more."""
    n = os.cpu_count() or 1
    server = (frozenset({0}) if n >= 2 else None) if args.server_cpus == "auto" \
        else cpus(args.server_cpus)
    client = (frozenset(range(1, n)) if n >= 2 else None) if args.client_cpus == "auto" \
        else cpus(args.client_cpus)
    return server, client


def show(where: frozenset[int] | None) -> str:
    return ",".join(map(str, sorted(where))) if where else "any"


def pin(pid: int, where: frozenset[int] | None) -> None:
    """Every thread of ``pid`` (later ones inherit from their creator)."""
    if where:
        for tid in os.listdir(f"/proc/{pid}/task"):
            os.sched_setaffinity(int(tid), where)


async def one_run(cfg: LoadConfig, tmp: Path, name: str, *, procs: int,
                  args: argparse.Namespace) -> Run:
    """One fresh server under the load: ``procs`` generator processes, or 0 for the load in
    this process (the test's way)."""
    server = ApiServerProcess(tmp / f"data-{name}-{procs}".replace(" ", ""),
                             *server_args())
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        server_cpus, client_cpus = placement(args)
        pin(pid, server_cpus)
        load_before = os.getloadavg()[0]
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        if procs:
            res = await run_load_procs(server.url, cfg, procs=procs, nice=args.nice,
                                       cpus=client_cpus)
            label = f"{procs} generator processes" + (f", nice {args.nice}" if args.nice else "")
        else:
            mine = os.sched_getaffinity(0)
            pin(os.getpid(), client_cpus)
            try:
                res = await run_load(server.url, cfg)
            finally:
                pin(os.getpid(), frozenset(mine))
            label = "1 generator process (the test's, in this one)"
        cpu = cpu_seconds(pid) - cpu0
        wall = time.monotonic() - wall0
        rss, hwm = rss_mb(pid)
        run = Run(label, res, wall, 100 * cpu / wall, 100 * res.client_cpu / wall, rss, hwm)
        print(f"\n{name}, {label}: {res.report()}")
        print(f"server CPU {run.server_cpu:.0f}% of one core over {wall:.1f} s, load "
              f"generator CPU {run.client_cpu:.0f}%, RSS {rss:.0f} MB (peak {hwm:.0f} MB); "
              f"load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
        lost = res.lost_updates()
        print(f"checks: 5xx/429 {sum(res.server_errors().values())}, lost updates "
              f"{len(lost)}, problems {len(res.problems)}")
        for p in res.problems[:10]:
            print(f"  {p}")
        return run
    finally:
        server.stop()


def rows(run: Run) -> list[tuple[str, float]]:
    """The side-by-side table's figures, in order."""
    res = run.res
    out = [("requests/s", res.requests / max(res.elapsed, 1e-9)),
           ("increments/s", sum(res.increments.values()) / max(res.elapsed, 1e-9))]
    for verb, _, p50, p99, _ in res.summary():
        out += [(f"{verb} p50 ms", p50), (f"{verb} p99 ms", p99)]
    out += [("409s per increment",
             res.conflicts / max(1, sum(res.increments.values()))),
            ("server CPU % of a core", run.server_cpu),
            ("generator CPU % of a core", run.client_cpu),
            ("5xx+429 / lost / problems", float(sum(res.server_errors().values())
                                                + len(res.lost_updates()) + len(res.problems)))]
    return out


def compare(multi: Run, single: Run) -> str:
    a, b = dict(rows(multi)), dict(rows(single))
    lines = [f"{'figure':<27} {'multi':>9} {'single':>9} {'multi/single':>13}"]
    for key, _ in rows(multi):
        x, y = a[key], b.get(key, 0.0)
        ratio = f"{x / y:>13.2f}" if y else f"{'-':>13}"
        lines.append(f"{key:<27} {x:>9.1f} {y:>9.1f} {ratio}")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    cfg = LoadConfig(clients=args.clients, duration=args.duration, watchers=args.watchers,
                     counters=args.counters)
    server_cpus, client_cpus = placement(args)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"load benchmark: {when}, code at {git_head()}, {os.cpu_count()} CPUs "
          f"({platform.machine()}), Python {platform.python_version()}; "
          f"{cfg.clients} clients ({cfg.watchers} watchers), {cfg.counters} counters, "
          f"{cfg.duration:.0f} s, {args.runs} run(s) of {args.procs} generator processes "
          f"(nice {args.nice})" + ("" if args.no_single else " then 1 (in-process)")
          + f"; server on CPUs {show(server_cpus)}, generators on CPUs {show(client_cpus)}")
    with tempfile.TemporaryDirectory(prefix="minikube8s-load-") as tmp:
        for i in range(args.runs):
            multi = await one_run(cfg, Path(tmp), f"run {i + 1}", procs=args.procs, args=args)
            if args.no_single:
                continue
            single = await one_run(cfg, Path(tmp), f"run {i + 1}", procs=0, args=args)
            print(f"\nrun {i + 1}, {multi.label} (multi) against 1 in-process (single):")
            print(compare(multi, single))
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    d = LoadConfig()
    p.add_argument("--clients", type=int, default=d.clients, help="concurrent clients")
    p.add_argument("--watchers", type=int, default=d.watchers, help="of them, watchers")
    p.add_argument("--counters", type=int, default=d.counters, help="shared counters")
    p.add_argument("--duration", type=float, default=d.duration, help="seconds of load")
    p.add_argument("--runs", type=int, default=1, help="runs, each on fresh servers")
    p.add_argument("--procs", type=int, default=2, help="load generator processes")
    p.add_argument("--nice", type=int, default=0, help="niceness added to the generators")
    p.add_argument("--no-single", action="store_true",
                   help="skip the one-process half of each run")
    p.add_argument("--server-cpus", default="auto",
                   help="pin the server: auto (CPU 0 on 2+ CPUs), none, or e.g. 0 or 0-1")
    p.add_argument("--client-cpus", default="auto",
                   help="pin the generators: auto (all but CPU 0), none, or e.g. 1")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
