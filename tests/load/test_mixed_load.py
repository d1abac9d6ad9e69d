"""Issue 9's load test: 200 concurrent clients mixing reads, writes and watches for 60 s.

The API server is a real ``minikube8s --role a --disable scheduler,controllers`` subprocess on
the embedded SQLite store (tests/fixtures/apiserver.py's ApiServerProcess), reached over
loopback; the load is tests/load/mixed.py (bench/load.py runs the same and reports). Asserted:
no 5xx and no 429 (this API server never throttles, so a 429 would be a bug too), no transport
error, every status the one its verb should get, no lost update (each shared counter equals
the increments that got 200), read-your-writes on each client's own list, and every watcher
saw each counter rise by one per event up to its final value. Latency p50/p99 per verb is
printed (recorded in docs/benchmarks.md, "Load"), never asserted.

``MK8S_LOAD_SECONDS`` sets the duration (default 60) and ``MK8S_LOAD_CLIENTS`` the clients
(default 200), for a quick local run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from tests.fixtures.apiserver import ApiServerProcess
from tests.load.mixed import LoadConfig, run_load, server_args

DURATION = float(os.environ.get("MK8S_LOAD_SECONDS", "60"))
CLIENTS = int(os.environ.get("MK8S_LOAD_CLIENTS", "200"))

pytestmark = [pytest.mark.slow, pytest.mark.timeout(DURATION + 120)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with ApiServerProcess(tmp_path_factory.mktemp("load") / "data", *server_args()).serving() as s:
        yield s


async def test_mixed_load(server: ApiServerProcess) -> None:
    res = await run_load(server.url, LoadConfig(clients=CLIENTS, duration=DURATION,
                                                watchers=max(1, CLIENTS // 10)))
    sys.stderr.write(res.report() + "\n")
    assert not res.server_errors(), (res.server_errors(), res.problems[:20])
    assert not res.lost_updates(), res.lost_updates()
    assert sum(res.increments.values()) > 0
    assert len(res.final) == res.config.counters
    assert not res.problems, "\n".join(res.problems[:30])
    assert res.watch_events > 0
