"""Pure controller logic: ActivePods ordering, expectations under FakeClock, slow-start
batches, pod templates, endpoints subsets, podCIDR allocation, node conditions and taints,
and the API server's propagationPolicy rules."""

from __future__ import annotations

import random
from typing import Any

import pytest

from minikube8s.api import errors
from minikube8s.client import FakeClock
from minikube8s.roles.apiserver import rules
from minikube8s.roles.controllers import podutil
from minikube8s.roles.controllers.endpoints import build_subsets, resolve_port
from minikube8s.roles.controllers.expectations import Expectations
from minikube8s.roles.controllers.node_ipam import CidrAllocator, CidrExhausted
from minikube8s.roles.controllers.node_lifecycle import (
    NodeHealth,
    desired_taints,
    unknown_conditions,
)
from minikube8s.roles.controllers.replication import pod_from_template, slow_start_batches

Object = dict[str, Any]


def pod(name: str, *, node: str = "", phase: str = "Pending", ready: bool = False,
        created: str = "2015-05-01T00:00:00Z", ready_at: str = "", restarts: int = 0,
        ip: str = "", labels: dict[str, str] | None = None, deleting: bool = False) -> Object:
    md: Object = {"name": name, "namespace": "ns", "uid": f"uid-{name}",
                  "creationTimestamp": created, "labels": labels or {"app": "web"}}
    if deleting:
        md["deletionTimestamp"] = "2015-05-01T00:00:00Z"
    status: Object = {"phase": phase,
                      "containerStatuses": [{"name": "c", "restartCount": restarts}]}
    if ready or ready_at:
        status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False",
                                 "lastTransitionTime": ready_at}]
    if ip:
        status["podIP"] = ip
    return {"metadata": md, "spec": {"nodeName": node, "containers": [
        {"name": "c", "ports": [{"name": "http", "containerPort": 8080},
                                {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
        "status": status}


# -- pod ordering ---------------------------------------------------------------------------------

def test_deletion_order_follows_active_pods() -> None:
    expected = [
        pod("unscheduled"),
        pod("pending", node="n"),
        pod("unknown", node="n", phase="Unknown"),
        pod("running-not-ready", node="n", phase="Running"),
        pod("ready-recently", node="n", phase="Running", ready=True,
            ready_at="2015-05-02T00:00:00Z"),
        pod("ready-long-restarts", node="n", phase="Running", ready=True,
            ready_at="2015-05-01T00:00:00Z", restarts=5),
        pod("ready-long-newer", node="n", phase="Running", ready=True,
            ready_at="2015-05-01T00:00:00Z", created="2015-04-02T00:00:00Z"),
        pod("ready-long-older", node="n", phase="Running", ready=True,
            ready_at="2015-05-01T00:00:00Z", created="2015-04-01T00:00:00Z"),
    ]
    shuffled = list(expected)
    random.Random(4).shuffle(shuffled)
    got = [p["metadata"]["name"] for p in podutil.sort_for_deletion(shuffled)]
    assert got == [p["metadata"]["name"] for p in expected]


def test_active_and_ready() -> None:
    assert podutil.is_active(pod("a"))
    assert not podutil.is_active(pod("b", phase="Succeeded"))
    assert not podutil.is_active(pod("c", phase="Failed"))
    assert not podutil.is_active(pod("d", deleting=True))
    assert podutil.is_ready(pod("e", ready=True))
    assert not podutil.is_ready(pod("f", ready_at="2015-05-01T00:00:00Z"))


def test_time_round_trip() -> None:
    t = podutil.parse_time("2015-05-08T12:00:00Z")
    assert t is not None and podutil.format_time(t) == "2015-05-08T12:00:00Z"
    assert podutil.parse_time("2015-05-08T12:00:00.123456Z") == pytest.approx(t + 0.123456)
    assert podutil.parse_time("garbage") is None and podutil.parse_time(None) is None


# -- expectations ---------------------------------------------------------------------------------

async def test_expectations_block_until_observed() -> None:
    clock = FakeClock()
    exp = Expectations(clock)
    assert exp.satisfied("ns/rc")
    exp.expect_creations("ns/rc", 3)
    assert not exp.satisfied("ns/rc")
    exp.creation_observed("ns/rc")
    exp.creation_observed("ns/rc")
    assert not exp.satisfied("ns/rc")
    exp.creation_observed("ns/rc")
    assert exp.satisfied("ns/rc")
    exp.creation_observed("ns/rc")  # extra adds never go negative
    assert exp.get("ns/rc") is not None and exp.get("ns/rc").adds == 0  # type: ignore[union-attr]


async def test_deletions_count_once_per_pod() -> None:
    exp = Expectations(FakeClock())
    exp.expect_deletions("ns/rc", ["ns/a", "ns/b"])
    exp.deletion_observed("ns/rc", "ns/a")  # the update that sets deletionTimestamp
    exp.deletion_observed("ns/rc", "ns/a")  # the DELETED event for the same pod
    exp.deletion_observed("ns/rc", "ns/zzz")  # not one we deleted
    assert not exp.satisfied("ns/rc")
    exp.deletion_observed("ns/rc", "ns/b")
    assert exp.satisfied("ns/rc")


async def test_expectations_expire_after_five_minutes() -> None:
    clock = FakeClock()
    exp = Expectations(clock)
    exp.expect_creations("ns/rc", 2)
    assert exp.expires_in("ns/rc") == 300.0
    await clock.advance(299)
    assert not exp.satisfied("ns/rc")
    await clock.advance(2)
    assert exp.satisfied("ns/rc")
    exp.delete("ns/rc")
    assert "ns/rc" not in exp and exp.expires_in("ns/rc") is None


# -- replication ----------------------------------------------------------------------------------

def test_slow_start_batches() -> None:
    assert slow_start_batches(1) == [1]
    assert slow_start_batches(10) == [1, 2, 4, 3]
    assert slow_start_batches(100) == [1, 2, 4, 8, 16, 32, 37]
    assert slow_start_batches(0) == []


def test_pod_from_template() -> None:
    rc = {"apiVersion": "v1", "kind": "ReplicationController",
          "metadata": {"name": "nginx-controller", "namespace": "ns", "uid": "u1"},
          "spec": {"replicas": 2, "selector": {"name": "nginx"},
                   "template": {"metadata": {"labels": {"name": "nginx"},
                                             "annotations": {"a": "b"}},
                                "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}
    p = pod_from_template(rc)
    assert p["metadata"]["generateName"] == "nginx-controller-"
    assert p["metadata"]["namespace"] == "ns"
    assert p["metadata"]["labels"] == {"name": "nginx"}
    assert p["metadata"]["annotations"] == {"a": "b"}
    assert p["metadata"]["ownerReferences"] == [{
        "apiVersion": "v1", "kind": "ReplicationController", "name": "nginx-controller",
        "uid": "u1", "controller": True, "blockOwnerDeletion": True}]
    p["spec"]["containers"][0]["image"] = "changed"
    assert rc["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx"


# -- endpoints ------------------------------------------------------------------------------------

SVC: Object = {"metadata": {"name": "web", "namespace": "ns"},
               "spec": {"selector": {"app": "web"}, "ports": [
                   {"name": "http", "port": 80, "targetPort": "http"},
                   {"name": "raw", "port": 81, "targetPort": 9000},
                   {"name": "dns", "port": 53, "targetPort": "dns", "protocol": "UDP"}]}}


def test_resolve_port() -> None:
    p = pod("a")
    assert resolve_port(p, {"port": 80, "targetPort": "http"}) == 8080
    assert resolve_port(p, {"port": 80, "targetPort": 9000}) == 9000
    assert resolve_port(p, {"port": 80}) == 80
    assert resolve_port(p, {"port": 53, "targetPort": "dns", "protocol": "UDP"}) == 53
    assert resolve_port(p, {"port": 53, "targetPort": "dns"}) is None  # TCP: no such port
    assert resolve_port(p, {"port": 80, "targetPort": "nope"}) is None


def test_build_subsets() -> None:
    pods = [pod("r1", node="n1", ready=True, ip="172.16.1.10"),
            pod("r2", node="n2", ready=True, ip="172.16.1.9"),
            pod("nr", node="n1", ip="172.16.2.5", ready_at="2015-05-01T00:00:00Z"),
            pod("noip", node="n1", ready=True),
            pod("dying", node="n1", ready=True, ip="172.16.3.1", deleting=True),
            pod("done", node="n1", phase="Succeeded", ip="172.16.3.2")]
    [subset] = build_subsets(SVC, pods)
    assert [a["ip"] for a in subset["addresses"]] == ["172.16.1.9", "172.16.1.10"]
    assert [a["ip"] for a in subset["notReadyAddresses"]] == ["172.16.2.5"]
    assert subset["addresses"][0] == {
        "ip": "172.16.1.9", "nodeName": "n2",
        "targetRef": {"kind": "Pod", "namespace": "ns", "name": "r2", "uid": "uid-r2"}}
    assert subset["ports"] == [{"name": "dns", "port": 53, "protocol": "UDP"},
                               {"name": "http", "port": 8080, "protocol": "TCP"},
                               {"name": "raw", "port": 9000, "protocol": "TCP"}]


def test_subsets_group_pods_by_port_set() -> None:
    odd = pod("odd", ready=True, ip="172.16.0.7")
    odd["spec"]["containers"][0]["ports"] = [{"name": "http", "containerPort": 9999}]
    subsets = build_subsets(SVC, [pod("a", ready=True, ip="172.16.0.6"), odd])
    assert len(subsets) == 2
    by_ip = {s["addresses"][0]["ip"]: s["ports"] for s in subsets}
    assert by_ip["172.16.0.7"] == [{"name": "http", "port": 9999, "protocol": "TCP"},
                                   {"name": "raw", "port": 9000, "protocol": "TCP"}]


def test_publish_not_ready_addresses() -> None:
    svc = {**SVC, "spec": {**SVC["spec"], "publishNotReadyAddresses": True}}
    [subset] = build_subsets(svc, [pod("nr", ip="172.16.2.5")])
    assert [a["ip"] for a in subset["addresses"]] == ["172.16.2.5"]
    assert "notReadyAddresses" not in subset


# -- pod CIDRs ------------------------------------------------------------------------------------

def test_cidr_allocation_is_unique_and_reusable() -> None:
    a = CidrAllocator("172.16.0.0/16")
    assert a.occupy("pre", "172.16.1.0/24")
    assert not a.occupy("other", "172.16.1.0/24")  # taken
    assert not a.occupy("x", "10.0.0.0/24")  # not ours
    assert a.allocate("n0") == "172.16.0.0/24"
    assert a.allocate("n2") == "172.16.2.0/24"
    assert a.allocate("n0") == "172.16.0.0/24"  # idempotent
    a.release("n0")
    assert a.allocate("n3") == "172.16.0.0/24"
    assert a.holder("172.16.2.0/24") == "n2"


def test_cidr_exhaustion() -> None:
    a = CidrAllocator("10.1.0.0/23")
    assert [a.allocate("a"), a.allocate("b")] == ["10.1.0.0/24", "10.1.1.0/24"]
    with pytest.raises(CidrExhausted):
        a.allocate("c")
    assert len(a) == 2


# -- node lifecycle -------------------------------------------------------------------------------

def test_probe_moves_only_when_a_heartbeat_changes() -> None:
    h = NodeHealth(probe=0.0)
    h.observe("t1", "", 10.0)
    assert h.probe == 10.0
    h.observe("t1", "", 20.0)
    assert h.probe == 10.0
    h.observe("t1", "r1", 30.0)  # the Lease renewed
    assert h.probe == 30.0


def test_unknown_conditions_and_taints() -> None:
    node: Object = {"metadata": {"name": "n", "creationTimestamp": "2015-05-01T00:00:00Z"},
                    "spec": {"taints": [{"key": "user", "effect": "NoSchedule"}]},
                    "status": {"conditions": [
                        {"type": "Ready", "status": "True", "lastHeartbeatTime": "hb",
                         "lastTransitionTime": "old"}]}}
    [ready] = unknown_conditions(node, "now")
    assert ready == {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown",
                     "message": "Kubelet stopped posting node status.",
                     "lastHeartbeatTime": "hb", "lastTransitionTime": "now"}
    assert desired_taints(node) == [{"key": "user", "effect": "NoSchedule"}]
    node["status"]["conditions"] = [ready]
    assert desired_taints(node) == [{"key": "user", "effect": "NoSchedule"},
                                    {"key": "node.kubernetes.io/unreachable",
                                     "effect": "NoSchedule"}]
    never: Object = {"metadata": {"name": "m", "creationTimestamp": "c"}, "status": {}}
    [c] = unknown_conditions(never, "now")
    assert c["reason"] == "NodeStatusNeverUpdated" and c["lastHeartbeatTime"] == "c"


# -- the API server's side of propagation ---------------------------------------------------------

def test_propagation_policy_rules() -> None:
    assert rules.propagation_policy({}, {}) is None
    assert rules.propagation_policy({"propagationPolicy": "Orphan"}, {}) == "Orphan"
    assert rules.propagation_policy({}, {"propagationPolicy": "Foreground"}) == "Foreground"
    assert rules.propagation_policy({"orphanDependents": True}, {}) == "Orphan"
    assert rules.propagation_policy({"orphanDependents": False}, {}) == "Background"
    with pytest.raises(errors.Invalid):
        rules.propagation_policy({"propagationPolicy": "Sideways"}, {})
    with pytest.raises(errors.Invalid):
        rules.propagation_policy({"propagationPolicy": "Orphan", "orphanDependents": True}, {})
    rc: Object = {"metadata": {"name": "x", "finalizers": ["orphan"]}}
    assert rules.gc_finalizers(rc, "Orphan") == []
    assert rules.gc_finalizers(rc, "Foreground") == ["foregroundDeletion"]
    assert rules.gc_finalizers(rc, "Background") == []
    assert rules.gc_finalizers(rc, None) == []


# -- garbage collector and namespace helpers ------------------------------------------------------

def test_gc_keys_and_owner_kinds() -> None:
    from minikube8s.roles.controllers.garbage_collector import (
        gc_key,
        owner_resource,
        split_gc_key,
    )
    p = pod("x")
    assert gc_key("pods", p) == "pods/ns/x"
    assert split_gc_key("pods/ns/x") == ("pods", "ns", "x")
    assert split_gc_key("nodes/n1") == ("nodes", "", "n1")
    rc = owner_resource({"apiVersion": "v1", "kind": "ReplicationController"})
    assert rc is not None and rc.name == "replicationcontrollers"
    lease = owner_resource({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"})
    assert lease is not None and lease.name == "leases"
    assert owner_resource({"apiVersion": "apps/v1", "kind": "ReplicaSet"}) is None


def test_namespace_content_order() -> None:
    from minikube8s.roles.controllers.namespace import namespaced_kinds
    names = [r.name for r in namespaced_kinds()]
    assert names[:3] == ["replicationcontrollers", "services", "pods"]
    assert "bindings" not in names and "namespaces" not in names and "nodes" not in names
    assert {"endpoints", "events", "leases", "limitranges", "resourcequotas"} <= set(names)
