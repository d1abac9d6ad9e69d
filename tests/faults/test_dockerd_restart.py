"""dockerd restarted under a running node: the kubelet recovers without duplicating containers.

One real Docker node (tests/fixtures/docker.py NodeNamespace: dockerd in a network namespace,
``minikube8s --role ai --runtime docker``) runs an RC of 3 nginx pods. Then, in order:

- ``test_restart_that_stops_the_containers``: dockerd stopped (SIGTERM; without live-restore
  it stops every container) and started again, now with ``--live-restore``. The node process
  must live through the outage (the node goes NotReady, not down); once the daemon is back the
  same 3 pods run again, each restarted once (restartCount 1, a new sandbox and a new app
  container), with exactly one running sandbox and one running app container each;
- ``test_restart_with_live_restore``: dockerd stopped and started while its containers keep
  running, and one pod deleted during the outage: the survivors keep their very containers
  (same ids, restartCount unchanged), the deleted pod's containers are removed (no orphan),
  its replacement runs, and a container killed afterwards is restarted promptly, which
  proves the kubelet follows Docker's event stream again;
- ``test_dockerd_restarted_while_pods_are_created``: the RC scaled to 5 and dockerd stopped
  as soon as the first new container exists: the new pods come up once it is back, with no
  duplicate and no never-started leftover, the old ones on their very containers.

Every check lists the daemon's containers by the kubelet's labels (minikube8s.io/node): no
container of a pod the API does not have, never two running of the same pod container.
Run under the machine-wide namespace lock:
``flock /tmp/mk8s-netns.lock .venv/bin/pytest tests/faults/test_dockerd_restart.py``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.docker import NodeNamespace, missing_prerequisite, skip_or_fail

pytestmark = pytest.mark.slow

Object = dict[str, Any]
NS = "default"
RC = {
    "apiVersion": "v1", "kind": "ReplicationController",
    "metadata": {"name": "restarts"},
    "spec": {
        "replicas": 3, "selector": {"app": "restarts"},
        "template": {
            "metadata": {"labels": {"app": "restarts"}},
            "spec": {"terminationGracePeriodSeconds": 5,
                     "containers": [{"name": "web", "image": "nginx"}]},
        },
    },
}
FORMAT = ("{{.ID}} {{.State}} {{.Label \"io.kubernetes.pod.uid\"}} "
          "{{.Label \"io.kubernetes.docker.type\"}} {{.Label \"io.kubernetes.container.name\"}}")


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeNamespace]:
    reason = missing_prerequisite()
    if reason:
        skip_or_fail(reason)
    ns = NodeNamespace()
    try:
        ns.start()
        ns.kubectl("create", "-f", "-", stdin=json.dumps(RC))
        yield ns
    finally:
        # The node's and dockerd's logs outlive the namespace, in pytest's temporary dir.
        keep = tmp_path_factory.mktemp("dockerd-restart-logs")
        for log in (ns.node_log, ns.dockerd_log):
            if log.exists():
                shutil.copy(log, keep / log.name)
        ns.close()


def pods(node: NodeNamespace) -> list[Object]:
    items: list[Object] = node.get(
        f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3Drestarts")["items"]
    return items


def containers(node: NodeNamespace) -> list[tuple[str, str, str, str, str]]:
    """(id, state, pod uid, type, container name) of every container the kubelet labelled."""
    out = node.docker("ps", "-a", "--no-trunc", "--filter", "label=minikube8s.io/node=node1",
                      "--format", FORMAT).stdout
    rows = []
    for line in out.splitlines():
        cid, state, uid, kind, name = (line.split() + [""] * 5)[:5]
        rows.append((cid, state, uid, kind, name))
    return rows


def all_running(node: NodeNamespace, n: int = 3) -> list[Object] | None:
    """The RC's pods once there are n, each Running with every container ready."""
    ps = [p for p in pods(node) if not p["metadata"].get("deletionTimestamp")]
    ok = [p for p in ps if p["status"].get("phase") == "Running"
          and p["status"].get("containerStatuses")
          and all(cs.get("ready") and "running" in cs.get("state", {})
                  for cs in p["status"]["containerStatuses"])]
    return ok if len(ok) == n == len(ps) else None


def check_no_duplicates(node: NodeNamespace, ps: list[Object]) -> None:
    """One running sandbox and one running app container per pod, whose id the API reports;
    nothing labelled for a pod the API does not have."""
    rows = containers(node)
    uids = {p["metadata"]["uid"] for p in ps}
    strays = [r for r in rows if r[2] not in uids]
    assert not strays, f"containers of pods the API does not have: {strays}"
    running = Counter((uid, kind, name) for _, state, uid, kind, name in rows
                      if state == "running")
    for p in ps:
        uid = p["metadata"]["uid"]
        assert running[(uid, "podsandbox", "POD")] == 1, (p["metadata"]["name"], rows)
        assert running[(uid, "container", "web")] == 1, (p["metadata"]["name"], rows)
        cid = p["status"]["containerStatuses"][0]["containerID"].removeprefix("docker://")
        assert (cid, "running") in {(r[0], r[1]) for r in rows}, (
            p["metadata"]["name"], p["status"]["containerStatuses"], rows)
    assert sum(running.values()) == 2 * len(ps), rows


def wait_not_ready(node: NodeNamespace) -> None:
    node.wait_for(lambda: not node.node_ready(), timeout=30, interval=0.25,
                  what="node NotReady while dockerd is away")


