"""OpenAPI documents: /openapi/v3 (index and one document per group version) and /openapi/v2.

kubectl downloads these before ``create -f`` and ``apply -f`` (1.29+ read v3, 1.27/1.28 read
v2); if both are missing it refuses to send anything. What matters in them:

* every PATCH/PUT/POST operation lists the ``fieldValidation`` query parameter: kubectl then
  sends ``fieldValidation=Strict`` and leaves schema validation to the server, which knows the
  v1beta3 dialect and reports unknown fields with Kubernetes' wording;
* every operation carries ``x-kubernetes-group-version-kind`` and ``x-kubernetes-action``
  (kubectl finds "the PATCH of kind X" through them, and fails if a kind has none);
* every kind's schema carries ``x-kubernetes-group-version-kind`` too: ``kubectl explain`` and
  client-side ``apply`` look schemas up by it. ``apply`` computes its strategic merge patch from
  the v3 schema when the PATCH operation accepts ``application/strategic-merge-patch+json``, so
  that media type is advertised only when the schemas carry the list merge keys
  (``x-kubernetes-patch-merge-key``); otherwise kubectl falls back to its compiled-in types,
  which know them.

Schemas come from ``minikube8s.api.schema.openapi_definitions()`` when that module exists,
else from permissive object schemas. /openapi/v2 answers protobuf requests with an empty
document (enough for kubectl 1.27/1.28: no client-side checks, server-side validation) and
JSON requests with a Swagger 2.0 rendering of the same data.

Neighbours: discovery.py (same resource table, same version string), app.py registers us.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from typing import Any

from aiohttp import web

from ...api import errors
from ...api.resources import ALL, CORE, SUBRESOURCES, Resource, Subresource
from .discovery import CORE_VERSIONS, LEGACY_VERSION, VERSION_INFO

Doc = dict[str, Any]

V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
REF = "#/components/schemas/"
META = "io.k8s.apimachinery.pkg.apis.meta.v1"
PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
               "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_ACTIONS = {"get": "get", "put": "put", "patch": "patch", "delete": "delete", "post": "post"}


# ---------------------------------------------------------------------------------------------
# Schemas


def _definitions() -> dict[str, Doc]:
    """The API package's schemas, or none yet (the permissive fallback then fills in)."""
    try:
        from ...api import schema  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return {}
    defs = schema.openapi_definitions()
    return copy.deepcopy(dict(defs)) if isinstance(defs, dict) else {}


def _gvks(s: Doc) -> list[tuple[str, str, str]]:
    raw = s.get("x-kubernetes-group-version-kind")
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, dict) else []
    return [(str(g.get("group", "")), str(g.get("version", "")), str(g.get("kind", "")))
            for g in items if isinstance(g, dict)]


def _package(group: str, version: str) -> str:
    if not group:
        return f"io.k8s.api.core.{version}"
    return f"io.k8s.api.{group.split('.')[0]}.{version}"


def _permissive(group: str, version: str, kind: str, *, description: str = "") -> Doc:
    obj_meta = {"allOf": [{"$ref": f"{REF}{META}.ObjectMeta"}], "default": {},
                "description": "Standard object's metadata."}
    return {
        "type": "object",
        "description": description or f"{kind} ({group or 'core'}/{version}).",
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned "
                           "schema of this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the "
                     "REST resource this object represents."},
            "metadata": obj_meta,
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        },
        "x-kubernetes-group-version-kind": [{"group": group, "kind": kind,
                                             "version": version}],
    }


def _list_schema(item_ref: str, group: str, version: str, kind: str) -> Doc:
    return {
        "type": "object",
        "description": f"{kind} is a list of {kind[:-4]} objects.",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": {"allOf": [{"$ref": item_ref}], "default": {}}},
            "metadata": {"allOf": [{"$ref": f"{REF}{META}.ListMeta"}], "default": {}},
        },
        "x-kubernetes-group-version-kind": [{"group": group, "kind": kind,
                                             "version": version}],
    }


_META_FALLBACKS: dict[str, Doc] = {
    f"{META}.ObjectMeta": {"type": "object", "description": "ObjectMeta is metadata that all "
                           "persisted resources must have.",
                           "x-kubernetes-preserve-unknown-fields": True},
    f"{META}.ListMeta": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    f"{META}.Patch": {"type": "object", "description": "Patch is provided to give a concrete "
                      "name and type to the Kubernetes PATCH request body."},
    f"{META}.Status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                       "x-kubernetes-group-version-kind": [
                           {"group": "", "kind": "Status", "version": "v1"}]},
    f"{META}.DeleteOptions": {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
                              "x-kubernetes-group-version-kind": [
                                  {"group": "", "kind": "DeleteOptions", "version": "v1"}]},
}


