"""The node lifecycle controller: notices dead nodes, and evicts their pods.

Kubernetes' pkg/controller/nodelifecycle (with the older, non-taint-based eviction v0.17 had),
reduced. Kubelets show they are alive two ways: the Ready condition's ``lastHeartbeatTime`` in
node status, and the ``renewTime`` of their coordination.k8s.io Lease in ``kube-node-lease``.
Like Kubernetes, this controller never compares those wall-clock stamps with its own clock
(clocks differ between hosts); it records, on ``ctx.clock``, *when it saw either of them
change* (the "probe timestamp"). Then, per node:

- no change for ``config.node_monitor_grace_period`` (40 s): every condition goes ``Unknown``
  with reason ``NodeStatusUnknown`` ("Kubelet stopped posting node status."; a node that never
  posted gets Ready=Unknown "NodeStatusNeverUpdated"), a ``NodeNotReady`` event is recorded,
  the pods on the node are marked not Ready (so endpoints drop them) and the node gets the
  ``node.kubernetes.io/unreachable:NoSchedule`` taint (``not-ready`` when the kubelet itself
  says Ready=False); the taints go when the node is Ready again;
- not Ready (False or Unknown) for ``config.pod_eviction_timeout`` (5 min): every pod on it is
  deleted gracefully (``TaintManagerEviction`` event on the pod, ``DeletingAllPods`` on the
  node), so its replication controller recreates it elsewhere;
- a graceful delete is finished by the pod's kubelet. On a node that is ``Unknown`` no kubelet
  will, so once a terminating pod there has waited out its ``deletionGracePeriodSeconds`` this
  controller deletes it with grace 0 (event ``ForceDeleted``). Kubernetes' pod garbage
  collector does the same for pods on unreachable or vanished nodes; so does this controller
  for pods bound to a node that no longer exists, after one grace period of quarantine.

``reconcile(node)`` returns the seconds until the next deadline of that node, so no timer
outlives its reason and FakeClock tests can step through it. Pod changes only wake a node
that is currently not Ready. node_ipam.py (podCIDR) lives beside this module.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from ...client import EventRecorder, Informer, errors, key_of, resource
from ..context import RoleContext
from . import podutil
from .base import BaseController

log = logging.getLogger(__name__)

NODES = resource("nodes")
PODS = resource("pods")
LEASES = resource("leases")
LEASE_NAMESPACE = "kube-node-lease"
NODE_INDEX = "controllers.node-lifecycle.node"

UNREACHABLE_TAINT = "node.kubernetes.io/unreachable"
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
CONTROLLED_TAINTS = (UNREACHABLE_TAINT, NOT_READY_TAINT)
MIN_REQUEUE = 0.05

Object = dict[str, Any]


@dataclass(slots=True)
class NodeHealth:
    """What this controller observed about one node, on its own clock."""

    probe: float
    heartbeat: str = ""
    renew: str = ""
    not_ready_since: float | None = None
    missing_since: float | None = None
    evicting: bool = False
    terminating_seen: dict[str, float] = field(default_factory=dict)

    def observe(self, heartbeat: str, renew: str, now: float) -> None:
        if heartbeat != self.heartbeat or renew != self.renew:
            self.heartbeat, self.renew, self.probe = heartbeat, renew, now


def ready_status(node: Object) -> str:
    c = podutil.condition(node, "Ready")
    return str(c.get("status") or "Unknown") if c is not None else "Unknown"


def unknown_conditions(node: Object, stamp: str) -> list[Object]:
    """The node's conditions after its kubelet went silent (nodelifecycle's tryUpdateNodeHealth)."""
    out: list[Object] = []
    have_ready = False
    for c in (node.get("status") or {}).get("conditions") or []:
        c = dict(c)
        if c.get("type") == "Ready":
            have_ready = True
        if c.get("status") != "Unknown":
            c["lastTransitionTime"] = stamp
        c.update(status="Unknown", reason="NodeStatusUnknown",
                 message="Kubelet stopped posting node status.")
        out.append(c)
    if not have_ready:
        created = podutil.meta(node).get("creationTimestamp") or stamp
        out.append({"type": "Ready", "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": created, "lastTransitionTime": stamp})
    return out


def desired_taints(node: Object) -> list[Object]:
    """The node's taints with ours set for its Ready status (others untouched)."""
    taints = [t for t in (node.get("spec") or {}).get("taints") or []
              if t.get("key") not in CONTROLLED_TAINTS]
    status = ready_status(node)
    if status != "True":
        key = UNREACHABLE_TAINT if status == "Unknown" else NOT_READY_TAINT
        taints.append({"key": key, "effect": "NoSchedule"})
    return taints


