"""Request parsing for the REST layer: URL paths, query parameters, bodies, content types.

Everything here turns raw HTTP into typed values or raises an ``errors.APIError`` (400, 413,
415), so handlers.py, watch.py and subresources.py never look at strings twice. Kubernetes'
quirks live here: booleans are case-insensitive (the Python client sends ``watch=True``), POST
and PUT without a Content-Type are JSON (the Python client 37.x sends none), bodies are capped
at 3 MiB like kube-apiserver's ``limitedReadBody``, and ``/api/v1/watch/...`` is the legacy
spelling of ``?watch=true``.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from ...api import decoding, errors
from ...api.resources import ALL, Resource

MAX_BODY = 3 * 1024 * 1024
"""kube-apiserver's default limit for a request body (3 MiB)."""

CORE_VERSIONS = ("v1", "v1beta3")
"""Served core versions: v1 is stored; v1beta3 (the seed's dialect) is converted both ways."""

# Subresources of a namespace, which make /api/v1/namespaces/NAME/X ambiguous with a list of
# resource X in namespace NAME; Kubernetes resolves it the same way.
_NAMESPACE_SUBRESOURCES = ("status", "finalize")

_TRUE = ("true", "1", "yes", "t", "y")
_FALSE = ("false", "0", "no", "f", "n", "")


@dataclass(frozen=True, slots=True)
class Target:
    """What an API URL names: a resource (collection), maybe an object, maybe a subresource."""

    resource: Resource
    version: str
    """The served version from the URL (``v1beta3`` decides the response dialect)."""
    namespace: str
    name: str = ""
    subresource: str = ""
    watch: bool = False
    """The URL used the legacy ``/watch/`` prefix."""

    @property
    def api_version(self) -> str:
        g = self.resource.group
        return f"{g}/{self.version}" if g else self.version


class NotAnAPIPath(Exception):
    """The path is not under /api or /apis with a resource: other routes may own it."""


def _find_resource(group: str, name: str, version: str) -> Resource | None:
    for r in ALL:
        if r.group == group and (r.name == name or (version != "v1" and name in r.aliases)):
            return r
    return None


@functools.lru_cache(maxsize=4096)
def parse_path(path: str) -> Target:
    """Map ``/api/v1/namespaces/NS/pods/NAME/status`` (trailing slash allowed) to a Target.

    Raises NotAnAPIPath for paths that are not resource URLs (discovery, /version, ...) and
    errors.NotFound for resource-shaped paths naming something we do not serve. Memoised
    (a Target is immutable; exceptions are not remembered): the same paths come again and
    again (informers, controllers, kubectl).
    """
    parts = [p for p in path.strip("/").split("/")]
    if not parts or parts[0] not in ("api", "apis"):
        raise NotAnAPIPath(path)
    if parts[0] == "api":
        if len(parts) < 3:
            raise NotAnAPIPath(path)
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 4:
            raise NotAnAPIPath(path)
        group, version, rest = parts[1], parts[2], parts[3:]
    not_found = errors.NotFound("the server could not find the requested resource")
    if any(p == "" for p in rest):
        raise not_found
    watch = False
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
        if not rest:
            raise not_found
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3 and not (
        len(rest) == 3 and rest[2] in _NAMESPACE_SUBRESOURCES
    ):
        namespace, rest = rest[1], rest[2:]
    if len(rest) > 3:
        raise not_found
    res = _find_resource(group, rest[0], version)
    if res is None:
        raise not_found
    allowed_versions = CORE_VERSIONS if not group else (res.version,)
    if version not in allowed_versions:
        raise not_found
    if namespace and not res.namespaced:
        raise not_found
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub and sub not in res.subresources:
        raise not_found
    if watch and sub:
        raise not_found
    return Target(res, version, namespace, name, sub, watch)


# -- query parameters -----------------------------------------------------------------------


def parse_bool(value: str | None, *, param: str, default: bool = False) -> bool:
    if value is None:
        return default
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise errors.BadRequest(f'invalid value for {param}: "{value}": expected a boolean')


def parse_int(value: str | None, *, param: str, default: int | None = None,
              minimum: int | None = None) -> int | None:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise errors.BadRequest(f'invalid value for {param}: "{value}": expected an integer') \
            from None
    if minimum is not None and n < minimum:
        raise errors.BadRequest(f"invalid value for {param}: {n}: must be >= {minimum}")
    return n


def query_bool(request: web.Request, name: str, *, default: bool = False) -> bool:
    return parse_bool(request.query.get(name), param=name, default=default)


def is_watch(request: web.Request, target: Target) -> bool:
    return target.watch or query_bool(request, "watch")


