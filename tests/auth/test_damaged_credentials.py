"""A damaged CA or credentials file is one line and exit code 2 at start, never a traceback
(issue 9: bad input gets a clear error); the files are left as they were for the operator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.apiserver import ApiServerProcess

pytestmark = pytest.mark.timeout(60)


def start_once(data_dir: Path) -> subprocess.CompletedProcess[str]:
    server = ApiServerProcess(data_dir, "--disable", "scheduler,controllers,proxy")
    argv = [sys.executable, "-m", "minikube8s", "--role", "a", "--data-dir", str(data_dir),
            "--insecure-port", str(server.port), "--secure-port", str(server.secure_port),
            "--bind-address", "127.0.0.1", *server.extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("damaged", ["pki/ca.crt", "pki/ca.key"])
def test_a_damaged_ca_is_one_line(tmp_path: Path, damaged: str) -> None:
    data = tmp_path / "data"
    with ApiServerProcess(data, "--disable", "scheduler,controllers").serving():
        pass
    # A fresh store (the SQLite file removed) makes the data dir's set the source again.
    for f in data.glob("store.db*"):
        f.unlink()
    (data / damaged).write_text("garbage\n")
    res = start_once(data)
    assert res.returncode == 2, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    errors = [line for line in res.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and "cluster credentials:" in errors[0], res.stderr[-3000:]
    assert (data / damaged).read_text() == "garbage\n"
