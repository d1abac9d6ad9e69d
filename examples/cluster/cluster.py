#!/usr/bin/env python3
"""The seed's three-node cluster on this machine: ``make cluster`` / ``make cluster-down``.

    cluster.py up [--nodes N]   namespaces mk8s-net (the LAN bridge) and mk8s-node1..N at
                                192.168.0.10, .11, .12, ... each with its own dockerd and
                                minikube8s (node 1 --role ai, the others --role i), then
                                .cluster/kubeconfig for kubectl on this host
    cluster.py down             stop every process, remove containers, mounts, namespaces
                                and .cluster/
    cluster.py status           what exists now

Everything runs inside those namespaces; the host reaches only the API, over HTTPS
(https://10.251.0.2:6443, node 1's certificate names that address) through a veth pair
10.251.0.1 <-> 10.251.0.2 (both ends on this machine). Nodes 2..N join node 1 with the join
token it wrote (.cluster/node1/node/token); .cluster/kubeconfig holds its CA and admin
token. The work is done by tests/fixtures/netcluster.py (the same harness the network tests
use); this script only gives it a fixed name, state directory (.cluster/) and processes that
outlive the script. Needs root, dockerd, and the venv (``make venv``).

    kubectl --kubeconfig .cluster/kubeconfig get nodes
    KUBECONFIG=.cluster/kubeconfig .venv/bin/minikube8s get nodes
    nsenter --net=/var/run/netns/mk8s-node2 curl http://<pod IP>     (pod IPs live inside)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fixtures.docker import missing_prerequisite  # noqa: E402
from tests.fixtures.netcluster import NetCluster, netns_exists  # noqa: E402

STATE = ROOT / ".cluster"
PREFIX = "mk8s"
MAX_NODES = 3 + 7


def cluster(size: int = 3) -> NetCluster:
    return NetCluster(prefix=PREFIX, size=size, base=STATE, host_link=0,
                      host_veth="mk8s-host", detach=True, keep_base=False)


def existing_size() -> int:
    return sum(1 for i in range(1, MAX_NODES + 1) if netns_exists(f"{PREFIX}-node{i}"))


def answering(c: NetCluster) -> bool:
    return c.answering()


def up(size: int) -> int:
    reason = missing_prerequisite()
    if reason:
        print(f"cluster: cannot start: {reason}", file=sys.stderr)
        return 2
    have = existing_size()
    if have:
        if have == size and answering(cluster(size)):
            print(f"cluster: already up ({have} nodes); `make cluster-down` to remove it")
            return 0
        print(f"cluster: removing what an earlier run left ({have} node namespaces)")
        cluster(have).down()
    c = cluster(size)
    try:
        c.up()
    except Exception as e:
        print(f"cluster: start failed: {e}\n{c.failure_logs}", file=sys.stderr)
        return 1
    print(f"cluster: {size} nodes Ready in {c.startup_seconds:.1f}s")
    for n in c.nodes:
        print(f"  {n.name:12} {n.node_name:14} --role {n.role:2}  logs: {n.node_log}")
    print(f"API: {c.url} (from this host)\n"
          f"kubectl --kubeconfig {c.kubeconfig.relative_to(ROOT)} get nodes")
    return 0


def down() -> int:
    size = existing_size()
    cluster(max(size, 1)).down()
    print(f"cluster: removed ({size} node namespaces)")
    return 0


def status() -> int:
    size = existing_size()
    if not size:
        print("cluster: not running")
        return 1
    c = cluster(size)
    state = "API answering" if answering(c) else "API not answering"
    print(f"cluster: {size} node namespaces, {state} at {c.url}")
    if answering(c):
        for name, cidr in sorted(c.ready_nodes().items()):
            print(f"  {name:14} Ready  podCIDR {cidr}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="start the cluster")
    p_up.add_argument("--nodes", type=int, default=3, choices=range(1, MAX_NODES + 1),
                      metavar="N", help="number of nodes (default 3, as in the seed)")
    sub.add_parser("down", help="remove the cluster")
    sub.add_parser("status", help="show what exists")
    args = parser.parse_args()
    if args.command == "up":
        return up(args.nodes)
    if args.command == "down":
        return down()
    return status()


if __name__ == "__main__":
    sys.exit(main())
