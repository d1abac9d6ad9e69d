"""The admission chain named by --admission-control, in the seed's order:
NamespaceLifecycle, NamespaceAutoProvision, LimitRanger, ResourceQuota.

The registry (registry.py) runs every plugin of ``build_chain(...)`` on each write after
defaulting, the strategy and validation, and before the store write (interfaces.py describes
the pipeline). Plugins reach other objects only through the RegistryView, so their own writes
(an auto-provisioned namespace, a quota's usage) follow the same resourceVersion rules as any
client's and do not go through admission again.

Messages follow Kubernetes' plugins word for word (plugin/pkg/admission/{namespace/lifecycle,
namespace/autoprovision,limitranger,resourcequota}), since kubectl users grep for them:
``pods "x" is forbidden: exceeded quota: q1, requested: pods=1, used: pods=2, limited: pods=2``.

ResourceQuota keeps usage exact under concurrent creates the way Kubernetes does: the charge is a
compare-and-swap of the quota's status (its resourceVersion), retried on Conflict, so of N
racing creates exactly ``hard - used`` win. Usage is released on the first DELETE of an object
(the one that removes it or starts its graceful deletion). Usage of a create whose store write
fails after admission is not given back (Kubernetes' quota controller recalculates to heal
that); a create into a name that exists is refused before charging.

Quota recalculation, scopes beyond Terminating/NotTerminating/BestEffort/NotBestEffort and
PersistentVolumeClaim limits are left out: minikube8s has no such resources.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from ...api import errors
from ...api.quantity import canonical, format_quantity, parse_quantity, quantity_format
from ...api.resources import Resource, lookup
from .interfaces import AdmissionPlugin, Attributes, Object, Operation, RegistryView

log = logging.getLogger(__name__)

IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
_QUOTA_ATTEMPTS = 100


def _resource(name: str) -> Resource:
    res = lookup(name)
    if res is None:  # the resource table is static: this is a programming error
        raise LookupError(name)
    return res


NAMESPACES = _resource("namespaces")
PODS = _resource("pods")
SERVICES = _resource("services")
REPLICATION_CONTROLLERS = _resource("replicationcontrollers")
LIMIT_RANGES = _resource("limitranges")
RESOURCE_QUOTAS = _resource("resourcequotas")


def forbidden(attrs: Attributes, message: str) -> errors.Forbidden:
    """admission.NewForbidden: ``<resource> "<name>" is forbidden: <message>``."""
    res = attrs.resource
    qualified = f"{res.name}.{res.group}" if res.group else res.name
    return errors.Forbidden(f'{qualified} "{attrs.name}" is forbidden: {message}',
                            kind=res.name, name=attrs.name, group=res.group)


def _aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate(...).Error(): duplicates dropped, several in brackets."""
    seen: list[str] = []
    for m in messages:
        if m not in seen:
            seen.append(m)
    return seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"


def _is_namespaced_write(attrs: Attributes) -> bool:
    return attrs.resource.namespaced and bool(attrs.namespace) and not attrs.subresource


# -- namespaces -------------------------------------------------------------------------------


class AlwaysAdmit:
    name = "AlwaysAdmit"

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        return None


class AlwaysDeny:
    name = "AlwaysDeny"

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        raise forbidden(attrs, "admission control is denying all modifications")


class NamespaceLifecycle:
    """No new content in a missing or terminating namespace; built-in namespaces stay.

    With NamespaceAutoProvision in the same chain, a missing namespace is left for that plugin
    to create, whichever order the two are listed in (the seed lists Lifecycle first)."""

    name = "NamespaceLifecycle"

    def __init__(self, *, auto_provision: bool = False, check_terminating: bool = True) -> None:
        self.auto_provision = auto_provision
        self.check_terminating = check_terminating

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        if attrs.operation is Operation.DELETE and attrs.resource.name == "namespaces":
            if attrs.name in IMMORTAL_NAMESPACES:
                raise forbidden(attrs, "this namespace may not be deleted")
            return
        if attrs.operation is not Operation.CREATE or not _is_namespaced_write(attrs):
            return
        try:
            ns = await registry.get(NAMESPACES, "", attrs.namespace)
        except errors.NotFound:
            if self.auto_provision:
                return
            raise errors.NotFound.of("namespaces", attrs.namespace) from None
        if self.check_terminating and _terminating(ns):
            raise forbidden(attrs, f"unable to create new content in namespace "
                                   f"{attrs.namespace} because it is being terminated")


