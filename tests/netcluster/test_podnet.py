"""The pod network on the seed's three nodes (issue 7, Build 3): namespaces mk8s-t*-node1..3 at
192.168.0.10-12, each with its own dockerd and minikube8s (node 1 --role ai, the others
--role i), FLANNEL_NET 172.16.0.0/16.

Checked: distinct podCIDRs and Docker bridges on them; host-gw routes to the other nodes'
podCIDRs (our protocol only); pods on one node reach pods on another and are seen with their
own pod IP (busybox httpd CGI echoing REMOTE_ADDR), through Docker's FORWARD policy DROP;
traffic leaving the pod network is masqueraded by our nft table (a pod reaching another node's
own address is seen with its node's address; the rule itself is checked, and no packet is sent
out of the machine: the namespaces have no way out); a removed node's routes go away on the
others and come back when it returns.
"""

from __future__ import annotations

import ipaddress
import json
import signal
import subprocess
import sys
from typing import Any

import pytest

from tests.fixtures.netcluster import FLANNEL_NET, NetCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

HTTPD = ("mkdir -p /www/cgi-bin && printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\n"
         "echo $REMOTE_ADDR\\n' > /www/cgi-bin/ip && chmod +x /www/cgi-bin/ip "
         "&& exec httpd -f -p 8080 -h /www")


def pod(name: str, node: str, command: str) -> str:
    return json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeName": node, "containers": [{
            "name": "c", "image": "busybox", "imagePullPolicy": "IfNotPresent",
            "command": ["sh", "-c", command]}]}})


def pod_ip(c: NetCluster, name: str) -> str:
    status = c.get(f"/api/v1/namespaces/default/pods/{name}").get("status") or {}
    ready = any(x.get("type") == "Ready" and x.get("status") == "True"
                for x in status.get("conditions") or [])
    return str(status.get("podIP") or "") if ready else ""


def our_routes(c: NetCluster, index: int) -> dict[str, str]:
    """dst -> gateway of the routes with minikube8s' protocol in node ``index``'s namespace."""
    out = c.node(index).run(["ip", "-j", "-4", "route", "show", "proto", "137"]).stdout
    return {r["dst"]: r.get("gateway", "") for r in json.loads(out or "[]")}


@pytest.fixture(scope="module")
def cidrs(net_cluster: NetCluster) -> dict[str, str]:
    return net_cluster.ready_nodes()


@pytest.fixture(scope="module")
def pods(net_cluster: NetCluster) -> dict[str, str]:
    """An httpd pod on node 3 and idle busybox pods on nodes 1 and 2: name -> pod IP."""
    c = net_cluster
    n1, n2, n3 = (n.node_name for n in c.nodes)
    manifests = [pod("server", n3, HTTPD), pod("client1", n1, "exec sleep 3600"),
                 pod("client2", n2, "exec sleep 3600")]
    for m in manifests:
        c.kubectl("create", "-f", "-", stdin=m)
    ips = {}
    for name in ("server", "client1", "client2"):
        ips[name] = c.wait_for(lambda name=name: pod_ip(c, name), timeout=60,
                               what=f"pod {name} Ready with an IP")
    return ips


def test_nodes_ready_with_distinct_pod_cidrs(net_cluster: NetCluster,
                                             cidrs: dict[str, str]) -> None:
    assert set(cidrs) == {"192.168.0.10", "192.168.0.11", "192.168.0.12"}
    nets = [ipaddress.ip_network(v) for v in cidrs.values()]
    assert len(set(nets)) == 3
    assert all(n.prefixlen == 24 and n.subnet_of(ipaddress.ip_network(FLANNEL_NET))
               for n in nets)


def test_each_node_routes_the_other_pod_cidrs_via_their_ips(net_cluster: NetCluster,
                                                             cidrs: dict[str, str]) -> None:
    for n in net_cluster.nodes:
        want = {cidr: name for name, cidr in cidrs.items() if name != n.node_name}
        net_cluster.wait_for(lambda n=n, want=want: our_routes(net_cluster, n.index) == want,
                             timeout=15, what=f"routes {want} on {n.name}")
        # Only our protocol: the node's own LAN route is the kernel's, untouched.
        assert "192.168.0.0/24 dev eth0 proto kernel" in n.run(["ip", "-4", "route"]).stdout


def test_pods_use_the_node_pod_cidr_bridge(net_cluster: NetCluster, cidrs: dict[str, str],
                                           pods: dict[str, str]) -> None:
    for n, name in zip(net_cluster.nodes, ("client1", "client2", "server"), strict=True):
        assert ipaddress.ip_address(pods[name]) in ipaddress.ip_network(cidrs[n.node_name])
        info = json.loads(n.docker("network", "inspect", "minikube8s").stdout)[0]
        assert info["IPAM"]["Config"][0]["Subnet"] == cidrs[n.node_name]
        assert info["Options"]["com.docker.network.bridge.enable_ip_masquerade"] == "false"


