"""The seed's whole walkthrough (issue 8's Tests) on its three-node cluster, through the
bundled CLI (``python -m minikube8s <verb> --kubeconfig K``, run on the host against node 1's
HTTPS API over the harness's host link, with its CA and admin token; nodes 2 and 3 joined
node 1 with its join token).

The cluster is tests/fixtures/netcluster.py's: three network-namespace nodes at
192.168.0.10-12 with real Docker, node 1 ``--role ai``, nodes 2 and 3 ``--role i``, every node
running the proxy with its nftables portals. Node 1's node controller gets a shortened
``--node-monitor-grace-period`` (15 s: the kubelet heartbeats every 10 s, so a live node is
never mistaken for a dead one) and ``--pod-eviction-timeout`` (5 s), so the node-failure step
fits in the module's time budget.

Steps, in the seed's order (the tests share the cluster and run in file order; each step
needs the one before it):

1. ``run-container nginx --image=nginx --port=80 --port=443 --replicas=6``: 6 Running pods
   over all three nodes;
2. ``expose rc nginx`` as nginx-http (80) and nginx-https (443); ``get rc,services`` shows
   their portal IPs in PORTAL_NET 192.168.3.0/24;
3. from each node: the nginx welcome page through nginx-http's portal IP, and through
   nginx-https's (``curl -k``);
4. ``delete services nginx-http nginx-https``, ``stop rc nginx``: the pods go;
5. ``create -f`` the seed's nginx_rc.yaml and nginx_service.yaml (v1beta3): 6 pods, the
   service with a portal IP and externalIP 12.0.0.5; from each node the portal IP and
   http://12.0.0.5 give the welcome page;
6. node 3's minikube8s SIGKILLed: node 3 goes NotReady and its pods come back on nodes 1 and
   2; restarted, it is Ready again.

The whole runs twice: with node 1's embedded store, and with the control plane on a real etcd
(``--store etcd://127.0.0.1:PORT``) started inside node 1's namespace.

Network safety: portal IPs and 12.0.0.5 are only ever contacted from inside the node
namespaces (``node.run`` is ``nsenter --net``); the host talks only to the API over the
host link, which exists only on this machine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.docker import missing_prerequisite, skip_or_fail
from tests.fixtures.etcd import etcd_binary, free_port, terminate
from tests.fixtures.netcluster import NetCluster, cluster_for_pid, sweep_stale_test_clusters

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

ROOT = Path(__file__).resolve().parents[2]
SEED = ROOT / "examples" / "seed"
PORTAL_NET = ipaddress.ip_network("192.168.3.0/24")
EXTERNAL = "12.0.0.5"
WELCOME = "Welcome to nginx!"
GRACE = 15.0
EVICTION = 5.0


class EtcdInNode:
    """A real etcd inside node 1's namespace on its loopback, started just before node 1's
    minikube8s (``--store etcd://127.0.0.1:PORT``): the control plane's store lives where
    only the control plane reaches it, as on the seed's master."""

    def __init__(self, c: NetCluster, host: str = "127.0.0.1") -> None:
        self.cluster = c
        self.host = host  # node 1's cluster address when other nodes' control planes use it
        self.client_port = free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"etcd://{self.host}:{self.client_port}"

    def start(self, timeout: float = 20.0) -> None:
        node1 = self.cluster.node(1)
        client = f"http://{self.host}:{self.client_port}"
        peer = f"http://{self.host}:{self.peer_port}"
        data = self.cluster.base / "etcd"
        data.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [*node1.nsenter(), etcd_binary(), "--name", "m", "--data-dir", str(data),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"m={peer}", "--log-level", "error"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def healthy() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited {self.proc.returncode}")
            res = node1.run(["curl", "-sS", "--max-time", "1", f"{client}/health"],
                            check=False, timeout=5)
            return '"true"' in res.stdout

        self.cluster.wait_for(healthy, timeout=timeout, interval=0.2, what="etcd in node 1")

    def key_count(self) -> int:
        """Keys in etcd (v3 gateway range over everything), read inside node 1."""
        body = json.dumps({"key": "AA==", "range_end": "AA==", "count_only": True})
        res = self.cluster.node(1).run(
            ["curl", "-sS", "--max-time", "2", "-X", "POST", "-d", body,
             f"http://{self.host}:{self.client_port}/v3/kv/range"], timeout=10)
        return int(json.loads(res.stdout).get("count") or 0)

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None


def with_etcd(c: NetCluster) -> EtcdInNode:
    """Give node 1 an etcd store: started inside its namespace once the namespace exists,
    right before node 1's minikube8s (NetCluster.up makes namespaces, then starts nodes)."""
    etcd = EtcdInNode(c)
    node1 = c.node(1)
    node1.extra_args = [*node1.extra_args, "--store", etcd.url]
    start_node = node1.start_node

    def start_with_etcd(timeout: float = 60.0) -> None:
        if etcd.proc is None:
            etcd.start()
        start_node(timeout)

    node1.start_node = start_with_etcd  # type: ignore[method-assign]
    return etcd


@pytest.fixture(scope="module", params=["embedded", "etcd"])
def cluster(request: pytest.FixtureRequest) -> Iterator[NetCluster]:
    """The 3-node cluster with a node controller that notices a dead node within seconds;
    the control plane's store embedded, or a real etcd inside node 1's namespace."""
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    sweep_stale_test_clusters()
    c = cluster_for_pid(os.getpid(), node_args={
        1: ["--node-monitor-grace-period", str(GRACE), "--pod-eviction-timeout", str(EVICTION)]})
    etcd = with_etcd(c) if request.param == "etcd" else None
    try:
        try:
            c.up()
        except BaseException:
            sys.stderr.write(c.failure_logs)
            raise
        try:
            if etcd is not None:  # the cluster really lives in etcd
                assert etcd.key_count() > 0
            yield c
        finally:
            c.down()
    finally:
        if etcd is not None:
            etcd.stop()


# -- helpers ------------------------------------------------------------------------------------

def cli(c: NetCluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The bundled CLI on the host, against the cluster's API (https, CA + admin token)."""
    res = subprocess.run([sys.executable, "-m", "minikube8s", *args, "--kubeconfig",
                          str(c.kubeconfig)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    if check and res.returncode != 0:
        raise AssertionError(f"minikube8s {' '.join(args)} exited {res.returncode}:\n"
                             f"{res.stdout}\n{res.stderr}")
    return res


def pods(c: NetCluster, selector: str) -> list[dict[str, Any]]:
    return list(c.get(f"/api/v1/namespaces/default/pods?labelSelector={selector}")
                .get("items") or [])


def running_by_node(c: NetCluster, selector: str) -> Counter[str]:
    """Node -> Running, Ready, not terminating pods matching ``selector``."""
    out: Counter[str] = Counter()
    for p in pods(c, selector):
        st = p.get("status") or {}
        ready = any(x.get("type") == "Ready" and x.get("status") == "True"
                    for x in st.get("conditions") or [])
        if (st.get("phase") == "Running" and ready
                and not p["metadata"].get("deletionTimestamp")):
            out[str(p["spec"].get("nodeName"))] += 1
    return out


def wait_running(c: NetCluster, selector: str, n: int, *, timeout: float = 90.0,
                 nodes: set[str] | None = None) -> Counter[str]:
    def done() -> Counter[str] | None:
        got = running_by_node(c, selector)
        if sum(got.values()) != n:
            return None
        if nodes is not None and set(got) != nodes:
            return None
        return got

    try:
        return c.wait_for(done, timeout=timeout, interval=0.5,
                          what=f"{n} Running pods {selector} on {nodes or 'any nodes'}")
    except Exception as e:
        raise AssertionError(f"{e}\nlast: {running_by_node(c, selector)}\n"
                             f"{c.logs()}") from e


def node_ready(c: NetCluster, name: str) -> str:
    node = c.get(f"/api/v1/nodes/{name}")
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status"))
    return "Missing"


def portal_ip(c: NetCluster, name: str) -> str:
    return str(c.get(f"/api/v1/namespaces/default/services/{name}")["spec"]["clusterIP"])


def ready_endpoints(c: NetCluster, name: str, port: int) -> int:
    ep = c.get(f"/api/v1/namespaces/default/endpoints/{name}")
    return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or []
               if any(p.get("port") == port for p in s.get("ports") or []))


def fetch_from_node(c: NetCluster, index: int, url: str) -> str:
    """GET ``url`` inside node ``index``'s namespace (curl runs there, not in a pod)."""
    res = c.node(index).run(["curl", "-sSk", "--max-time", "5", url], check=False, timeout=15)
    return res.stdout if res.returncode == 0 else f"<curl exit {res.returncode}: {res.stderr}>"


def welcome_from_every_node(c: NetCluster, url: str, *, timeout: float = 30.0) -> None:
    """Every node gets the welcome page from ``url`` (retried: each node's proxy programs its
    portals on its own schedule after the Service and Endpoints appear)."""
    last: dict[int, str] = {}

    def all_welcome() -> bool:
        for n in c.nodes:
            if WELCOME not in last.get(n.index, ""):
                last[n.index] = fetch_from_node(c, n.index, url)
        return all(WELCOME in last.get(n.index, "") for n in c.nodes)

    try:
        c.wait_for(all_welcome, timeout=timeout, interval=0.5, what=f"{url} from every node")
    except Exception as e:
        bad = {i: page[-300:] for i, page in last.items() if WELCOME not in page}
        raise AssertionError(f"{url}: no welcome page from nodes {bad}") from e


# -- the walkthrough ----------------------------------------------------------------------------

def test_run_container_spreads_over_all_nodes(cluster: NetCluster) -> None:
    c = cluster
    out = cli(c, "run-container", "nginx", "--image=nginx", "--port=80", "--port=443",
              "--replicas=6").stdout
    assert "nginx" in out
    spread = wait_running(c, "run-container=nginx", 6,
                          nodes={n.node_name for n in c.nodes})
    assert sum(spread.values()) == 6
    got = cli(c, "get", "pods").stdout
    assert got.count("Running") >= 6, got


def test_expose_rc_as_http_and_https(cluster: NetCluster) -> None:
    c = cluster
    cli(c, "expose", "rc", "nginx", "--port=80", "--target-port=80",
        "--service-name=nginx-http")
    cli(c, "expose", "rc", "nginx", "--port=443", "--target-port=443",
        "--service-name=nginx-https")
    table = cli(c, "get", "rc,services").stdout
    for name in ("nginx-http", "nginx-https"):
        ip = portal_ip(c, name)
        assert ipaddress.ip_address(ip) in PORTAL_NET, (name, ip)
        assert ip in table, table
    assert "replicationcontroller/nginx" in table, table
    c.wait_for(lambda: ready_endpoints(c, "nginx-http", 80) == 6, timeout=30,
               what="nginx-http's 6 endpoints")
    c.wait_for(lambda: ready_endpoints(c, "nginx-https", 443) == 6, timeout=30,
               what="nginx-https's 6 endpoints")


def test_portals_answer_from_every_node(cluster: NetCluster) -> None:
    c = cluster
    welcome_from_every_node(c, f"http://{portal_ip(c, 'nginx-http')}/")
    welcome_from_every_node(c, f"https://{portal_ip(c, 'nginx-https')}/")


def test_delete_services_and_stop_rc(cluster: NetCluster) -> None:
    c = cluster
    cli(c, "delete", "services", "nginx-http", "nginx-https")
    cli(c, "stop", "rc", "nginx")
    c.wait_for(lambda: not pods(c, "run-container=nginx"), timeout=60, interval=0.5,
               what="the nginx pods gone")
    names = {s["metadata"]["name"]
             for s in c.get("/api/v1/namespaces/default/services")["items"]}
    assert not names & {"nginx-http", "nginx-https"}, names
    rcs = c.get("/api/v1/namespaces/default/replicationcontrollers")["items"]
    assert not [r for r in rcs if r["metadata"]["name"] == "nginx"]


def test_create_seed_files(cluster: NetCluster) -> None:
    c = cluster
    cli(c, "create", "-f", str(SEED / "nginx_rc.yaml"))
    cli(c, "create", "-f", str(SEED / "nginx_service.yaml"))
    wait_running(c, "name=nginx", 6)
    svc = c.get("/api/v1/namespaces/default/services/nginx")
    assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in PORTAL_NET, svc["spec"]
    assert svc["spec"].get("externalIPs") == [EXTERNAL], svc["spec"]
    table = cli(c, "get", "services").stdout
    assert svc["spec"]["clusterIP"] in table, table
    c.wait_for(lambda: ready_endpoints(c, "nginx", 80) == 6, timeout=30,
               what="the nginx service's 6 endpoints")


def test_seed_service_answers_from_every_node(cluster: NetCluster) -> None:
    c = cluster
    welcome_from_every_node(c, f"http://{portal_ip(c, 'nginx')}/")
    welcome_from_every_node(c, f"http://{EXTERNAL}/")


def test_dead_node_pods_move_and_node_comes_back(cluster: NetCluster) -> None:
    c = cluster
    node3 = c.node(3)
    survivors = {c.node(1).node_name, c.node(2).node_name}
    before = running_by_node(c, "name=nginx")
    assert before[node3.node_name] > 0, f"no nginx pod on node 3 to move: {before}"
    node3.kill_node()  # SIGKILL: no goodbye, only missing heartbeats
    try:
        c.wait_for(lambda: node_ready(c, node3.node_name) != "True", timeout=GRACE + 20,
                   interval=0.5, what="node 3 NotReady")
        table = cli(c, "get", "nodes").stdout
        row = next(line for line in table.splitlines() if node3.node_name in line)
        assert "NotReady" in row, table
        after = wait_running(c, "name=nginx", 6, nodes=survivors, timeout=90)
        assert sum(after.values()) == 6
    finally:
        node3.start_node()
    c.wait_for(lambda: node_ready(c, node3.node_name) == "True", timeout=60, interval=0.5,
               what="node 3 Ready again")
    row = next(line for line in cli(c, "get", "nodes").stdout.splitlines()
               if node3.node_name in line)
    assert "Ready" in row and "NotReady" not in row, row
