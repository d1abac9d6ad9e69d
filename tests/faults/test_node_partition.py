"""A node cut off from the network, then reconnected (issue 9, fault tests).

The cluster is tests/fixtures/netcluster.py's three namespace nodes with real Docker. Node 1's
node controller gets a short ``--node-monitor-grace-period`` (8 s, with every kubelet
heartbeating each 2 s through ``--node-status-update-frequency``) and ``--pod-eviction-timeout``
(5 s), so the whole fits in about a minute.

Unlike test_seed_walkthrough's SIGKILLed node, node 3's minikube8s and dockerd keep running
here: only its cable is pulled (its bridge port in the LAN namespace set down, as a switch
port going dark: no RST, no FIN, packets simply vanish). So:

1. an RC of 6 nginx pods runs over the three nodes (at least one on node 3);
2. cut: node 3 goes Ready=Unknown (the controller saw no heartbeat for the grace period),
   its pods are deleted and the RC's count is restored on nodes 1 and 2, all Running;
3. reconnect: node 3 is Ready again, and the kubelet, which never saw the deletes happen,
   learns of them (its watch fails or its relist finds the pods gone) and removes the evicted
   pods' containers from its dockerd; at the end every pod of the RC has exactly one running
   nginx container in the whole cluster and no container of an evicted pod is left anywhere.

Network safety: the cut is an ``ip link`` change inside the cluster's own LAN namespace; the
host talks only to the API over the fixture's host link.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.docker import missing_prerequisite, skip_or_fail
from tests.fixtures.netcluster import NetCluster, cluster_for_pid, sweep_stale_test_clusters

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

HEARTBEAT = 2.0  # --node-status-update-frequency: lets the grace period be short
GRACE = 8.0
EVICTION = 5.0
REPLICAS = 6
POD_UID_LABEL = "io.kubernetes.pod.uid"
CONTAINER_LABEL = "io.kubernetes.container.name"
WELCOME = "Welcome to nginx!"


@pytest.fixture(scope="module")
def cluster() -> Iterator[NetCluster]:
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    sweep_stale_test_clusters()
    c = cluster_for_pid(os.getpid(), extra_args=[
        "--node-status-update-frequency", str(HEARTBEAT)], node_args={
        1: ["--node-monitor-grace-period", str(GRACE), "--pod-eviction-timeout", str(EVICTION)]})
    try:
        c.up()
    except BaseException:
        sys.stderr.write(c.failure_logs)
        raise
    try:
        yield c
    finally:
        c.down()


# -- helpers ------------------------------------------------------------------------------------

def rc_manifest(app: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": app, "namespace": "default"},
        "spec": {
            "replicas": REPLICAS, "selector": {"app": app},
            "template": {
                "metadata": {"labels": {"app": app}},
                # A short grace keeps the force delete of the unreachable node's pods (after
                # their grace period) inside the test's budget.
                "spec": {"terminationGracePeriodSeconds": 3, "containers": [{
                    "name": "nginx", "image": "nginx", "imagePullPolicy": "IfNotPresent",
                    "ports": [{"containerPort": 80}]}]}}}}


def pods(c: NetCluster, app: str) -> list[dict[str, Any]]:
    return list(c.get(f"/api/v1/namespaces/default/pods?labelSelector=app%3D{app}")
                .get("items") or [])


def running(c: NetCluster, app: str) -> dict[str, str]:
    """uid -> node of the RC's Running, Ready, not terminating pods."""
    out = {}
    for p in pods(c, app):
        st = p.get("status") or {}
        ready = any(x.get("type") == "Ready" and x.get("status") == "True"
                    for x in st.get("conditions") or [])
        if st.get("phase") == "Running" and ready and not p["metadata"].get(
                "deletionTimestamp"):
            out[str(p["metadata"]["uid"])] = str(p["spec"].get("nodeName"))
    return out


