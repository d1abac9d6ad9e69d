"""Kubernetes' per-kind storage rules that the generic registry applies.

registry.py is kind-agnostic; the few places where Kubernetes' strategies differ by kind live
here as plain functions: which kinds a PUT may create, how an update through a subresource
(status, finalize, binding) is shaped from the stored object, what a create resets in status,
who holds a deleting object (finalizers, a pod's grace period), DeleteOptions preconditions,
and the store-error wording. Pure data: no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ...api import errors
from ...api.resources import Resource
from ...store import base as store

Object = dict[str, Any]

# Kinds that Kubernetes lets a PUT create (AllowCreateOnUpdate in their strategies).
CREATE_ON_UPDATE = frozenset({"endpoints", "events", "limitranges"})


MAX_OBJECT_SIZE = 3 * 512 * 1024
"""The largest stored object, in bytes of its JSON: etcd's default request limit (1.5 MiB),
kept for every backend so a cluster does not change behaviour with its store, and so no
object is larger than a watch event or list page can carry comfortably."""


def check_size(res: Resource, name: str, value: bytes) -> None:
    """413 RequestEntityTooLarge for an object over MAX_OBJECT_SIZE once encoded: a 3 MiB
    body, a patch that grows an object, or a YAML body whose aliases expand, can each get
    there."""
    if len(value) > MAX_OBJECT_SIZE:
        raise errors.RequestEntityTooLarge(
            f"Request entity too large: {res.name} \"{name}\" is {len(value)} bytes once "
            f"encoded; the limit is {MAX_OBJECT_SIZE}", kind=res.name, name=name,
            group=res.group)


def now_plus(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def store_error(e: store.StoreError, res: Resource, name: str) -> errors.APIError:
    """Kubernetes' wording for what the store said."""
    if isinstance(e, store.NotFound):
        return errors.NotFound.of(res.name, name, group=res.group)
    if isinstance(e, store.AlreadyExists):
        return errors.AlreadyExists.of(res.name, name, group=res.group)
    if isinstance(e, store.Conflict):
        return errors.Conflict.of(res.name, name, group=res.group)
    if isinstance(e, store.Gone):
        return errors.Gone(f"too old resource version: {e.revision} ({e.compacted + 1})")
    if isinstance(e, store.Unavailable):
        return errors.ServiceUnavailable(f"the storage is unavailable: {e}", retry_after=1)
    return errors.InternalError(f"storage error: {e}")


_OMIT_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences", "managedFields")


def drop_empty_metadata(obj: Object) -> None:
    """ObjectMeta's maps and lists are ``omitempty`` in Kubernetes: a patch that empties
    annotations leaves no ``annotations: {}`` behind (kubectl diff shows the difference)."""
    md = obj.get("metadata")
    if isinstance(md, dict):
        for key in _OMIT_EMPTY:
            if key in md and not md[key]:
                del md[key]


def shape_update(res: Resource, obj: Object, old: Object, subresource: str) -> Object:
    """What an update may change, by the path it came through (Kubernetes' PrepareForUpdate
    of the resource and its status/finalize strategies)."""
    if subresource == "status":
        new = copy.deepcopy(old)
        if "status" in obj:
            new["status"] = obj["status"]
        else:
            new.pop("status", None)
        return new
    if subresource == "finalize":
        new = copy.deepcopy(old)
        new.setdefault("spec", {})["finalizers"] = (obj.get("spec") or {}).get(
            "finalizers") or []
        return new
    if subresource == "binding":
        return obj
    if "status" in res.subresources:
        # The main resource cannot change status.
        if "status" in old:
            obj["status"] = copy.deepcopy(old["status"])
        else:
            obj.pop("status", None)
    if res.name == "namespaces":
        # Only /finalize changes spec.finalizers.
        fins = (old.get("spec") or {}).get("finalizers")
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict):
            if fins is None:
                spec.pop("finalizers", None)
            else:
                spec["finalizers"] = copy.deepcopy(fins)
    return obj


def finalizers(res: Resource, obj: Object) -> list[Any]:
    fins = list((obj.get("metadata") or {}).get("finalizers") or [])
    if res.name == "namespaces":
        fins += list((obj.get("spec") or {}).get("finalizers") or [])
    return fins

