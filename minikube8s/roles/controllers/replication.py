"""The replication controller: exactly ``spec.replicas`` active pods per ReplicationController.

Kubernetes' pkg/controller/replication (today a ReplicaSet controller in RC clothing), reduced
to what v0.17's users see, with today's safety rails:

- level-triggered: pod and RC handlers only enqueue RC keys; ``reconcile`` counts the active
  pods (not terminating, not Succeeded/Failed) that the RC owns through a controller
  ownerReference and creates or deletes the difference;
- expectations (expectations.py): after creating or deleting N pods the RC is left alone until
  the pod informer has shown those N adds/deletes (or 5 minutes pass), so a slow watch never
  makes it act twice;
- claiming (PodControllerRefManager): matching orphans are adopted by patching an
  ownerReference on them, owned pods whose labels no longer match are released;
- creates go in slow-start batches (1, 2, 4, ...; at most 500 per pass) so a create that fails
  (quota, a terminating namespace) fails once, not N times; deletes take the least valuable
  pods first (podutil.deletion_order_key: unscheduled < pending < not ready < ready, newer
  first);
- status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas,
  observedGeneration) is written through the status subresource, only when it changed;
- events SuccessfulCreate, SuccessfulDelete, FailedCreate, FailedDelete on the RC.

An RC being deleted (deletionTimestamp: foreground or orphan propagation, see
garbage_collector.py) is no longer managed: the garbage collector owns its pods' fate then.
Pod names come from ``generateName: <rc>-`` so the API server gives ``<rc>-<5 chars>``.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from typing import Any

from ...api import selectors
from ...client import EventRecorder, Informer, errors, key_of, resource, split_key
from ..context import RoleContext
from . import podutil
from .base import BaseController
from .expectations import Expectations

log = logging.getLogger(__name__)

PODS = resource("pods")
RCS = resource("replicationcontrollers")

BURST_REPLICAS = 500
"""Kubernetes' BurstReplicas: the most pods created or deleted in one reconcile."""
SLOW_START_INITIAL_BATCH = 1
OWNER_INDEX = "controllers.replication.owner"

Object = dict[str, Any]


def owner_index(pod: Object) -> list[str]:
    """``uid:<controller uid>`` for controlled pods, ``orphan:<namespace>`` for the rest."""
    ref = podutil.controller_ref(pod)
    if ref is not None:
        return [f"uid:{ref.get('uid')}"]
    return [f"orphan:{podutil.meta(pod).get('namespace') or ''}"]

def rc_selector(rc: Object) -> selectors.LabelSelector | None:
    """The RC's selector; None (match nothing) when empty, as a nil RC selector does."""
    sel = (rc.get("spec") or {}).get("selector")
    if not isinstance(sel, dict) or not sel:
        return None
    return selectors.selector_from_match_labels(sel)


def pod_from_template(rc: Object) -> Object:
    """A pod for ``rc`` (controller.GetPodFromTemplate): template labels, annotations and spec,
    a controller ownerReference, and ``generateName: <rc>-``."""
    md = podutil.meta(rc)
    template = (rc.get("spec") or {}).get("template") or {}
    tmd = template.get("metadata") or {}
    pmd: Object = {"generateName": f"{md.get('name')}-", "namespace": md.get("namespace"),
                   "ownerReferences": [podutil.new_controller_ref(
                       rc, kind="ReplicationController")]}
    for field in ("labels", "annotations", "finalizers"):
        if tmd.get(field):
            pmd[field] = copy.deepcopy(tmd[field])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pmd,
            "spec": copy.deepcopy(template.get("spec") or {})}


