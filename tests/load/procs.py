"""The mixed load of tests/load/mixed.py spread over several generator processes.

200 aiohttp clients in one Python process saturate that process's core long before the API
server is busy (bench/load.py measured the server at ~30 % of a core), so the latencies they
record are mostly queueing in the client. ``run_load_procs(url, config, procs=N)`` runs the
very same clients (the same global worker and watcher indices, seeds and Lease names) split
over N ``spawn``-ed processes and merges what they saw into one ``LoadResult``; ``procs=1``
is still a separate process. tests/load/test_mixed_load.py keeps the in-process
``run_load``; bench/load.py uses this to report server-bound figures beside it.

The parent is the coordinator, over one pipe per child: it creates the shared counters,
waits until every child is ready, sends one common deadline (time.monotonic is one clock for
every process on Linux), waits until every child's workers are done, reads the counters'
final values and sends them back (each child's watchers must reach them), then merges the
children's results: statuses, latencies, increments and problems add up, and watch delivery
is computed over all writes and sightings, so a write in one process and its sighting in
another still count.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnProcess
from typing import Any

from tests.load.mixed import Load, LoadConfig, LoadResult


@dataclass(frozen=True)
class Part:
    """One generator process's share of the clients."""

    index: int
    workers: range
    watchers: range
    nice: int = 0
    """Added to the child's niceness, so the server wins the CPU when both want it."""
    cpus: frozenset[int] | None = None
    """CPUs the child may run on (os.sched_setaffinity), or any."""


def split(config: LoadConfig, procs: int, *, nice: int = 0,
          cpus: frozenset[int] | None = None) -> list[Part]:
    """Contiguous, near-equal slices of the workers and of the watchers, one per process."""
    n_workers = config.clients - config.watchers

    def part(n: int, i: int) -> range:
        return range(i * n // procs, (i + 1) * n // procs)

    return [Part(i, part(n_workers, i), part(config.watchers, i), nice, cpus)
            for i in range(procs)]


class PartFailed(RuntimeError):
    """A generator process raised or died; the message carries its traceback."""


async def receive(conn: Connection, kind: str) -> Any:
    """The next message from ``conn``, which must be ``(kind, payload)``; waits without
    blocking the event loop (a child may take the whole run to answer)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), readable)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())
    try:
        got, payload = conn.recv()
    except EOFError as e:
        raise PartFailed(f"load process exited while the coordinator waited for {kind}") from e
    if got == "error":
        raise PartFailed(f"load process failed:\n{payload}")
    if got != kind:
        raise PartFailed(f"load process sent {got!r}, expected {kind!r}")
    return payload


def part_main(url: str, config: LoadConfig, part: Part, conn: Connection) -> None:
    """A generator process's entry point (the target of multiprocessing's spawn)."""
    try:
        if part.nice:
            os.nice(part.nice)
        if part.cpus:
            os.sched_setaffinity(0, part.cpus)
        conn.send(("result", asyncio.run(_part(url, config, part, conn))))
    except BaseException:  # the coordinator re-raises it; a bare exit would say nothing
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


async def _part(url: str, config: LoadConfig, part: Part, conn: Connection) -> LoadResult:
    load = Load(url, config, workers=part.workers, watchers=part.watchers)
    conn.send(("ready", None))
    deadline = await receive(conn, "go")
    cpu0 = time.process_time()
    load.start(deadline)
    await load.workers_done()
    conn.send(("done", None))
    load.res.final = await receive(conn, "final")
    await load.settle()
    load.res.client_cpu = time.process_time() - cpu0
    return load.res


def merge(into: LoadResult, parts: list[LoadResult]) -> LoadResult:
    """Add the parts' counts, latencies and problems to ``into`` (the coordinator's own)."""
    for res in parts:
        for verb, xs in res.latencies.items():
            into.latencies[verb].extend(xs)
        into.statuses.update(res.statuses)
        into.increments.update(res.increments)
        into.conflicts += res.conflicts
        into.watch_events += res.watch_events
        into.watch_restarts += res.watch_restarts
        into.writes.update(res.writes)
        into.sightings.extend(res.sightings)
        into.client_cpu += res.client_cpu
        for p in res.problems:
            into.problem(p)
    into.compute_delivery()
    return into


async def run_load_procs(url: str, config: LoadConfig | None = None, *, procs: int = 2,
                         nice: int = 0, cpus: frozenset[int] | None = None) -> LoadResult:
    """``run_load`` with the clients spread over ``procs`` generator processes."""
    cfg = config or LoadConfig()
    lead = Load(url, cfg, workers=range(0), watchers=range(0))
    await lead.setup()
    ctx = multiprocessing.get_context("spawn")  # no fork of a running event loop
    children: list[tuple[SpawnProcess, Connection]] = []
    try:
        for part in split(cfg, procs, nice=nice, cpus=cpus):
            ours, theirs = ctx.Pipe()
            proc = ctx.Process(target=part_main, args=(url, cfg, part, theirs),
                               name=f"load part {part.index}", daemon=True)
            proc.start()
            theirs.close()  # so a dead child reads as EOF here
            children.append((proc, ours))
        for _, conn in children:
            await receive(conn, "ready")
        t0 = time.monotonic()
        for _, conn in children:
            conn.send(("go", t0 + cfg.duration))
        await asyncio.gather(*(receive(conn, "done") for _, conn in children))
        lead.res.elapsed = time.monotonic() - t0
        lead.res.final = await lead.read_final()
        for _, conn in children:
            conn.send(("final", lead.res.final))
        parts = await asyncio.gather(*(receive(conn, "result") for _, conn in children))
    finally:
        for proc, conn in children:
            conn.close()
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
    return merge(lead.res, list(parts))
