"""Services that route, end to end (issue 7's Tests): the seed's three nodes as network
namespaces with real Docker (tests/fixtures/netcluster.py: 192.168.0.10-12, node 1 --role ai),
every node running the proxy with its nftables portals.

- the seed's nginx RC (6 replicas) and nginx service (80 and 443, externalIP 12.0.0.5): from
  every node and from inside a pod, the portal IP and 12.0.0.5 give the nginx welcome page;
- 60 requests through the portal are spread evenly over 6 busybox httpd pods serving their
  hostnames; with sessionAffinity ClientIP one client always reaches one pod;
- a UDP echo service answers through its portal IP (its backend a process on node 3: the pod
  images have no UDP server);
- the RC scaled to 0 makes the portal refuse at once, scaled back it answers again;
- a SIGKILLed node's proxy comes back with consistent rules and no leaked listener.

Every request is made inside the cluster's namespaces (``node.run``, ``kubectl exec``).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import netcluster
from tests.fixtures.netcluster import NetCluster

net_cluster = netcluster.net_cluster  # the module-scoped 3-node cluster fixture

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
EXTERNAL = "12.0.0.5"
WHO = ("mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www")


def rc(name: str, replicas: int, command: str, *, tcp_port: int | None = 80) -> str:
    container: dict[str, Any] = {"name": "c", "image": "busybox",
                                 "imagePullPolicy": "IfNotPresent",
                                 "command": ["sh", "-c", command]}
    if tcp_port is not None:  # ready once it listens
        container["readinessProbe"] = {"tcpSocket": {"port": tcp_port}, "periodSeconds": 1}
    return json.dumps({
        "apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"app": name},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"terminationGracePeriodSeconds": 1,
                                       "containers": [container]}}}})


def svc(name: str, port: int, *, protocol: str = "TCP", target: int | None = None) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
        "spec": {"selector": {"app": name},
                 "ports": [{"port": port, "targetPort": target or port,
                            "protocol": protocol}]}})


def ready_endpoints(c: NetCluster, name: str) -> int:
    ep = c.get(f"/api/v1/namespaces/default/endpoints/{name}")
    return sum(len(s.get("addresses") or []) for s in ep.get("subsets") or [])


def portal_ip(c: NetCluster, name: str) -> str:
    return str(c.get(f"/api/v1/namespaces/default/services/{name}")["spec"]["clusterIP"])


def http_from_node(c: NetCluster, index: int, url: str) -> str:
    res = c.node(index).run(["curl", "-sS", "--max-time", "5", url], check=False, timeout=15)
    return res.stdout if res.returncode == 0 else ""


def http_from_pod(c: NetCluster, pod: str, ip: str, port: int = 80) -> str:
    request = "printf 'GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n'"
    res = c.kubectl("exec", pod, "--", "sh", "-c", f"{request} | timeout 10 nc {ip} {port}",
                    check=False)
    return res.stdout


@pytest.fixture(scope="module")
def client_pod(net_cluster: NetCluster) -> str:
    c = net_cluster
    c.kubectl("create", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "client"},
        "spec": {"nodeName": c.nodes[1].node_name, "containers": [{
            "name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
            "command": ["sleep", "3600"]}]}}))

    def running() -> bool:
        st = c.get("/api/v1/namespaces/default/pods/client").get("status") or {}
        return st.get("phase") == "Running"
    c.wait_for(running, timeout=90, what="the client pod")
    return "client"


@pytest.fixture(scope="module")
def nginx(net_cluster: NetCluster) -> str:
    c = net_cluster
    c.kubectl("create", "-f", str(ROOT / "examples/v1/nginx-rc.yaml"))
    c.kubectl("create", "-f", str(ROOT / "examples/v1/nginx-service.yaml"))
    c.wait_for(lambda: ready_endpoints(c, "nginx") >= 6, timeout=180,
               what="6 ready nginx endpoints")
    return portal_ip(c, "nginx")


def test_nginx_through_its_portal_and_public_ip_from_every_node_and_a_pod(
        net_cluster: NetCluster, nginx: str, client_pod: str) -> None:
    c = net_cluster
    assert nginx.startswith("192.168.3.")
    for n in c.nodes:
        for ip in (nginx, EXTERNAL):
            page = c.wait_for(lambda n=n, ip=ip: http_from_node(c, n.index, f"http://{ip}/"),
                              timeout=30, what=f"nginx via {ip} from {n.node_name}")
            assert "Welcome to nginx!" in page
    for ip in (nginx, EXTERNAL):
        page = c.wait_for(lambda ip=ip: http_from_pod(c, client_pod, ip), timeout=30,
                          what=f"nginx via {ip} from a pod")
        assert "Welcome to nginx!" in page
    # Port 443 has its own listener and portal (the image's nginx serves only 80).
    table = c.node(3).run(["nft", "list", "table", "ip", "minikube8s"]).stdout
    assert f"{nginx} . 443" in table and f"{EXTERNAL} . 443" in table


def hostnames_via(c: NetCluster, index: int, url: str, count: int) -> Counter[str]:
    script = ("import urllib.request\n"
              f"for _ in range({count}):\n"
              f"    print(urllib.request.urlopen('{url}', timeout=5).read().decode().strip())\n")
    out = c.node(index).run([sys.executable, "-c", script], timeout=120).stdout
    return Counter(out.split())


def test_round_robin_over_six_pods_and_client_ip_affinity(net_cluster: NetCluster) -> None:
    c = net_cluster
    c.kubectl("create", "-f", "-", stdin=rc("who", 6, WHO))
    c.kubectl("create", "-f", "-", stdin=svc("who", 80))
    c.wait_for(lambda: ready_endpoints(c, "who") == 6, timeout=180, what="6 who endpoints")
    ip = portal_ip(c, "who")
    c.wait_for(lambda: http_from_node(c, 2, f"http://{ip}/"), timeout=30, what="who portal")
    time.sleep(1.0)  # every node's proxy has had the final endpoints
    counts = hostnames_via(c, 2, f"http://{ip}/", 60)
    assert len(counts) == 6, counts
    assert set(counts.values()) == {10}, counts

    c.kubectl("patch", "service", "who", "-p", '{"spec":{"sessionAffinity":"ClientIP"}}')
    c.wait_for(lambda: len(hostnames_via(c, 3, f"http://{ip}/", 6)) == 1, timeout=30,
               what="ClientIP affinity")
    assert len(hostnames_via(c, 3, f"http://{ip}/", 30)) == 1


def test_udp_echo_through_its_portal(net_cluster: NetCluster) -> None:
    """The pod images have no UDP server (busybox here is built without udpsvd and UDP nc), so
    the echo backend is a process on node 3 behind a selectorless service with hand-made
    Endpoints: the portal, the proxy on another node and its UDP relay are what is tested."""
    c = net_cluster
    n3 = c.node(3)
    echo = subprocess.Popen(
        [*n3.nsenter(), sys.executable, "-c",
         "import socket\n"
         "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         f"s.bind(('{n3.ip}', 5353))\n"
         "while True:\n"
         "    d, a = s.recvfrom(65535); s.sendto(b'echo:' + d, a)\n"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c.kubectl("create", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Service", "metadata": {"name": "echo"},
            "spec": {"ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}}))
        c.kubectl("create", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "echo"},
            "subsets": [{"addresses": [{"ip": n3.ip}],
                         "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}]}]}))
        ip = portal_ip(c, "echo")
        script = ("import socket\n"
                  "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)\n"
                  f"s.connect(('{ip}', 53)); s.send(b'ping'); print(s.recv(100).decode())\n")

        def echoed(index: int) -> bool:
            res = c.node(index).run([sys.executable, "-c", script], check=False)
            return res.stdout.strip() == "echo:ping"
        for index in (1, 2):
            c.wait_for(lambda index=index: echoed(index), timeout=30,
                       what=f"the UDP echo through its portal from node {index}")
    finally:
        echo.kill()
        echo.wait(10)


def test_scaled_to_zero_refuses_at_once_and_scaled_back_answers(net_cluster: NetCluster,
                                                                 nginx: str) -> None:
    c = net_cluster
    c.kubectl("scale", "rc", "nginx-controller", "--replicas=0")
    c.wait_for(lambda: ready_endpoints(c, "nginx") == 0, timeout=60, what="no endpoints")

    def refused() -> bool:
        t0 = time.monotonic()
        res = c.node(2).run(["curl", "-sS", "--max-time", "5", f"http://{nginx}/"],
                            check=False)
        return res.returncode in (7, 52, 56) and time.monotonic() - t0 < 2
    c.wait_for(refused, timeout=30, what="an immediate refusal")
    c.kubectl("scale", "rc", "nginx-controller", "--replicas=6")
    c.wait_for(lambda: ready_endpoints(c, "nginx") >= 6, timeout=180, what="6 endpoints again")
    page = c.wait_for(lambda: http_from_node(c, 2, f"http://{nginx}/"), timeout=30,
                      what="nginx back")
    assert "Welcome to nginx!" in page


def portal_ports(table: str) -> dict[str, int]:
    """``ip . port`` -> listener port from ``nft list table ip minikube8s`` (the redirect maps;
    a DNAT map's ``ip . port : nodeIP . port`` elements do not match)."""
    return {f"{m[1]} . {m[2]}": int(m[3]) for m in re.finditer(
        r"(\d+\.\d+\.\d+\.\d+) \. (\d+)(?: comment \"[^\"]*\")? : (\d+)(?=[,\s}])", table)}


def test_a_proxy_restart_leaves_consistent_rules_and_no_leaked_listener(
        net_cluster: NetCluster, nginx: str) -> None:
    c = net_cluster
    n = c.node(3)

    def table() -> str:
        return n.run(["nft", "list", "table", "ip", "minikube8s"], check=False).stdout

    before = portal_ports(table())
    assert f"{nginx} . 80" in before
    n.kill_node(signal.SIGKILL)
    n.start_node()
    try:
        c.wait_for(lambda: (p := portal_ports(table())).get(f"{nginx} . 80")
                   and p[f"{nginx} . 80"] != before[f"{nginx} . 80"], timeout=90,
                   what="the restarted proxy's rules")
    except AssertionError as e:
        raise AssertionError(f"{e}\ntable:\n{table()}\nnode log:\n"
                             f"{n.node_logs()[-6000:]}") from None
    after = portal_ports(table())
    assert set(after) == set(before)  # the same portals, new listeners
    listening = n.run(["ss", "-Htlnp"]).stdout + n.run(["ss", "-Hulnp"]).stdout
    ports = {int(m) for m in re.findall(r":(\d+)\s", listening)}
    assert set(after.values()) <= ports
    assert not set(before.values()) & ports  # the dead process's ports are gone
    page = c.wait_for(lambda: http_from_node(c, 3, f"http://{nginx}/"), timeout=30,
                      what="nginx after the restart")
    assert "Welcome to nginx!" in page


def test_node_logs_say_the_proxy_runs(net_cluster: NetCluster) -> None:
    for n in net_cluster.nodes:
        logs: Any = n.node_logs()
        assert "proxy: mode nftables, table ip minikube8s" in logs
