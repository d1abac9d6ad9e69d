"""The scheduler's view of the cluster: nodes with running sums of what their pods request.

kube-scheduler keeps its own cache (pkg/scheduler/internal/cache) beside the informers, and so
does this module, for the same two reasons:

- speed: a scheduling decision must cost O(nodes) cheap integer comparisons, so each node
  carries its allocatable and the sums of its pods' requests (cpu millicores, memory bytes, pod
  count, other scalar resources), its used host ports and, per spread group, how many of its
  pods belong to that group. Quantities are parsed once, when an object enters the cache, and
  the sums change incrementally on every add, update and delete;
- assumptions: the scheduler puts a pod on its chosen node *here* before the binding is
  confirmed by the API, so the next pod of a burst already sees the first one's requests.
  ``assume`` -> (bind POST) -> ``finish_binding`` starts an expiry clock; the informer's
  bound copy of the pod ``confirm``s it; a failed bind ``forget``s it; an assumption never
  confirmed expires after ``assume_ttl`` seconds (``expire``).

The informer handlers of scheduler.py feed it. They run synchronously in the reflector's loop,
as informer handlers must, and every method here is O(1) in the cluster size (except the rare
re-grouping of one namespace after a Service changes), so feeding it in the handler keeps the
rule's spirit: no awaits, no API calls, nothing slow. plugins.py reads NodeInfo/PodInfo.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ...api.quantity import parse_quantity
from ...client.informer import key_of

Object = dict[str, Any]

# Requests assumed for scoring when a container asks for nothing, so best-effort pods still
# spread (kube-scheduler's util.DefaultMilliCPURequest / DefaultMemoryRequest).
DEFAULT_MILLI_CPU = 100
DEFAULT_MEMORY = 200 * 1024 * 1024

HostPort = tuple[str, str, int]
"""(protocol, hostIP, hostPort); hostIP "0.0.0.0" stands for "every address"."""
WILDCARD_IP = "0.0.0.0"


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str

    def tolerates(self, taint: Taint) -> bool:
        if self.effect and self.effect != taint.effect:
            return False
        if self.key and self.key != taint.key:
            return False
        if self.operator == "Exists":
            return True
        # An empty key with Equal is invalid in the API; treat it as matching nothing extra.
        return bool(self.key) and self.value == taint.value


@dataclass(slots=True)
class PodInfo:
    """What the scheduler needs of a pod, parsed once."""

    key: str
    uid: str
    namespace: str
    name: str
    cpu: int
    memory: int
    nz_cpu: int
    nz_memory: int
    scalars: dict[str, int]
    ports: tuple[HostPort, ...]
    labels: Mapping[str, str]
    node_selector: Mapping[str, str]
    tolerations: tuple[Toleration, ...]
    owners: tuple[str, ...]
    node: str = ""
    groups: tuple[str, ...] = ()
    assumed: bool = False
    deadline: float | None = None
    """When an assumption whose bind finished expires unless confirmed (None: bind in flight)."""


def _int_quantity(v: Any, scale: int = 1) -> int:
    if isinstance(v, str):
        return _int_text(v, scale)
    try:
        q: Fraction = parse_quantity(v)
    except (ValueError, TypeError):
        return 0
    return math.ceil(q * scale)


@functools.lru_cache(maxsize=4096)
def _int_text(v: str, scale: int) -> int:
    # Clusters use a handful of distinct quantities ("100m", "64Mi"): parse each once.
    try:
        return math.ceil(parse_quantity(v) * scale)
    except ValueError:
        return 0


def _requests(container: Mapping[str, Any]) -> Mapping[str, Any]:
    res = container.get("resources")
    req = res.get("requests") if isinstance(res, dict) else None
    return req if isinstance(req, dict) else {}


def _add_requests(into: dict[str, int], req: Mapping[str, Any], *, nonzero: bool = False
                  ) -> None:
    for name, v in req.items():
        into[name] = into.get(name, 0) + _int_quantity(v, 1000 if name == "cpu" else 1)
    if nonzero:
        if not _int_quantity(req.get("cpu", 0), 1000):
            into["cpu"] = into.get("cpu", 0) + DEFAULT_MILLI_CPU
        if not _int_quantity(req.get("memory", 0)):
            into["memory"] = into.get("memory", 0) + DEFAULT_MEMORY


def pod_requests(spec: Mapping[str, Any], *, nonzero: bool = False) -> dict[str, int]:
    """The pod's effective request per resource (cpu in millicores): the sum over containers,
    at least the largest init container's (they run one at a time, before the others), plus
    spec.overhead. ``nonzero`` counts an unset cpu/memory request as the scoring defaults."""
    total: dict[str, int] = {}
    for c in spec.get("containers") or ():
        if isinstance(c, dict):
            _add_requests(total, _requests(c), nonzero=nonzero)
    for c in spec.get("initContainers") or ():
        if isinstance(c, dict):
            one: dict[str, int] = {}
            _add_requests(one, _requests(c), nonzero=nonzero)
            for name, v in one.items():
                if v > total.get(name, 0):
                    total[name] = v
    overhead = spec.get("overhead")
    if isinstance(overhead, dict):
        _add_requests(total, overhead)
    return total


def host_ports(spec: Mapping[str, Any]) -> tuple[HostPort, ...]:
    out: list[HostPort] = []
    for c in spec.get("containers") or ():
        if not isinstance(c, dict):
            continue
        for p in c.get("ports") or ():
            if isinstance(p, dict) and p.get("hostPort"):
                try:
                    port = int(p["hostPort"])
                except (TypeError, ValueError):
                    continue
                out.append((str(p.get("protocol") or "TCP"),
                            str(p.get("hostIP") or WILDCARD_IP), port))
    return tuple(out)


def pod_info(pod: Object) -> PodInfo:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    req = pod_requests(spec)
    nz = pod_requests(spec, nonzero=True)
    owners = tuple(str(r.get("uid") or "") for r in md.get("ownerReferences") or ()
                   if isinstance(r, dict) and r.get("controller"))
    tolerations = tuple(
        Toleration(str(t.get("key") or ""), str(t.get("operator") or "Equal"),
                   str(t.get("value") or ""), str(t.get("effect") or ""))
        for t in spec.get("tolerations") or () if isinstance(t, dict))
    return PodInfo(
        key=key_of(pod), uid=str(md.get("uid") or ""),
        namespace=str(md.get("namespace") or ""), name=str(md.get("name") or ""),
        cpu=req.pop("cpu", 0), memory=req.pop("memory", 0),
        nz_cpu=nz.get("cpu", 0), nz_memory=nz.get("memory", 0),
        scalars={k: v for k, v in req.items() if v},
        ports=host_ports(spec), labels=md.get("labels") or {},
        node_selector=spec.get("nodeSelector") or {}, tolerations=tolerations,
        owners=owners, node=str(spec.get("nodeName") or ""))


def is_terminal(pod: Object) -> bool:
    """Succeeded and Failed pods hold no resources (kube-scheduler does not even watch them)."""
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def is_ready(node: Object) -> bool:
    for c in (node.get("status") or {}).get("conditions") or ():
        if isinstance(c, dict) and c.get("type") == "Ready":
            return c.get("status") == "True"
    return False


class NodeInfo:
    """One node: its allocatable, taints and labels, and running sums over its pods."""

    __slots__ = (
        "_raw",
        "alloc_cpu",
        "alloc_memory",
        "alloc_pods",
        "alloc_scalars",
        "groups",
        "known",
        "labels",
        "name",
        "nz_cpu",
        "nz_memory",
        "pods",
        "ports",
        "ready",
        "req_cpu",
        "req_memory",
        "req_scalars",
        "taints",
        "unschedulable",
    )

    def __init__(self, name: str) -> None:
        self.name = name
        self.known = False
        """False while only pods name this node (the Node object is not, or no longer, seen)."""
        self.alloc_cpu = self.alloc_memory = self.alloc_pods = 0
        self.alloc_scalars: dict[str, int] = {}
        self.labels: Mapping[str, str] = {}
        self.ready = False
        self.unschedulable = False
        self.taints: tuple[Taint, ...] = ()
        self.req_cpu = self.req_memory = self.nz_cpu = self.nz_memory = 0
        self.req_scalars: Counter[str] = Counter()
        self.pods: dict[str, PodInfo] = {}
        self.ports: Counter[HostPort] = Counter()
        self.groups: Counter[str] = Counter()
        self._raw: tuple[Any, ...] = ()

    def set_node(self, node: Object) -> bool:
        """Take the Node object's scheduling-relevant fields; True if any of them changed
        (a heartbeat that only moves timestamps is not a reason to retry pending pods)."""
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        labels = (node.get("metadata") or {}).get("labels") or {}
        ready = is_ready(node)
        raw = (alloc, labels, ready, bool(spec.get("unschedulable")), spec.get("taints"))
        was_known = self.known
        self.known = True
        if raw == self._raw:
            return not was_known
        self._raw = raw
        self.alloc_cpu = _int_quantity(alloc.get("cpu", 0), 1000)
        self.alloc_memory = _int_quantity(alloc.get("memory", 0))
        self.alloc_pods = _int_quantity(alloc.get("pods", 0))
        self.alloc_scalars = {k: _int_quantity(v) for k, v in alloc.items()
                              if k not in ("cpu", "memory", "pods")}
        self.labels = labels
        self.ready = ready
        self.unschedulable = bool(spec.get("unschedulable"))
        self.taints = tuple(
            Taint(str(t.get("key") or ""), str(t.get("value") or ""), str(t.get("effect") or ""))
            for t in spec.get("taints") or ()
            if isinstance(t, dict) and t.get("effect") in ("NoSchedule", "NoExecute"))
        return True

    def add(self, p: PodInfo) -> None:
        self.pods[p.key] = p
        self.req_cpu += p.cpu
        self.req_memory += p.memory
        self.nz_cpu += p.nz_cpu
        self.nz_memory += p.nz_memory
        if p.scalars:
            self.req_scalars.update(p.scalars)
        if p.ports:
            self.ports.update(p.ports)
        if p.groups:
            self.groups.update(p.groups)

    def remove(self, p: PodInfo) -> None:
        if self.pods.pop(p.key, None) is None:
            return
        self.req_cpu -= p.cpu
        self.req_memory -= p.memory
        self.nz_cpu -= p.nz_cpu
        self.nz_memory -= p.nz_memory
        if p.scalars:
            self.req_scalars.subtract(p.scalars)
        if p.ports:
            self.ports.subtract(p.ports)
            self.ports += Counter()  # drop zero counts so port checks stay exact
        if p.groups:
            self.groups.subtract(p.groups)


@dataclass(slots=True)
class SchedulerCache:
    assume_ttl: float = 30.0
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    pods: dict[str, PodInfo] = field(default_factory=dict)
    """Every pod placed on a node: bound (seen through the informer) or assumed."""
    services: dict[str, dict[str, Mapping[str, str]]] = field(default_factory=dict)
    """namespace -> service uid -> selector, for spreading a service's pods."""
    _dirty_namespaces: set[str] = field(default_factory=set)

    # -- nodes ----------------------------------------------------------------------------------

    def set_node(self, node: Object) -> bool:
        name = str((node.get("metadata") or {}).get("name") or "")
        info = self.nodes.get(name)
        if info is None:
            info = self.nodes[name] = NodeInfo(name)
        return info.set_node(node)

    def remove_node(self, name: str) -> None:
        info = self.nodes.get(name)
        if info is None:
            return
        if info.pods:
            # Its pods are still bound to it until someone deletes them; keep their sums.
            info.known = False
        else:
            del self.nodes[name]

    def candidates(self) -> list[NodeInfo]:
        return [n for n in self.nodes.values() if n.known]

    # -- spread groups --------------------------------------------------------------------------

    def info(self, pod: Object) -> PodInfo:
        """``pod_info`` plus the pod's spread groups: what plugins.find_node wants."""
        p = pod_info(pod)
        p.groups = self.groups_of(p)
        return p

    def groups_of(self, p: PodInfo) -> tuple[str, ...]:
        """The sets ``p`` should be spread with: its controller, and each Service selecting it."""
        out = list(p.owners)
        for uid, sel in (self.services.get(p.namespace) or {}).items():
            if sel and all(p.labels.get(k) == v for k, v in sel.items()):
                out.append("svc:" + uid)
        return tuple(out)

    def set_service(self, svc: Object) -> None:
        md = svc.get("metadata") or {}
        ns, uid = str(md.get("namespace") or ""), str(md.get("uid") or "")
        sel = (svc.get("spec") or {}).get("selector") or {}
        current = self.services.setdefault(ns, {})
        if current.get(uid) != sel:
            current[uid] = dict(sel)
            self._dirty_namespaces.add(ns)

    def remove_service(self, svc: Object) -> None:
        md = svc.get("metadata") or {}
        ns = str(md.get("namespace") or "")
        if (self.services.get(ns) or {}).pop(str(md.get("uid") or ""), None) is not None:
            self._dirty_namespaces.add(ns)

    def refresh_groups(self) -> None:
        """Re-group the pods of namespaces whose Services changed (rare; O(pods) then)."""
        if not self._dirty_namespaces:
            return
        dirty, self._dirty_namespaces = self._dirty_namespaces, set()
        for p in self.pods.values():
            if p.namespace in dirty:
                groups = self.groups_of(p)
                if groups != p.groups:
                    node = self.nodes.get(p.node)
                    if node is not None:
                        node.remove(p)
                    p.groups = groups
                    if node is not None:
                        node.add(p)

    # -- pods -----------------------------------------------------------------------------------

    def _place(self, p: PodInfo) -> None:
        p.groups = self.groups_of(p)
        node = self.nodes.get(p.node)
        if node is None:
            node = self.nodes[p.node] = NodeInfo(p.node)
        node.add(p)
        self.pods[p.key] = p

    def _unplace(self, key: str) -> PodInfo | None:
        p = self.pods.pop(key, None)
        if p is None:
            return None
        node = self.nodes.get(p.node)
        if node is not None:
            node.remove(p)
            if not node.known and not node.pods:
                del self.nodes[p.node]
        return p

    def set_pod(self, pod: Object) -> bool:
        """A pod the informer shows bound to a node (and not terminal). True if it was not
        already counted there (a new pod, a confirmation moving it, or a changed one)."""
        key = key_of(pod)
        md = pod.get("metadata") or {}
        node = (pod.get("spec") or {}).get("nodeName") or ""
        cur = self.pods.get(key)
        if cur is not None and cur.uid == md.get("uid") and cur.node == node:
            # Bound pods' specs do not change, so this is a status update or the
            # confirmation of our own assumption: nothing to recount.
            cur.assumed = False
            cur.deadline = None
            return False
        self._unplace(key)
        self._place(pod_info(pod))
        return True

    def remove_pod(self, key: str, uid: str = "") -> bool:
        cur = self.pods.get(key)
        if cur is None or (uid and cur.uid and cur.uid != uid):
            return False
        self._unplace(key)
        return True

    def assume(self, p: PodInfo, node: str) -> None:
        self._unplace(p.key)
        p.node = node
        p.assumed = True
        p.deadline = None
        self._place(p)

    def is_assumed(self, key: str) -> bool:
        p = self.pods.get(key)
        return p is not None and p.assumed

    def finish_binding(self, key: str, now: float) -> None:
        p = self.pods.get(key)
        if p is not None and p.assumed:
            p.deadline = now + self.assume_ttl

    def forget(self, key: str) -> bool:
        p = self.pods.get(key)
        if p is None or not p.assumed:
            return False
        self._unplace(key)
        return True

    def expire(self, now: float) -> list[str]:
        """Drop assumptions whose bind finished ``assume_ttl`` ago and were never confirmed."""
        gone = [k for k, p in self.pods.items()
                if p.assumed and p.deadline is not None and p.deadline <= now]
        for k in gone:
            self._unplace(k)
        return gone

    def node_pods(self, name: str) -> Iterable[PodInfo]:
        node = self.nodes.get(name)
        return node.pods.values() if node is not None else ()