def _terminating(ns: Object) -> bool:
    md = ns.get("metadata") or {}
    return bool(md.get("deletionTimestamp")) or (ns.get("status") or {}).get(
        "phase") == "Terminating"


class NamespaceAutoProvision:
    """Creates the namespace on the first create into it (Kubernetes' plugin of that name)."""

    name = "NamespaceAutoProvision"

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        if attrs.operation is not Operation.CREATE or not _is_namespaced_write(attrs):
            return
        try:
            await registry.get(NAMESPACES, "", attrs.namespace)
            return
        except errors.NotFound:
            pass
        if attrs.dry_run:
            return
        try:
            await registry.create(NAMESPACES, "", {
                "apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": attrs.namespace}})
            log.info("auto-provisioned namespace %s", attrs.namespace)
        except errors.AlreadyExists:
            pass  # a concurrent create into the same new namespace made it first


# -- LimitRanger --------------------------------------------------------------------------------


def _q(value: Any) -> Fraction:
    return parse_quantity(value)


def _resources_of(container: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    res = container.get("resources")
    if not isinstance(res, dict):
        res = {}
        container["resources"] = res
    for part in ("requests", "limits"):
        if not isinstance(res.get(part), dict):
            res[part] = {}
    return res["requests"], res["limits"]


def _effective_item(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """SetDefaults_LimitRangeItem for type Container: default <- max, defaultRequest <-
    default, defaultRequest <- min, so a LimitRange stored without them acts like Kubernetes'."""
    out = {k: dict(item.get(k) or {}) for k in
           ("default", "defaultRequest", "max", "min", "maxLimitRequestRatio")}
    if item.get("type") == "Container":
        for k, v in out["max"].items():
            out["default"].setdefault(k, v)
        for k, v in out["default"].items():
            out["defaultRequest"].setdefault(k, v)
        for k, v in out["min"].items():
            out["defaultRequest"].setdefault(k, v)
    return out


def _min_constraint(kind: str, rname: str, enforced: Any, requests: dict[str, Any],
                    limits: dict[str, Any]) -> str | None:
    e = canonical(enforced)
    if rname not in requests:
        return f"minimum {rname} usage per {kind} is {e}.  No request is specified"
    if _q(requests[rname]) < _q(enforced):
        return (f"minimum {rname} usage per {kind} is {e}, but request is "
                f"{canonical(requests[rname])}")
    if rname in limits and _q(limits[rname]) < _q(enforced):
        return (f"minimum {rname} usage per {kind} is {e}, but limit is "
                f"{canonical(limits[rname])}")
    return None


def _max_constraint(kind: str, rname: str, enforced: Any, requests: dict[str, Any],
                    limits: dict[str, Any]) -> str | None:
    e = canonical(enforced)
    if rname not in limits:
        return f"maximum {rname} usage per {kind} is {e}.  No limit is specified"
    if _q(limits[rname]) > _q(enforced):
        return (f"maximum {rname} usage per {kind} is {e}, but limit is "
                f"{canonical(limits[rname])}")
    if rname in requests and _q(requests[rname]) > _q(enforced):
        return (f"maximum {rname} usage per {kind} is {e}, but request is "
                f"{canonical(requests[rname])}")
    return None


def _ratio_constraint(kind: str, rname: str, enforced: Any, requests: dict[str, Any],
                      limits: dict[str, Any]) -> str | None:
    e = canonical(enforced)
    req = _q(requests[rname]) if rname in requests else Fraction(0)
    lim = _q(limits[rname]) if rname in limits else Fraction(0)
    if req == 0:
        return (f"{rname} max limit to request ratio per {kind} is {e}, but no request is "
                "specified or request is 0")
    if lim == 0:
        return (f"{rname} max limit to request ratio per {kind} is {e}, but no limit is "
                "specified or limit is 0")
    ratio = lim / req
    if ratio > _q(enforced):
        return (f"{rname} max limit to request ratio per {kind} is {e}, but provided ratio "
                f"is {float(ratio):f}")
    return None


_CONSTRAINTS: tuple[tuple[str, Callable[..., str | None]], ...] = (
    ("min", _min_constraint), ("max", _max_constraint),
    ("maxLimitRequestRatio", _ratio_constraint),
)


def _containers(pod: Object) -> list[tuple[str, dict[str, Any]]]:
    spec = pod.get("spec") or {}
    out: list[tuple[str, dict[str, Any]]] = []
    for field, label in (("initContainers", "init container"), ("containers", "container")):
        for c in spec.get(field) or []:
            if isinstance(c, dict):
                out.append((label, c))
    return out


def _pod_totals(pod: Object) -> tuple[dict[str, str], dict[str, str]]:
    """Pod-level requests and limits: containers summed, init containers by maximum; printed
    in the format of the first value seen, as Quantity.Add keeps its receiver's format."""
    totals: list[dict[str, Fraction]] = [{}, {}]
    inits: list[dict[str, Fraction]] = [{}, {}]
    formats: list[dict[str, str]] = [{}, {}]
    for label, c in _containers(pod):
        res = c.get("resources") or {}
        for i, part in enumerate(("requests", "limits")):
            for k, v in (res.get(part) or {}).items():
                formats[i].setdefault(k, str(v))
                if label == "container":
                    totals[i][k] = totals[i].get(k, Fraction(0)) + _q(v)
                else:
                    inits[i][k] = max(inits[i].get(k, Fraction(0)), _q(v))
    out: list[dict[str, str]] = [{}, {}]
    for i in range(2):
        for k, v in inits[i].items():
            totals[i][k] = max(totals[i].get(k, Fraction(0)), v)
        out[i] = {k: format_quantity(v, quantity_format(formats[i][k]))
                  for k, v in totals[i].items()}
    return out[0], out[1]


class LimitRanger:
    """LimitRange defaults into each container, then its minima, maxima and ratios."""

    name = "LimitRanger"

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        if (attrs.operation is not Operation.CREATE or attrs.resource.name != "pods"
                or attrs.subresource or attrs.obj is None):
            return
        ranges = await registry.list(LIMIT_RANGES, attrs.namespace)
        if not ranges:
            return
        pod = attrs.obj
        try:
            self._default(pod, ranges)
            problems = self._check(pod, ranges)
        except ValueError as e:  # a malformed quantity in a stored LimitRange
            raise forbidden(attrs, f"invalid LimitRange: {e}") from e
        if problems:
            raise forbidden(attrs, _aggregate(problems))

    @staticmethod
    def _default(pod: Object, ranges: list[Object]) -> None:
        notes: list[str] = []
        for label, c in _containers(pod):
            requests, limits = _resources_of(c)
            # SetDefaults_Pod: a limit without a request requests the limit.
            for k, v in limits.items():
                requests.setdefault(k, v)
            set_limits: list[str] = []
            set_requests: list[str] = []
            for lr in ranges:
                for item in (lr.get("spec") or {}).get("limits") or []:
                    if not isinstance(item, dict) or item.get("type") != "Container":
                        continue
                    eff = _effective_item(item)
                    for k, v in eff["default"].items():
                        if k not in limits:
                            limits[k] = v
                            set_limits.append(k)
                    for k, v in eff["defaultRequest"].items():
                        if k not in requests:
                            requests[k] = v
                            set_requests.append(k)
            name = c.get("name", "")
            if set_requests:
                notes.append(f"{', '.join(sorted(set_requests))} request for {label} {name}")
            if set_limits:
                notes.append(f"{', '.join(sorted(set_limits))} limit for {label} {name}")
            for part, values in (("requests", requests), ("limits", limits)):
                if not values:
                    c["resources"].pop(part, None)
        if notes:
            md = pod.setdefault("metadata", {})
            ann = md.get("annotations")
            if not isinstance(ann, dict):
                ann = {}
                md["annotations"] = ann
            ann[LIMIT_RANGER_ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)

    @staticmethod
    def _check(pod: Object, ranges: list[Object]) -> list[str]:
        problems: list[str] = []
        for lr in ranges:
            for item in (lr.get("spec") or {}).get("limits") or []:
                if not isinstance(item, dict):
                    continue
                kind = str(item.get("type") or "")
                if kind == "Container":
                    for _, c in _containers(pod):
                        res = c.get("resources") or {}
                        req, lim = res.get("requests") or {}, res.get("limits") or {}
                        problems += _apply_constraints(item, kind, req, lim)
                elif kind == "Pod":
                    preq, plim = _pod_totals(pod)
                    problems += _apply_constraints(item, kind, preq, plim)
        return problems


def _apply_constraints(item: dict[str, Any], kind: str, requests: dict[str, Any],
                       limits: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for field, check in _CONSTRAINTS:
        for rname, enforced in sorted((item.get(field) or {}).items()):
            msg = check(kind, rname, enforced, requests, limits)
            if msg:
                out.append(msg)
    return out


# -- ResourceQuota ------------------------------------------------------------------------------

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
    return None if v is None else _q(v)


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
            for label, c in _containers(obj):
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
    missing = {k for k in wanted for _, c in _containers(obj) if _container_amount(c, k) is None}
    return sorted(missing)


def _pod_matches_scopes(pod: Object, scopes: list[str]) -> bool:
    spec = pod.get("spec") or {}
    best_effort = not any(((c.get("resources") or {}).get(p)) for _, c in _containers(pod)
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
        from .registry import WriteOptions  # the real registry; imported late to avoid a cycle

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
                current = _q(used.get(key, "0"))
                total = current + sign * amount
                if sign > 0 and check and amount > 0 and total > _q(hard[key]):
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


# -- the chain ----------------------------------------------------------------------------------

_PLUGINS: dict[str, Callable[[], AdmissionPlugin]] = {
    "AlwaysAdmit": AlwaysAdmit,
    "AlwaysDeny": AlwaysDeny,
    "NamespaceLifecycle": NamespaceLifecycle,
    "NamespaceExists": lambda: _namespace_exists(),
    "NamespaceAutoProvision": NamespaceAutoProvision,
    "LimitRanger": LimitRanger,
    "ResourceQuota": ResourceQuota,
}


def _namespace_exists() -> NamespaceLifecycle:
    plugin = NamespaceLifecycle(check_terminating=False)
    plugin.name = "NamespaceExists"
    return plugin


def plugin_names() -> list[str]:
    return list(_PLUGINS)


def build_chain(names: str) -> list[AdmissionPlugin]:
    """Plugins for a comma-separated --admission-control value, in its order."""
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in _PLUGINS]
    if unknown:
        raise ValueError(
            f"unknown admission plugin(s) {', '.join(unknown)} in --admission-control; "
            f"known: {', '.join(_PLUGINS)}")
    dupes = sorted({n for n in wanted if wanted.count(n) > 1})
    if dupes:
        raise ValueError(f"admission plugin(s) listed twice: {', '.join(dupes)}")
    auto = "NamespaceAutoProvision" in wanted
    chain: list[AdmissionPlugin] = []
    for n in wanted:
        plugin = _PLUGINS[n]()
        if isinstance(plugin, NamespaceLifecycle):
            plugin.auto_provision = auto
        chain.append(plugin)
    return chain
