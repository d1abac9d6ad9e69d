"""REST verbs on resources: get, list, create, update (PUT), patch, delete, deletecollection.

app.py parses the URL (params.Target) and calls ``dispatch``; watches go to watch.py and
subresources to subresources.py. This module owns the request side of the write pipeline
(decode, apiVersion/kind/namespace checks, v1beta3 conversion, fieldValidation, patch
application) and the response side (the served version's dialect, kubectl's Tables, Warning
headers); registry.py owns everything from defaulting to the store write.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ...api import errors, jsontypes
from . import machinery, params, rules
from .cacher import Cached
from .keys import CALLER, REGISTRY
from .params import Target
from .registry import CachedPage, Object, WriteOptions

JSON = "application/json"

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (MERGE_PATCH, JSON_PATCH, STRATEGIC_PATCH, APPLY_PATCH)


# -- responses --------------------------------------------------------------------------------


# The apiserver's warning recorder limits (apiserver/pkg/endpoints/filters/warning.go): a
# warning quotes user input (unknown field names), which must not make the headers huge.
WARNING_ITEM_RUNES = 256
WARNING_TOTAL_RUNES = 4 * 1024
_CONTROL = {c: f"\\u{c:04x}" for c in (*range(0x20), 0x7F)}


def _warning_value(text: str) -> str:
    if len(text) > WARNING_ITEM_RUNES:
        text = text[:WARNING_ITEM_RUNES] + "..."
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    # A CR or LF in a header is refused by aiohttp (header injection): the answer would fail.
    return f'299 - "{escaped.translate(_CONTROL)}"'


# Python's http.client (under urllib3 and the kubernetes client) refuses a response with more
# than 100 header lines; many short unknown-field warnings stayed under the rune budget.
WARNING_MAX_HEADERS = 50


def add_warnings(resp: web.StreamResponse, warnings: list[str] | None) -> None:
    total = 0
    for i, w in enumerate(dict.fromkeys(warnings or [])):
        value = _warning_value(w)
        total += len(value)
        if total > WARNING_TOTAL_RUNES or i >= WARNING_MAX_HEADERS:
            break
        resp.headers.add("Warning", value)


def json_response(body: Any, *, status: int = 200, warnings: list[str] | None = None,
                  ) -> web.Response:
    resp = web.json_response(body, status=status, dumps=_dumps)
    add_warnings(resp, warnings)
    return resp


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def served(target: Target, obj: Object) -> Object:
    """The object in the dialect of the URL's version (v1beta3 clients get v1beta3 back)."""
    if target.resource.group or target.version == "v1":
        return obj
    return machinery.from_v1(obj, target.version)


def render_object(request: web.Request, target: Target, obj: Object, *, status: int = 200,
                  warnings: list[str] | None = None) -> web.Response:
    acc = params.accept(request)
    if acc.table:
        from .tables import to_table

        rv = str((obj.get("metadata") or {}).get("resourceVersion") or "")
        body = to_table(target.resource, [obj], resource_version=rv,
                        include_object=acc.include_object)
        return json_response(body, status=status, warnings=warnings)
    return json_response(served(target, obj), status=status, warnings=warnings)


def plain_json(request: web.Request, target: Target) -> bool:
    """True when the response is the stored v1 JSON itself (no Table, no v1beta3)."""
    return not params.accept(request).table and bool(
        target.resource.group or target.version == "v1")


def raw_json(body: bytes, *, status: int = 200) -> web.Response:
    """Already-encoded JSON, with the headers json_response would give it."""
    return web.Response(body=body, status=status,
                        headers={"Content-Type": "application/json; charset=utf-8"})


def render_cached(request: web.Request, target: Target, entry: Cached, *,
                  status: int = 200, warnings: list[str] | None = None) -> web.Response:
    if plain_json(request, target):
        resp = raw_json(entry.body, status=status)
        add_warnings(resp, warnings)
        return resp
    return render_object(request, target, entry.decode(), status=status, warnings=warnings)


def render_cached_list(request: web.Request, target: Target, page: CachedPage,
                       ) -> web.Response:
    if not plain_json(request, target):
        return render_list(request, target, [e.decode() for e in page.items],
                           resource_version=page.resource_version,
                           continue_token=page.continue_token)
    md: dict[str, Any] = {"resourceVersion": page.resource_version}
    if page.continue_token:
        md["continue"] = page.continue_token
    # The list's JSON around the cached bodies: exactly what json.dumps of the whole would give.
    head = _dumps({"kind": f"{target.resource.kind}List", "apiVersion": target.api_version,
                   "metadata": md})
    start, end = head[:-1].encode() + b',"items":[', b"]}"
    bodies = [e.body for e in page.items]
    if not bodies:
        return raw_json(start + end)
    # One join, so the (large) list is copied once.
    bodies[0] = start + bodies[0]
    bodies[-1] = bodies[-1] + end
    return raw_json(b",".join(bodies))