def _has_patch_metadata(schemas: dict[str, Doc]) -> bool:
    return "x-kubernetes-patch-merge-key" in json.dumps(schemas)


class _Schemas:
    """Schema names by (group, version, kind), filling permissive ones where missing."""

    def __init__(self, definitions: dict[str, Doc]) -> None:
        self.all = definitions
        self.by_gvk: dict[tuple[str, str, str], str] = {}
        for name, s in definitions.items():
            if isinstance(s, dict):
                for gvk in _gvks(s):
                    self.by_gvk.setdefault(gvk, name)
        for name, s in _META_FALLBACKS.items():
            self.all.setdefault(name, copy.deepcopy(s))

    def ref(self, group: str, version: str, kind: str) -> str:
        key = (group, version, kind)
        name = self.by_gvk.get(key)
        if name is None:
            name = f"{_package(group, version)}.{kind}"
            if name not in self.all:
                if kind.endswith("List") and kind != "List":
                    item = self.ref(group, version, kind[:-4])
                    self.all[name] = _list_schema(item, group, version, kind)
                else:
                    self.all[name] = _permissive(group, version, kind)
            self.by_gvk[key] = name
        return REF + name


# ---------------------------------------------------------------------------------------------
# Paths


def _param(name: str, where: str, description: str, type_: str = "string", *,
           required: bool = False, unique: bool = False) -> Doc:
    schema: Doc = {"type": type_}
    if unique:
        schema["uniqueItems"] = True
    p: Doc = {"name": name, "in": where, "description": description, "schema": schema}
    if required:
        p["required"] = True
    return p


NAME_PARAM = _param("name", "path", "name of the object", required=True, unique=True)
NAMESPACE_PARAM = _param("namespace", "path", "object name and auth scope, such as for teams "
                         "and projects", required=True, unique=True)
PRETTY = _param("pretty", "query", "If 'true', then the output is pretty printed.", unique=True)
DRY_RUN = _param("dryRun", "query", "When present, indicates that modifications should not be "
                 "persisted.", unique=True)
FIELD_MANAGER = _param("fieldManager", "query", "fieldManager is a name associated with the "
                       "actor or entity that is making these changes.", unique=True)
FIELD_VALIDATION = _param(
    "fieldValidation", "query",
    "fieldValidation instructs the server on how to handle objects in the request containing "
    "unknown or duplicate fields. Valid values are: Ignore, Warn (default), Strict.",
    unique=True)
FORCE = _param("force", "query", "Force is going to \"force\" Apply requests.", "boolean",
               unique=True)
LIST_PARAMS = [
    _param("labelSelector", "query", "A selector to restrict the list of returned objects by "
           "their labels.", unique=True),
    _param("fieldSelector", "query", "A selector to restrict the list of returned objects by "
           "their fields.", unique=True),
    _param("resourceVersion", "query", "resourceVersion sets a constraint on what resource "
           "versions a request may be served from.", unique=True),
    _param("limit", "query", "limit is a maximum number of responses to return for a list "
           "call.", "integer", unique=True),
    _param("continue", "query", "The continue option should be set when retrieving more "
           "results from the server.", unique=True),
    _param("watch", "query", "Watch for changes to the described resources.", "boolean",
           unique=True),
    _param("allowWatchBookmarks", "query", "allowWatchBookmarks requests watch events with "
           "type BOOKMARK.", "boolean", unique=True),
    _param("timeoutSeconds", "query", "Timeout for the list/watch call.", "integer",
           unique=True),
]
WRITE_PARAMS = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]


def _json_content(ref: str) -> Doc:
    return {media: {"schema": {"$ref": ref}}
            for media in ("application/json", "application/yaml")}


def _op(*, action: str, gvk: tuple[str, str, str], op_id: str, description: str,
        response_ref: str, params: list[Doc] | None = None, body: Doc | None = None,
        created: bool = False) -> Doc:
    group, version, kind = gvk
    responses: Doc = {"200": {"description": "OK", "content": _json_content(response_ref)}}
    if created:
        responses["201"] = {"description": "Created", "content": _json_content(response_ref)}
    responses["401"] = {"description": "Unauthorized"}
    op: Doc = {
        "tags": [f"{group.split('.')[0] or 'core'}_{version}"],
        "description": description,
        "operationId": op_id,
        "parameters": list(params or []),
        "responses": responses,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": group, "kind": kind, "version": version},
    }
    if body is not None:
        op["requestBody"] = body
    return op


