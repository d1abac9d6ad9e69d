"""Subresources: pods/binding, */status, namespaces/finalize, replicationcontrollers/scale,
pods/eviction, pods/log, pods/exec, pods/attach and pods/portforward.

app.py routes ``.../NAME/SUB`` here. Status and finalize are the ordinary update pipeline with
``WriteOptions.subresource`` set (registry.py keeps everything but status, or spec.finalizers).
Binding is how the scheduler assigns a pod: it sets spec.nodeName once, and a second binding
is a 409 as in Kubernetes. Scale is the autoscaling/v1 view of an RC that ``kubectl scale``
patches. Log, exec and portforward are proxied to the pod's kubelet by proxy.py.
"""

from __future__ import annotations

import copy
from typing import Any

from aiohttp import web

from ...api import errors, jsontypes, selectors
from ...api.resources import by_kind
from . import handlers, params, proxy
from .keys import REGISTRY
from .machinery import now_rfc3339
from .params import Target
from .registry import Object

SCALE_API_VERSION = "autoscaling/v1"
_pods = by_kind("Pod")
assert _pods is not None
PODS = _pods


# -- binding ----------------------------------------------------------------------------------


def _cannot_decode(kind: str, field: str, value: Any, go: str) -> errors.BadRequest:
    """Kubernetes' 400 for a body whose field has the wrong JSON type."""
    return errors.BadRequest(
        f'{kind} in version "v1" cannot be handled as a {kind}: json: cannot unmarshal '
        f"{jsontypes.json_kind(value)} into Go struct field {kind}.{field} of type {go}")


def _struct(obj: Object, key: str, *, kind: str, go: str) -> Object:
    """``obj[key]`` as an object (absent or null: empty), or the decoding 400."""
    v = obj.get(key)
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise _cannot_decode(kind, key, v, go)
    return v


def _string(obj: Object, key: str, *, kind: str, path: str) -> str:
    v = obj.get(key)
    if v is None:
        return ""
    if not isinstance(v, str):
        raise _cannot_decode(kind, path, v, "string")
    return v


async def bind(request: web.Request, target: Target, pod_name: str = "") -> web.Response:
    """POST pods/NAME/binding, or POST bindings with the pod's name in metadata.name."""
    body = await params.read_object(request)
    meta = _struct(body, "metadata", kind="Binding", go="v1.ObjectMeta")
    pod_name = pod_name or _string(meta, "name", kind="Binding", path="metadata.name")
    if not pod_name:
        raise errors.Invalid.of("Binding", "", [errors.required("metadata.name")])
    target_ref = _struct(body, "target", kind="Binding", go="v1.ObjectReference")
    node = _string(target_ref, "name", kind="Binding", path="target.name")
    if not node:
        raise errors.Invalid.of("Binding", pod_name, [errors.required("target.name")])
    ann = _struct(meta, "annotations", kind="Binding", go="map[string]string")
    if not all(isinstance(v, str) for v in ann.values()):
        raise _cannot_decode("Binding", "metadata.annotations",
                             next(v for v in ann.values() if not isinstance(v, str)),
                             "string")
    kind = _string(target_ref, "kind", kind="Binding", path="target.kind") or "Node"
    if kind not in ("Node", "Minion"):
        raise errors.Invalid.of("Binding", pod_name, [errors.not_supported(
            "target.kind", kind, ["Node"])])
    reg = request.app[REGISTRY]
    pods = target.resource if target.resource.name == "pods" else PODS

    async def assign(pod: Object) -> Object:
        spec = pod.setdefault("spec", {})
        md = pod["metadata"]
        if md.get("deletionTimestamp"):
            raise errors.Conflict(
                f'Operation cannot be fulfilled on pods/binding "{pod_name}": pod '
                f"{pod_name} is being deleted, cannot be assigned to a host",
                kind="pods/binding", name=pod_name)
        if spec.get("nodeName"):
            raise errors.Conflict(
                f'Operation cannot be fulfilled on pods/binding "{pod_name}": pod '
                f'{pod_name} is already assigned to node "{spec["nodeName"]}"',
                kind="pods/binding", name=pod_name)
        uid = meta.get("uid")
        if uid and uid != md.get("uid"):
            raise errors.Conflict(
                f'Operation cannot be fulfilled on pods/binding "{pod_name}": the UID in '
                f"the binding ({uid}) does not match the pod's ({md.get('uid')})",
                kind="pods/binding", name=pod_name)
        spec["nodeName"] = node
        if ann:
            md.setdefault("annotations", {}).update(ann)
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or []
                      if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True",
                           "lastProbeTime": None, "lastTransitionTime": now_rfc3339()})
        status["conditions"] = conditions
        return pod

    await reg.guaranteed_update(pods, target.namespace, pod_name, assign,
                                handlers.write_options(request, subresource="binding"))
    return handlers.json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
         "code": 201}, status=201)


# -- scale ------------------------------------------------------------------------------------


def to_scale(rc: Object) -> Object:
    md = rc.get("metadata") or {}
    spec = rc.get("spec") or {}
    status = rc.get("status") or {}
    return {
        "kind": "Scale",
        "apiVersion": SCALE_API_VERSION,
        "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                         "creationTimestamp") if k in md},
        "spec": {"replicas": int(spec.get("replicas", 0) or 0)},
        "status": {"replicas": int(status.get("replicas", 0) or 0),
                   "selector": selectors.format_match_labels(spec.get("selector"))},
    }