FIELD_VALIDATION = ("Strict", "Warn", "Ignore")


def field_validation(request: web.Request) -> str:
    """Kubernetes defaults to Warn when the parameter is absent (since 1.27)."""
    v = request.query.get("fieldValidation", "")
    if not v:
        return "Warn"
    for mode in FIELD_VALIDATION:
        if v.lower() == mode.lower():
            return mode
    raise errors.BadRequest(
        f'fieldValidation must be one of "Ignore", "Warn", or "Strict", got "{v}"')


def dry_run(request: web.Request) -> bool:
    values = request.query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.BadRequest(f'unsupported dry run value "{v}": only "All" is supported')
    return bool(values)


# -- continue tokens --------------------------------------------------------------------------

CONTINUE_EXPIRED = (
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this "
    "response to retrieve the remainder of the results. Continuing with the provided token "
    "results in an inconsistent list - objects that were created, modified, or deleted between "
    "the time the first chunk was returned and now may show up in the list."
)


def encode_continue(revision: int, last_key: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": last_key},
                     separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        rv, start = int(data["rv"]), str(data["start"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise errors.BadRequest("continue key is not valid: invalid continue token") from None
    if rv <= 0:
        raise errors.BadRequest("continue key is not valid: incorrect encoded start "
                                "resourceVersion (version meta.k8s.io/v1)")
    return rv, start


# -- bodies -------------------------------------------------------------------------------------


def media_type(request: web.Request) -> str:
    """The Content-Type without parameters; empty when the client sent none."""
    raw = request.headers.get("Content-Type", "")
    return raw.split(";", 1)[0].strip().lower()


async def read_body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY}")
    try:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY}")
        # a chunked body may still have more: read() with n stops at n bytes.
        while not request.content.at_eof():
            more = await request.content.read(MAX_BODY + 1 - len(body))
            if not more:
                break
            body += more
            if len(body) > MAX_BODY:
                raise errors.RequestEntityTooLarge(
                    f"Request entity too large: limit is {MAX_BODY}")
    except web.HTTPRequestEntityTooLarge as e:
        raise errors.RequestEntityTooLarge(f"Request entity too large: limit is {MAX_BODY}") \
            from e
    return body


_JSON_TYPES = ("", "application/json", "*/*", "text/plain")
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml",
               "application/apply-patch+yaml")


def decode(body: bytes, ctype: str) -> Any:
    """JSON (also when no Content-Type was sent) or YAML; 400 for bodies that do not parse."""
    if not body.strip():
        raise errors.BadRequest("the body of the request was in an unknown format - "
                                "accepted media types include: application/json, "
                                "application/yaml")
    # api/decoding.py bounds what a hostile body costs (aliases, depth, node count, numbers
    # JSON cannot hold) and raises DecodeError for it.
    if ctype in _YAML_TYPES:
        try:
            return decoding.loads_yaml(body)
        except yaml.YAMLError as e:
            raise errors.BadRequest(f"error converting YAML to JSON: {e}") from e
        except decoding.DecodeError as e:
            raise errors.BadRequest(str(e)) from e
    if ctype in _JSON_TYPES or ctype.endswith("+json"):
        try:
            return decoding.loads_json(body)
        except decoding.DecodeError as e:
            raise errors.BadRequest(
                f"couldn't get version/kind; json parse error: {e}") from e
    if ctype == "application/vnd.kubernetes.protobuf":
        # kubectl 1.32+ sends its generator verbs' objects (create namespace/service/quota)
        # as protobuf only; protobuf.py decodes those kinds (added by the compat helper).
        from . import protobuf
        return protobuf.decode(body)
    raise errors.UnsupportedMediaType(
        f'the body of the request was in an unknown format - accepted media types include: '
        f'application/json, application/yaml (got "{ctype}")')


async def read_object(request: web.Request) -> dict[str, Any]:
    data = decode(await read_body(request), media_type(request))
    if not isinstance(data, dict):
        raise errors.BadRequest("the body of the request must be a JSON object")
    return data


# -- content negotiation ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Accept:
    table: bool = False
    include_object: str = "Metadata"


def accept(request: web.Request) -> Accept:
    """``as=Table`` in any offered media type selects a meta.k8s.io Table (kubectl get)."""
    raw = request.headers.get("Accept", "")
    for offer in raw.split(","):
        params = [p.strip() for p in offer.split(";")[1:]]
        if "as=Table" in params:
            inc = request.query.get("includeObject", "Metadata") or "Metadata"
            if inc not in ("None", "Metadata", "Object"):
                raise errors.BadRequest(
                    f'includeObject must be one of None, Metadata, Object, got "{inc}"')
            return Accept(table=True, include_object=inc)
    return Accept()