def render_list(request: web.Request, target: Target, items: list[Object], *,
                resource_version: str, continue_token: str = "") -> web.Response:
    acc = params.accept(request)
    if acc.table:
        from .tables import to_table

        body = to_table(target.resource, items, resource_version=resource_version,
                        include_object=acc.include_object, continue_token=continue_token)
        return json_response(body)
    md: dict[str, Any] = {"resourceVersion": resource_version}
    if continue_token:
        md["continue"] = continue_token
    return json_response({
        "kind": f"{target.resource.kind}List",
        "apiVersion": target.api_version,
        "metadata": md,
        "items": [served(target, o) for o in items],
    })


# -- request bodies ---------------------------------------------------------------------------


def check_body(target: Target, body: Object, *, mode: str,
               patch_value: Callable[[], str] | None = None) -> tuple[Object, list[str]]:
    """apiVersion/kind against the URL, v1beta3 -> v1, unknown fields dropped (and refused
    or warned about per fieldValidation), JSON types checked against the schema. Returns the
    v1 object and the warnings to send.

    A body that Go would fail to decode (a wrongly typed field; an unknown field under
    ``Strict``) is 400 ``... cannot be handled as a Pod: ...``; for the result of a JSON, merge
    or strategic merge patch (``patch_value`` given) Kubernetes' patcher reports it as 422 on
    the field ``patch`` instead, with ``patch_value()`` as the bad value."""
    res = target.resource
    api_version = str(body.get("apiVersion") or target.api_version)
    kind = str(body.get("kind") or res.kind)
    if api_version != target.api_version:
        raise errors.BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({target.api_version})")
    if kind != res.kind:
        raise errors.BadRequest(
            f"the kind in the data ({kind}) does not match the expected kind ({res.kind})")
    body["apiVersion"], body["kind"] = api_version, kind
    body["metadata"] = object_meta(target, body)
    warnings: list[str] = []
    if not res.group and target.version != "v1":
        body, conv_warnings = machinery.to_v1(body)
        warnings.extend(conv_warnings)
    # Unknown fields are never stored, whatever the mode (Kubernetes' decoder drops them for
    # built-in types): a stored one would come back on every read and warn on every write.
    unknown = machinery.prune_unknown_fields(body)
    # Go's decoder fails on the first wrong type before it reports unknown fields.
    failure = jsontypes.type_error(body)
    if failure is None and unknown and mode != "Ignore":
        texts = [f'unknown field "{p}"' for p in unknown]
        if mode == "Strict":
            failure = "strict decoding error: " + ", ".join(texts)
        else:
            warnings.extend(texts)
    if failure is not None:
        if patch_value is not None:
            raise errors.Invalid.of("", "", [errors.invalid("patch", patch_value(), failure)])
        raise errors.BadRequest(
            f'{res.kind} in version "{target.version}" cannot be handled as a {res.kind}: '
            f"{failure}")
    return body, warnings


