"""API discovery: /api, /apis, /version and the per-group-version resource lists.

Every kubectl command starts by asking these endpoints which resources exist, what they are
called (shortNames ``rc``, ``svc``...), which categories they belong to (``get all``) and which
verbs they take; without them nothing else works. Two dialects are served from the same resource
table (minikube8s.api.resources):

* legacy discovery (``application/json``): APIVersions at /api, APIGroupList at /apis and one
  APIResourceList per group version, which the client fetches one by one;
* aggregated discovery (``apidiscovery.k8s.io`` v2 for kubectl 1.30+, v2beta1 for 1.27-1.29):
  one APIGroupDiscoveryList for /api and one for /apis carrying every resource.

client-go picks the dialect only from the response Content-Type, so the Accept header is
negotiated here and the answer says exactly which profile it carries (KUBECTL-COMPAT.md).

The seed's manifests say ``apiVersion: v1beta3``. kubectl refuses a manifest whose version
discovery does not list, so the core group advertises v1beta3 after v1 (v1 stays preferred);
client-go looks every core version other than v1 up under /apis/<version>, hence /apis/v1beta3.
The v1beta3 list carries no shortNames, categories or subresources so that ``get all`` and
shortname expansion see each resource once.

Neighbours: app.py calls ``register`` before its REST routes; openapi.py serves the schemas.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ...api import errors
from ...api.resources import ALL, CORE, SUBRESOURCES, Resource, Subresource, groups

CORE_VERSIONS = ("v1", "v1beta3")
LEGACY_VERSION = "v1beta3"

# Kubernetes-shaped version; kubectl parses gitVersion as semver for its skew warning, and the
# API surface served here is the one kubectl 1.30 expects (aggregated discovery v2, OpenAPI v3).
VERSION_INFO: dict[str, str] = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-minikube8s.0.1.0",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "python3.11",
    "compiler": "cpython",
    "platform": "linux/amd64",
}

JSON = "application/json"
DISCOVERY_GROUP = "apidiscovery.k8s.io"
AGGREGATED_KIND = "APIGroupDiscoveryList"
AGGREGATED_VERSIONS = ("v2", "v2beta1")


# ---------------------------------------------------------------------------------------------
# Accept negotiation


def _media_ranges(accept: str) -> list[tuple[str, dict[str, str], float]]:
    """Parse an Accept header into (type, params, q), best first, stable for equal q."""
    out: list[tuple[str, dict[str, str], float]] = []
    for raw in accept.split(","):
        parts = [p.strip() for p in raw.split(";")]
        if not parts[0]:
            continue
        params: dict[str, str] = {}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip().lower()] = v.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 1.0
        out.append((parts[0].lower(), params, q))
    out.sort(key=lambda r: -r[2])
    return [r for r in out if r[2] > 0]


def negotiate_discovery(accept: str) -> str | None:
    """The aggregated discovery version to answer with (``v2``/``v2beta1``), or None for the
    legacy documents. The first acceptable offer wins; a version the client did not offer is
    never sent, since client-go would then see no resources at all."""
    for media, params, _q in _media_ranges(accept or JSON):
        if media == JSON and params.get("as") == AGGREGATED_KIND:
            if params.get("g") == DISCOVERY_GROUP and params.get("v") in AGGREGATED_VERSIONS:
                return params["v"]
            continue
        if media in (JSON, "application/*", "*/*") and not params.get("as"):
            return None
    return None


def aggregated_content_type(version: str) -> str:
    return f"{JSON};g={DISCOVERY_GROUP};v={version};as={AGGREGATED_KIND}"


# ---------------------------------------------------------------------------------------------
# Documents (pure functions of the resource table)


def _subresources_of(parent: str) -> list[Subresource]:
    return [s for s in SUBRESOURCES if s.parent == parent]


def _is_legacy_version(version: str) -> bool:
    return version == LEGACY_VERSION


def resources_for(group: str, version: str) -> list[Resource]:
    if group == "":
        if version in CORE_VERSIONS:
            return list(CORE)
        return []
    return [r for r in ALL if r.group == group and r.version == version]


def api_resource(r: Resource, *, legacy: bool = False) -> dict[str, Any]:
    """One metav1.APIResource entry."""
    d: dict[str, Any] = {
        "name": r.name,
        "singularName": r.singular_name,
        "namespaced": r.namespaced,
        "kind": r.kind,
        "verbs": list(r.verbs),
    }
    if not legacy:
        if r.short_names:
            d["shortNames"] = list(r.short_names)
        if r.categories:
            d["categories"] = list(r.categories)
    return d


def api_subresource(r: Resource, s: Subresource) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": f"{r.name}/{s.name}",
        "singularName": "",
        "namespaced": r.namespaced,
        "kind": s.kind,
        "verbs": list(s.verbs),
    }
    if s.group != r.group or s.version != r.version:
        d["group"] = s.group
        d["version"] = s.version
    return d


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """metav1.APIResourceList for one group version, None when it is not served."""
    rs = resources_for(group, version)
    if not rs:
        return None
    legacy = group == "" and _is_legacy_version(version)
    entries: list[dict[str, Any]] = []
    for r in rs:
        entries.append(api_resource(r, legacy=legacy))
        if not legacy:
            entries.extend(api_subresource(r, s) for s in _subresources_of(r.name))
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": entries}


def api_versions(server_address: str = "") -> dict[str, Any]:
    doc: dict[str, Any] = {"kind": "APIVersions", "versions": list(CORE_VERSIONS)}
    if server_address:
        doc["serverAddressByClientCIDRs"] = [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]
    return doc


def _group_versions(group: str) -> list[str]:
    seen: list[str] = []
    for r in groups().get(group, []):
        if r.version not in seen:
            seen.append(r.version)
    return seen


def api_group(group: str) -> dict[str, Any] | None:
    versions = _group_versions(group)
    if not versions:
        return None
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
            "preferredVersion": gvs[0]}


def api_group_list() -> dict[str, Any]:
    items = []
    for g in groups():
        doc = api_group(g)
        if doc is not None:
            doc.pop("kind")
            doc.pop("apiVersion")
            items.append(doc)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": items}


def _sub_group_version(r: Resource, s: Subresource, version: str) -> tuple[str, str]:
    """A subresource answers in its parent's group version unless the table names another
    (replicationcontrollers/scale is autoscaling/v1 Scale)."""
    if (s.group, s.version) == (r.group, r.version):
        return r.group, version
    return s.group, s.version


def _gvk(group: str, version: str, kind: str) -> dict[str, str]:
    return {"group": group, "version": version, "kind": kind}


def aggregated_resource(r: Resource, version: str, *, legacy: bool) -> dict[str, Any]:
    d: dict[str, Any] = {
        "resource": r.name,
        # A resource without responseKind is silently dropped by client-go.
        "responseKind": _gvk(r.group, version, r.kind),
        "scope": "Namespaced" if r.namespaced else "Cluster",
        "singularResource": r.singular_name,
        "verbs": list(r.verbs),
    }
    if not legacy:
        if r.short_names:
            d["shortNames"] = list(r.short_names)
        if r.categories:
            d["categories"] = list(r.categories)
        subs = [
            {"subresource": s.name,
             "responseKind": _gvk(*_sub_group_version(r, s, version), s.kind),
             "verbs": list(s.verbs)}
            for s in _subresources_of(r.name)
        ]
        if subs:
            d["subresources"] = subs
    return d


def _aggregated_group(group: str, versions: list[str]) -> dict[str, Any]:
    vs = []
    for v in versions:
        legacy = group == "" and _is_legacy_version(v)
        vs.append({
            "version": v,
            "resources": [aggregated_resource(r, v, legacy=legacy)
                          for r in resources_for(group, v)],
            "freshness": "Current",
        })
    md: dict[str, Any] = {"creationTimestamp": None}
    if group:
        md["name"] = group
    return {"metadata": md, "versions": vs}


def aggregated_list(*, core: bool, version: str = "v2") -> dict[str, Any]:
    """APIGroupDiscoveryList for /api (core=True) or /apis."""
    if core:
        items = [_aggregated_group("", list(CORE_VERSIONS))]
    else:
        items = [_aggregated_group(g, _group_versions(g)) for g in groups()]
    return {"kind": AGGREGATED_KIND, "apiVersion": f"{DISCOVERY_GROUP}/{version}",
            "metadata": {}, "items": items}


# ---------------------------------------------------------------------------------------------
# HTTP


def _json(doc: dict[str, Any], *, content_type: str = JSON, status: int = 200) -> web.Response:
    # Content-Type is set verbatim: aiohttp's content_type= would drop the profile parameters
    # that client-go reads to tell aggregated from legacy discovery.
    return web.Response(body=json.dumps(doc).encode(), status=status,
                        headers={"Content-Type": content_type})


def _not_found() -> web.Response:
    err = errors.NotFound("the server could not find the requested resource")
    return _json(err.to_status(), status=404)


async def _handle_api(request: web.Request) -> web.Response:
    agg = negotiate_discovery(request.headers.get("Accept", ""))
    if agg:
        return _json(aggregated_list(core=True, version=agg),
                     content_type=aggregated_content_type(agg))
    return _json(api_versions(request.host))


async def _handle_apis(request: web.Request) -> web.Response:
    agg = negotiate_discovery(request.headers.get("Accept", ""))
    if agg:
        return _json(aggregated_list(core=False, version=agg),
                     content_type=aggregated_content_type(agg))
    return _json(api_group_list())


async def _handle_core_version(request: web.Request) -> web.Response:
    doc = resource_list("", request.match_info["version"])
    return _not_found() if doc is None else _json(doc)


async def _handle_group(request: web.Request) -> web.Response:
    group = request.match_info["group"]
    if group in CORE_VERSIONS and group != "v1":
        # /apis/v1beta3: where client-go looks for a core version other than v1.
        doc = resource_list("", group)
    else:
        doc = api_group(group)
    return _not_found() if doc is None else _json(doc)


async def _handle_group_version(request: web.Request) -> web.Response:
    doc = resource_list(request.match_info["group"], request.match_info["version"])
    return _not_found() if doc is None else _json(doc)


async def _handle_version(request: web.Request) -> web.Response:
    return _json(dict(VERSION_INFO))


def register(app: web.Application) -> None:
    """Add the discovery routes. Call before routes with broader patterns under /api(s)."""
    r = app.router
    for path, handler in (
        ("/api", _handle_api),
        ("/apis", _handle_apis),
        ("/version", _handle_version),
        ("/api/{version}", _handle_core_version),
        ("/apis/{group}", _handle_group),
        ("/apis/{group}/{version}", _handle_group_version),
    ):
        r.add_get(path, handler)
        r.add_get(path + "/", handler)
    # Served, not advertised: kubectl 1.32+ describe svc reads endpoints from EndpointSlices.
    from . import endpointslices

    endpointslices.register(app)
