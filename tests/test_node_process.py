"""`minikube8s --role ...` as a real process: it comes up on the embedded store, says so, and
stops cleanly (exit 0) on SIGINT and SIGTERM, as `make run` promises."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.etcd import free_port


def start_node(data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "minikube8s", "--role", "ai", "--data-dir", str(data_dir),
         "--insecure-port", str(free_port()), "--secure-port", "0",
         "--bind-address", "127.0.0.1", "--runtime", "hollow",
         "--disable", "proxy", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 30) -> str:
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    # Raw reads: select() on the fd cannot see lines already pulled into the text buffer.
    fd = proc.stdout.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            chunk = os.read(fd, 65536).decode(errors="replace")
            if not chunk:
                break
            seen.append(chunk)
            if needle in "".join(seen):
                return "".join(seen)
    proc.kill()
    raise AssertionError(f"never saw {needle!r}; output:\n{''.join(seen)}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_node_starts_on_embedded_store_and_stops_cleanly(tmp_path: Path, sig: int) -> None:
    proc = start_node(tmp_path / "data")
    try:
        wait_for_line(proc, "minikube8s up")
        assert (tmp_path / "data" / "store.db").exists()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out
    assert "stopped cleanly" in out
    assert "Traceback" not in out


def test_bad_store_url_is_one_clear_line(tmp_path: Path) -> None:
    proc = start_node(tmp_path / "data", "--store", "nosuch://x")
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "unknown store URL scheme 'nosuch'" in out
    assert "Traceback" not in out
