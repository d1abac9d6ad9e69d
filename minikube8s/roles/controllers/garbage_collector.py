"""The garbage collector: ownerReferences, with background, foreground and orphan propagation.

Kubernetes' pkg/controller/garbagecollector keeps a graph of every object's owners; here the
graph is two informer indexes per monitored kind (owner uid -> dependents, uid -> object), over
the kinds that carry ownerReferences in minikube8s: pods (owned by replication controllers) and
replication controllers (which may be owned in turn). ``MONITORED`` lists them; adding a kind is
adding its name. Keys are ``<resource>/<namespace>/<name>``.

How a DELETE's ``propagationPolicy`` plays out (the API server turns Foreground and Orphan into
finalizers, see roles/apiserver/rules.gc_finalizers):

- Background (kubectl's default): the owner goes at once; its dependents then point at a uid
  that no longer exists, and each is deleted here once the owner is confirmed gone (a cache
  miss is checked with a live GET, so a slow watch never deletes a live owner's dependents).
  A dependent with some owners gone and some alive only loses the dangling references.
- Foreground: the owner stays with deletionTimestamp and the ``foregroundDeletion``
  finalizer; its dependents are deleted (background) and, once none with
  ``blockOwnerDeletion: true`` is left, the finalizer is removed and the server deletes it.
- Orphan (``kubectl delete --cascade=orphan``): the owner stays with the ``orphan``
  finalizer until its dependents' ownerReferences to it are removed, then the finalizer goes.

The replication controller (replication.py) stops managing an RC once it is being deleted, so
it neither replaces pods the collector deletes nor adopts the pods it orphans. Events use the
component ``garbage-collector-controller``.
"""

from __future__ import annotations

import logging
from typing import Any

from ...api import resources
from ...client import EventRecorder, Informer, errors, key_of, resource, split_key
from ..context import RoleContext
from . import podutil
from .base import BaseController

log = logging.getLogger(__name__)

MONITORED = ("replicationcontrollers", "pods")
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
OWNER_INDEX = "controllers.gc.owner"
UID_INDEX = "controllers.gc.uid"
FOREGROUND_RECHECK = 5.0
"""Safety net while waiting for dependents; their delete events normally wake the owner."""

Object = dict[str, Any]


def gc_key(res_name: str, obj: Object) -> str:
    return f"{res_name}/{key_of(obj)}"


def split_gc_key(key: str) -> tuple[str, str, str]:
    res_name, _, rest = key.partition("/")
    ns, name = split_key(rest)
    return res_name, ns, name


def owner_resource(ref: Object) -> resources.Resource | None:
    api_version = str(ref.get("apiVersion") or "")
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    return resources.by_kind(str(ref.get("kind") or ""), group)


def _blocks(dep: Object, owner_uid: str) -> bool:
    return any(r.get("uid") == owner_uid and r.get("blockOwnerDeletion")
               for r in podutil.owner_refs(dep))