def _body(ref: str) -> Doc:
    return {"content": {"*/*": {"schema": {"$ref": ref}}}, "required": True}


def _patch_body(smp: bool) -> Doc:
    media = [m for m in PATCH_TYPES if smp or m != "application/strategic-merge-patch+json"]
    return {"content": {m: {"schema": {"$ref": f"{REF}{META}.Patch"}} for m in media},
            "required": True}


def _op_name(verb: str, r: Resource, version: str, *, namespaced: bool, suffix: str = "") -> str:
    group = "".join(p.capitalize() for p in (r.group.split(".")[0] or "core").split("-"))
    scope = "Namespaced" if namespaced else ""
    return f"{verb}{group}{version.capitalize()}{scope}{r.kind}{suffix}"


def _resource_paths(r: Resource, version: str, schemas: _Schemas, *, smp: bool,
                    legacy: bool) -> dict[str, Doc]:
    prefix = f"/apis/{r.group}/{version}" if r.group else f"/api/{version}"
    gvk = (r.group, version, r.kind)
    ref = schemas.ref(*gvk)
    list_ref = schemas.ref(r.group, version, f"{r.kind}List")
    status_ref = f"{REF}{META}.Status"
    verbs = set(r.verbs)
    ns = r.namespaced
    collection = f"{prefix}/namespaces/{{namespace}}/{r.name}" if ns else f"{prefix}/{r.name}"
    item = f"{collection}/{{name}}"
    scope = [NAMESPACE_PARAM] if ns else []
    paths: dict[str, Doc] = {}

    coll: Doc = {}
    if "list" in verbs:
        coll["get"] = _op(action="list", gvk=gvk, op_id=_op_name("list", r, version,
                                                                   namespaced=ns),
                          description=f"list or watch objects of kind {r.kind}",
                          response_ref=list_ref, params=LIST_PARAMS)
    if "create" in verbs:
        coll["post"] = _op(action="post", gvk=gvk, op_id=_op_name("create", r, version,
                                                                   namespaced=ns),
                           description=f"create a {r.kind}", response_ref=ref,
                           params=WRITE_PARAMS, body=_body(ref), created=True)
    if "deletecollection" in verbs:
        coll["delete"] = _op(action="deletecollection", gvk=gvk,
                             op_id=_op_name("deleteCollection", r, version, namespaced=ns),
                             description=f"delete collection of {r.kind}",
                             response_ref=status_ref, params=[*LIST_PARAMS, DRY_RUN])
    if coll:
        coll["parameters"] = [*scope, PRETTY]
        paths[collection] = coll
    if ns and "list" in verbs:
        paths[f"{prefix}/{r.name}"] = {
            "get": _op(action="list", gvk=gvk,
                       op_id=_op_name("list", r, version, namespaced=False,
                                      suffix="ForAllNamespaces"),
                       description=f"list or watch objects of kind {r.kind}",
                       response_ref=list_ref, params=LIST_PARAMS),
            "parameters": [PRETTY],
        }

    one: Doc = {}
    if "get" in verbs:
        one["get"] = _op(action="get", gvk=gvk, op_id=_op_name("read", r, version,
                                                                 namespaced=ns),
                         description=f"read the specified {r.kind}", response_ref=ref)
    if "update" in verbs:
        one["put"] = _op(action="put", gvk=gvk, op_id=_op_name("replace", r, version,
                                                                 namespaced=ns),
                         description=f"replace the specified {r.kind}", response_ref=ref,
                         params=WRITE_PARAMS, body=_body(ref), created=True)
    if "patch" in verbs:
        one["patch"] = _op(action="patch", gvk=gvk, op_id=_op_name("patch", r, version,
                                                                     namespaced=ns),
                           description=f"partially update the specified {r.kind}",
                           response_ref=ref, params=[*WRITE_PARAMS, FORCE],
                           body=_patch_body(smp), created=True)
    if "delete" in verbs:
        one["delete"] = _op(action="delete", gvk=gvk, op_id=_op_name("delete", r, version,
                                                                       namespaced=ns),
                            description=f"delete a {r.kind}", response_ref=status_ref,
                            params=[DRY_RUN],
                            body=_body(f"{REF}{META}.DeleteOptions") | {"required": False})
    if one:
        one["parameters"] = [NAME_PARAM, *scope, PRETTY]
        paths[item] = one

    if not legacy:
        for s in SUBRESOURCES:
            if s.parent == r.name:
                paths[f"{item}/{s.name}"] = _subresource_path(r, s, version, schemas, smp=smp,
                                                              scope=scope)
    return paths


