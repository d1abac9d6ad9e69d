"""Filters, scores and the FitError message as pure functions over made-up nodes and pods."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from minikube8s.roles.scheduler import plugins
from minikube8s.roles.scheduler.cache import (
    DEFAULT_MEMORY,
    DEFAULT_MILLI_CPU,
    SchedulerCache,
    pod_info,
    pod_requests,
)
from tests.unit.scheduler.helpers import node, pod


def cache_with(*nodes: dict, pods: tuple[dict, ...] = ()) -> SchedulerCache:
    c = SchedulerCache()
    for n in nodes:
        c.set_node(n)
    for p in pods:
        c.set_pod(p)
    return c


def reasons(c: SchedulerCache, p: dict) -> dict[str, list[str]]:
    info = pod_info(p)
    return {n.name: plugins.filter_node(info, n) for n in c.candidates()}


# -- requests ------------------------------------------------------------------------------------


def test_pod_request_sums_containers_and_takes_max_with_init_containers() -> None:
    spec = pod("p", cpu="250m", memory="64Mi", extra_containers=2)["spec"]
    assert pod_requests(spec) == {"cpu": 750, "memory": 3 * 64 * 2**20}
    spec = pod("p", cpu="250m", init_cpu="2")["spec"]
    assert pod_requests(spec)["cpu"] == 2000
    spec = pod("p", cpu="250m", init_cpu="100m")["spec"]
    assert pod_requests(spec)["cpu"] == 250


def test_unset_requests_count_as_defaults_only_for_scoring() -> None:
    info = pod_info(pod("p"))
    assert (info.cpu, info.memory) == (0, 0)
    assert (info.nz_cpu, info.nz_memory) == (DEFAULT_MILLI_CPU, DEFAULT_MEMORY)


def test_overhead_and_scalar_resources() -> None:
    p = pod("p", cpu="1")
    p["spec"]["overhead"] = {"cpu": "100m"}
    p["spec"]["containers"][0]["resources"]["requests"]["example.com/gpu"] = "1"
    info = pod_info(p)
    assert info.cpu == 1100
    assert info.scalars == {"example.com/gpu": 1}
    c = cache_with(node("n1"))
    assert reasons(c, p) == {"n1": ["Insufficient example.com/gpu"]}


# -- filters -------------------------------------------------------------------------------------


def test_resource_fit_counts_bound_pods() -> None:
    c = cache_with(node("n1", cpu="2", memory="1Gi"),
                   pods=(pod("a", cpu="1500m", node_name="n1"),))
    assert reasons(c, pod("p", cpu="500m")) == {"n1": []}
    assert reasons(c, pod("p", cpu="501m")) == {"n1": ["Insufficient cpu"]}
    assert reasons(c, pod("p", cpu="3", memory="2Gi")) == {
        "n1": ["Insufficient cpu", "Insufficient memory"]}
    # Best-effort pods always fit resource-wise.
    assert reasons(c, pod("p")) == {"n1": []}


def test_pod_count_limit() -> None:
    c = cache_with(node("n1", pods=2), pods=(pod("a", node_name="n1"), pod("b", node_name="n1")))
    assert reasons(c, pod("p")) == {"n1": ["Too many pods"]}


def test_finished_pods_hold_nothing() -> None:
    c = cache_with(node("n1", cpu="1"))
    c.set_pod(pod("a", cpu="1", node_name="n1"))
    assert reasons(c, pod("p", cpu="1")) == {"n1": ["Insufficient cpu"]}
    assert c.remove_pod("default/a")
    assert reasons(c, pod("p", cpu="1")) == {"n1": []}


def test_node_selector() -> None:
    c = cache_with(node("n1", labels={"disk": "ssd"}), node("n2"))
    assert reasons(c, pod("p", node_selector={"disk": "ssd"})) == {
        "n1": [], "n2": [plugins.SELECTOR_MISMATCH]}


def test_not_ready_and_unschedulable_nodes() -> None:
    c = cache_with(node("n1", ready=False), node("n2", unschedulable=True), node("n3"))
    assert reasons(c, pod("p")) == {"n1": [plugins.NOT_READY], "n2": [plugins.UNSCHEDULABLE],
                                    "n3": []}
    tolerant = pod("p", tolerations=[{"key": "node.kubernetes.io/unschedulable",
                                      "operator": "Exists", "effect": "NoSchedule"}])
    assert reasons(c, tolerant)["n2"] == []


def test_taints_and_tolerations() -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    c = cache_with(node("n1", taints=[taint]),
                   node("n2", taints=[{"key": "x", "value": "", "effect": "PreferNoSchedule"}]))
    assert reasons(c, pod("p")) == {"n1": ["node(s) had untolerated taint {dedicated: db}"],
                                    "n2": []}
    equal = [{"key": "dedicated", "operator": "Equal", "value": "db", "effect": "NoSchedule"}]
    assert reasons(c, pod("p", tolerations=equal))["n1"] == []
    wrong = [{"key": "dedicated", "operator": "Equal", "value": "web"}]
    assert reasons(c, pod("p", tolerations=wrong))["n1"] != []
    everything = [{"operator": "Exists"}]
    assert reasons(c, pod("p", tolerations=everything))["n1"] == []


@pytest.mark.parametrize(("used", "wanted", "clash"), [
    (("TCP", "", 8080), ("TCP", "", 8080), True),
    (("TCP", "", 8080), ("UDP", "", 8080), False),
    (("TCP", "", 8080), ("TCP", "", 8081), False),
    (("TCP", "10.0.0.1", 8080), ("TCP", "10.0.0.2", 8080), False),
    (("TCP", "10.0.0.1", 8080), ("TCP", "10.0.0.1", 8080), True),
    (("TCP", "10.0.0.1", 8080), ("TCP", "", 8080), True),
    (("TCP", "", 8080), ("TCP", "10.0.0.1", 8080), True),
])
def test_host_port_conflicts(used: tuple[str, str, int], wanted: tuple[str, str, int],
                             clash: bool) -> None:
    c = cache_with(node("n1"), pods=(pod("a", node_name="n1", protocol=used[0], host_ip=used[1],
                                         host_port=used[2]),))
    p = pod("p", protocol=wanted[0], host_ip=wanted[1], host_port=wanted[2])
    assert reasons(c, p) == {"n1": [plugins.PORTS_TAKEN] if clash else []}
    # Freed when the pod goes away.
    c.remove_pod("default/a")
    assert reasons(c, p) == {"n1": []}


def test_first_failing_filter_wins() -> None:
    c = cache_with(node("n1", cpu="1", ready=False))
    assert reasons(c, pod("p", cpu="2")) == {"n1": [plugins.NOT_READY]}


# -- the message ---------------------------------------------------------------------------------


def test_fit_error_message_is_kubernetes_format() -> None:
    assert plugins.fit_error(3, Counter({"Insufficient cpu": 3})) == \
        "0/3 nodes are available: 3 Insufficient cpu."
    assert plugins.fit_error(3, Counter({"Insufficient cpu": 2,
                                         plugins.SELECTOR_MISMATCH: 1})) == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 Insufficient cpu.")
    # Sorted as strings, as Go's sort.Strings does: "10 ..." before "2 ...".
    assert plugins.fit_error(12, Counter({"Insufficient cpu": 2, "Too many pods": 10})) == \
        "0/12 nodes are available: 10 Too many pods, 2 Insufficient cpu."
    assert plugins.fit_error(0, Counter()) == plugins.NO_NODES


def test_find_node_reports_every_reason() -> None:
    c = cache_with(node("n1", cpu="1", memory="1Gi"), node("n2", cpu="1"),
                   node("n3", labels={"zone": "b"}))
    chosen, msg = plugins.find_node(pod_info(pod("p", cpu="2", memory="2Gi",
                                                 node_selector={"zone": "a"})),
                                    c.candidates(), random.Random(0))
    assert chosen is None
    assert msg == ("0/3 nodes are available: 3 node(s) didn't match Pod's node "
                   "affinity/selector.")
    chosen, msg = plugins.find_node(pod_info(pod("p", cpu="2", memory="2Gi")),
                                    c.candidates()[:2], random.Random(0))
    assert msg == "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu."


# -- scores --------------------------------------------------------------------------------------


def test_least_requested_prefers_the_emptier_node() -> None:
    c = cache_with(node("n1"), node("n2"), pods=(pod("a", cpu="2", node_name="n1"),))
    chosen, _ = plugins.find_node(pod_info(pod("p", cpu="1")), c.candidates(),
                                  random.Random(0))
    assert chosen is not None and chosen.name == "n2"
    n1, n2 = c.candidates()
    info = pod_info(pod("p"))
    assert plugins.least_requested(info, n2) > plugins.least_requested(info, n1)


def test_spreading_by_controller_beats_small_load_differences() -> None:
    # n2 is a little busier, but n1 already runs a pod of the same RC.
    c = cache_with(node("n1"), node("n2"),
                   pods=(pod("a", owner="web", node_name="n1"),
                         pod("x", cpu="100m", node_name="n2")))
    chosen, _ = plugins.find_node(c.info(pod("p", owner="web")), c.candidates(),
                                  random.Random(0))
    assert chosen is not None and chosen.name == "n2"
    # A pod of another RC does not care about web's pods: least requested decides (n1).
    chosen, _ = plugins.find_node(pod_info(pod("q", owner="db", cpu="1")), c.candidates(),
                                  random.Random(0))
    assert chosen is not None and chosen.name == "n1"


def test_spreading_by_service() -> None:
    c = cache_with(node("n1"), node("n2"))
    c.set_service({"metadata": {"namespace": "default", "name": "web", "uid": "svc1"},
                   "spec": {"selector": {"app": "web"}}})
    c.set_pod(pod("a", labels={"app": "web"}, node_name="n1"))
    c.set_pod(pod("x", cpu="100m", node_name="n2"))
    info = c.info(pod("p", labels={"app": "web"}))
    assert info.groups == ("svc:svc1",)
    assert plugins.spread_scores(info, c.candidates()) == [0.0, 100.0]
    # Services created after the pods regroup them.
    c.set_service({"metadata": {"namespace": "default", "name": "all", "uid": "svc2"},
                   "spec": {"selector": {"app": "web"}}})
    c.refresh_groups()
    assert c.nodes["n1"].groups["svc:svc2"] == 1


def test_ties_are_broken_at_random_but_all_candidates_win_sometimes() -> None:
    c = cache_with(node("n1"), node("n2"), node("n3"))
    rng = random.Random(1)
    winners = {plugins.find_node(pod_info(pod("p")), c.candidates(), rng)[0].name  # type: ignore[union-attr]
               for _ in range(60)}
    assert winners == {"n1", "n2", "n3"}


def test_assumed_burst_spreads_evenly() -> None:
    c = cache_with(node("n1"), node("n2"), node("n3"))
    rng = random.Random(7)
    for i in range(30):
        info = pod_info(pod(f"p{i}"))
        chosen, _ = plugins.find_node(info, c.candidates(), rng)
        assert chosen is not None
        c.assume(info, chosen.name)
    assert sorted(len(n.pods) for n in c.candidates()) == [10, 10, 10]