def node_ready(c: NetCluster, name: str) -> str:
    node = c.get(f"/api/v1/nodes/{name}")
    for cond in (node.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return str(cond.get("status"))
    return "Missing"


def nginx_containers(c: NetCluster, index: int) -> Counter[str]:
    """Pod uid -> number of running nginx app containers on node ``index``."""
    out = c.node(index).docker("ps", "--filter", f"label={CONTAINER_LABEL}=nginx", "--format",
                               f'{{{{.Label "{POD_UID_LABEL}"}}}}').stdout
    return Counter(line.strip() for line in out.splitlines() if line.strip())


def pod_containers(c: NetCluster, index: int, uids: set[str]) -> list[str]:
    """Every container (pause and app, any state) on node ``index`` of the pods ``uids``."""
    out = c.node(index).docker("ps", "-a", "--format",
                               f'{{{{.ID}}}} {{{{.Label "{POD_UID_LABEL}"}}}}').stdout
    return [line for line in out.splitlines() if line.split(" ")[-1] in uids]


def cut_switch_port(c: NetCluster, index: int, state: str) -> None:
    """Node ``index``'s port on the LAN bridge (in the cluster's LAN namespace) down or up:
    the node keeps its addresses and routes and only hears silence."""
    subprocess.run(["ip", "-n", c.net_ns, "link", "set", f"node{index}", state], check=True,
                   capture_output=True, text=True)


def cut_nic(c: NetCluster, index: int, state: str) -> None:
    """Node ``index``'s own eth0 down or up: the kernel drops the routes through it (the
    pod network's routes to the other nodes' podCIDRs too), so they must come back."""
    c.node(index).run(["ip", "link", "set", "eth0", state])


CUTS = {"switch-port": cut_switch_port, "nic": cut_nic}


# -- the test -----------------------------------------------------------------------------------

@pytest.mark.parametrize("how", list(CUTS))
def test_partitioned_node_pods_move_and_stale_containers_go(cluster: NetCluster,
                                                             how: str) -> None:
    c = cluster
    cut = CUTS[how]
    app = f"partition-{how}"
    node3 = c.node(3)
    survivors = {c.node(1).node_name, c.node(2).node_name}
    c.kubectl("create", "-f", "-", stdin=json.dumps(rc_manifest(app)))

    def spread() -> dict[str, str] | None:
        got = running(c, app)
        return got if len(got) == REPLICAS else None

    before = c.wait_for(spread, timeout=90, interval=0.5, what=f"{REPLICAS} Running pods")
    evicted = {uid for uid, node in before.items() if node == node3.node_name}
    assert evicted, f"no pod on node 3 to move: {before}"
    assert set(nginx_containers(c, 3)) & set(before) == evicted

    cut(c, 3, "down")
    t_cut = time.monotonic()
    try:
        c.wait_for(lambda: node_ready(c, node3.node_name) == "Unknown", timeout=GRACE + 25,
                   interval=0.5, what="node 3 Ready=Unknown")
        t_unknown = time.monotonic() - t_cut

        def moved() -> dict[str, str] | None:
            live = {str(p["metadata"]["uid"]) for p in pods(c, app)}
            got = running(c, app)
            if live & evicted or len(got) != REPLICAS or set(got.values()) - survivors:
                return None
            return got

        try:
            after = c.wait_for(moved, timeout=EVICTION + 60, interval=0.5,
                               what="node 3's pods deleted and replaced on nodes 1-2")
        except Exception as e:
            rows = [(p["metadata"]["name"], p["spec"].get("nodeName"),
                     (p.get("status") or {}).get("phase"),
                     p["metadata"].get("deletionTimestamp")) for p in pods(c, app)]
            raise AssertionError(f"{e}\npods: {rows}\n{c.logs()}") from e
        t_moved = time.monotonic() - t_cut
        # Cut off, node 3 cannot have heard: its containers still run.
        assert set(nginx_containers(c, 3)) >= evicted
    finally:
        cut(c, 3, "up")
    t_up = time.monotonic()

    c.wait_for(lambda: node_ready(c, node3.node_name) == "True", timeout=90, interval=0.5,
               what="node 3 Ready again")
    t_ready = time.monotonic() - t_up
    try:
        c.wait_for(lambda: not pod_containers(c, 3, evicted), timeout=60, interval=0.5,
                   what="the evicted pods' containers removed from node 3's dockerd")
    except Exception as e:
        raise AssertionError(f"{e}\nleft: {pod_containers(c, 3, evicted)}\n"
                             f"{node3.node_logs()[-4000:]}") from e
    t_clean = time.monotonic() - t_up

    # No duplicates: the RC has exactly its replicas, each with one running nginx container
    # in the whole cluster, and none of an evicted pod runs anywhere.
    final = running(c, app)
    assert len(pods(c, app)) == REPLICAS, [p["metadata"]["name"] for p in pods(c, app)]
    assert set(final) == set(after), (final, after)
    everywhere: Counter[str] = Counter()
    for i in (1, 2, 3):
        everywhere.update(nginx_containers(c, i))
    mine = Counter({uid: n for uid, n in everywhere.items() if uid in set(final) | evicted})
    assert mine == Counter({uid: 1 for uid in final}), everywhere

    # The pod network healed too: node 3 reaches a pod on node 1 by its pod IP (host-gw
    # routes; after a NIC went down the pod network's resync puts them back).
    on1 = next(p for p in pods(c, app) if p["spec"].get("nodeName") == c.node(1).node_name)
    url = f"http://{on1['status']['podIP']}/"

    def reached() -> bool:
        try:
            return WELCOME in node3.fetch(url, timeout=2)
        except Exception:
            return False

    try:
        c.wait_for(reached, timeout=45, interval=1.0, what=f"{url} from node 3")
    except Exception as e:
        routes = node3.run(["ip", "route"], check=False).stdout
        raise AssertionError(f"{e}\nnode 3 routes:\n{routes}\n"
                             f"{node3.node_logs()[-3000:]}") from e
    t_net = time.monotonic() - t_up
    sys.stderr.write(f"partition ({how}): Unknown after {t_unknown:.1f}s, pods moved after "
                     f"{t_moved:.1f}s; reconnected: Ready after {t_ready:.1f}s, stale "
                     f"containers gone after {t_clean:.1f}s, pod network after "
                     f"{t_net:.1f}s\n")
