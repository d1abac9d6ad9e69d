"""Filters and scores: pure functions of a PodInfo and the cache's NodeInfos (cache.py).

The default profile of kube-scheduler, cut down to what the cluster of issue 4 needs, in its
filter order: NodeUnschedulable, node readiness (pre-taint-era CheckNodeCondition),
TaintToleration (NoSchedule/NoExecute), NodeAffinity (nodeSelector only), NodePorts,
NodeResourcesFit. A node is rejected by the first filter that fails, as kube-scheduler stops at
the first failing plugin; the resource filter names every resource that is short. The reasons
of every node are counted and printed the way kube-scheduler's FitError does::

    0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector,
    2 Insufficient cpu.     (one line)

(the "count reason" strings sorted as strings, as Go's sort.Strings does).

Scores, both 0..100 per node, summed with weights: least requested (free fraction of cpu and
memory after adding the pod, counting unset requests as 100m / 200Mi so best-effort pods
spread too) and selector spreading (fewer pods of the same controller or Service on the node
is better). Scores are floats, not kube-scheduler's integers, so a burst of equal pods on equal
nodes alternates exactly instead of tying; real ties are broken at random. Everything here is
O(nodes) integer arithmetic per pod: nodes carry precomputed sums.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence

from .cache import WILDCARD_IP, HostPort, NodeInfo, PodInfo, Taint

NO_NODES = "no nodes available to schedule pods"
UNSCHEDULABLE = "node(s) were unschedulable"
NOT_READY = "node(s) were not ready"
SELECTOR_MISMATCH = "node(s) didn't match Pod's node affinity/selector"
PORTS_TAKEN = "node(s) didn't have free ports for the requested pod ports"
TOO_MANY_PODS = "Too many pods"
# spec.unschedulable acts as this taint: a pod tolerating it may still go there.
_UNSCHEDULABLE = Taint("node.kubernetes.io/unschedulable", "", "NoSchedule")

LEAST_REQUESTED_WEIGHT = 1.0
SPREAD_WEIGHT = 2.0


def insufficient(resource: str) -> str:
    return f"Insufficient {resource}"


def untolerated(key: str, value: str) -> str:
    return f"node(s) had untolerated taint {{{key}: {value}}}"


# -- filters -----------------------------------------------------------------------------------


def ports_conflict(wanted: Iterable[HostPort], used: Counter[HostPort]) -> bool:
    """Two pods clash on a node when protocol and port are equal and their host IPs are equal
    or either is the wildcard (kube-scheduler's HostPortInfo.CheckConflict)."""
    if not used:
        return False
    for proto, ip, port in wanted:
        if ip == WILDCARD_IP:
            if any(u[0] == proto and u[2] == port and n > 0 for u, n in used.items()):
                return True
        elif used.get((proto, ip, port), 0) > 0 or used.get((proto, WILDCARD_IP, port), 0) > 0:
            return True
    # Two host ports of the pod itself clashing is the validator's business, not ours.
    return False


def fits_resources(p: PodInfo, n: NodeInfo) -> list[str]:
    """NodeResourcesFit: pod count, then each requested resource against what is left."""
    out: list[str] = []
    if len(n.pods) + 1 > n.alloc_pods:
        out.append(TOO_MANY_PODS)
    if p.cpu and n.req_cpu + p.cpu > n.alloc_cpu:
        out.append(insufficient("cpu"))
    if p.memory and n.req_memory + p.memory > n.alloc_memory:
        out.append(insufficient("memory"))
    for name, amount in p.scalars.items():
        if n.req_scalars.get(name, 0) + amount > n.alloc_scalars.get(name, 0):
            out.append(insufficient(name))
    return out


def filter_node(p: PodInfo, n: NodeInfo) -> list[str]:
    """Why ``p`` cannot go to ``n`` (empty: it fits), from the first filter that fails."""
    if n.unschedulable and not any(t.tolerates(_UNSCHEDULABLE) for t in p.tolerations):
        return [UNSCHEDULABLE]
    if not n.ready:
        return [NOT_READY]
    for taint in n.taints:
        if not any(t.tolerates(taint) for t in p.tolerations):
            return [untolerated(taint.key, taint.value)]
    if p.node_selector:
        labels = n.labels
        for k, v in p.node_selector.items():
            if labels.get(k) != v:
                return [SELECTOR_MISMATCH]
    if p.ports and ports_conflict(p.ports, n.ports):
        return [PORTS_TAKEN]
    return fits_resources(p, n)


def fit_error(num_nodes: int, reasons: Counter[str]) -> str:
    if num_nodes == 0:
        return NO_NODES
    parts = sorted(f"{count} {reason}" for reason, count in reasons.items())
    return f"0/{num_nodes} nodes are available: {', '.join(parts)}."


# -- scores ------------------------------------------------------------------------------------


def _free(allocatable: int, requested: int) -> float:
    if allocatable <= 0 or requested >= allocatable:
        return 0.0
    return (allocatable - requested) / allocatable


def least_requested(p: PodInfo, n: NodeInfo) -> float:
    """0..100: the mean free fraction of cpu and memory once ``p`` is on ``n``."""
    return 50.0 * (_free(n.alloc_cpu, n.nz_cpu + p.nz_cpu)
                   + _free(n.alloc_memory, n.nz_memory + p.nz_memory))


def spread_scores(p: PodInfo, nodes: Sequence[NodeInfo]) -> list[float]:
    """0..100 per node: 100 where the fewest pods share one of ``p``'s groups (its controller,
    the Services selecting it), scaled down linearly to 0 where the most do."""
    if not p.groups:
        return [0.0] * len(nodes)
    groups = p.groups
    if len(groups) == 1:
        g = groups[0]
        counts = [n.groups.get(g, 0) for n in nodes]
    else:
        counts = [sum(n.groups.get(g, 0) for g in groups) for n in nodes]
    most = max(counts)
    if most == 0:
        return [100.0] * len(nodes)
    return [100.0 * (most - c) / most for c in counts]


def scores(p: PodInfo, nodes: Sequence[NodeInfo]) -> list[float]:
    spread = spread_scores(p, nodes)
    return [LEAST_REQUESTED_WEIGHT * least_requested(p, n) + SPREAD_WEIGHT * s
            for n, s in zip(nodes, spread, strict=True)]


def select_host(nodes: Sequence[NodeInfo], node_scores: Sequence[float],
                rng: random.Random) -> NodeInfo:
    """The best-scoring node; ties broken uniformly at random (reservoir sampling, as
    kube-scheduler's selectHost)."""
    best = nodes[0]
    best_score = node_scores[0]
    ties = 1
    for n, s in zip(nodes[1:], node_scores[1:], strict=True):
        if s > best_score:
            best, best_score, ties = n, s, 1
        elif s == best_score:
            ties += 1
            if rng.randrange(ties) == 0:
                best = n
    return best


def find_node(p: PodInfo, nodes: Sequence[NodeInfo], rng: random.Random
              ) -> tuple[NodeInfo | None, str]:
    """Filter, score, pick: (the node, "") or (None, the FitError message)."""
    feasible: list[NodeInfo] = []
    reasons: Counter[str] = Counter()
    for n in nodes:
        why = filter_node(p, n)
        if why:
            reasons.update(why)
        else:
            feasible.append(n)
    if not feasible:
        return None, fit_error(len(nodes), reasons)
    if len(feasible) == 1:
        return feasible[0], ""
    return select_host(feasible, scores(p, feasible), rng), ""