def slow_start_batches(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> list[int]:
    """Batch sizes 1, 2, 4, ... summing to ``count`` (controller.slowStartBatch)."""
    out: list[int] = []
    size = max(1, initial)
    remaining = count
    while remaining > 0:
        b = min(size, remaining)
        out.append(b)
        remaining -= b
        size *= 2
    return out


class ReplicationController(BaseController):
    name = "replication"
    workers = 5

    def __init__(self, ctx: RoleContext, recorder: EventRecorder) -> None:
        super().__init__(ctx, recorder)
        self.expectations = Expectations(ctx.clock)
        self.pods: Informer = self.watch(ctx.informers.informer(PODS))
        self.rcs: Informer = self.watch(ctx.informers.informer(RCS))
        self.rcs.add_handler(on_add=self._rc_changed,
                             on_update=lambda old, new: self._rc_changed(new),
                             on_delete=self._rc_changed)
        if not self.pods.has_indexer(OWNER_INDEX):
            self.pods.add_indexer(OWNER_INDEX, owner_index)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                              on_delete=self._pod_deleted)
        self.created = 0
        self.deleted = 0

    # -- handlers: compute keys, note observations, enqueue --------------------------------------

    def _rc_changed(self, rc: Object) -> None:
        self.queue.add(key_of(rc))

    def _owner_key(self, pod: Object) -> str | None:
        ref = podutil.controller_ref(pod)
        if ref is None or ref.get("kind") != "ReplicationController":
            return None
        ns = podutil.meta(pod).get("namespace") or ""
        rc = self.rcs.get(f"{ns}/{ref.get('name')}")
        # A ref to an RC of the same name but another uid is someone else's (a recreated RC).
        if rc is None or podutil.meta(rc).get("uid") != ref.get("uid"):
            return None
        return f"{ns}/{ref.get('name')}"

    def _matching_rcs(self, pod: Object) -> list[str]:
        ns = str(podutil.meta(pod).get("namespace") or "")
        labels = podutil.labels_of(pod)
        out = []
        for rc in self.rcs.select(namespace=ns):
            sel = rc_selector(rc)
            if sel is not None and sel.matches(labels):
                out.append(key_of(rc))
        return out

    def _pod_added(self, pod: Object) -> None:
        if podutil.is_terminating(pod):
            # Seen for the first time already deleting (a relist): count it as a delete.
            self._pod_deleted(pod)
            return
        owner = self._owner_key(pod)
        if owner is not None:
            self.expectations.creation_observed(owner)
            self.queue.add(owner)
        elif podutil.controller_ref(pod) is None:
            for k in self._matching_rcs(pod):
                self.queue.add(k)

    def _pod_updated(self, old: Object, new: Object) -> None:
        if podutil.meta(old).get("resourceVersion") == podutil.meta(new).get("resourceVersion"):
            return
        if podutil.is_terminating(new) and not podutil.is_terminating(old):
            # A graceful delete: the pod stops counting now, not when it is finally removed.
            self._pod_deleted(new)
            return
        old_owner, new_owner = self._owner_key(old), self._owner_key(new)
        if old_owner is not None and old_owner != new_owner:
            self.queue.add(old_owner)
        if new_owner is not None:
            self.queue.add(new_owner)
        elif podutil.controller_ref(new) is None and (
                podutil.labels_of(old) != podutil.labels_of(new) or old_owner is not None):
            for k in self._matching_rcs(new):
                self.queue.add(k)

    def _pod_deleted(self, pod: Object) -> None:
        owner = self._owner_key(pod)
        if owner is None:
            ref = podutil.controller_ref(pod)
            if ref is None or ref.get("kind") != "ReplicationController":
                return
            owner = f"{podutil.meta(pod).get('namespace') or ''}/{ref.get('name')}"
        self.expectations.deletion_observed(owner, key_of(pod))
        self.queue.add(owner)

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        rc = self.rcs.get(key)
        if rc is None:
            self.expectations.delete(key)
            return None
        needs_sync = self.expectations.satisfied(key)
        deleting = podutil.is_terminating(rc)
        namespace, _ = split_key(key)
        # Only what this RC may claim: the pods it controls and the namespace's orphans (an
        # index, so 30 RCs over 3,000 pods do not each scan them all).
        candidates = [p for p in (
            self.pods.by_index(OWNER_INDEX, f"uid:{podutil.meta(rc).get('uid')}")
            + self.pods.by_index(OWNER_INDEX, f"orphan:{namespace}")) if podutil.is_active(p)]
        owned = await self._claim(rc, candidates, deleting=deleting)
        failure: Exception | None = None
        if needs_sync and not deleting:
            try:
                await self._manage(rc, key, owned)
            except errors.ClientError as e:
                failure = e
        await self._update_status(rc, owned)
        if failure is not None:
            raise failure
        return self.expectations.expires_in(key)

    async def _claim(self, rc: Object, pods: list[Object], *, deleting: bool) -> list[Object]:
        """Adopt matching orphans, release owned pods that stopped matching; return what the
        RC owns afterwards (PodControllerRefManager.ClaimPods)."""
        md = podutil.meta(rc)
        uid = md.get("uid")
        sel = rc_selector(rc)
        owned: list[Object] = []
        for pod in pods:
            ref = podutil.controller_ref(pod)
            matches = sel is not None and sel.matches(podutil.labels_of(pod))
            if ref is not None:
                if ref.get("uid") != uid:
                    continue  # another controller's
                if matches or deleting:
                    owned.append(pod)
                    continue
                await self._patch_refs(pod, [r for r in podutil.owner_refs(pod)
                                             if r.get("uid") != uid], "release")
                continue
            if not matches or deleting or podutil.is_terminating(pod):
                continue
            adopted = await self._patch_refs(
                pod, [*podutil.owner_refs(pod),
                      podutil.new_controller_ref(rc, kind="ReplicationController")], "adopt")
            if adopted is not None:
                owned.append(adopted)
        return owned

    async def _patch_refs(self, pod: Object, refs: list[Object], why: str) -> Object | None:
        pmd = podutil.meta(pod)
        # The resourceVersion makes the merge patch a compare-and-swap: a pod that changed
        # owner meanwhile fails with Conflict and the RC is reconciled again.
        body = {"metadata": {"resourceVersion": pmd.get("resourceVersion"),
                             "ownerReferences": refs or None}}
        try:
            out = await self.client.patch(PODS, str(pmd.get("name")), body,
                                          namespace=str(pmd.get("namespace") or ""))
        except errors.NotFound:
            return None
        log.info("%s: %s pod %s/%s", self.name, why, pmd.get("namespace"), pmd.get("name"))
        return out

    async def _manage(self, rc: Object, key: str, owned: list[Object]) -> None:
        want = int((rc.get("spec") or {}).get("replicas") or 0)
        diff = len(owned) - want
        if diff < 0:
            await self._create(rc, key, min(-diff, BURST_REPLICAS))
        elif diff > 0:
            await self._delete(rc, key, podutil.sort_for_deletion(owned)[:min(diff,
                                                                              BURST_REPLICAS)])

    async def _create(self, rc: Object, key: str, count: int) -> None:
        # Expectations are raised before the first create: the informer may show the new pod
        # before create() even returns.
        self.expectations.expect_creations(key, count)
        done = 0
        for size in slow_start_batches(count):
            results = await asyncio.gather(*(self._create_one(rc) for _ in range(size)),
                                           return_exceptions=True)
            errs = [r for r in results if isinstance(r, BaseException)]
            for _ in errs:
                self.expectations.creation_observed(key)
            done += size
            if errs:
                for _ in range(count - done):  # the batches never tried
                    self.expectations.creation_observed(key)
                first = errs[0]
                if isinstance(first, errors.Forbidden) and "terminated" in str(first):
                    return  # the namespace is going away: nothing to retry
                if isinstance(first, errors.ClientError):
                    raise first
                raise errors.ClientError(f"creating pods: {first!r}") from first

    async def _create_one(self, rc: Object) -> None:
        try:
            pod = await self.client.create(PODS, pod_from_template(rc))
        except errors.ClientError as e:
            self.recorder.event(rc, "Warning", "FailedCreate", f"Error creating: {e}")
            raise
        self.created += 1
        self.recorder.event(rc, "Normal", "SuccessfulCreate",
                            f"Created pod: {podutil.meta(pod).get('name')}")

    async def _delete(self, rc: Object, key: str, victims: list[Object]) -> None:
        self.expectations.expect_deletions(key, [key_of(p) for p in victims])
        results = await asyncio.gather(*(self._delete_one(rc, key, p) for p in victims),
                                       return_exceptions=True)
        errs = [r for r in results if isinstance(r, BaseException)]
        if errs:
            first = errs[0]
            if isinstance(first, errors.ClientError):
                raise first
            raise errors.ClientError(f"deleting pods: {first!r}") from first

    async def _delete_one(self, rc: Object, key: str, pod: Object) -> None:
        md = podutil.meta(pod)
        try:
            await self.client.delete(PODS, str(md.get("name")),
                                     namespace=str(md.get("namespace") or ""),
                                     preconditions={"uid": str(md.get("uid") or "")})
        except errors.NotFound:
            self.expectations.deletion_observed(key, key_of(pod))
            return
        except errors.ClientError as e:
            self.expectations.deletion_observed(key, key_of(pod))
            self.recorder.event(rc, "Warning", "FailedDelete", f"Error deleting: {e}")
            raise
        self.deleted += 1
        self.recorder.event(rc, "Normal", "SuccessfulDelete", f"Deleted pod: {md.get('name')}")

    # -- status ---------------------------------------------------------------------------------

    def calculate_status(self, rc: Object, owned: list[Object]) -> Object:
        spec = rc.get("spec") or {}
        tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        template_sel = selectors.selector_from_match_labels(tlabels)
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = time.time()
        status = copy.deepcopy(rc.get("status") or {})
        counts = {
            "replicas": len(owned),
            "fullyLabeledReplicas": sum(
                1 for p in owned if template_sel.matches(podutil.labels_of(p))),
            "readyReplicas": sum(1 for p in owned if podutil.is_ready(p)),
            "availableReplicas": sum(
                1 for p in owned if podutil.is_available(p, min_ready, now)),
        }
        for field, n in counts.items():
            if n or field == "replicas":
                status[field] = n
            else:
                status.pop(field, None)  # omitempty, as Kubernetes serialises them
        status["observedGeneration"] = int(podutil.meta(rc).get("generation") or 0)
        return status

    async def _update_status(self, rc: Object, owned: list[Object]) -> None:
        status = self.calculate_status(rc, owned)
        if status == (rc.get("status") or {}):
            return
        new = copy.deepcopy(rc)
        new["status"] = status
        try:
            await self.client.update_status(RCS, new)
        except errors.NotFound:
            return