class NodeLifecycleController(BaseController):
    name = "node-lifecycle"
    workers = 2

    def __init__(self, ctx: RoleContext, recorder: EventRecorder) -> None:
        super().__init__(ctx, recorder)
        self.grace = float(ctx.config.node_monitor_grace_period)
        self.eviction_timeout = float(ctx.config.pod_eviction_timeout)
        self.health: dict[str, NodeHealth] = {}
        self.nodes: Informer = self.watch(ctx.informers.informer(NODES))
        self.pods: Informer = self.watch(ctx.informers.informer(PODS))
        self.leases: Informer = self.watch(
            ctx.informers.informer(LEASES, namespace=LEASE_NAMESPACE))
        if not self.pods.has_indexer(NODE_INDEX):
            self.pods.add_indexer(NODE_INDEX, lambda p: [podutil.node_name(p)])
        self.nodes.add_handler(on_add=self._enqueue,
                               on_update=lambda old, new: self._enqueue(new),
                               on_delete=self._enqueue)
        self.leases.add_handler(on_add=self._enqueue,
                                on_update=lambda old, new: self._enqueue(new))
        self.pods.add_handler(on_add=self._pod_changed,
                              on_update=lambda old, new: self._pod_changed(new))

    # -- handlers -------------------------------------------------------------------------------

    def _enqueue(self, obj: Object) -> None:
        self.queue.add(str(podutil.meta(obj).get("name") or ""))

    def _pod_changed(self, pod: Object) -> None:
        node = podutil.node_name(pod)
        if not node:
            return
        h = self.health.get(node)
        if (h is not None and (h.not_ready_since is not None or h.missing_since is not None)) \
                or self.nodes.get(node) is None:
            self.queue.add(node)

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        now = self.clock.now()
        node = self.nodes.get(key)
        if node is None:
            return await self._missing_node(key, now)
        h = self.health.get(key)
        if h is None:
            h = self.health[key] = NodeHealth(probe=now)
        h.missing_since = None
        ready = podutil.condition(node, "Ready") or {}
        lease = self.leases.get(f"{LEASE_NAMESPACE}/{key}")
        renew = str(((lease or {}).get("spec") or {}).get("renewTime") or "")
        h.observe(str(ready.get("lastHeartbeatTime") or ""), renew, now)

        status = ready_status(node)
        if now - h.probe >= self.grace and (status != "Unknown" or not ready):
            node = await self._mark_unknown(node)
            status = "Unknown"
        if status == "True":
            if h.not_ready_since is not None:
                log.info("%s: node %s is Ready again", self.name, key)
            h.not_ready_since, h.evicting = None, False
            h.terminating_seen.clear()
        elif h.not_ready_since is None:
            h.not_ready_since = now
        await self._sync_taints(node)
        deadlines = []
        if status != "Unknown":
            deadlines.append(h.probe + self.grace)
        if status == "Unknown":
            await self._mark_pods_not_ready(key)
        if h.not_ready_since is not None:
            evict_at = h.not_ready_since + self.eviction_timeout
            if now >= evict_at:
                await self._evict_pods(node, h)
            else:
                deadlines.append(evict_at)
            if status == "Unknown" and h.evicting:
                deadlines.extend(await self._finish_terminating(key, h, now))
        return self._next(deadlines, now)

    def _next(self, deadlines: list[float], now: float) -> float | None:
        if not deadlines:
            return None
        return max(MIN_REQUEUE, min(deadlines) - now)

    async def _missing_node(self, key: str, now: float) -> float | None:
        """Pods bound to a node that does not exist: after one grace period they are
        force-deleted (Kubernetes' PodGC gcOrphaned); no kubelet will ever finish them."""
        pods = self.pods.by_index(NODE_INDEX, key)
        if not pods:
            self.health.pop(key, None)
            return None
        h = self.health.setdefault(key, NodeHealth(probe=now))
        if h.missing_since is None:
            h.missing_since = now
        if now - h.missing_since < self.grace:
            return self._next([h.missing_since + self.grace], now)
        for pod in pods:
            await self._force_delete(pod, f"its node {key} no longer exists")
        return None

    async def _mark_unknown(self, node: Object) -> Object:
        name = str(podutil.meta(node).get("name"))
        new = copy.deepcopy(node)
        new.setdefault("status", {})["conditions"] = unknown_conditions(
            node, podutil.format_time())
        try:
            out = await self.client.update_status(NODES, new)
        except errors.NotFound:
            return node
        self.recorder.event(node, "Normal", "NodeNotReady",
                            f"Node {name} status is now: NodeNotReady")
        log.warning("%s: node %s stopped posting status: Ready=Unknown", self.name, name)
        return out

    async def _sync_taints(self, node: Object) -> None:
        want = desired_taints(node)
        have = (node.get("spec") or {}).get("taints") or []
        if want == have:
            return
        md = podutil.meta(node)
        body = {"metadata": {"resourceVersion": md.get("resourceVersion")},
                "spec": {"taints": want or None}}
        try:
            await self.client.patch(NODES, str(md.get("name")), body)
        except errors.NotFound:
            return

    async def _mark_pods_not_ready(self, node: str) -> None:
        """controller/util/node.MarkPodsNotReady: endpoints stop sending traffic there."""
        for pod in self.pods.by_index(NODE_INDEX, node):
            c = podutil.condition(pod, "Ready")
            if c is None or c.get("status") != "True":
                continue
            new = copy.deepcopy(pod)
            for cond in new["status"]["conditions"]:
                if cond.get("type") == "Ready":
                    cond.update(status="False", lastTransitionTime=podutil.format_time())
            try:
                await self.client.update_status(PODS, new)
            except errors.NotFound:
                continue

    async def _evict_pods(self, node: Object, h: NodeHealth) -> None:
        name = str(podutil.meta(node).get("name"))
        live = [p for p in self.pods.by_index(NODE_INDEX, name) if not podutil.is_terminating(p)]
        if not live:
            h.evicting = True
            return
        if not h.evicting:
            self.recorder.event(node, "Normal", "DeletingAllPods",
                                f"Deleting all Pods from Node {name}.")
        h.evicting = True
        for pod in live:
            md = podutil.meta(pod)
            try:
                await self.client.delete(PODS, str(md.get("name")),
                                         namespace=str(md.get("namespace") or ""),
                                         preconditions={"uid": str(md.get("uid") or "")})
            except (errors.NotFound, errors.Conflict):
                continue
            self.recorder.event(pod, "Normal", "TaintManagerEviction",
                                f"Marking for deletion Pod {key_of(pod)} from Node {name}")
            log.info("%s: evicting pod %s from node %s", self.name, key_of(pod), name)

    async def _finish_terminating(self, node: str, h: NodeHealth, now: float) -> list[float]:
        """Force-delete the pods of an unreachable node once their grace period is over."""
        deadlines: list[float] = []
        seen = {}
        for pod in self.pods.by_index(NODE_INDEX, node):
            if not podutil.is_terminating(pod):
                continue
            k = key_of(pod)
            first = h.terminating_seen.get(k, now)
            seen[k] = first
            grace = float(podutil.meta(pod).get("deletionGracePeriodSeconds") or 0)
            if now - first >= grace:
                await self._force_delete(pod, f"node {node} is unreachable")
                seen.pop(k, None)
            else:
                deadlines.append(first + grace)
        h.terminating_seen = seen
        return deadlines

    async def _force_delete(self, pod: Object, why: str) -> None:
        md = podutil.meta(pod)
        try:
            await self.client.delete(PODS, str(md.get("name")),
                                     namespace=str(md.get("namespace") or ""),
                                     grace_period_seconds=0,
                                     preconditions={"uid": str(md.get("uid") or "")})
        except (errors.NotFound, errors.Conflict):
            return
        self.recorder.event(pod, "Warning", "ForceDeleted",
                            f"Pod {key_of(pod)} deleted with grace period 0: {why}")
        log.info("%s: force-deleted pod %s: %s", self.name, key_of(pod), why)
