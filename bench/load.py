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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.apiserver import ApiServerProcess  # noqa: E402
from tests.load.mixed import LoadConfig, LoadResult, run_load, server_args  # noqa: E402

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


async def one_run(cfg: LoadConfig, tmp: Path, index: int) -> None:
    server = ApiServerProcess(tmp / f"data{index}", *server_args())
    server.start()
    try:
        assert server.proc is not None
        pid = server.proc.pid
        load_before = os.getloadavg()[0]
        cpu0, wall0 = cpu_seconds(pid), time.monotonic()
        res: LoadResult = await run_load(server.url, cfg)
        cpu = cpu_seconds(pid) - cpu0
        wall = time.monotonic() - wall0
        rss, hwm = rss_mb(pid)
        print(f"\nrun {index + 1}: {res.report()}")
        print(f"server CPU {100 * cpu / wall:.0f}% of one core over {wall:.1f} s, RSS "
              f"{rss:.0f} MB (peak {hwm:.0f} MB); load average {load_before:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after")
        lost = res.lost_updates()
        print(f"checks: 5xx/429 {sum(res.server_errors().values())}, lost updates "
              f"{len(lost)}, problems {len(res.problems)}")
        for p in res.problems[:10]:
            print(f"  {p}")
    finally:
        server.stop()


async def main(args: argparse.Namespace) -> int:
    cfg = LoadConfig(clients=args.clients, duration=args.duration, watchers=args.watchers,
                     counters=args.counters)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"load benchmark: {when}, code at {git_head()}, {os.cpu_count()} CPUs "
          f"({platform.machine()}), Python {platform.python_version()}; "
          f"{cfg.clients} clients ({cfg.watchers} watchers), {cfg.counters} counters, "
          f"{cfg.duration:.0f} s, {args.runs} run(s)")
    with tempfile.TemporaryDirectory(prefix="minikube8s-load-") as tmp:
        for i in range(args.runs):
            await one_run(cfg, Path(tmp), i)
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    d = LoadConfig()
    p.add_argument("--clients", type=int, default=d.clients, help="concurrent clients")
    p.add_argument("--watchers", type=int, default=d.watchers, help="of them, watchers")
    p.add_argument("--counters", type=int, default=d.counters, help="shared counters")
    p.add_argument("--duration", type=float, default=d.duration, help="seconds of load")
    p.add_argument("--runs", type=int, default=1, help="runs, each on a fresh server")
    return p.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
