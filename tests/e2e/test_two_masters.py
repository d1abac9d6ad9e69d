"""The seed walkthrough's core with two control planes, the leader killed midway (issue 8's
Tests: "once with two --role a processes where the leader is killed midway").

The cluster is tests/fixtures/netcluster.py's three namespace nodes with real Docker, changed
so that two of them carry a control plane on one real etcd:

- etcd runs inside node 1's namespace on its cluster address (192.168.0.10:PORT), so node 2
  reaches it over the test bridge;
- node 1 and node 2 run ``--role ai --store etcd://192.168.0.10:PORT``, both leader-elected with
  short lease timings; node 1 is started (and leads both Leases) before node 2 exists, so the
  leader is known, and the test still finds it from the Leases' holderIdentity;
- node 3 runs ``--role i --server https://192.168.0.11:6443`` with the cluster's join token:
  it talks to the control plane that survives (which shares node 1's CA and tokens through
  etcd), so only the killed node's kubelet goes missing.

Steps (file order, shared cluster): run-container nginx with 6 replicas spread over the three
nodes; expose rc as nginx-http, the portal answers from each node; the leader's minikube8s is
SIGKILLed (its dockerd and containers stay); the other control plane takes both Leases within
seconds; through the survivor's API (the host link ends in the killed node's namespace, so the
CLI runs inside node 2's namespace) the rc is scaled to 8: 8 Running pods on the live nodes and
no duplicates once settled; the portal answers from the surviving nodes; the killed process,
restarted, rejoins as a follower (the Leases keep their holder).

The helpers are test_seed_walkthrough.py's, used on a view of the cluster that reads the API
from inside the survivor's namespace. Network safety as there: portal IPs, etcd and node 2's API
are only contacted from inside the node namespaces.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

import pytest

from tests.e2e.test_seed_walkthrough import (
    EVICTION,
    GRACE,
    ROOT,
    EtcdInNode,
    cli,
    portal_ip,
    ready_endpoints,
    wait_running,
    welcome_from_every_node,
)
from tests.fixtures.docker import missing_prerequisite, skip_or_fail
from tests.fixtures.netcluster import (
    NODE_IPS,
    SECURE_PORT,
    ClusterNode,
    NetCluster,
    cluster_for_pid,
    sweep_stale_test_clusters,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

T = TypeVar("T")
LEASES = ("kube-scheduler", "kube-controller-manager")
TIMINGS = ["--leader-elect=true", "--leader-elect-lease-duration", "3",
           "--leader-elect-renew-deadline", "2", "--leader-elect-retry-period", "0.5"]
CONTROL = ["--node-monitor-grace-period", str(GRACE), "--pod-eviction-timeout", str(EVICTION),
           *TIMINGS]
SELECTOR = "run-container=nginx"


class ViaNode:
    """The parts of NetCluster the walkthrough's helpers use, with the API read from inside
    ``api``'s namespace (curl there) and only ``nodes`` taking part in the portal checks."""

    def __init__(self, c: NetCluster, api: ClusterNode, nodes: list[ClusterNode]) -> None:
        self.cluster = c
        self.api = api
        self.nodes = nodes
        self.wait_for = c.wait_for

    def node(self, index: int) -> ClusterNode:
        return self.cluster.node(index)

    def get(self, path: str) -> Any:
        res = self.api.run(["curl", "-sSf", "--max-time", "5", f"{self.api.inner_url}{path}"],
                           timeout=15)
        return json.loads(res.stdout)

    def logs(self, tail: int = 3000) -> str:
        return self.cluster.logs(tail)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The bundled CLI inside ``api``'s namespace, against its API."""
        res = subprocess.run([*self.api.nsenter(), sys.executable, "-m", "minikube8s", *args,
                              "-s", self.api.inner_url],
                             capture_output=True, text=True, timeout=60, cwd=ROOT)
        if res.returncode != 0:
            raise AssertionError(f"minikube8s {' '.join(args)} exited {res.returncode}:\n"
                                 f"{res.stdout}\n{res.stderr}")
        return res


def holders(get: Callable[[str], Any]) -> dict[str, str]:
    out = {}
    for name in LEASES:
        lease = get(f"/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}")
        out[name] = str((lease.get("spec") or {}).get("holderIdentity") or "")
    return out


def leading_node(c: NetCluster, held: dict[str, str]) -> ClusterNode | None:
    """The node whose process logged itself the leader of every Lease in ``held``."""
    for n in c.nodes:
        text = n.node_logs()
        if all(h and f"{h} is the leader" in text for h in held.values()):
            return n
    return None


def owned(view: NetCluster) -> list[dict[str, Any]]:
    items = view.get(f"/api/v1/namespaces/default/pods?labelSelector={SELECTOR}")["items"]
    return [p for p in items or [] if not p["metadata"].get("deletionTimestamp")]