def removable(res: Resource, obj: Object) -> bool:
    """A deleting object goes once nothing holds it: no finalizers, and for a pod, its
    grace period already cut to 0 (the kubelet's final delete)."""
    if finalizers(res, obj):
        return False
    if res.name == "pods":
        return int((obj.get("metadata") or {}).get("deletionGracePeriodSeconds") or 0) == 0
    return True

# Garbage collection (issue 4): DeleteOptions.propagationPolicy Orphan and Foreground hold the
# deleted object with a finalizer that roles/controllers/garbage_collector.py removes once it
# has orphaned or deleted the dependents, as Kubernetes' deletionFinalizersForGarbageCollection.
PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")
GC_FINALIZERS = {"Orphan": "orphan", "Foreground": "foregroundDeletion"}


def propagation_policy(opts: Mapping[str, Any], query: Mapping[str, str]) -> str | None:
    """The DeleteOptions' policy (body or query), or Orphan for the older orphanDependents."""
    policy = query.get("propagationPolicy") or opts.get("propagationPolicy")
    orphan = opts.get("orphanDependents")
    if "orphanDependents" in query:
        orphan = query["orphanDependents"] == "true"
    if policy is not None and orphan is not None:
        raise errors.Invalid.of("DeleteOptions", "", [errors.forbidden(
            "propagationPolicy", "orphanDependents and propagationPolicy cannot both be set")])
    if policy is not None and policy not in PROPAGATION_POLICIES:
        raise errors.Invalid.of("DeleteOptions", "", [errors.not_supported(
            "propagationPolicy", policy, list(PROPAGATION_POLICIES))])
    if orphan is not None:
        return "Orphan" if orphan else "Background"
    return str(policy) if policy is not None else None


def gc_finalizers(obj: Object, policy: str | None) -> list[str]:
    """The finalizers a delete with ``policy`` adds to ``obj`` (none already there)."""
    fin = GC_FINALIZERS.get(policy or "")
    have = (obj.get("metadata") or {}).get("finalizers") or []
    return [fin] if fin is not None and fin not in have else []


def grace_period(res: Resource, obj: Object, requested: int | None) -> int:
    if res.name != "pods":
        return 0
    spec = obj.get("spec") or {}
    phase = (obj.get("status") or {}).get("phase")
    if not spec.get("nodeName") or phase in ("Succeeded", "Failed"):
        return 0
    if requested is not None:
        return max(0, requested)
    return int(spec.get("terminationGracePeriodSeconds", 30) or 0)

def check_preconditions(res: Resource, obj: Object, pre: Mapping[str, Any] | None) -> None:
    if not pre:
        return
    md = obj.get("metadata") or {}
    name = str(md.get("name") or "")
    uid, rv = pre.get("uid"), pre.get("resourceVersion")
    if uid and uid != md.get("uid"):
        raise errors.Conflict(
            f'Operation cannot be fulfilled on {res.name} "{name}": Precondition failed: '
            f"UID in precondition: {uid}, UID in object meta: {md.get('uid')}",
            kind=res.name, name=name, group=res.group)
    if rv and str(rv) != md.get("resourceVersion"):
        raise errors.Conflict(
            f'Operation cannot be fulfilled on {res.name} "{name}": Precondition failed: '
            f"ResourceVersion in precondition: {rv}, ResourceVersion in object meta: "
            f"{md.get('resourceVersion')}",
            kind=res.name, name=name, group=res.group)


def reset_status_on_create(res: Resource, obj: Object) -> None:
    """Status is the controllers' and kubelets' business: Kubernetes' PrepareForCreate drops
    what a client sent (pods start Pending, namespaces Active, RCs and services empty)."""
    if res.name == "pods":
        obj["status"] = {"phase": "Pending"}
    elif res.name == "namespaces":
        obj["status"] = {"phase": "Active"}
        spec = obj.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        fins = spec.setdefault("finalizers", [])
        if isinstance(fins, list) and "kubernetes" not in fins:
            fins.append("kubernetes")
    elif res.name == "replicationcontrollers":
        obj["status"] = {"replicas": 0}
    elif res.name == "services":
        obj["status"] = {"loadBalancer": {}}

