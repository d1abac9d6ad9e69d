"""Pod network allocation: each node gets a /24 ``spec.podCIDR`` out of ``--flannel-net``.

In the seed, flannel leased each host a /24 of FLANNEL_NET (172.16.0.0/16); Kubernetes' node
IPAM controller (pkg/controller/nodeipam, the range allocator) does the same through
``spec.podCIDR``, which is what minikube8s' kubelet and networking read. ``CidrAllocator`` is
the pure part: the subnets of the cluster network, which are in use, the lowest free one.

Uniqueness: the allocator is filled from every node in the (synced) cache before the first
allocation, and a CIDR is reserved in memory before the patch that writes it, so two nodes
handled one after the other can never get the same one. The patch carries the node's
resourceVersion, so it is a compare-and-swap: if the node changed meanwhile (maybe someone
else set a podCIDR), it fails with Conflict and the node is reconciled again from fresh state
(keeping its reservation, so no other node can take that subnet in between). A node's CIDR
is released when the node is deleted. One controller manager per cluster is assumed (as with
Kubernetes without leader election).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from ...client import EventRecorder, Informer, errors, key_of, resource
from ..context import RoleContext
from . import podutil
from .base import BaseController

log = logging.getLogger(__name__)

NODES = resource("nodes")
NODE_PREFIX = 24

Object = dict[str, Any]


class CidrExhausted(Exception):
    """Every subnet of the cluster network is taken."""


class CidrAllocator:
    """The /``node_prefix`` subnets of ``cluster_cidr``; which node holds which."""

    def __init__(self, cluster_cidr: str, *, node_prefix: int = NODE_PREFIX) -> None:
        self.network = ipaddress.ip_network(cluster_cidr, strict=False)
        if node_prefix < self.network.prefixlen:
            # A cluster network smaller than a /24 gives each node the whole of it.
            node_prefix = self.network.prefixlen
        self.node_prefix = node_prefix
        self.size = 1 << (node_prefix - self.network.prefixlen)
        self._by_node: dict[str, int] = {}
        self._used: dict[int, str] = {}

    def subnet(self, index: int) -> str:
        step = 1 << (self.network.max_prefixlen - self.node_prefix)
        base = int(self.network.network_address) + index * step
        return f"{ipaddress.ip_address(base)}/{self.node_prefix}"

    def index_of(self, cidr: str) -> int | None:
        """The subnet index of ``cidr`` if it is one of ours."""
        try:
            net = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None
        if net.version != self.network.version or net.prefixlen != self.node_prefix:
            return None
        if not net.subnet_of(self.network):  # type: ignore[arg-type]
            return None
        step = 1 << (self.network.max_prefixlen - self.node_prefix)
        return (int(net.network_address) - int(self.network.network_address)) // step

    def occupy(self, node: str, cidr: str) -> bool:
        """Record an existing assignment; False if it is not ours or clashes."""
        idx = self.index_of(cidr)
        if idx is None:
            return False
        holder = self._used.get(idx)
        if holder is not None and holder != node:
            return False
        self.release(node)  # a node holds one subnet: the one it really has wins
        self._used[idx] = node
        self._by_node[node] = idx
        return True

    def allocate(self, node: str) -> str:
        """The node's subnet, the lowest free one if it has none yet."""
        if node in self._by_node:
            return self.subnet(self._by_node[node])
        for idx in range(self.size):
            if idx not in self._used:
                self._used[idx] = node
                self._by_node[node] = idx
                return self.subnet(idx)
        raise CidrExhausted(f"no free /{self.node_prefix} left in {self.network}")

    def release(self, node: str) -> None:
        idx = self._by_node.pop(node, None)
        if idx is not None and self._used.get(idx) == node:
            del self._used[idx]

    def holder(self, cidr: str) -> str | None:
        idx = self.index_of(cidr)
        return None if idx is None else self._used.get(idx)

    def __len__(self) -> int:
        return len(self._used)


class NodeIpamController(BaseController):
    name = "node-ipam"
    workers = 1

    def __init__(self, ctx: RoleContext, recorder: EventRecorder) -> None:
        super().__init__(ctx, recorder)
        try:
            self.allocator: CidrAllocator | None = CidrAllocator(ctx.config.flannel_net)
        except ValueError as e:
            # A bad --flannel-net must not take the control plane down: no podCIDRs then.
            log.error("%s: --flannel-net %r is not a network (%s): no podCIDRs will be "
                      "allocated", self.name, ctx.config.flannel_net, e)
            self.allocator = None
        self.nodes: Informer = self.watch(ctx.informers.informer(NODES))
        self.nodes.add_handler(on_add=self._enqueue,
                               on_update=lambda old, new: self._enqueue(new),
                               on_delete=self._enqueue)
        self._loaded = False

    def _enqueue(self, node: Object) -> None:
        self.queue.add(key_of(node))

    def _load(self, allocator: CidrAllocator) -> None:
        """Occupy every CIDR already assigned, before allocating anything."""
        for node in self.nodes.list():
            cidr = (node.get("spec") or {}).get("podCIDR")
            if cidr:
                name = str(podutil.meta(node).get("name"))
                if not allocator.occupy(name, str(cidr)):
                    log.warning("%s: node %s has podCIDR %s outside %s or already taken",
                                self.name, name, cidr, allocator.network)
        self._loaded = True

    async def reconcile(self, key: str) -> float | None:
        allocator = self.allocator
        if allocator is None:
            return None
        if not self._loaded:
            self._load(allocator)
        node = self.nodes.get(key)
        if node is None:
            allocator.release(key)
            return None
        current = (node.get("spec") or {}).get("podCIDR")
        if current:
            allocator.occupy(key, str(current))
            return None
        try:
            cidr = allocator.allocate(key)
        except CidrExhausted as e:
            self.recorder.event(node, "Warning", "CIDRNotAvailable",
                                f"Node {key} status is now: CIDRNotAvailable ({e})")
            return 60.0
        patch = {"metadata": {"resourceVersion": podutil.meta(node).get("resourceVersion")},
                 "spec": {"podCIDR": cidr, "podCIDRs": [cidr]}}
        try:
            await self.client.patch(NODES, key, patch)
        except errors.NotFound:
            allocator.release(key)
            return None
        # On Conflict (or any other failure) the reservation stays with this node: the patch
        # may have landed before the cache showed it, and handing the subnet to another node
        # in between would be the one collision this must never make.
        self.recorder.event(node, "Normal", "CIDRAssignmentSucceeded",
                            f"Node {key} was assigned podCIDR {cidr}")
        log.info("%s: node %s gets podCIDR %s", self.name, key, cidr)
        return None
