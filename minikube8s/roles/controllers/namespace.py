"""The namespace controller: a deleted namespace is emptied, then finalized.

The API server marks a deleted namespace Terminating (deletionTimestamp, ``status.phase``) and
keeps it while ``spec.finalizers`` holds ``kubernetes``; its NamespaceLifecycle admission
already refuses new content there. This controller (Kubernetes' pkg/controller/namespace,
NamespacedResourcesDeleter) then:

1. deletes everything in the namespace, every namespaced kind of minikube8s.api.resources that
   supports deletecollection, replication controllers and services before pods so nothing
   recreates what was just removed;
2. lists again; while anything is left (a pod on a node finishing its grace period, an object
   held by a finalizer the garbage collector will remove) it sets the ``NamespaceContentRemaining``
   condition and requeues, sooner or later depending on what remains;
3. once empty, PUTs ``/api/v1/namespaces/NAME/finalize`` without ``kubernetes``; the API server
   removes the namespace when no finalizer is left.

Reading the content goes through the API, not informers: a namespace's content spans every kind
and this runs rarely. Events (component ``namespace-controller``) mark the start and the end.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from ...api import resources
from ...client import EventRecorder, Informer, errors, key_of, resource
from ..context import RoleContext
from . import podutil
from .base import BaseController

log = logging.getLogger(__name__)

NAMESPACES = resource("namespaces")
FINALIZER = "kubernetes"
FIRST = ("replicationcontrollers", "services")
"""Deleted first: the owners, so nothing recreates pods or endpoints behind our back."""
REQUEUE_PODS = 1.0
"""Requeue delay while pods finish their grace period (the kubelet's job)."""
REQUEUE_OTHER = 2.0

Object = dict[str, Any]


def namespaced_kinds() -> list[resources.Resource]:
    kinds = [r for r in resources.ALL
             if r.namespaced and "deletecollection" in r.verbs and "list" in r.verbs]
    return sorted(kinds, key=lambda r: (r.name not in FIRST, r.name != "pods", r.name))


class NamespaceController(BaseController):
    name = "namespace"
    workers = 2

    def __init__(self, ctx: RoleContext, recorder: EventRecorder) -> None:
        super().__init__(ctx, recorder)
        self.namespaces: Informer = self.watch(ctx.informers.informer(NAMESPACES))
        self.namespaces.add_handler(on_add=self._enqueue,
                                    on_update=lambda old, new: self._enqueue(new))
        self._announced: set[str] = set()

    def _enqueue(self, ns: Object) -> None:
        if podutil.is_terminating(ns):
            self.queue.add(key_of(ns))

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.get(key)
        if ns is None:
            self._announced.discard(key)
            return None
        if not podutil.is_terminating(ns):
            return None
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return None  # ours is done; other finalizers hold it
        if key not in self._announced:
            self._announced.add(key)
            self.recorder.event(ns, "Normal", "NamespaceDeletion",
                                f"Deleting all content in namespace {key}")
        remaining = await self.delete_content(key)
        if remaining:
            await self._set_condition(ns, remaining)
            pods_left = remaining.get("pods", 0)
            return REQUEUE_PODS if pods_left else REQUEUE_OTHER
        await self.finalize(ns)
        return None

    async def delete_content(self, namespace: str) -> dict[str, int]:
        """Delete every object in ``namespace``; returns what is still there, by kind."""
        remaining: dict[str, int] = {}
        for res in namespaced_kinds():
            try:
                listed = await self.client.list(res, namespace=namespace)
            except errors.NotFound:
                continue  # a kind this server does not serve
            if not listed["items"]:
                continue
            live = [o for o in listed["items"] if not podutil.is_terminating(o)]
            if live:
                try:
                    await self.client.delete_collection(res, namespace=namespace)
                except errors.NotFound:
                    pass
                listed = await self.client.list(res, namespace=namespace)
            if listed["items"]:
                remaining[res.name] = len(listed["items"])
        return remaining

    async def _set_condition(self, ns: Object, remaining: dict[str, int]) -> None:
        message = "Some resources are remaining: " + ", ".join(
            f"{k} has {n} resource instances" for k, n in sorted(remaining.items()))
        status = ns.get("status") or {}
        conds = [c for c in status.get("conditions") or []
                 if c.get("type") != "NamespaceContentRemaining"]
        old = podutil.condition(ns, "NamespaceContentRemaining")
        if old is not None and old.get("message") == message:
            return
        conds.append({"type": "NamespaceContentRemaining", "status": "True",
                      "reason": "SomeResourcesRemain", "message": message,
                      "lastTransitionTime": podutil.format_time()})
        new = copy.deepcopy(ns)
        new.setdefault("status", {})["conditions"] = conds
        try:
            await self.client.update_status(NAMESPACES, new)
        except (errors.NotFound, errors.Conflict):
            pass  # cosmetic: the next pass writes it again

    async def finalize(self, ns: Object) -> None:
        name = str(podutil.meta(ns).get("name"))
        new = copy.deepcopy(ns)
        spec = new.setdefault("spec", {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        try:
            await self.client.update(NAMESPACES, new, subresource="finalize")
        except errors.NotFound:
            return
        self._announced.discard(name)
        self.recorder.event(ns, "Normal", "NamespaceFinalized",
                            f"Namespace {name} is empty and was finalized")
        log.info("%s: namespace %s finalized", self.name, name)