def _scale_replicas(scale: Any, name: str) -> int:
    if not isinstance(scale, dict):
        raise errors.BadRequest("the body must be a Scale object")
    replicas = _struct(scale, "spec", kind="Scale", go="v1.ScaleSpec").get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise errors.Invalid.of("Scale", name, [errors.invalid(
            "spec.replicas", replicas, "must be an integer")], group="autoscaling")
    if replicas < 0:
        raise errors.Invalid.of("Scale", name, [errors.invalid(
            "spec.replicas", replicas, "must be greater than or equal to 0")],
            group="autoscaling")
    return replicas


async def scale(request: web.Request, target: Target) -> web.Response:
    reg = request.app[REGISTRY]
    res, ns, name = target.resource, target.namespace, target.name
    if request.method == "GET":
        return handlers.json_response(to_scale(await reg.get(res, ns, name)))
    if request.method == "PUT":
        body = await params.read_object(request)
        replicas = _scale_replicas(body, name)
        want_rv = str(_struct(body, "metadata", kind="Scale", go="v1.ObjectMeta").get(
            "resourceVersion") or "")

        async def put(rc: Object) -> Object:
            if want_rv and want_rv != rc["metadata"].get("resourceVersion"):
                raise errors.Conflict.of(res.name, name, group=res.group)
            rc.setdefault("spec", {})["replicas"] = replicas
            return rc
        out = await reg.guaranteed_update(res, ns, name, put, handlers.write_options(request))
        return handlers.json_response(to_scale(out))
    if request.method == "PATCH":
        ctype = params.media_type(request)
        if ctype not in handlers.PATCH_TYPES or ctype == handlers.APPLY_PATCH:
            raise errors.UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: " + ", ".join(handlers.PATCH_TYPES[:3]))
        patch_body = params.decode(await params.read_body(request), ctype)

        async def apply(rc: Object) -> Object:
            current = to_scale(rc)
            patched = handlers._apply_patch(ctype, copy.deepcopy(current), patch_body,
                                            kind="Scale")
            if not isinstance(patched, dict):
                raise errors.BadRequest("the patched object is not a JSON object")
            rv = _struct(patched, "metadata", kind="Scale", go="v1.ObjectMeta").get(
                "resourceVersion")
            if rv and str(rv) != current["metadata"].get("resourceVersion"):
                raise errors.Conflict.of(res.name, name, group=res.group)
            rc.setdefault("spec", {})["replicas"] = _scale_replicas(patched, name)
            return rc
        out = await reg.guaranteed_update(res, ns, name, apply,
                                          handlers.write_options(request))
        return handlers.json_response(to_scale(out))
    raise handlers._not_allowed(request.method)


# -- status, finalize ---------------------------------------------------------------------------


async def status(request: web.Request, target: Target) -> web.Response:
    if request.method == "GET":
        return await handlers.get(request, target)
    if request.method == "PUT":
        return await handlers.update(request, target)
    if request.method == "PATCH":
        return await handlers.patch(request, target)
    raise handlers._not_allowed(request.method)


# -- eviction -----------------------------------------------------------------------------------


async def evict(request: web.Request, target: Target) -> web.Response:
    """POST pods/NAME/eviction (kubectl drain): a graceful delete. There are no
    PodDisruptionBudgets to consult yet, so every eviction is allowed."""
    body = await params.read_object(request)
    opts = _struct(body, "deleteOptions", kind="Eviction", go="v1.DeleteOptions")
    grace = opts.get("gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise errors.BadRequest("deleteOptions.gracePeriodSeconds must be an integer")
    await request.app[REGISTRY].delete_object(
        target.resource, target.namespace, target.name, grace_period=grace,
        preconditions=opts.get("preconditions"), opts=handlers.write_options(request))
    return handlers.json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
         "code": 201}, status=201)


async def handle(request: web.Request, target: Target) -> web.StreamResponse:
    sub, m = target.subresource, request.method
    if target.resource.namespaced and not target.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    if sub == "binding" and target.resource.name == "pods":
        if m != "POST":
            raise handlers._not_allowed(m)
        return await bind(request, target, target.name)
    if sub == "status":
        return await status(request, target)
    if sub == "finalize" and target.resource.name == "namespaces":
        if m != "PUT":
            raise handlers._not_allowed(m)
        return await handlers.update(request, target)
    if sub == "scale" and target.resource.name == "replicationcontrollers":
        return await scale(request, target)
    if sub == "eviction" and target.resource.name == "pods":
        if m != "POST":
            raise handlers._not_allowed(m)
        return await evict(request, target)
    if sub == "log" and target.resource.name == "pods":
        if m != "GET":
            raise handlers._not_allowed(m)
        return await proxy.logs(request, target)
    if sub == "exec" and target.resource.name == "pods":
        if m not in ("GET", "POST"):
            raise handlers._not_allowed(m)
        return await proxy.exec_(request, target)
    if sub == "attach" and target.resource.name == "pods":
        if m not in ("GET", "POST"):
            raise handlers._not_allowed(m)
        return await proxy.attach(request, target)
    if sub == "portforward" and target.resource.name == "pods":
        if m not in ("GET", "POST"):
            raise handlers._not_allowed(m)
        return await proxy.port_forward(request, target)
    raise errors.NotFound("the server could not find the requested resource")