def _subresource_path(r: Resource, s: Subresource, version: str, schemas: _Schemas, *,
                      smp: bool, scope: list[Doc]) -> Doc:
    same = (s.group, s.version) == (r.group, r.version)
    gvk = (r.group, version, s.kind) if same else (s.group, s.version, s.kind)
    ref = schemas.ref(*gvk)
    ns = r.namespaced
    suffix = s.name.capitalize()
    path: Doc = {"parameters": [NAME_PARAM, *scope, PRETTY]}
    if s.name in ("log", "exec", "attach", "portforward"):
        # Streams, not objects: kubectl never patches them, it only needs the route named.
        for verb in s.verbs:
            method = "post" if verb == "create" else "get"
            if s.name in ("exec", "attach", "portforward"):
                action, op_id = "connect", _op_name(f"connect{method.capitalize()}", r, version,
                                                    namespaced=ns, suffix=suffix)
            else:
                action, op_id = "get", _op_name("read", r, version, namespaced=ns,
                                                suffix=suffix)
            op = _op(action=action, gvk=gvk, op_id=op_id,
                     description=f"{s.name} of the specified {r.kind}", response_ref=ref)
            op["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
            path[method] = op
        return path
    for verb in s.verbs:
        if verb == "get":
            path["get"] = _op(action="get", gvk=gvk,
                              op_id=_op_name("read", r, version, namespaced=ns, suffix=suffix),
                              description=f"read {s.name} of the specified {r.kind}",
                              response_ref=ref)
        elif verb == "update":
            path["put"] = _op(action="put", gvk=gvk,
                              op_id=_op_name("replace", r, version, namespaced=ns,
                                             suffix=suffix),
                              description=f"replace {s.name} of the specified {r.kind}",
                              response_ref=ref, params=WRITE_PARAMS, body=_body(ref),
                              created=True)
        elif verb == "patch":
            path["patch"] = _op(action="patch", gvk=gvk,
                                op_id=_op_name("patch", r, version, namespaced=ns,
                                               suffix=suffix),
                                description=f"partially update {s.name} of the specified "
                                f"{r.kind}", response_ref=ref, params=[*WRITE_PARAMS, FORCE],
                                body=_patch_body(smp), created=True)
        elif verb == "create":
            path["post"] = _op(action="post", gvk=gvk,
                               op_id=_op_name("create", r, version, namespaced=ns,
                                              suffix=suffix),
                               description=f"create {s.name} of a {r.kind}", response_ref=ref,
                               params=WRITE_PARAMS, body=_body(ref), created=True)
    return path


# ---------------------------------------------------------------------------------------------
# Documents


def _served_group_versions() -> list[tuple[str, str]]:
    out = [("", v) for v in CORE_VERSIONS]
    for r in ALL:
        if r.group and (r.group, r.version) not in out:
            out.append((r.group, r.version))
    return out


def _doc_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _build_v3(group: str, version: str) -> Doc:
    schemas = _Schemas(_definitions())
    legacy = group == "" and version == LEGACY_VERSION
    smp = _has_patch_metadata(schemas.all) and not legacy
    resources = list(CORE) if group == "" else [r for r in ALL if r.group == group
                                                and r.version == version]
    paths: dict[str, Doc] = {}
    for r in resources:
        paths.update(_resource_paths(r, version, schemas, smp=smp, legacy=legacy))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
        "paths": paths,
        "components": {"schemas": _reachable(schemas.all, paths)},
    }


def _reachable(all_schemas: dict[str, Doc], paths: Doc) -> dict[str, Doc]:
    """Only the schemas this document refers to, transitively (Kubernetes does the same; it
    keeps each group version's document small)."""
    out: dict[str, Doc] = {}
    todo = _refs(paths)
    while todo:
        name = todo.pop()
        if name in out or name not in all_schemas:
            continue
        out[name] = all_schemas[name]
        todo |= _refs(out[name]) - set(out)
    return dict(sorted(out.items()))


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        cur = stack.pop()
        if isinstance(cur, dict):
            ref = cur.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF):
                found.add(ref[len(REF):])
            stack.extend(cur.values())
        elif isinstance(cur, list):
            stack.extend(cur)
    return found


