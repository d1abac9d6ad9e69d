"""The admission chain named by --admission-control, in the seed's order:
NamespaceLifecycle, NamespaceAutoProvision, LimitRanger, ResourceQuota; every chain starts
with podsecurity.py's privileged-pod policy (--allow-privileged), whatever the flag lists.

The registry (registry.py) runs every plugin of ``build_chain(...)`` on each write after
defaulting, the strategy and validation, and before the store write (interfaces.py describes
the pipeline). Plugins reach other objects only through the RegistryView, so their own writes
(an auto-provisioned namespace, a quota's usage) follow the same resourceVersion rules as any
client's and do not go through admission again.

Messages follow Kubernetes' plugins word for word (plugin/pkg/admission/{namespace/lifecycle,
namespace/autoprovision,limitranger,resourcequota}), since kubectl users grep for them:
``pods "x" is forbidden: exceeded quota: q1, requested: pods=1, used: pods=2, limited: pods=2``.

ResourceQuota lives in quota.py (it is the one plugin with its own write protocol); this
module holds the namespace plugins, LimitRanger, the helpers they share, and ``build_chain``.
PersistentVolumeClaim limits are left out: minikube8s has no such resource.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from ...api import errors
from ...api.quantity import canonical, format_quantity, parse_quantity, quantity_format
from ...api.resources import require
from .bootstrap import SYSTEM_NAMESPACES
from .interfaces import AdmissionPlugin, Attributes, Object, Operation, RegistryView

log = logging.getLogger(__name__)

LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
_QUOTA_ATTEMPTS = 100



NAMESPACES = require("namespaces")
PODS = require("pods")
SERVICES = require("services")
REPLICATION_CONTROLLERS = require("replicationcontrollers")
LIMIT_RANGES = require("limitranges")
RESOURCE_QUOTAS = require("resourcequotas")


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

    With NamespaceAutoProvision in the same chain (the seed lists Lifecycle first), a missing
    namespace is created here, as that plugin would, and that plugin stands down: users get
    the pair's combined meaning and each create costs one namespace read, not two."""

    name = "NamespaceLifecycle"

    def __init__(self, *, auto_provision: bool = False, check_terminating: bool = True) -> None:
        self.auto_provision = auto_provision
        self.check_terminating = check_terminating

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        if attrs.operation is Operation.DELETE and attrs.resource.name == "namespaces":
            if attrs.name in SYSTEM_NAMESPACES:
                raise forbidden(attrs, "this namespace may not be deleted")
            return
        if attrs.operation is not Operation.CREATE or not _is_namespaced_write(attrs):
            return
        try:
            ns = await _namespace(registry, attrs.namespace)
        except errors.NotFound:
            if self.auto_provision:
                await provision_namespace(attrs, registry)
                return
            raise errors.NotFound.of("namespaces", attrs.namespace) from None
        if self.check_terminating and _terminating(ns):
            raise forbidden(attrs, f"unable to create new content in namespace "
                                   f"{attrs.namespace} because it is being terminated")


async def _namespace(registry: RegistryView, name: str) -> Object:
    """The namespace, read only: the registry's shared copy when it has one (this runs on
    every create, and a private copy is a decode each time)."""
    shared = getattr(registry, "get_shared", None)
    if shared is not None:
        ns: Object = await shared(NAMESPACES, "", name)
        return ns
    return await registry.get(NAMESPACES, "", name)


def _terminating(ns: Object) -> bool:
    md = ns.get("metadata") or {}
    return bool(md.get("deletionTimestamp")) or (ns.get("status") or {}).get(
        "phase") == "Terminating"


class NamespaceAutoProvision:
    """Creates the namespace on the first create into it (Kubernetes' plugin of that name)."""

    name = "NamespaceAutoProvision"

    def __init__(self, *, delegated: bool = False) -> None:
        # True when NamespaceLifecycle in the same chain provisions on its own read.
        self.delegated = delegated

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        if (self.delegated or attrs.operation is not Operation.CREATE
                or not _is_namespaced_write(attrs)):
            return
        try:
            await _namespace(registry, attrs.namespace)
            return
        except errors.NotFound:
            pass
        await provision_namespace(attrs, registry)


