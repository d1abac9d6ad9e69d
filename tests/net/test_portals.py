"""nftables portals for real, inside two test namespaces (tests/net/netns.py): a "node" running
the proxier with its portals (tests/net/proxy_driver.py) and backends (tests/net/backend.py), and
a "container" behind it. Every request goes to a portal or external IP from inside these
namespaces only.

Covered: container -> portalIP:port (REDIRECT, the seed's KUBE-PORTALS-CONTAINER) and node ->
portalIP:port (DNAT to nodeIP:listener, KUBE-PORTALS-HOST), the same for an externalIP (the
seed's publicIP 12.0.0.5), UDP through its portal with the portal IP answering, round robin
over backends, no endpoints -> refused at once, a killed proxy's stale table replaced by the
next one's first sync, a clean stop removing the table, and another table (Docker's ``ip nat``)
left exactly as it was.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.net.netns import CTR_IP, NODE_IP, Pair, missing_prerequisite

ROOT = Path(__file__).resolve().parents[2]
PORTAL = "192.168.3.214"
EXTERNAL = "12.0.0.5"
UDP_PORTAL = "192.168.3.10"

pytestmark = pytest.mark.skipif(bool(missing_prerequisite()), reason=missing_prerequisite())


class Driver:
    """The proxy_driver process in the node namespace."""

    def __init__(self, pair: Pair, *extra: str) -> None:
        self.proc = pair.popen(pair.node, [sys.executable, "-m", "tests.net.proxy_driver",
                                           *extra], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(ROOT))
        assert self._read() == {"ready": True}

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"proxy driver died: {err[-3000:]}")
        out: dict[str, Any] = json.loads(line)
        return out

    def send(self, msg: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def sync(self, services: list[dict[str, Any]],
             endpoints: list[dict[str, Any]]) -> dict[str, int]:
        ports: dict[str, int] = self.send({"services": services, "endpoints": endpoints})["ports"]
        return ports

    def quit(self) -> None:
        assert self.send({"quit": True}) == {"closed": True}
        self.proc.wait(10)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def pair() -> Iterator[Pair]:
    p = Pair()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def backends(pair: Pair) -> Iterator[dict[str, list[int]]]:
    proc = pair.popen(pair.node, [sys.executable, str(ROOT / "tests/net/backend.py"), NODE_IP,
                                  "3", "1"], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    ports: dict[str, list[int]] = json.loads(proc.stdout.readline())
    yield ports
    proc.kill()
    proc.wait(10)


def service(name: str, ip: str, ports: list[dict[str, Any]], *,
            external: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"clusterIP": ip, "ports": ports}
    if external:
        spec["externalIPs"] = external
    return {"metadata": {"name": name, "namespace": "default"}, "spec": spec}


def endpoints(name: str, port_name: str, addrs: list[tuple[str, int]]) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"},
            "subsets": [{"addresses": [{"ip": ip}], "ports": [{"name": port_name, "port": p}]}
                        for ip, p in addrs]}


def nginx(backend_ports: list[int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    svc = service("nginx", PORTAL, [{"name": "http", "port": 80, "protocol": "TCP"}],
                  external=[EXTERNAL])
    return [svc], [endpoints("nginx", "http", [(NODE_IP, p) for p in backend_ports])]


def body(res: subprocess.CompletedProcess[str]) -> str:
    assert res.returncode == 0, f"curl rc {res.returncode}: {res.stderr}"
    return res.stdout.strip()


def test_portal_and_external_ip_from_a_container_and_from_the_node(
        pair: Pair, backends: dict[str, list[int]]) -> None:
    drv = Driver(pair, "--host-ip", NODE_IP)
    try:
        ports = drv.sync(*nginx(backends["tcp"][:1]))
        listener = ports["default/nginx:http"]
        table = pair.nft_table()
        assert f"{PORTAL} . 80" in table and f"{EXTERNAL} . 80" in table
        assert f": {listener}" in table and f"{NODE_IP} . {listener}" in table
        for ns in (pair.ctr, pair.node):
            for ip in (PORTAL, EXTERNAL):
                got = body(pair.curl(ns, f"http://{ip}/"))
                # The proxy dials the pod from the node: the backend sees the node's address.
                assert got == f"backend-0 {NODE_IP}", (ns, ip, got)
        # Other traffic is left alone: the backend straight, and no rule for other ports.
        assert body(pair.curl(pair.ctr, f"http://{NODE_IP}:{backends['tcp'][0]}/")) == \
            f"backend-0 {CTR_IP}"
        assert pair.curl(pair.ctr, f"http://{PORTAL}:8080/", timeout=1).returncode != 0
    finally:
        drv.kill()


def test_udp_through_its_portal_answers_from_the_portal(
        pair: Pair, backends: dict[str, list[int]]) -> None:
    drv = Driver(pair, "--host-ip", NODE_IP)
    try:
        svc = service("dns", UDP_PORTAL, [{"name": "dns", "port": 53, "protocol": "UDP"}])
        eps = endpoints("dns", "dns", [(NODE_IP, backends["udp"][0])])
        drv.sync([svc], [eps])
        script = (
            "import socket,sys\n"
            "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(3)\n"
            f"s.connect(('{UDP_PORTAL}',53))\n"  # connected: only the portal may answer
            "s.send(b'ping'); print(s.recv(100).decode())\n")
        for ns in (pair.ctr, pair.node):
            res = pair.run(ns, [sys.executable, "-c", script])
            assert res.stdout.strip() == "echo-0:ping", ns
    finally:
        drv.kill()


def test_round_robin_over_the_backends_through_the_portal(
        pair: Pair, backends: dict[str, list[int]]) -> None:
    drv = Driver(pair, "--host-ip", NODE_IP)
    try:
        drv.sync(*nginx(backends["tcp"]))
        script = (
            "import urllib.request\n"
            "for _ in range(30):\n"
            f"    print(urllib.request.urlopen('http://{PORTAL}/', timeout=5).read().decode()"
            ".split()[0])\n")
        res = pair.run(pair.ctr, [sys.executable, "-c", script])
        counts = Counter(res.stdout.split())
        assert counts == {"backend-0": 10, "backend-1": 10, "backend-2": 10}
    finally:
        drv.kill()


def test_no_endpoints_is_refused_at_once_through_the_portal(
        pair: Pair, backends: dict[str, list[int]]) -> None:
    drv = Driver(pair, "--host-ip", NODE_IP)
    try:
        svcs, eps = nginx(backends["tcp"][:1])
        drv.sync(svcs, eps)
        assert body(pair.curl(pair.ctr, f"http://{PORTAL}/")).startswith("backend-0")
        drv.sync(svcs, [])  # scaled to 0
        t0 = time.monotonic()
        res = pair.curl(pair.ctr, f"http://{PORTAL}/")
        took = time.monotonic() - t0
        assert res.returncode in (7, 52, 56), res  # refused / empty reply / reset
        assert took < 2.0  # curl's own start-up included; no hanging
        drv.sync(svcs, eps)  # scaled back
        assert body(pair.curl(pair.ctr, f"http://{PORTAL}/")).startswith("backend-0")
    finally:
        drv.kill()


def test_a_restarted_proxy_leaves_no_stale_rule_and_a_clean_stop_removes_the_table(
        pair: Pair, backends: dict[str, list[int]]) -> None:
    # Docker's own table must come through untouched.
    docker_nat = ("table ip nat {\n chain DOCKER {\n }\n chain PREROUTING {\n"
                  "  type nat hook prerouting priority dstnat; policy accept;\n"
                  "  fib daddr type local counter jump DOCKER\n }\n}\n")
    pair.run(pair.node, ["nft", "-f", "-"], stdin=docker_nat)
    before = pair.nft_table("nat")

    first = Driver(pair, "--host-ip", NODE_IP)
    old = first.sync(*nginx(backends["tcp"][:1]))["default/nginx:http"]
    first.kill()  # crashed: its table stays, pointing at a dead port
    assert f": {old}" in pair.nft_table()

    second = Driver(pair, "--host-ip", NODE_IP)
    try:
        # Its start already removed the stale table; the first sync builds the new one.
        assert pair.nft_table() == ""
        svcs, eps = nginx(backends["tcp"][:1])
        svcs.append(service("other", "192.168.3.20", [{"name": "", "port": 81}]))
        ports = second.sync(svcs, eps)
        new = ports["default/nginx:http"]
        table = pair.nft_table()
        assert new != old and f": {old}" not in table and f": {new}" in table
        assert body(pair.curl(pair.ctr, f"http://{PORTAL}/")).startswith("backend-0")
        # A service removed: its rules go in the same sync that closes its listener.
        assert "192.168.3.20" in table
        second.sync(*nginx(backends["tcp"][:1]))
        assert "192.168.3.20" not in pair.nft_table()
        second.quit()
        assert pair.nft_table() == ""
        assert pair.curl(pair.ctr, f"http://{PORTAL}/", timeout=1).returncode != 0
    finally:
        if second.proc.poll() is None:
            second.kill()
    assert pair.nft_table("nat") == before


def test_a_node_without_a_default_route_gets_routes_for_its_portals(
        pair: Pair, backends: dict[str, list[int]]) -> None:
    pair.run(pair.node, ["ip", "route", "del", "default"])
    assert pair.curl(pair.node, f"http://{PORTAL}/", timeout=1).returncode != 0  # unreachable
    drv = Driver(pair, "--host-ip", NODE_IP, "--portal-net", "192.168.3.0/24")
    try:
        drv.sync(*nginx(backends["tcp"][:1]))
        routes = pair.run(pair.node, ["ip", "-4", "route", "show", "proto", "138"]).stdout
        assert "192.168.3.0/24 dev lo" in routes and f"{EXTERNAL} dev lo" in routes
        for ip in (PORTAL, EXTERNAL):
            assert body(pair.curl(pair.node, f"http://{ip}/")) == f"backend-0 {NODE_IP}"
        # The external IP leaves with its service; the portal net's route stays.
        drv.sync([], [])
        routes = pair.run(pair.node, ["ip", "-4", "route", "show", "proto", "138"]).stdout
        assert EXTERNAL not in routes and "192.168.3.0/24" in routes
        drv.quit()
        assert pair.run(pair.node, ["ip", "-4", "route", "show", "proto", "138"]).stdout == ""
    finally:
        if drv.proc.poll() is None:
            drv.kill()
