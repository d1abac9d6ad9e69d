"""The resource table: every kind the API serves, with the names discovery advertises.

One row per resource. The API server builds its routes, discovery documents (legacy and
aggregated), OpenAPI paths and store keys from this table; the CLI resolves ``rc``, ``minions``
and ``services`` through it. Adding a resource starts here. Pure data: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class Resource:
    name: str
    """Plural, lower case, as in URLs: ``pods``."""
    kind: str
    namespaced: bool
    group: str = ""
    version: str = "v1"
    short_names: tuple[str, ...] = ()
    singular: str = ""
    verbs: tuple[str, ...] = ALL_VERBS
    categories: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    """Extra names accepted by the CLI only (the seed's ``minions``)."""
    subresources: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular_name(self) -> str:
        return self.singular or self.kind.lower()

    def store_prefix(self, namespace: str = "") -> str:
        """``/registry/pods/`` or ``/registry/pods/default/``; the key is prefix + name."""
        group = f"{self.group}/" if self.group else ""
        base = f"/registry/{group}{self.name}/"
        return f"{base}{namespace}/" if self.namespaced and namespace else base

    def store_key(self, namespace: str, name: str) -> str:
        if self.namespaced:
            return f"{self.store_prefix()}{namespace}/{name}"
        return f"{self.store_prefix()}{name}"


@dataclass(frozen=True, slots=True)
class Subresource:
    parent: str
    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = "v1"


CORE: tuple[Resource, ...] = (
    Resource("namespaces", "Namespace", namespaced=False, short_names=("ns",),
             subresources=("status", "finalize")),
    Resource("nodes", "Node", namespaced=False, short_names=("no",),
             aliases=("minions", "minion"), subresources=("status", "proxy")),
    Resource("pods", "Pod", namespaced=True, short_names=("po",), categories=("all",),
             subresources=("binding", "status", "log", "exec", "attach", "portforward",
                           "eviction")),
    Resource("replicationcontrollers", "ReplicationController", namespaced=True,
             short_names=("rc",), categories=("all",), subresources=("status", "scale")),
    Resource("services", "Service", namespaced=True, short_names=("svc",),
             categories=("all",), subresources=("status", "proxy")),
    Resource("endpoints", "Endpoints", namespaced=True, short_names=("ep",),
             singular="endpoints"),
    Resource("events", "Event", namespaced=True, short_names=("ev",)),
    Resource("limitranges", "LimitRange", namespaced=True, short_names=("limits",)),
    Resource("resourcequotas", "ResourceQuota", namespaced=True, short_names=("quota",),
             subresources=("status",)),
    Resource("bindings", "Binding", namespaced=True, verbs=("create",)),
    Resource("configmaps", "ConfigMap", namespaced=True, short_names=("cm",)),
    Resource("secrets", "Secret", namespaced=True),
)

COORDINATION: tuple[Resource, ...] = (
    Resource("leases", "Lease", namespaced=True, group="coordination.k8s.io"),
)

SUBRESOURCES: tuple[Subresource, ...] = (
    Subresource("pods", "binding", "Binding", ("create",)),
    Subresource("pods", "status", "Pod", ("get", "patch", "update")),
    Subresource("pods", "log", "Pod", ("get",)),
    Subresource("pods", "exec", "PodExecOptions", ("create", "get")),
    Subresource("pods", "attach", "PodAttachOptions", ("create", "get")),
    Subresource("pods", "portforward", "PodPortForwardOptions", ("create", "get")),
    Subresource("replicationcontrollers", "status", "ReplicationController",
                ("get", "patch", "update")),
    Subresource("replicationcontrollers", "scale", "Scale", ("get", "patch", "update"),
                group="autoscaling", version="v1"),
    Subresource("services", "status", "Service", ("get", "patch", "update")),
    Subresource("nodes", "status", "Node", ("get", "patch", "update")),
    Subresource("namespaces", "status", "Namespace", ("get", "patch", "update")),
    Subresource("namespaces", "finalize", "Namespace", ("update",)),
    Subresource("resourcequotas", "status", "ResourceQuota", ("get", "patch", "update")),
)

ALL: tuple[Resource, ...] = CORE + COORDINATION

_BY_KIND: dict[tuple[str, str], Resource] = {(r.group, r.kind): r for r in ALL}
_BY_NAME: dict[str, Resource] = {}
for _r in ALL:
    for _n in (_r.name, _r.singular_name, *_r.short_names, *_r.aliases):
        _BY_NAME.setdefault(_n, _r)


def by_kind(kind: str, group: str = "") -> Resource | None:
    return _BY_KIND.get((group, kind))


def lookup(name: str) -> Resource | None:
    """Resolve what a user typed (``rc``, ``minions``, ``Pods``, ``svc``) to a resource."""
    return _BY_NAME.get(name.lower())


def require(name: str) -> Resource:
    """``lookup`` for names the code itself spells: an unknown one is a programming error."""
    res = lookup(name)
    if res is None:
        raise KeyError(f"unknown resource {name!r}")
    return res


def groups() -> dict[str, list[Resource]]:
    """Non-core groups and their resources, for /apis discovery."""
    out: dict[str, list[Resource]] = {}
    for r in ALL:
        if r.group:
            out.setdefault(r.group, []).append(r)
    return out