class TwoMasters:
    def __init__(self, c: NetCluster, etcd: EtcdInNode) -> None:
        self.cluster = c
        self.etcd = etcd
        self.killed: ClusterNode | None = None
        self.survivor: ClusterNode | None = None
        self.held: dict[str, str] = {}

    def view(self) -> NetCluster:
        assert self.survivor is not None and self.killed is not None
        live = [n for n in self.cluster.nodes if n is not self.killed]
        return cast(NetCluster, ViaNode(self.cluster, self.survivor, live))


def wire(c: NetCluster) -> EtcdInNode:
    """etcd on node 1's cluster address; nodes 1 and 2 control planes on it (node 1 starts
    first and leads before node 2 starts); node 3 a plain node of node 2's API."""
    etcd = EtcdInNode(c, host=NODE_IPS[0])
    node1, node2, node3 = c.nodes
    node2.role = "ai"
    for n in (node1, node2):
        n.extra_args = [*n.extra_args, "--store", etcd.url]
    # the last --server wins; node 3's --token (node 1's join token) stays
    node3.extra_args = [*node3.extra_args, "--server", f"https://{node2.ip}:{SECURE_PORT}"]
    start_node = node1.start_node

    def start_first(timeout: float = 60.0) -> None:
        if etcd.proc is None:
            etcd.start()
        start_node(timeout)
        c.wait_for(lambda: all(holders(c.get).values()), timeout=30, interval=0.2,
                   what="both Leases held")

    node1.start_node = start_first  # type: ignore[method-assign]
    return etcd


@pytest.fixture(scope="module")
def ha() -> Iterator[TwoMasters]:
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    sweep_stale_test_clusters()
    c = cluster_for_pid(os.getpid(), node_args={1: CONTROL, 2: CONTROL})
    etcd = wire(c)
    try:
        try:
            c.up()
        except BaseException:
            sys.stderr.write(c.failure_logs)
            raise
        try:
            yield TwoMasters(c, etcd)
        finally:
            c.down()
    finally:
        etcd.stop()


def test_run_container_and_expose(ha: TwoMasters) -> None:
    c = ha.cluster
    assert "nginx" in cli(c, "run-container", "nginx", "--image=nginx", "--port=80",
                          "--replicas=6").stdout
    spread = wait_running(c, SELECTOR, 6, nodes={n.node_name for n in c.nodes})
    assert sum(spread.values()) == 6
    cli(c, "expose", "rc", "nginx", "--port=80", "--target-port=80",
        "--service-name=nginx-http")
    c.wait_for(lambda: ready_endpoints(c, "nginx-http", 80) == 6, timeout=30,
               what="nginx-http's 6 endpoints")
    welcome_from_every_node(c, f"http://{portal_ip(c, 'nginx-http')}/")


def test_leader_killed_survivor_takes_over(ha: TwoMasters) -> None:
    c = ha.cluster
    held = holders(c.get)
    assert all(held.values()), held
    leader = leading_node(c, held)
    assert leader is not None and leader.role == "ai", (held, c.logs())
    ha.killed = leader
    ha.survivor = next(n for n in c.nodes if n.role == "ai" and n is not leader)
    view = ha.view()
    url = f"http://{portal_ip(c, 'nginx-http')}/"

    killed_at = time.monotonic()
    leader.kill_node()  # SIGKILL: its dockerd and containers stay

    def taken() -> dict[str, str] | None:
        now = holders(view.get)
        return now if all(now[n] and now[n] != held[n] for n in LEASES) else None

    new = c.wait_for(taken, timeout=20, interval=0.2, what="the survivor holding both Leases")
    took = time.monotonic() - killed_at
    assert took < 10, took  # lease 3 s, retry 0.5 s
    assert leading_node(c, new) is ha.survivor, new
    ha.held = new

    ViaNode(c, ha.survivor, []).cli("resize", "rc", "nginx", "--replicas=8")
    live = {n.node_name for n in c.nodes if n is not leader}
    # The killed node's pods are evicted (grace + eviction timeout) and come back on live nodes.
    got = wait_running(view, SELECTOR, 8, nodes=live, timeout=GRACE + EVICTION + 90)
    assert sum(got.values()) == 8
    time.sleep(3)  # settled: one controller manager, no duplicates
    assert len(owned(view)) == 8, [p["metadata"]["name"] for p in owned(view)]
    c.wait_for(lambda: ready_endpoints(view, "nginx-http", 80) == 8, timeout=30,
               what="nginx-http's 8 endpoints")
    welcome_from_every_node(view, url)


def test_killed_master_rejoins_as_follower(ha: TwoMasters) -> None:
    c = ha.cluster
    assert ha.killed is not None and ha.held, "the takeover step did not run"
    ha.killed.start_node()
    c.wait_for(lambda: ha.killed is not None and ha.killed.node_ready(), timeout=60,
               interval=0.5, what="the restarted node Ready")
    # Several lease durations: the restarted process stays a candidate.
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        assert holders(ha.view().get) == ha.held
        time.sleep(0.5)
    assert len(owned(ha.view())) == 8
