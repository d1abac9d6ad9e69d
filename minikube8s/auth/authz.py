"""Authorization: may this user do this verb on this resource (or path)?

Three users exist (authn.py): admin may do everything; read-only may get, list and watch
every resource and subresource (pods/log too) but secrets, as Kubernetes' ``view`` role, and
GET every non-resource path; a node may do what Kubernetes' Node authorizer and
NodeRestriction admission let a kubelet do, simplified: read everything but secrets and
configmaps, create and update its own Node (and its status), its own Lease in
kube-node-lease, events anywhere, and update the status of / delete the pods bound to it.

Secrets and configmaps a node reads as the Node authorizer's graph allows: ``get`` (or a
list/watch narrowed to one name by ``fieldSelector=metadata.name=``) of one object that a pod
bound to the node references (``pod_references``); anything else is refused in the
authorizer's words (``no relationship found between node 'n1' and this object``). The
decision needs the stored pods, so ``authorize`` answers ``Decision.needs_pods`` and the
caller (roles/apiserver/secure.py) finishes it with ``authorize_graph`` over the pods bound to
the node in that namespace, read from the watch cache.

``request_info`` parses a request as Kubernetes' RequestInfoFactory does (verb from the method
and the URL's shape, namespace, resource, name, subresource), independently of what the API
serves: a node asking for another node's lease gets 403, not 404. ``authorize`` decides on
that alone; what depends on an object (whose pod is it? what name does the created Node
have?) is decided in the write pipeline by ``NodeRestriction``, an admission plugin that sees
the STORED object (so a pod cannot change hands between the check and the write). Refusals
are worded exactly as k8s.io/apiserver's authorization filter words them
(``forbidden_error``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..api import errors, selectors
from ..api.podrefs import pod_references
from ..api.resources import ALL, lookup
from .authn import UserInfo

if TYPE_CHECKING:
    from ..roles.apiserver.interfaces import Attributes, RegistryView

READ_VERBS = frozenset({"get", "list", "watch"})
NODE_LEASE_NAMESPACE = "kube-node-lease"
LEASE_GROUP = "coordination.k8s.io"
_NAMESPACE_SUBRESOURCES = ("status", "finalize")
_CONNECT_SUBRESOURCES = ("exec", "attach", "portforward")
"""Subresources Kubernetes authorizes as ``create`` whatever the method (a websocket exec is
a GET)."""

_DISCOVERY_PATHS = ("/api", "/apis", "/openapi", "/version", "/healthz", "/livez", "/readyz")
"""Non-resource paths every authenticated user may GET (Kubernetes' system:discovery and
system:public-info-viewer roles), with their sub-paths."""

_ALIASES = {alias: r.name for r in ALL for alias in r.aliases}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Kubernetes' request.RequestInfo, the fields authorization looks at."""

    verb: str
    path: str
    resource_request: bool = False
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request and what they asked: handed down to the write pipeline
    (Attributes.caller) so NodeRestriction can word its refusal like the authorizer."""

    user: UserInfo
    info: RequestInfo


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str = ""
    needs_pods: bool = False
    """Not decided yet: ``authorize_graph`` decides with the pods bound to the node."""


ALLOW = Decision(True)
DENY = Decision(False)


_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete",
                 "GET": "get", "HEAD": "get"}


@functools.lru_cache(maxsize=4096)
def request_info(method: str, path: str, watch: bool = False,
                 field_selector: str = "") -> RequestInfo:
    """Parse ``method path`` (``watch``: the query asked ?watch=true; ``field_selector``:
    its fieldSelector, whose ``metadata.name=`` names the object of a list or watch, as
    Kubernetes' RequestInfoFactory reads it) like Kubernetes."""
    method = method.upper()
    verb = _METHOD_VERBS.get(method, method.lower())
    parts = [p for p in path.strip("/").split("/") if p]
    non_resource = RequestInfo(verb, path)
    if not parts or parts[0] not in ("api", "apis"):
        return non_resource
    if parts[0] == "api":
        if len(parts) < 3:
            return non_resource
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            return non_resource
        group, version, rest = parts[1], parts[2], parts[3:]
    if rest[0] == "watch":
        verb, rest, watch = "watch", rest[1:], False
        if not rest:
            return non_resource
    namespace = ""
    if rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    resource = rest[0]
    if not group:
        resource = _ALIASES.get(resource, resource)
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if not name and verb == "get":
        verb = "watch" if watch else "list"
        name = _selected_name(field_selector, resource if not group else "")
    elif not name and verb == "delete":
        verb = "deletecollection"
    if sub in _CONNECT_SUBRESOURCES:
        verb = "create"
    return RequestInfo(verb, path, True, group, version, namespace, resource, sub, name)


def _selected_name(field_selector: str, core_resource: str) -> str:
    """The name a list's field selector requires exactly (``metadata.name=x``), if it is a
    valid path segment; "" when none or when the selector does not parse."""
    if "metadata.name" not in field_selector:
        return ""
    res = lookup(core_resource) if core_resource else None
    try:
        sel = selectors.parse_field_selector(field_selector, kind=res.kind if res else "")
    except errors.APIError:
        return ""
    name = sel.value_for("metadata.name") or ""
    if name in (".", "..") or "/" in name or "%" in name:
        return ""
    return name


# -- decisions ------------------------------------------------------------------------------------


def _discovery_path(path: str) -> bool:
    path = path.rstrip("/") or "/"
    return any(path == p or path.startswith(p + "/") for p in _DISCOVERY_PATHS)


def authorize(user: UserInfo, info: RequestInfo) -> Decision:
    if user.is_admin:
        return ALLOW
    if user.is_readonly:
        if info.resource_request:
            if info.resource == "secrets" and not info.api_group:
                return DENY  # Kubernetes' view role: no secrets (they hold credentials)
            return ALLOW if info.verb in READ_VERBS else DENY
        return ALLOW if info.verb == "get" else DENY
    node = user.node_name
    if node:
        return _authorize_node(node, info)
    return DENY


def _authorize_node(node: str, info: RequestInfo) -> Decision:
    if not info.resource_request:
        return ALLOW if info.verb == "get" and _discovery_path(info.path) else DENY
    verb, res, sub, group = info.verb, info.resource, info.subresource, info.api_group
    if res in GRAPH_RESOURCES and not group:
        return _read_namespaced_object(node, info)
    if verb in READ_VERBS:
        return ALLOW
    if not group and res == "nodes":
        if verb == "create" and not sub and not info.name:
            return ALLOW  # the body's name is NodeRestriction's to check
        if verb in ("update", "patch") and info.name == node and sub in ("", "status"):
            return ALLOW
        return DENY
    if group == LEASE_GROUP and res == "leases" and not sub:
        if info.namespace != NODE_LEASE_NAMESPACE:
            return DENY
        if verb == "create" and not info.name:
            return ALLOW
        if verb in ("update", "patch") and info.name == node:
            return ALLOW
        return DENY
    if not group and res == "pods" and info.name and info.namespace:
        # Whose pod it is: NodeRestriction, against the stored object.
        if sub == "status" and verb in ("update", "patch"):
            return ALLOW
        if not sub and verb == "delete":
            return ALLOW
        return DENY
    if res == "events" and group in ("", "events.k8s.io") and not sub and info.namespace:
        if verb == "create" or (verb in ("update", "patch") and info.name):
            return ALLOW
    return DENY


# -- the Node authorizer's graph: secrets and configmaps of the node's pods --------------------

GRAPH_RESOURCES = frozenset({"secrets", "configmaps"})
"""Core resources a node reads only through a pod bound to it (Kubernetes' graph also has
persistentvolumeclaims, serviceaccounts and resourceclaims, which minikube8s does not serve)."""


def no_relationship(node: str) -> str:
    return f"no relationship found between node '{node}' and this object"


def _read_namespaced_object(node: str, info: RequestInfo) -> Decision:
    """NodeAuthorizer.authorizeReadNamespacedObject: the checks before the graph, in order."""
    if info.verb not in READ_VERBS:
        return Decision(False, "can only read resources of this type")
    if info.subresource:
        return Decision(False, "cannot read subresource")
    if not info.namespace:
        return Decision(False, "can only read namespaced object of this type")
    if not info.name:
        return Decision(False, "No Object name found")
    return Decision(False, no_relationship(node), needs_pods=True)


def authorize_graph(node: str, info: RequestInfo, pods: Iterable[dict[str, Any]]) -> Decision:
    """Finish a ``needs_pods`` decision: allowed when one of ``pods`` (those bound to
    ``node`` in ``info.namespace``) references the object."""
    index = 0 if info.resource == "secrets" else 1
    for pod in pods:
        spec = pod.get("spec")
        if isinstance(spec, dict) and spec.get("nodeName") == node \
                and info.name in pod_references(pod)[index]:
            return ALLOW
    return Decision(False, no_relationship(node))


def forbidden_message(user: UserInfo, info: RequestInfo, reason: str = "") -> str:
    """k8s.io/apiserver's forbiddenMessage, plus ``: reason`` when there is one."""
    if not info.resource_request:
        msg = f'User "{user.name}" cannot {info.verb} path "{info.path}"'
    else:
        resource = f"{info.resource}/{info.subresource}" if info.subresource \
            else info.resource
        where = (f'in the namespace "{info.namespace}"' if info.namespace
                 else "at the cluster scope")
        msg = (f'User "{user.name}" cannot {info.verb} resource "{resource}" in API group '
               f'"{info.api_group}" {where}')
    return f"{msg}: {reason}" if reason else msg


class _ForbiddenPath(errors.Forbidden):
    """A non-resource 403: Kubernetes sends ``details: {}`` (empty group/kind/name)."""

    def to_status(self) -> dict[str, Any]:
        status = super().to_status()
        status["details"] = {}
        return status


def forbidden_error(user: UserInfo, info: RequestInfo, reason: str = "") -> errors.Forbidden:
    """apierrors.NewForbidden(group resource, name, forbiddenMessage)."""
    msg = forbidden_message(user, info, reason)
    if not info.resource_request:
        return _ForbiddenPath(f"forbidden: {msg}")
    qualified = f"{info.resource}.{info.api_group}" if info.api_group else info.resource
    prefix = f'{qualified} "{info.name}"' if info.name else qualified
    return errors.Forbidden(f"{prefix} is forbidden: {msg}", kind=info.resource,
                            name=info.name, group=info.api_group)


# -- NodeRestriction ----------------------------------------------------------------------------


class NodeRestriction:
    """Admission: a node writes only its own Node and Lease, and only pods bound to it.

    Runs first in the chain, for requests carrying a node caller (Attributes.caller); it sees
    the stored object (``attrs.old``) of updates and deletes, inside the compare-and-swap
    loop, so the check and the write are about the same revision."""

    name = "NodeRestriction"

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        caller: Caller | None = attrs.caller
        if caller is None:
            return
        node = caller.user.node_name
        if not node:
            return
        res = attrs.resource
        op = attrs.operation.value
        reason = ""
        if res.name == "nodes" and not res.group:
            if attrs.name != node:
                reason = f'node "{node}" is not allowed to modify node "{attrs.name}"'
        elif res.name == "leases" and res.group == LEASE_GROUP:
            if attrs.name != node or attrs.namespace != NODE_LEASE_NAMESPACE:
                reason = "can only access node lease with the same name as the requesting node"
        elif res.name == "pods" and not res.group and op in ("UPDATE", "DELETE"):
            bound = str(((attrs.old or {}).get("spec") or {}).get("nodeName") or "")
            if bound != node:
                what = "update pod status for" if op == "UPDATE" else "delete"
                reason = f'node "{node}" can only {what} pods bound to it'
        if reason:
            info = caller.info
            if not info.name and attrs.name:
                # A create names its object in the body, not the URL.
                info = RequestInfo(info.verb, info.path, info.resource_request,
                                   info.api_group, info.api_version, info.namespace,
                                   info.resource, info.subresource, attrs.name)
            raise forbidden_error(caller.user, info, reason)