def seen_by_server(c: NetCluster, client: str, server_ip: str) -> str:
    """The peer address the httpd on ``server_ip`` saw for a request from pod ``client``
    (busybox nc: its wget crashes in this image)."""
    request = "printf 'GET /cgi-bin/ip HTTP/1.0\\r\\n\\r\\n'"
    out = c.kubectl("exec", client, "--", "sh", "-c",
                    f"{request} | timeout 10 nc {server_ip} 8080").stdout
    assert "200 OK" in out, out
    return out.strip().splitlines()[-1].strip("[]").removeprefix("::ffff:")


def test_pod_to_pod_across_nodes_keeps_the_source_pod_ip(net_cluster: NetCluster,
                                                         pods: dict[str, str]) -> None:
    # Docker set FORWARD's policy to DROP (the harness starts each node with ip_forward 0,
    # as a fresh machine): pod traffic passes by our DOCKER-USER rules.
    for n in net_cluster.nodes:
        assert n.run(["iptables", "-S", "FORWARD"]).stdout.startswith("-P FORWARD DROP")
        assert n.run(["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "1"
    for client in ("client1", "client2"):
        assert seen_by_server(net_cluster, client, pods["server"]) == pods[client]


def test_a_node_reaches_pods_on_other_nodes(net_cluster: NetCluster,
                                            pods: dict[str, str]) -> None:
    body = net_cluster.node(1).fetch(f"http://{pods['server']}:8080/cgi-bin/ip")
    assert body.strip().strip("[]").removeprefix("::ffff:") == "192.168.0.10"


LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 9100))
s.listen()
s.settimeout(30)
print("listening", flush=True)
conn, peer = s.accept()
print(peer[0], flush=True)
"""


def test_pod_traffic_leaving_the_pod_network_is_masqueraded(net_cluster: NetCluster,
                                                            pods: dict[str, str]) -> None:
    # A real packet that leaves the pod network but not the machine: client2 (node 2) to a
    # listener on node 1's own address. It arrives from node 2's address, not the pod's.
    node1 = net_cluster.node(1)
    listener = subprocess.Popen([*node1.nsenter(), sys.executable, "-c", LISTENER, node1.ip],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None
        assert listener.stdout.readline().strip() == "listening"
        net_cluster.kubectl("exec", "client2", "--", "sh", "-c",
                            f"echo hi | timeout 10 nc {node1.ip} 9100", check=False)
        peer = listener.stdout.readline().strip()
    finally:
        listener.kill()
        listener.wait()
    assert peer == net_cluster.node(2).ip, f"seen as {peer}, pod IP {pods['client2']}"


def test_leaving_the_cluster_is_masqueraded_and_only_by_us(net_cluster: NetCluster,
                                                            cidrs: dict[str, str]) -> None:
    for n in net_cluster.nodes:
        table = n.run(["nft", "list", "table", "ip", "minikube8s-podnet"]).stdout
        assert (f"ip saddr {cidrs[n.node_name]} ip daddr != {FLANNEL_NET} "
                f'oifname != "mk8s0" masquerade') in table
        assert "type nat hook postrouting priority srcnat" in table
        nat = n.run(["iptables", "-t", "nat", "-S", "POSTROUTING"]).stdout
        assert "172.16." not in nat, nat  # Docker's own masquerade is off for the pod network
        user = n.run(["iptables", "-S", "DOCKER-USER"]).stdout
        assert f"-A DOCKER-USER -s {FLANNEL_NET} -j ACCEPT" in user
        assert f"-A DOCKER-USER -d {FLANNEL_NET} -j ACCEPT" in user
        # No way out of the cluster exists at all: the node has no default route.
        assert "default" not in n.run(["ip", "-4", "route"]).stdout


def test_a_removed_node_loses_its_routes_on_the_others(net_cluster: NetCluster,
                                                       cidrs: dict[str, str]) -> None:
    c = net_cluster
    node3 = c.node(3)
    gone = cidrs[node3.node_name]
    assert node3.kill_node(signal.SIGTERM) == 0
    c.kubectl("delete", "node", node3.node_name)
    for index in (1, 2):
        c.wait_for(lambda index=index: gone not in our_routes(c, index), timeout=15,
                   what=f"route {gone} removed on node {index}")
    # It comes back: registered again, a podCIDR again, routed again.
    node3.start_node()
    back: dict[str, Any] = c.wait_for(lambda: (c.ready_nodes().get(node3.node_name)
                                               and c.ready_nodes()), timeout=60,
                                      what="node 3 Ready again")
    cidr = back[node3.node_name]
    for index in (1, 2):
        c.wait_for(lambda index=index: our_routes(c, index).get(cidr) == node3.ip,
                   timeout=15, what=f"route {cidr} back on node {index}")