@functools.cache
def v3_document(group: str, version: str) -> tuple[bytes, str]:
    """(JSON body, hash) of one group version's document; built once per process."""
    body = json.dumps(_build_v3(group, version), separators=(",", ":")).encode()
    return body, hashlib.sha512(body).hexdigest().upper()


def v3_index() -> Doc:
    paths = {}
    for g, v in _served_group_versions():
        _, digest = v3_document(g, v)
        key = _doc_key(g, v)
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}


def _to_v2(node: Any) -> Any:
    """OpenAPI 3 -> Swagger 2 for the parts used here (refs, parameter schemas, bodies)."""
    if isinstance(node, list):
        return [_to_v2(x) for x in node]
    if not isinstance(node, dict):
        return node
    out: Doc = {}
    for k, v in node.items():
        if k == "$ref" and isinstance(v, str):
            out[k] = v.replace(REF, "#/definitions/")
        elif k == "schema" and isinstance(v, dict) and "in" in node and node["in"] != "body":
            out.update(_to_v2(v))
        elif k == "requestBody" and isinstance(v, dict):
            media: Doc = next(iter(v.get("content", {}).values()), {})
            out["parameters"] = [*_to_v2(node.get("parameters", [])),
                                 {"name": "body", "in": "body", "required": True,
                                  "schema": _to_v2(media.get("schema", {}))}]
        elif k == "parameters" and "parameters" in out:
            continue
        elif k == "content" and isinstance(v, dict) and "description" in node:
            first: Doc = next(iter(v.values()), {})
            if "schema" in first:
                out["schema"] = _to_v2(first["schema"])
        else:
            out[k] = _to_v2(v)
    return out


@functools.cache
def v2_document() -> bytes:
    paths: Doc = {}
    definitions: Doc = {}
    for g, v in _served_group_versions():
        doc = json.loads(v3_document(g, v)[0])
        paths.update(doc["paths"])
        definitions.update(doc["components"]["schemas"])
    swagger = {"swagger": "2.0",
               "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
               "paths": _to_v2(paths), "definitions": _to_v2(definitions)}
    return json.dumps(swagger, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------
# HTTP


def _not_found() -> web.Response:
    err = errors.NotFound("the server could not find the requested resource")
    return web.Response(body=json.dumps(err.to_status()).encode(), status=404,
                        headers={"Content-Type": "application/json"})


async def _handle_v2(request: web.Request) -> web.Response:
    accept = request.headers.get("Accept", "")
    if "protobuf" in accept and "application/json" not in accept:
        # An empty protobuf document: kubectl 1.27/1.28 skip client-side checks and let the
        # server validate (fieldValidation), which is what we want.
        return web.Response(body=b"", headers={"Content-Type": V2_PROTOBUF})
    return web.Response(body=v2_document(), headers={"Content-Type": "application/json"})


async def _handle_v3_index(request: web.Request) -> web.Response:
    return web.Response(body=json.dumps(v3_index()).encode(),
                        headers={"Content-Type": "application/json"})


async def _handle_v3_doc(request: web.Request) -> web.Response:
    tail = request.match_info["tail"].strip("/")
    parts = tail.split("/")
    if len(parts) == 2 and parts[0] == "api":
        gv = ("", parts[1])
    elif len(parts) == 3 and parts[0] == "apis":
        gv = (parts[1], parts[2])
    else:
        return _not_found()
    if gv not in _served_group_versions():
        return _not_found()
    body, digest = v3_document(*gv)
    headers = {"Content-Type": "application/json", "Etag": f'"{digest}"'}
    if request.query.get("hash") == digest:
        headers["Cache-Control"] = "public, immutable"
    else:
        headers["Cache-Control"] = "no-cache, private"
    return web.Response(body=body, headers=headers)


def register(app: web.Application) -> None:
    r = app.router
    for path in ("/openapi/v2", "/openapi/v2/", "/swagger.json"):
        r.add_get(path, _handle_v2)
    r.add_get("/openapi/v3", _handle_v3_index)
    r.add_get("/openapi/v3/", _handle_v3_index)
    r.add_get("/openapi/v3/{tail:.+}", _handle_v3_doc)
