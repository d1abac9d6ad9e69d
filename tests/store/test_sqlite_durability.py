"""An acknowledged SQLite write survives kill -9 of the process that made it.

A child process writes in a loop (8 concurrent writers, so group commit is on the path) and
prints each key once its create() returned; the test SIGKILLs it mid-stream, reopens the file
and checks every printed key is there, then that revisions keep increasing after the restart.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from minikube8s.store import KeyValue, open_store

CHILD = r"""
import asyncio, sys
from minikube8s.store import open_store

async def main(url: str) -> None:
    store = await open_store(url)
    print("ready", await store.current_revision(), flush=True)

    async def writer(w: int) -> None:
        i = 0
        while True:
            key = f"/d/{sys.argv[2]}/{w}/{i:06d}"
            kv = await store.create(key, key.encode() * 20)
            sys.stdout.write(f"{key} {kv.mod_revision}\n")
            sys.stdout.flush()
            i += 1

    await asyncio.gather(*(writer(w) for w in range(8)))

asyncio.run(main(sys.argv[1]))
"""


def run_child_and_kill(url: str, *, acked_before_kill: int, run: str = "r0") -> dict[str, int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, run],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    acked: dict[str, int] = {}
    assert proc.stdout is not None
    try:
        deadline = time.monotonic() + 60
        first = proc.stdout.readline()
        assert first.startswith("ready"), first
        while len(acked) < acked_before_kill and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            key, rev = line.split()
            acked[key] = int(rev)
        # Kill while it is still writing: the stream is mid-flight right now.
        os.kill(proc.pid, signal.SIGKILL)
        # Lines already written to the pipe before the kill were acknowledged too.
        for line in proc.stdout:
            if line.endswith("\n"):
                key, rev = line.split()
                acked[key] = int(rev)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert len(acked) >= acked_before_kill
    return acked


async def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'state.db'}"
    acked = run_child_and_kill(url, acked_before_kill=500)

    store = await open_store(url)
    try:
        found = {kv.key: kv for kv in (await store.list("/d/")).items}
        missing = sorted(set(acked) - set(found))
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
        for key, rev in acked.items():
            assert found[key] == KeyValue(key, key.encode() * 20, rev, rev)
        top = await store.current_revision()
        assert top >= max(acked.values())
        after = await store.create("/after-restart", b"x")
        assert after.mod_revision == top + 1
    finally:
        await store.close()


async def test_revisions_keep_increasing_across_crashes(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'state.db'}"
    seen_max = 0
    for run in range(3):
        acked = run_child_and_kill(url, acked_before_kill=100, run=f"r{run}")
        assert min(acked.values()) > seen_max
        seen_max = max(acked.values())
        store = await open_store(url)
        try:
            assert await store.current_revision() >= seen_max
            present = {kv.key for kv in (await store.list(f"/d/r{run}/")).items}
            assert set(acked) <= present
        finally:
            await store.close()
