"""The proxy role inside a real ``minikube8s --role ai --runtime hollow`` process, run in a test
"node" namespace (tests/net/netns.py) with a "container" namespace behind it.

A selectorless Service (its portal IP from the API server's PORTAL_NET, plus externalIP
12.0.0.5) and hand-made Endpoints pointing at backends in the node namespace: the portal answers
from the container and the node, follows the Endpoints (scaled to 0: refused at once; back:
answers), a SIGKILLed node's stale table and listeners do not survive the restart, and SIGTERM
removes the table. Start-up refuses a proxy that cannot work: an unknown --proxy-mode, and
nftables without CAP_NET_ADMIN, each exit 2 with one clear line.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.net.netns import NODE_IP, Pair, missing_prerequisite

ROOT = Path(__file__).resolve().parents[2]
API = "http://127.0.0.1:8080"
T = TypeVar("T")

pytestmark = [pytest.mark.skipif(bool(missing_prerequisite()), reason=missing_prerequisite()),
              pytest.mark.slow]


def wait_for(f: Callable[[], T], *, timeout: float = 20, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        v = f()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or f}")
        time.sleep(0.1)


class Node:
    def __init__(self, pair: Pair, data: Path, *extra: str) -> None:
        self.pair = pair
        self.data = data
        self.extra = extra
        self.log = data.parent / f"{data.name}.log"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        with open(self.log, "a") as log:
            self.proc = self.pair.popen(
                self.pair.node,
                [sys.executable, "-m", "minikube8s", "--role", "ai", "--runtime", "hollow",
                 "--data-dir", str(self.data), "--node-name", "px", "--node-ip", NODE_IP,
                 "--kubelet-port", "0", *self.extra],
                stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT))

    def logs(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    def api(self, method: str, path: str, obj: dict[str, Any] | None = None) -> Any:
        argv = ["curl", "-sS", "--max-time", "5", "-X", method, f"{API}{path}"]
        if obj is not None:
            argv += ["-H", "Content-Type: application/json", "--data-binary", "@-"]
        res = self.pair.run(self.pair.node, argv, stdin=json.dumps(obj) if obj else "",
                            check=False)
        if res.returncode != 0:
            return None
        return json.loads(res.stdout) if res.stdout.strip() else None


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


def portal_listener(table: str, ip: str, port: int) -> int | None:
    m = re.search(rf"{re.escape(ip)} \. {port}(?: comment \"[^\"]*\")? : (\d+)(?=[,\s}}])",
                  table)
    return int(m.group(1)) if m else None


def test_portal_follows_services_and_endpoints_across_restarts(
        pair: Pair, tmp_path: Path) -> None:
    backend = pair.popen(pair.node, [sys.executable, str(ROOT / "tests/net/backend.py"),
                                     NODE_IP, "2", "0"], stdout=subprocess.PIPE)
    assert backend.stdout is not None
    bports = json.loads(backend.stdout.readline())["tcp"]
    node = Node(pair, tmp_path / "node")
    node.start()
    try:
        wait_for(lambda: node.api("GET", "/api/v1/namespaces/default"), timeout=60,
                 what="the API server")
        svc = node.api("POST", "/api/v1/namespaces/default/services", {
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
            "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                     "externalIPs": ["12.0.0.5"]}})
        portal = svc["spec"]["clusterIP"]
        assert portal.startswith("192.168.3.")
        eps = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
               "subsets": [{"addresses": [{"ip": NODE_IP}],
                            "ports": [{"name": "http", "port": bports[0]}]}]}
        created = node.api("POST", "/api/v1/namespaces/default/endpoints", eps)
        assert created and created.get("kind") == "Endpoints", created

        def answers(ns: str, ip: str) -> str:
            res = pair.curl(ns, f"http://{ip}/", timeout=2)
            return res.stdout.strip() if res.returncode == 0 else ""

        got = wait_for(lambda: answers(pair.ctr, portal), what="the portal from the container")
        assert got.startswith("backend-0")
        assert answers(pair.node, portal).startswith("backend-0")
        assert answers(pair.ctr, "12.0.0.5").startswith("backend-0")
        assert answers(pair.node, "12.0.0.5").startswith("backend-0")

        # Endpoints move to the other backend: followed.
        eps2 = json.loads(json.dumps(eps))
        eps2["subsets"][0]["ports"][0]["port"] = bports[1]
        current = node.api("GET", "/api/v1/namespaces/default/endpoints/web")
        eps2["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        node.api("PUT", "/api/v1/namespaces/default/endpoints/web", eps2)
        wait_for(lambda: answers(pair.ctr, portal).startswith("backend-1"), what="new endpoint")

        # Scaled to 0: refused at once, not hanging.
        current = node.api("GET", "/api/v1/namespaces/default/endpoints/web")
        empty = {**current, "subsets": []}
        node.api("PUT", "/api/v1/namespaces/default/endpoints/web", empty)

        def refused() -> bool:
            t0 = time.monotonic()
            res = pair.curl(pair.ctr, f"http://{portal}/", timeout=3)
            return res.returncode in (7, 52, 56) and time.monotonic() - t0 < 2
        wait_for(refused, what="refusal without endpoints")
        current = node.api("GET", "/api/v1/namespaces/default/endpoints/web")
        node.api("PUT", "/api/v1/namespaces/default/endpoints/web",
                 {**eps, "metadata": {**eps["metadata"],
                                      "resourceVersion": current["metadata"]["resourceVersion"]}})
        wait_for(lambda: answers(pair.ctr, portal).startswith("backend-0"), what="scaled back")

        # SIGKILL: the table stays behind, pointing at a port nobody will listen on again.
        old = portal_listener(pair.nft_table(), portal, 80)
        assert old
        node.stop(signal.SIGKILL)
        assert portal_listener(pair.nft_table(), portal, 80) == old
        node.start()
        wait_for(lambda: (p := portal_listener(pair.nft_table(), portal, 80)) and p != old,
                 timeout=60, what="the restarted proxy's table")
        table = pair.nft_table()
        assert f": {old}" not in table and f"{NODE_IP} . {old}" not in table
        assert answers(pair.ctr, portal).startswith("backend-0")
        listening = pair.run(pair.node, ["ss", "-Htln"]).stdout
        assert f":{old} " not in listening

        # SIGTERM: clean stop, table gone.
        assert node.stop() == 0, node.logs()[-3000:]
        assert pair.nft_table() == ""
        assert "proxy: stopped" in node.logs()
    finally:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.kill()
        backend.kill()


def run_until_exit(pair: Pair, tmp_path: Path, *extra: str, prefix: tuple[str, ...] = ()
                   ) -> tuple[int, str]:
    res = pair.run(pair.node, [*prefix, sys.executable, "-m", "minikube8s", "--role", "ai",
                               "--runtime", "hollow", "--data-dir", str(tmp_path / "d"),
                               "--node-name", "px", "--kubelet-port", "0", *extra],
                   check=False, timeout=60)
    return res.returncode, res.stdout + res.stderr


def test_an_unknown_proxy_mode_stops_start_up(pair: Pair, tmp_path: Path) -> None:
    code, out = run_until_exit(pair, tmp_path, "--proxy-mode", "ipvs")
    assert code == 2, out
    assert "--proxy-mode 'ipvs': use one of nftables, userspace" in out


def test_nftables_without_net_admin_stops_start_up_clearly(pair: Pair, tmp_path: Path) -> None:
    code, out = run_until_exit(pair, tmp_path,
                               prefix=("setpriv", "--bounding-set=-net_admin", "--"))
    assert code == 2, out
    line = next(ln for ln in out.splitlines() if "nftables is not usable" in ln)
    assert "--proxy-mode userspace" in line and "--disable proxy" in line
    assert pair.nft_table() == ""