class GarbageCollector(BaseController):
    name = "garbage-collector"
    workers = 5

    def __init__(self, ctx: RoleContext, recorder: EventRecorder) -> None:
        super().__init__(ctx, recorder)
        self.informers: dict[str, Informer] = {}
        for res_name in MONITORED:
            inf = self.watch(ctx.informers.informer(resource(res_name)))
            if not inf.has_indexer(OWNER_INDEX):
                inf.add_indexer(OWNER_INDEX, podutil.owner_uids)
            if not inf.has_indexer(UID_INDEX):
                inf.add_indexer(UID_INDEX, lambda o: [str(podutil.meta(o).get("uid") or "")])
            self.informers[res_name] = inf
            inf.add_handler(on_add=self._handler_add(res_name),
                            on_update=self._handler_update(res_name),
                            on_delete=self._handler_delete(res_name))
        # Only read (no handlers): events into a terminating namespace would be refused.
        self.namespaces: Informer = self.watch(ctx.informers.informer(resource("namespaces")))
        self.deleted = 0

    # -- the graph, from the indexes ------------------------------------------------------------

    def dependents(self, owner: Object) -> list[tuple[str, Object]]:
        uid = str(podutil.meta(owner).get("uid") or "")
        ns = podutil.meta(owner).get("namespace") or ""
        out = []
        for res_name, inf in self.informers.items():
            for dep in inf.by_index(OWNER_INDEX, uid):
                # ownerReferences only reach within a namespace (or to cluster-scoped owners)
                if not ns or podutil.meta(dep).get("namespace") == ns:
                    out.append((res_name, dep))
        return out

    def _cached_by_uid(self, uid: str) -> tuple[str, Object] | None:
        for res_name, inf in self.informers.items():
            hits = inf.by_index(UID_INDEX, uid)
            if hits:
                return res_name, hits[0]
        return None

    # -- handlers -------------------------------------------------------------------------------

    def _wants_attention(self, obj: Object) -> bool:
        fins = podutil.finalizers_of(obj)
        return bool(podutil.owner_refs(obj)) or (
            podutil.is_terminating(obj) and (ORPHAN in fins or FOREGROUND in fins))

    def _wake_waiting_owners(self, obj: Object) -> None:
        """A dependent changed or went: an owner in foreground deletion may be done."""
        for uid in podutil.owner_uids(obj):
            hit = self._cached_by_uid(uid)
            if hit is not None and podutil.is_terminating(hit[1]):
                self.queue.add(gc_key(*hit))

    def _handler_add(self, res_name: str) -> Any:
        def on_add(obj: Object) -> None:
            if self._wants_attention(obj):
                self.queue.add(gc_key(res_name, obj))
        return on_add

    def _handler_update(self, res_name: str) -> Any:
        def on_update(old: Object, new: Object) -> None:
            om, nm = podutil.meta(old), podutil.meta(new)
            if (om.get("ownerReferences") != nm.get("ownerReferences")
                    or om.get("deletionTimestamp") != nm.get("deletionTimestamp")
                    or om.get("finalizers") != nm.get("finalizers")) \
                    and self._wants_attention(new):
                self.queue.add(gc_key(res_name, new))
            if podutil.is_terminating(new) or om.get("ownerReferences") != nm.get(
                    "ownerReferences"):
                self._wake_waiting_owners(old)
        return on_update

    def _handler_delete(self, res_name: str) -> Any:
        def on_delete(obj: Object) -> None:
            for dep_res, dep in self.dependents(obj):
                self.queue.add(gc_key(dep_res, dep))
            self._wake_waiting_owners(obj)
        return on_delete

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        res_name, ns, name = split_gc_key(key)
        inf = self.informers.get(res_name)
        obj = inf.get(f"{ns}/{name}" if ns else name) if inf is not None else None
        if obj is None:
            return None
        fins = podutil.finalizers_of(obj)
        if podutil.is_terminating(obj) and ORPHAN in fins:
            await self._orphan_dependents(obj)
            await self._remove_finalizer(res_name, obj, ORPHAN)
            return None
        if podutil.is_terminating(obj) and FOREGROUND in fins:
            return await self._foreground(res_name, obj)
        if podutil.owner_refs(obj):
            await self._check_owners(res_name, obj)
        return None

    async def _owner_exists(self, namespace: str, ref: Object) -> bool | None:
        """True/False when known; None when the owner's kind is not one this server serves."""
        uid = str(ref.get("uid") or "")
        if self._cached_by_uid(uid) is not None:
            return True
        res = owner_resource(ref)
        if res is None:
            return None
        # A cache miss may be a slow watch: ask the API server before deleting anything.
        try:
            live = await self.client.get(res, str(ref.get("name") or ""),
                                         namespace=namespace if res.namespaced else "")
        except errors.NotFound:
            return False
        return podutil.meta(live).get("uid") == uid

    async def _check_owners(self, res_name: str, obj: Object) -> None:
        md = podutil.meta(obj)
        ns = str(md.get("namespace") or "")
        refs = podutil.owner_refs(obj)
        dangling: list[Object] = []
        for ref in refs:
            exists = await self._owner_exists(ns, ref)
            if exists is False:
                dangling.append(ref)
            elif exists is True:
                hit = self._cached_by_uid(str(ref.get("uid") or ""))
                if hit is not None and podutil.is_terminating(hit[1]):
                    self.queue.add(gc_key(*hit))  # an owner in foreground deletion
        if not dangling:
            return
        if len(dangling) == len(refs):
            await self._delete(res_name, obj, "all its owners are gone")
            return
        gone = {r.get("uid") for r in dangling}
        await self._patch_refs(res_name, obj, [r for r in refs if r.get("uid") not in gone])

    async def _foreground(self, res_name: str, owner: Object) -> float | None:
        uid = str(podutil.meta(owner).get("uid") or "")
        deps = self.dependents(owner)
        for dep_res, dep in deps:
            if not podutil.is_terminating(dep):
                await self._delete(dep_res, dep,
                                   f"its owner {key_of(owner)} is being deleted (foreground)")
        if any(_blocks(dep, uid) for _, dep in deps):
            return FOREGROUND_RECHECK
        await self._remove_finalizer(res_name, owner, FOREGROUND)
        return None

    async def _orphan_dependents(self, owner: Object) -> None:
        """Drop the references to ``owner`` from its dependents, read live from the API: a
        dependent created just before the owner's deletion may not be in the cache yet, and
        once the finalizer is gone it would be collected as an orphan of a vanished owner."""
        uid = str(podutil.meta(owner).get("uid") or "")
        ns = str(podutil.meta(owner).get("namespace") or "")
        for dep_res in self.informers:
            listed = await self.client.list(resource(dep_res), namespace=ns)
            for dep in listed["items"]:
                if uid not in podutil.owner_uids(dep):
                    continue
                await self._patch_refs(dep_res, dep, [r for r in podutil.owner_refs(dep)
                                                      if r.get("uid") != uid])
                self.recorder.event(
                    dep, "Normal", "Orphaned",
                    f"ownerReference to {key_of(owner)} removed (orphan propagation)")

    # -- writes ---------------------------------------------------------------------------------

    async def _patch_meta(self, res_name: str, obj: Object, meta_patch: Object) -> None:
        md = podutil.meta(obj)
        # resourceVersion: a compare-and-swap, so a list computed from a stale cache fails
        # with Conflict (and a requeue) instead of overwriting a newer one.
        body = {"metadata": {"resourceVersion": md.get("resourceVersion"), **meta_patch}}
        try:
            await self.client.patch(resource(res_name), str(md.get("name")), body,
                                    namespace=str(md.get("namespace") or ""))
        except errors.NotFound:
            pass

    async def _patch_refs(self, res_name: str, obj: Object, refs: list[Object]) -> None:
        await self._patch_meta(res_name, obj, {"ownerReferences": refs or None})

    async def _remove_finalizer(self, res_name: str, obj: Object, fin: str) -> None:
        rest = [f for f in podutil.finalizers_of(obj) if f != fin]
        await self._patch_meta(res_name, obj, {"finalizers": rest or None})
        log.info("%s: removed finalizer %s from %s %s", self.name, fin, res_name, key_of(obj))

    async def _delete(self, res_name: str, obj: Object, why: str) -> None:
        md = podutil.meta(obj)
        try:
            await self.client.delete(resource(res_name), str(md.get("name")),
                                     namespace=str(md.get("namespace") or ""),
                                     propagation_policy="Background",
                                     preconditions={"uid": str(md.get("uid") or "")})
        except (errors.NotFound, errors.Conflict):
            return
        self.deleted += 1
        ns = self.namespaces.get(str(md.get("namespace") or ""))
        if ns is None or not podutil.is_terminating(ns):
            self.recorder.event(obj, "Normal", "GarbageCollected", f"Deleted: {why}")
        log.info("%s: deleted %s %s: %s", self.name, res_name, key_of(obj), why)
