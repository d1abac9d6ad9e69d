"""The ResourceQuota admission plugin: hard limits per namespace, with usage that stays exact
under concurrent creates.

Like Kubernetes' plugin (plugin/pkg/admission/resourcequota), a create is charged by a
compare-and-swap of each matching quota's ``status.used`` on the quota's resourceVersion,
retried on Conflict, so of N racing creates exactly ``hard - used`` win, across API servers
too. A per-namespace lock only keeps this process's callers from wasting CAS rounds on each
other. Usage is released on the first DELETE of an object (the one that removes it or starts
its graceful deletion); a quota's own status is computed when it is created (counting what the
namespace holds) and when its spec gains keys.

Counted: pods, services, replicationcontrollers, resourcequotas, ``count/<resource>``,
services.nodeports, services.loadbalancers, and for pods cpu/memory (= requests.*) and
limits.*; scopes Terminating, NotTerminating, BestEffort, NotBestEffort. A create whose store
write fails after admission keeps its charge (Kubernetes heals that with its quota controller;
see ``compute_usage``); a create into a name that exists is refused before charging.
Neighbours: admission.py (the chain and shared helpers), registry.py (status writes).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

from ...api import errors
from ...api.quantity import format_quantity, quantity_format
from ...api.resources import Resource
from .admission import (
    PODS,
    REPLICATION_CONTROLLERS,
    RESOURCE_QUOTAS,
    SERVICES,
    containers,
    forbidden,
    qty,
)
from .interfaces import Attributes, Object, Operation, RegistryView
from .registry import WriteOptions

_QUOTA_ATTEMPTS = 100

_COMPUTE = ("cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory")
_COUNTED = {"pods": "pods", "services": "services",
            "replicationcontrollers": "replicationcontrollers",
            "resourcequotas": "resourcequotas"}


def _container_amount(c: dict[str, Any], key: str) -> Fraction | None:
    """What one container asks of a compute quota key (None: not specified)."""
    res = c.get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    part, _, rname = key.rpartition(".")
    if part == "limits":
        v = limits.get(rname)
    else:
        # A limit without a request requests the limit (SetDefaults_Pod).
        v = requests.get(rname, limits.get(rname))
    return None if v is None else qty(v)


def usage_of(resource: Resource, obj: Object, keys: Iterable[str]) -> dict[str, Fraction]:
    """The quota keys among ``keys`` that creating obj uses, and how much of each."""
    out: dict[str, Fraction] = {}
    group_name = f"{resource.name}.{resource.group}" if resource.group else resource.name
    for key in keys:
        if key == _COUNTED.get(resource.name) or key == f"count/{group_name}":
            out[key] = Fraction(1)
        elif resource.name == "services" and key in ("services.nodeports",
                                                     "services.loadbalancers"):
            spec = obj.get("spec") or {}
            if key == "services.loadbalancers":
                out[key] = Fraction(1 if spec.get("type") == "LoadBalancer" else 0)
            else:
                out[key] = Fraction(sum(1 for p in spec.get("ports") or []
                                        if isinstance(p, dict) and p.get("nodePort")))
        elif resource.name == "pods" and key in _COMPUTE:
            total = Fraction(0)
            init_max = Fraction(0)
            for label, c in containers(obj):
                amount = _container_amount(c, key) or Fraction(0)
                if label == "container":
                    total += amount
                else:
                    init_max = max(init_max, amount)
            out[key] = max(total, init_max)
    return out


def _missing_specs(obj: Object, keys: Iterable[str]) -> list[str]:
    """Compute keys the quota constrains that some container leaves unspecified."""
    wanted = [k for k in keys if k in _COMPUTE]
    missing = {k for k in wanted for _, c in containers(obj) if _container_amount(c, k) is None}
    return sorted(missing)


def _pod_matches_scopes(pod: Object, scopes: list[str]) -> bool:
    spec = pod.get("spec") or {}
    best_effort = not any(((c.get("resources") or {}).get(p)) for _, c in containers(pod)
                          for p in ("requests", "limits"))
    for scope in scopes:
        if scope == "Terminating" and spec.get("activeDeadlineSeconds") is None:
            return False
        if scope == "NotTerminating" and spec.get("activeDeadlineSeconds") is not None:
            return False
        if scope == "BestEffort" and not best_effort:
            return False
        if scope == "NotBestEffort" and best_effort:
            return False
    return True


def _applies(quota: Object, resource: Resource, obj: Object) -> bool:
    scopes = list((quota.get("spec") or {}).get("scopes") or [])
    if not scopes:
        return True
    return resource.name == "pods" and _pod_matches_scopes(obj, scopes)


def _hard(quota: Object) -> dict[str, str]:
    status = quota.get("status") or {}
    hard = status.get("hard") or (quota.get("spec") or {}).get("hard") or {}
    return {str(k): str(v) for k, v in hard.items()}


def _fmt(key: str, value: Fraction, like: str) -> str:
    if key in _COMPUTE or key.startswith(("requests.", "limits.")):
        return format_quantity(value, quantity_format(like))
    return format_quantity(value)


def _pretty(values: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(values.items()))


class _Exceeded(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


async def _write_status(registry: RegistryView, quota: Object) -> Object:
    """CAS the quota's status. A plain update would lose it: the main resource of a kind with
    a status subresource keeps its old status (Kubernetes' PrepareForUpdate), so use the
    status path when the registry offers one."""
    ns = str((quota.get("metadata") or {}).get("namespace") or "")
    update_status = getattr(registry, "update_status", None)
    if update_status is not None:
        out: Object = await update_status(RESOURCE_QUOTAS, ns, quota)
        return out
    update_object = getattr(registry, "update_object", None)
    if update_object is not None:
        name = str(quota["metadata"]["name"])
        obj, _ = await update_object(RESOURCE_QUOTAS, ns, name, quota,
                                     WriteOptions(subresource="status"))
        return dict(obj)
    return await registry.update(RESOURCE_QUOTAS, ns, quota)


class ResourceQuota:
    """Charges creates against every ResourceQuota of the namespace, releases on delete."""

    name = "ResourceQuota"

    def __init__(self) -> None:
        # Local callers queue for a namespace's quotas instead of losing CAS rounds to each
        # other; other API servers are still kept out by the CAS itself.
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, namespace: str) -> asyncio.Lock:
        lock = self._locks.get(namespace)
        if lock is None:
            lock = self._locks[namespace] = asyncio.Lock()
        return lock

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        if attrs.subresource or not attrs.resource.namespaced or not attrs.namespace:
            return
        if attrs.resource.name == "resourcequotas" and attrs.obj is not None:
            if attrs.operation is Operation.CREATE:
                await self._init_status(attrs.obj, attrs, registry)
            elif attrs.operation is Operation.UPDATE:
                await self._refresh_status(attrs.obj, attrs.old, attrs, registry)
        if attrs.operation is Operation.CREATE and attrs.obj is not None:
            await self._charge(attrs, registry)
        elif attrs.operation is Operation.DELETE and not attrs.dry_run:
            await self._release(attrs, registry)

    # -- charging ---------------------------------------------------------------------------

    async def _charge(self, attrs: Attributes, registry: RegistryView) -> None:
        assert attrs.obj is not None
        quotas = [q for q in await registry.list(RESOURCE_QUOTAS, attrs.namespace)
                  if _applies(q, attrs.resource, attrs.obj)]
        if not quotas:
            return
        needs = [(q, usage_of(attrs.resource, attrs.obj, _hard(q))) for q in quotas]
        for q, _ in needs:
            missing = _missing_specs(attrs.obj, _hard(q)) if attrs.resource.name == "pods" else []
            if missing:
                raise forbidden(attrs, f"failed quota: {q['metadata']['name']}: must specify "
                                       + ",".join(missing))
        needs = [(q, use) for q, use in needs if any(use.values())]
        if not needs:
            return
        if attrs.name:
            # A create into an existing name fails at the store, after we would have charged.
            try:
                await registry.get(attrs.resource, attrs.namespace, attrs.name)
            except errors.NotFound:
                pass
            else:
                raise errors.AlreadyExists.of(attrs.resource.name, attrs.name,
                                              group=attrs.resource.group)
        charged: list[tuple[str, dict[str, Fraction]]] = []
        async with self._lock(attrs.namespace):
            try:
                for q, use in needs:
                    await self._adjust(registry, attrs.namespace, str(q["metadata"]["name"]),
                                       use, sign=1, check=True, dry_run=attrs.dry_run)
                    charged.append((str(q["metadata"]["name"]), use))
            except _Exceeded as e:
                for name, use in charged:
                    await self._adjust(registry, attrs.namespace, name, use, sign=-1,
                                       check=False, dry_run=attrs.dry_run)
                raise forbidden(attrs, e.message) from None

    async def _release(self, attrs: Attributes, registry: RegistryView) -> None:
        obj = attrs.old or attrs.obj
        if obj is None:
            return
        if (obj.get("metadata") or {}).get("deletionTimestamp"):
            return  # released by the DELETE that started the graceful deletion
        if attrs.resource.name == "resourcequotas":
            return
        quotas = [q for q in await registry.list(RESOURCE_QUOTAS, attrs.namespace)
                  if _applies(q, attrs.resource, obj)]
        async with self._lock(attrs.namespace):
            for q in quotas:
                use = usage_of(attrs.resource, obj, _hard(q))
                if any(use.values()):
                    await self._adjust(registry, attrs.namespace, str(q["metadata"]["name"]),
                                       use, sign=-1, check=False, dry_run=False)

    async def _adjust(self, registry: RegistryView, namespace: str, name: str,
                      use: dict[str, Fraction], *, sign: int, check: bool,
                      dry_run: bool) -> None:
        """Add (sign 1, refusing what exceeds hard when check) or subtract usage: CAS on the
        quota's resourceVersion, read afresh on every Conflict."""
        for attempt in range(_QUOTA_ATTEMPTS):
            try:
                quota = await registry.get(RESOURCE_QUOTAS, namespace, name)
            except errors.NotFound:
                return  # the quota went away meanwhile: nothing to charge
            hard = _hard(quota)
            status = quota.setdefault("status", {})
            used = {str(k): str(v) for k, v in (status.get("used") or {}).items()}
            new_used = dict(used)
            exceeded: list[str] = []
            for key, amount in use.items():
                if key not in hard:
                    continue
                current = qty(used.get(key, "0"))
                total = current + sign * amount
                if sign > 0 and check and amount > 0 and total > qty(hard[key]):
                    exceeded.append(key)
                new_used[key] = _fmt(key, max(total, Fraction(0)), hard[key])
            if exceeded:
                raise _Exceeded(
                    f"exceeded quota: {name}, requested: "
                    + _pretty({k: _fmt(k, use[k], hard[k]) for k in exceeded})
                    + ", used: " + _pretty({k: used.get(k, "0") for k in exceeded})
                    + ", limited: " + _pretty({k: hard[k] for k in exceeded}))
            if dry_run or new_used == used:
                return
            status["hard"] = hard
            status["used"] = new_used
            try:
                await _write_status(registry, quota)
                return
            except errors.Conflict:
                await asyncio.sleep(random.uniform(0, 0.001 * min(attempt + 1, 10)))
            except errors.NotFound:
                return
        raise errors.Conflict(
            f'Operation cannot be fulfilled on resourcequotas "{name}": too many concurrent '
            "updates to the quota; please try again", kind="resourcequotas", name=name)

    # -- a quota's own status -----------------------------------------------------------------

    async def _init_status(self, quota: Object, attrs: Attributes,
                           registry: RegistryView) -> None:
        hard = {str(k): str(v) for k, v in ((quota.get("spec") or {}).get("hard") or {}).items()}
        used = await compute_usage(registry, attrs.namespace, hard, quota=quota,
                                   include_self=True)
        quota["status"] = {"hard": hard, "used": used}

    async def _refresh_status(self, quota: Object, old: Object | None, attrs: Attributes,
                              registry: RegistryView) -> None:
        hard = {str(k): str(v) for k, v in ((quota.get("spec") or {}).get("hard") or {}).items()}
        old_used = ((old or {}).get("status") or {}).get("used") or {}
        keep = {k: str(v) for k, v in old_used.items() if k in hard}
        fresh = [k for k in hard if k not in keep]
        if fresh:
            keep.update(await compute_usage(registry, attrs.namespace,
                                            {k: hard[k] for k in fresh}, quota=quota,
                                            include_self=False))
        quota["status"] = {"hard": hard, "used": keep}


async def compute_usage(registry: RegistryView, namespace: str, hard: dict[str, str], *,
                        quota: Object | None = None, include_self: bool = False) -> dict[str, str]:
    """What the namespace's objects use of each key of ``hard`` now (objects being deleted
    are not counted: their usage went back on their first DELETE)."""
    totals = {k: Fraction(0) for k in hard}
    scope_holder = quota or {}
    for res in (PODS, SERVICES, REPLICATION_CONTROLLERS, RESOURCE_QUOTAS):
        name = res.name
        if not any(k == _COUNTED.get(name) or k == f"count/{name}" or
                   (name == "pods" and k in _COMPUTE) or
                   (name == "services" and k.startswith("services.")) for k in hard):
            continue
        objs = await registry.list(res, namespace)
        if include_self and res is RESOURCE_QUOTAS and quota is not None:
            objs.append(quota)
        for obj in objs:
            if (obj.get("metadata") or {}).get("deletionTimestamp"):
                continue
            if not _applies(scope_holder, res, obj):
                continue
            for k, v in usage_of(res, obj, hard).items():
                totals[k] += v
    return {k: _fmt(k, v, hard[k]) for k, v in totals.items()}