def go_value_text(v: Any) -> str:
    """Go's ``%+v`` of a decoded JSON value (``map[spec:map[replicas:abc]]``): how the
    strategic merge patcher quotes the patch in its 422."""
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{go_value_text(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, list):
        return "[" + " ".join(go_value_text(x) for x in v) + "]"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def object_meta(target: Target, body: Object) -> Object:
    """``body.metadata`` as a dict: absent or null is an empty ObjectMeta, as Go decodes it;
    a number, string or list is Kubernetes' 400 decoding error."""
    md = body.get("metadata")
    if md is None:
        return {}
    if not isinstance(md, dict):
        kind = target.resource.kind
        raise errors.BadRequest(
            f'{kind} in version "{target.version}" cannot be handled as a {kind}: json: '
            f"cannot unmarshal {jsontypes.json_kind(md)} into Go struct field {kind}.metadata "
            "of type v1.ObjectMeta")
    return md


def check_namespace(target: Target, obj: Object) -> None:
    if not target.resource.namespaced:
        return
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = {}
        obj["metadata"] = md
    ns = md.get("namespace")
    if ns and ns != target.namespace:
        raise errors.BadRequest("the namespace of the provided object does not match the "
                                "namespace sent on the request")
    md["namespace"] = target.namespace


def write_options(request: web.Request, *, subresource: str = "",
                  warnings: list[str] | None = None) -> WriteOptions:
    return WriteOptions(admit=True, dry_run=params.dry_run(request), subresource=subresource,
                        warnings=list(warnings or []), caller=request.get(CALLER))


# -- verbs ------------------------------------------------------------------------------------


async def get(request: web.Request, target: Target) -> web.Response:
    entry = await request.app[REGISTRY].get_cached(
        target.resource, target.namespace, target.name,
        resource_version=request.query.get("resourceVersion", ""))
    return render_cached(request, target, entry)


async def list_(request: web.Request, target: Target) -> web.Response:
    q = request.query
    limit = params.parse_int(q.get("limit"), param="limit", default=0, minimum=0) or 0
    revision = 0
    if q.get("resourceVersionMatch") == "Exact" and q.get("resourceVersion"):
        revision = params.parse_int(q.get("resourceVersion"), param="resourceVersion",
                                    minimum=1) or 0
    page = await request.app[REGISTRY].list_cached(
        target.resource, target.namespace,
        label_selector=q.get("labelSelector", ""), field_selector=q.get("fieldSelector", ""),
        limit=limit, continue_token=q.get("continue", ""), revision=revision,
        resource_version=q.get("resourceVersion", ""))
    return render_cached_list(request, target, page)


async def create(request: web.Request, target: Target) -> web.Response:
    if target.resource.namespaced and not target.namespace:
        raise errors.MethodNotAllowed(
            f"POST is not allowed on {target.resource.name} without a namespace")
    mode = params.field_validation(request)
    body, warnings = check_body(target, await params.read_object(request), mode=mode)
    check_namespace(target, body)
    opts = write_options(request, warnings=warnings)
    out = await request.app[REGISTRY].create_cached(target.resource, target.namespace, body,
                                                    opts, owned=True)
    return render_cached(request, target, out, status=201, warnings=opts.warnings)


async def update(request: web.Request, target: Target) -> web.Response:
    mode = params.field_validation(request)
    body, warnings = check_body(target, await params.read_object(request), mode=mode)
    check_namespace(target, body)
    md = body.setdefault("metadata", {})
    if md.get("name") and md["name"] != target.name:
        raise errors.BadRequest(f"the name of the object ({md['name']}) does not match the "
                                f"name on the URL ({target.name})")
    md["name"] = target.name
    opts = write_options(request, subresource=target.subresource, warnings=warnings)
    out, created = await request.app[REGISTRY].update_object(
        target.resource, target.namespace, target.name, body, opts)
    return render_object(request, target, out, status=201 if created else 200,
                         warnings=opts.warnings)


def _apply_patch(ctype: str, current: Object, patch: Any, *, kind: str) -> Object:
    try:
        if ctype == JSON_PATCH:
            if not isinstance(patch, list):
                raise errors.BadRequest("json patch must be a JSON array of operations")
            return machinery.json_patch(current, patch)
        if not isinstance(patch, dict):
            raise errors.BadRequest("the patch must be a JSON object")
        if ctype == MERGE_PATCH:
            return machinery.merge_patch(current, patch)
        return machinery.strategic_merge_patch(current, patch, kind=kind)
    except errors.APIError:
        raise
    except (ValueError, KeyError, TypeError, IndexError) as e:
        raise errors.BadRequest(f"the patch could not be applied: {e}") from e


async def patch(request: web.Request, target: Target) -> web.Response:
    ctype = params.media_type(request)
    if ctype not in PATCH_TYPES:
        raise errors.UnsupportedMediaType(
            f'the body of the request was in an unknown format - accepted media types '
            f'include: {", ".join(PATCH_TYPES)}')
    mode = params.field_validation(request)
    patch_body = params.decode(await params.read_body(request), ctype)
    reg = request.app[REGISTRY]
    res = target.resource
    if ctype == APPLY_PATCH:
        if not request.query.get("fieldManager"):
            raise errors.BadRequest("PATCH, application/apply-patch+yaml requires fieldManager "
                                    "to be set")
        if not isinstance(patch_body, dict):
            raise errors.BadRequest("the apply patch must be an object")
        try:
            await reg.get_kv(res, target.namespace, target.name)
        except errors.NotFound:
            # Server-side apply on a missing object creates it. Field ownership
            # (managedFields, apply conflicts) is not tracked yet: apply always wins.
            body, warnings = check_body(target, copy.deepcopy(patch_body), mode=mode)
            check_namespace(target, body)
            body.setdefault("metadata", {})["name"] = target.name
            opts = write_options(request, warnings=warnings)
            out = await reg.create_object(res, target.namespace, body, opts)
            return render_object(request, target, out, status=201, warnings=opts.warnings)
    opts = write_options(request, subresource=target.subresource)

    async def mutate(current: Object) -> Object:
        rv = current["metadata"].get("resourceVersion")
        base = served(target, current)
        patched = _apply_patch(ctype, copy.deepcopy(base), patch_body, kind=res.kind)
        if not isinstance(patched, dict):
            raise errors.BadRequest("the patched object is not a JSON object")
        md = object_meta(target, patched)
        if md.get("resourceVersion") and str(md["resourceVersion"]) != rv:
            raise errors.Conflict.of(res.name, target.name, group=res.group)
        if md.get("name") and md["name"] != target.name:
            raise errors.BadRequest(f"the name of the object ({md['name']}) does not match "
                                    f"the name on the URL ({target.name})")
        # Server-side apply reports decoding failures as 400, the other patchers as 422.
        value: Callable[[], str] | None = None
        if ctype == STRATEGIC_PATCH:
            value = lambda: go_value_text(patch_body)  # noqa: E731
        elif ctype != APPLY_PATCH:
            value = lambda: json.dumps(patched, separators=(",", ":"))  # noqa: E731
        out, warnings = check_body(target, patched, mode=mode, patch_value=value)
        if res.namespaced:
            check_namespace(target, out)
        opts.warnings[:] = warnings
        return out

    out = await reg.guaranteed_update(res, target.namespace, target.name, mutate, opts)
    return render_object(request, target, out, warnings=opts.warnings)


async def _delete_options(request: web.Request) -> dict[str, Any]:
    body = await params.read_body(request)
    if not body.strip():
        return {}
    opts = params.decode(body, params.media_type(request))
    if not isinstance(opts, dict):
        raise errors.BadRequest("DeleteOptions must be a JSON object")
    return opts


def _grace(request: web.Request, opts: dict[str, Any]) -> int | None:
    q = params.parse_int(request.query.get("gracePeriodSeconds"), param="gracePeriodSeconds")
    if q is not None:
        return q
    g = opts.get("gracePeriodSeconds")
    if g is None:
        return None
    if not isinstance(g, int):
        raise errors.BadRequest("gracePeriodSeconds must be an integer")
    return g


async def delete(request: web.Request, target: Target) -> web.Response:
    opts = await _delete_options(request)
    wopts = write_options(request)
    if opts.get("dryRun"):
        wopts.dry_run = True
    obj, _ = await request.app[REGISTRY].delete_object(
        target.resource, target.namespace, target.name, grace_period=_grace(request, opts),
        preconditions=opts.get("preconditions"), opts=wopts,
        propagation=rules.propagation_policy(opts, request.query))
    return render_object(request, target, obj, warnings=wopts.warnings)


async def delete_collection(request: web.Request, target: Target) -> web.Response:
    opts = await _delete_options(request)
    reg = request.app[REGISTRY]
    q = request.query
    page = await reg.list_page(target.resource, target.namespace,
                               label_selector=q.get("labelSelector", ""),
                               field_selector=q.get("fieldSelector", ""))
    grace = _grace(request, opts)
    propagation = rules.propagation_policy(opts, q)
    out: list[Object] = []
    for obj in page.items:
        md = obj["metadata"]
        wopts = write_options(request)
        try:
            gone, _ = await reg.delete_object(
                target.resource, str(md.get("namespace") or ""), str(md["name"]),
                grace_period=grace, opts=wopts, propagation=propagation)
        except errors.NotFound:
            continue
        out.append(gone)
    return render_list(request, target, out, resource_version=page.resource_version)


async def dispatch(request: web.Request, target: Target) -> web.StreamResponse:
    """One resource URL, any method; subresources and watches are routed by app.py."""
    m = request.method
    if not target.name:
        if m == "GET":
            return await list_(request, target)
        if m == "POST":
            return await create(request, target)
        if m == "DELETE" and (target.namespace or not target.resource.namespaced):
            return await delete_collection(request, target)
        raise _not_allowed(m)
    if target.resource.namespaced and not target.namespace:
        raise errors.NotFound("the server could not find the requested resource")
    if m == "GET":
        return await get(request, target)
    if m == "PUT":
        return await update(request, target)
    if m == "PATCH":
        return await patch(request, target)
    if m == "DELETE":
        return await delete(request, target)
    raise _not_allowed(m)


def _not_allowed(method: str) -> errors.MethodNotAllowed:
    return errors.MethodNotAllowed(
        f"the server does not allow this method on the requested resource ({method})")
