"""The scheduler cache: incremental sums, assumptions (confirm, forget, expire), node churn."""

from __future__ import annotations

import copy

from minikube8s.roles.scheduler.cache import SchedulerCache
from tests.unit.scheduler.helpers import node, pod


def test_sums_follow_adds_and_removes() -> None:
    c = SchedulerCache()
    c.set_node(node("n1"))
    c.set_pod(pod("a", cpu="250m", memory="1Mi", node_name="n1", host_port=80))
    c.set_pod(pod("b", cpu="1", node_name="n1"))
    n = c.nodes["n1"]
    assert (n.req_cpu, n.req_memory, len(n.pods)) == (1250, 2**20, 2)
    assert n.ports == {("TCP", "0.0.0.0", 80): 1}
    c.remove_pod("default/a")
    assert (n.req_cpu, n.req_memory, len(n.pods)) == (1000, 0, 1)
    assert not n.ports


def test_status_updates_of_bound_pods_do_not_recount() -> None:
    c = SchedulerCache()
    c.set_node(node("n1"))
    p = pod("a", cpu="1", node_name="n1")
    assert c.set_pod(p)
    later = copy.deepcopy(p)
    later["status"]["phase"] = "Running"
    assert not c.set_pod(later)
    assert c.nodes["n1"].req_cpu == 1000


def test_assume_then_confirm() -> None:
    c = SchedulerCache(assume_ttl=30)
    c.set_node(node("n1"))
    unbound = pod("a", cpu="1")
    c.assume(c.info(unbound), "n1")
    assert c.is_assumed("default/a")
    assert c.nodes["n1"].req_cpu == 1000
    c.finish_binding("default/a", now=100.0)
    bound = copy.deepcopy(unbound)
    bound["spec"]["nodeName"] = "n1"
    c.set_pod(bound)
    assert not c.is_assumed("default/a")
    assert c.expire(now=1000.0) == []
    assert c.nodes["n1"].req_cpu == 1000


def test_forget_and_expire() -> None:
    c = SchedulerCache(assume_ttl=30)
    c.set_node(node("n1"))
    c.assume(c.info(pod("a", cpu="1")), "n1")
    assert c.forget("default/a")
    assert c.nodes["n1"].req_cpu == 0
    c.assume(c.info(pod("b", cpu="1")), "n1")
    # Still binding: no deadline yet, never expires.
    assert c.expire(now=10_000.0) == []
    c.finish_binding("default/b", now=100.0)
    assert c.expire(now=129.0) == []
    assert c.expire(now=130.0) == ["default/b"]
    assert c.nodes["n1"].req_cpu == 0
    # Forgetting a bound (not assumed) pod does nothing.
    c.set_pod(pod("c", cpu="1", node_name="n1"))
    assert not c.forget("default/c")


def test_pod_bound_elsewhere_than_assumed_moves() -> None:
    c = SchedulerCache()
    c.set_node(node("n1"))
    c.set_node(node("n2"))
    c.assume(c.info(pod("a", cpu="1")), "n1")
    c.set_pod(pod("a", cpu="1", node_name="n2"))
    assert c.nodes["n1"].req_cpu == 0 and c.nodes["n2"].req_cpu == 1000


def test_heartbeats_are_not_changes() -> None:
    c = SchedulerCache()
    n = node("n1")
    assert c.set_node(n)
    beat = copy.deepcopy(n)
    beat["status"]["conditions"][0]["lastHeartbeatTime"] = "2025-01-01T00:00:00Z"
    assert not c.set_node(beat)
    bigger = copy.deepcopy(n)
    bigger["status"]["allocatable"]["cpu"] = "8"
    assert c.set_node(bigger)
    assert c.nodes["n1"].alloc_cpu == 8000


def test_node_deleted_with_pods_keeps_their_sums_until_they_go() -> None:
    c = SchedulerCache()
    c.set_node(node("n1"))
    c.set_pod(pod("a", cpu="1", node_name="n1"))
    c.remove_node("n1")
    assert c.candidates() == []
    assert c.nodes["n1"].req_cpu == 1000
    # The node comes back: the pod is still counted.
    assert c.set_node(node("n1"))
    assert c.candidates()[0].req_cpu == 1000
    c.remove_node("n1")
    c.remove_pod("default/a")
    assert "n1" not in c.nodes


def test_pods_bound_to_unknown_nodes_are_counted_when_the_node_appears() -> None:
    c = SchedulerCache()
    c.set_pod(pod("a", cpu="1", node_name="n9"))
    assert c.candidates() == []
    c.set_node(node("n9"))
    assert c.candidates()[0].req_cpu == 1000


def test_recreated_pod_with_same_name() -> None:
    c = SchedulerCache()
    c.set_node(node("n1"))
    c.set_pod(pod("a", cpu="1", node_name="n1"))
    # A delete for an older incarnation (other uid) leaves the current one alone.
    assert not c.remove_pod("default/a", "some-other-uid")
    assert c.nodes["n1"].req_cpu == 1000
