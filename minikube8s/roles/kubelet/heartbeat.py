"""Heartbeats: the node's conditions and its coordination.k8s.io Lease, renewed every ~10 s.

Each beat asks the runtime whether it is healthy (``Runtime.healthy``) and posts the node's
conditions through nodes/status: Ready True (KubeletReady, "kubelet is posting ready status")
or False (KubeletNotReady with the runtime's message), and MemoryPressure, DiskPressure and
PIDPressure False, each with lastHeartbeatTime = now and lastTransitionTime kept until the
status changes. It then renews the Lease ``kube-node-lease/<node>`` (holderIdentity,
leaseDurationSeconds 40, renewTime), creating it (owned by the Node, as Kubernetes does) when
missing (and, on a node allowed to, its namespace: a joined node may not, so a 403 there
waits for the control plane's bootstrap). The node controller (roles/controllers) watches
either to mark a silent node Unknown.

A deleted Node is registered again on the next beat. The node object each write returns goes
to ``on_node`` so the kubelet learns spec.podCIDR without a watch of its own: with 100 hollow
nodes in one process, an idle node costs one timer and two small writes per interval, jittered
so the nodes do not beat in step.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

from ...client import AlreadyExists, Client, ClientError, Forbidden, NotFound, resource
from ...client.clock import Clock
from . import registration
from .registration import NodeFacts
from .runtime import Runtime
from .status import microtime, rfc3339

log = logging.getLogger(__name__)

Object = dict[str, Any]
NODES = resource("nodes")
LEASES = resource("leases")
NAMESPACES = resource("namespaces")
LEASE_NAMESPACE = "kube-node-lease"
PRESSURES = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)


def node_conditions(old: list[Object] | None, *, ready: bool, message: str,
                    now: float) -> list[Object]:
    """The kubelet's node conditions at ``now`` (epoch seconds), keeping transition times."""
    stamp = rfc3339(now)
    before = {str(c.get("type")): c for c in old or [] if isinstance(c, dict)}

    def cond(type_: str, status: str, reason: str, msg: str) -> Object:
        prev = before.get(type_)
        since = prev.get("lastTransitionTime") if prev and prev.get("status") == status \
            else None
        return {"type": type_, "status": status, "reason": reason, "message": msg,
                "lastHeartbeatTime": stamp, "lastTransitionTime": since or stamp}

    out = [cond(t, "False", r, m) for t, r, m in PRESSURES]
    if ready:
        out.append(cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
    else:
        out.append(cond("Ready", "False", "KubeletNotReady",
                        message or "container runtime is not healthy"))
    return out


class Heartbeat:
    def __init__(self, client: Client, facts: NodeFacts, runtime: Runtime, *, clock: Clock,
                 interval: float = 10.0, jitter: float = 0.1, lease_duration: int = 40,
                 first_delay: float | None = None, rng: random.Random | None = None,
                 on_node: Callable[[Object], None] | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.client = client
        self.facts = facts
        self.runtime = runtime
        self.clock = clock
        self.interval = interval
        self.jitter = jitter
        self.lease_duration = lease_duration
        self.first_delay = first_delay
        self.rng = rng or random.Random()
        self.on_node = on_node
        self.wall = wall
        self.node: Object | None = None
        self.beats = 0
        self.lease_renewals = 0
        self.failures = 0

    def _seen(self, node: Object) -> None:
        self.node = node
        if self.on_node is not None:
            self.on_node(node)

    async def _health(self) -> tuple[bool, str]:
        try:
            return await self.runtime.healthy()
        except Exception as e:  # a runtime that cannot even answer is not healthy
            return False, f"container runtime health check failed: {e}"

    async def register(self) -> Object:
        ok, msg = await self._health()
        conds = node_conditions(None, ready=ok, message=msg, now=self.wall())
        node = await registration.register(self.client, self.facts, conds)
        self._seen(node)
        return node

    async def beat(self) -> None:
        """Post the node's conditions, then renew the lease."""
        ok, msg = await self._health()
        old = ((self.node or {}).get("status") or {}).get("conditions")
        conds = node_conditions(old, ready=ok, message=msg, now=self.wall())
        try:
            node = await self.client.patch_status(NODES, self.facts.name,
                                                  {"status": {"conditions": conds}})
        except NotFound:
            log.warning("node %s is gone from the API; registering it again", self.facts.name)
            node = await registration.register(self.client, self.facts, conds)
        self._seen(node)
        self.beats += 1
        await self.renew_lease()

    async def renew_lease(self) -> None:
        spec = {"holderIdentity": self.facts.name,
                "leaseDurationSeconds": self.lease_duration,
                "renewTime": microtime(self.wall())}
        try:
            await self.client.patch(LEASES, self.facts.name, {"spec": spec},
                                    namespace=LEASE_NAMESPACE)
        except NotFound:
            await self._create_lease(spec)
        self.lease_renewals += 1

    async def _create_lease(self, spec: Object) -> None:
        md: Object = {"name": self.facts.name, "namespace": LEASE_NAMESPACE}
        node_md = (self.node or {}).get("metadata") or {}
        if node_md.get("uid"):
            md["ownerReferences"] = [{"apiVersion": "v1", "kind": "Node",
                                      "name": self.facts.name, "uid": node_md["uid"]}]
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": md,
                 "spec": {**spec, "acquireTime": spec["renewTime"]}}
        for _ in range(2):
            try:
                await self.client.create(LEASES, lease, namespace=LEASE_NAMESPACE)
                return
            except AlreadyExists:
                return  # a twin beat made it
            except NotFound:
                # The namespace is missing and the API does not auto-provision it.
                try:
                    await self.client.create(NAMESPACES, {
                        "apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": LEASE_NAMESPACE}})
                except AlreadyExists:
                    pass
                except Forbidden:
                    # A joined node may not create namespaces (the control plane's
                    # bootstrap makes this one); the node's status still beats meanwhile.
                    log.debug("node %s: namespace %s missing and not ours to create; the "
                              "lease waits for the control plane", self.facts.name,
                              LEASE_NAMESPACE)
                    return

    def next_delay(self) -> float:
        return self.interval * (1.0 + self.jitter * (2 * self.rng.random() - 1))

    async def run(self) -> None:
        """Beat now, then every interval (jittered) until cancelled; errors are logged and
        the next beat tries again."""
        delay = 0.0
        first = True
        while True:
            if delay:
                await self.clock.sleep(delay)
            try:
                await self.beat()
                if self.failures:
                    log.info("node %s: heartbeats back after %d failures", self.facts.name,
                             self.failures)
                self.failures = 0
            except ClientError as e:
                # One warning per outage, not one per node per interval.
                self.failures += 1
                log.log(logging.WARNING if self.failures == 1 else logging.DEBUG,
                        "node %s: heartbeat failed: %s", self.facts.name, e)
            if first and self.first_delay is not None:
                delay = self.first_delay
            else:
                delay = self.next_delay()
            first = False