async def provision_namespace(attrs: Attributes, registry: RegistryView) -> None:
    if attrs.dry_run:
        return
    try:
        await registry.create(NAMESPACES, "", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": attrs.namespace}})
        log.info("auto-provisioned namespace %s", attrs.namespace)
    except errors.AlreadyExists:
        pass  # a concurrent create into the same new namespace made it first


# -- LimitRanger --------------------------------------------------------------------------------


def qty(value: Any) -> Fraction:
    """A quantity as an exact Fraction; ValueError when malformed (shared with quota.py)."""
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
    if qty(requests[rname]) < qty(enforced):
        return (f"minimum {rname} usage per {kind} is {e}, but request is "
                f"{canonical(requests[rname])}")
    if rname in limits and qty(limits[rname]) < qty(enforced):
        return (f"minimum {rname} usage per {kind} is {e}, but limit is "
                f"{canonical(limits[rname])}")
    return None


def _max_constraint(kind: str, rname: str, enforced: Any, requests: dict[str, Any],
                    limits: dict[str, Any]) -> str | None:
    e = canonical(enforced)
    if rname not in limits:
        return f"maximum {rname} usage per {kind} is {e}.  No limit is specified"
    if qty(limits[rname]) > qty(enforced):
        return (f"maximum {rname} usage per {kind} is {e}, but limit is "
                f"{canonical(limits[rname])}")
    if rname in requests and qty(requests[rname]) > qty(enforced):
        return (f"maximum {rname} usage per {kind} is {e}, but request is "
                f"{canonical(requests[rname])}")
    return None


def _ratio_constraint(kind: str, rname: str, enforced: Any, requests: dict[str, Any],
                      limits: dict[str, Any]) -> str | None:
    e = canonical(enforced)
    req = qty(requests[rname]) if rname in requests else Fraction(0)
    lim = qty(limits[rname]) if rname in limits else Fraction(0)
    if req == 0:
        return (f"{rname} max limit to request ratio per {kind} is {e}, but no request is "
                "specified or request is 0")
    if lim == 0:
        return (f"{rname} max limit to request ratio per {kind} is {e}, but no limit is "
                "specified or limit is 0")
    ratio = lim / req
    if ratio > qty(enforced):
        return (f"{rname} max limit to request ratio per {kind} is {e}, but provided ratio "
                f"is {float(ratio):f}")
    return None


_CONSTRAINTS: tuple[tuple[str, Callable[..., str | None]], ...] = (
    ("min", _min_constraint), ("max", _max_constraint),
    ("maxLimitRequestRatio", _ratio_constraint),
)


def containers(pod: Object) -> list[tuple[str, dict[str, Any]]]:
    """(label, container) for init containers then containers; label as Kubernetes words it
    in the limit-ranger annotation."""
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
    for label, c in containers(pod):
        res = c.get("resources") or {}
        for i, part in enumerate(("requests", "limits")):
            for k, v in (res.get(part) or {}).items():
                formats[i].setdefault(k, str(v))
                if label == "container":
                    totals[i][k] = totals[i].get(k, Fraction(0)) + qty(v)
                else:
                    inits[i][k] = max(inits[i].get(k, Fraction(0)), qty(v))
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
        for label, c in containers(pod):
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
                    for _, c in containers(pod):
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


# -- the chain ----------------------------------------------------------------------------------

_PLUGINS: dict[str, Callable[[], AdmissionPlugin]] = {
    "AlwaysAdmit": AlwaysAdmit,
    "AlwaysDeny": AlwaysDeny,
    "NamespaceLifecycle": NamespaceLifecycle,
    "NamespaceExists": lambda: _namespace_exists(),
    "NamespaceAutoProvision": NamespaceAutoProvision,
    "LimitRanger": LimitRanger,
    "ResourceQuota": lambda: _resource_quota(),
}


def _resource_quota() -> AdmissionPlugin:
    from .quota import ResourceQuota  # quota.py builds on this module's helpers

    return ResourceQuota()


def _namespace_exists() -> NamespaceLifecycle:
    plugin = NamespaceLifecycle(check_terminating=False)
    plugin.name = "NamespaceExists"
    return plugin


def plugin_names() -> list[str]:
    return list(_PLUGINS)


def build_chain(names: str, *, allow_privileged: bool = False) -> list[AdmissionPlugin]:
    """Plugins for a comma-separated --admission-control value, in its order, after the
    privileged-pod policy (podsecurity.py), which every chain starts with: a security check
    must not depend on a flag that lists the other plugins."""
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
    from .podsecurity import PrivilegedPolicy  # it builds on this module's forbidden()

    chain: list[AdmissionPlugin] = [PrivilegedPolicy(allow_privileged=allow_privileged)]
    for n in wanted:
        plugin = _PLUGINS[n]()
        if isinstance(plugin, NamespaceLifecycle) and plugin.name == "NamespaceLifecycle":
            plugin.auto_provision = auto
        if isinstance(plugin, NamespaceAutoProvision):
            plugin.delegated = "NamespaceLifecycle" in wanted
        chain.append(plugin)
    return chain