def assert_node_alive(node: NodeNamespace) -> None:
    assert node.node is not None and node.node.poll() is None, node.node_logs()[-3000:]


def test_restart_that_stops_the_containers(node: NodeNamespace) -> None:
    before = node.wait_for(lambda: all_running(node), timeout=60, what="3 pods Running")
    check_no_duplicates(node, before)
    uids = {p["metadata"]["uid"] for p in before}
    old_ids = {r[0] for r in containers(node)}

    node.stop_dockerd()  # no live-restore yet: dockerd stops every container on its way out
    wait_not_ready(node)
    time.sleep(1)  # a few kubelet sync rounds against an absent daemon
    assert_node_alive(node)
    node.dockerd_args = ["--live-restore"]  # for the next test
    start = time.monotonic()
    node.start_dockerd()

    def recovered() -> list[Object] | None:
        # Running on new containers: the status from before the outage may still stand.
        ps = all_running(node)
        return ps if ps and not any(
            p["status"]["containerStatuses"][0]["containerID"].removeprefix("docker://")
            in old_ids for p in ps) else None

    after = node.wait_for(recovered, timeout=45,
                          what="3 pods Running again on new containers after dockerd came back")
    took = time.monotonic() - start
    node.wait_for(node.node_ready, timeout=30, what="node Ready again")
    assert_node_alive(node)
    assert {p["metadata"]["uid"] for p in after} == uids  # the same pods, recovered in place
    check_no_duplicates(node, after)
    for p in after:
        cs = p["status"]["containerStatuses"][0]
        assert cs["restartCount"] == 1, (p["metadata"]["name"], cs)
        assert cs["containerID"].removeprefix("docker://") not in old_ids
    time.sleep(2)  # nothing more gets started once the pods run
    check_no_duplicates(node, pods(node))
    print(f"pods Running again {took:.1f}s after dockerd was started; containers: "
          f"{Counter(r[1] for r in containers(node))}")


def test_restart_with_live_restore(node: NodeNamespace) -> None:
    before = node.wait_for(lambda: all_running(node), timeout=30, what="3 pods Running")
    victim, *kept = before
    running_before = {r[0] for r in containers(node) if r[1] == "running"}

    node.stop_dockerd()  # --live-restore: the containers keep running without their daemon
    wait_not_ready(node)
    node.kubectl("delete", "pod", victim["metadata"]["name"], "--wait=false")
    time.sleep(1)
    assert_node_alive(node)
    node.start_dockerd()

    after = node.wait_for(lambda: all_running(node), timeout=45,
                          what="3 pods Running after the live-restore restart")
    node.wait_for(node.node_ready, timeout=30, what="node Ready again")
    victim_uid = victim["metadata"]["uid"]
    node.wait_for(lambda: not any(r[2] == victim_uid for r in containers(node)),
                  timeout=30, what="the deleted pod's containers removed")
    assert_node_alive(node)
    check_no_duplicates(node, after)
    by_uid = {p["metadata"]["uid"]: p for p in after}
    for p in kept:
        now = by_uid[p["metadata"]["uid"]]["status"]["containerStatuses"][0]
        was = p["status"]["containerStatuses"][0]
        assert now["containerID"] == was["containerID"]  # the very same container
        assert now["restartCount"] == was["restartCount"]
        assert now["containerID"].removeprefix("docker://") in running_before

    # The event stream is followed again: a container killed now is restarted promptly
    # (no other wake-up would come soon: pod resyncs are far apart).
    target = kept[0]["metadata"]
    cid = by_uid[target["uid"]]["status"]["containerStatuses"][0]["containerID"]
    node.docker("kill", cid.removeprefix("docker://"))

    def restarted() -> Object | None:
        p = node.get(f"/api/v1/namespaces/{NS}/pods/{target['name']}")
        cs = p["status"]["containerStatuses"][0]
        return p if cs["containerID"] != cid and "running" in cs["state"] else None

    node.wait_for(restarted, timeout=15, what="the killed container restarted")
    check_no_duplicates(node, node.wait_for(lambda: all_running(node), timeout=30,
                                            what="3 pods Running"))


def test_dockerd_restarted_while_pods_are_created(node: NodeNamespace) -> None:
    before = node.wait_for(lambda: all_running(node), timeout=30, what="3 pods Running")
    node.kubectl("scale", "rc", "restarts", "--replicas", "5")
    # Stop the daemon while the kubelet is half-way through creating the new pods'
    # sandboxes and containers; live-restore keeps the old pods' containers running.
    old_uids = {p["metadata"]["uid"] for p in before}
    node.wait_for(lambda: any(r[2] not in old_uids for r in containers(node)),
                  timeout=20, interval=0.05, what="the new pods' first container created")
    node.stop_dockerd()
    time.sleep(1)
    assert_node_alive(node)
    node.start_dockerd()

    after = node.wait_for(lambda: all_running(node, 5), timeout=45,
                          what="5 pods Running after the restart")
    assert_node_alive(node)
    check_no_duplicates(node, after)
    old = {p["metadata"]["uid"]: p["status"]["containerStatuses"][0] for p in before}
    for p in after:
        cs = p["status"]["containerStatuses"][0]
        if p["metadata"]["uid"] in old:
            assert cs["containerID"] == old[p["metadata"]["uid"]]["containerID"]
        else:
            assert cs["restartCount"] <= 1, (p["metadata"]["name"], cs)
    time.sleep(2)
    check_no_duplicates(node, pods(node))
    never_started = [r for r in containers(node) if r[1] == "created"]
    assert not never_started, never_started
