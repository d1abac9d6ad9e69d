"""The HTTPS port's gate: authentication and authorization per request, /cacerts and the join
endpoint.

server.py serves one aiohttp application on two sites: the insecure HTTP port (loopback by
default; no authentication, everyone is admin, as old kube-apiserver's --insecure-port was)
and the HTTPS port. app.py's server middleware calls ``guard`` only for requests whose
connection is TLS (``request.secure``), so the loopback path the in-process components and
bench/apiserver.py use pays one attribute check and nothing more.

``guard`` follows k8s.io/apiserver's filter chain, shortened: a missing Authorization header is
anonymous (allowed only to GET the health endpoints, /version and /cacerts), a token that
authenticates nobody is 401 on every path, then authz.authorize decides (403 in Kubernetes'
words); a node's read of a secret or configmap is finished against the pods bound to it
(``_pods_on_node``, the Node authorizer's graph). The ``Caller`` it leaves on the request
rides into the write pipeline (handlers.write_options -> WriteOptions.caller ->
Attributes.caller), where authz.NodeRestriction checks a node's writes against the stored
objects.

``POST /minikube8s/join`` trades the cluster's join token for a node token (authn.py); it
is the only place the join token is accepted. The body's ``password`` (the node's own secret)
must match the one its name first joined with while that Node exists (nodepasswords.py).
With the node's IPs in the body
(``{"nodeName": N, "addresses": [IP...]}``; older bodies without them stay valid) it also
hands out the node's kubelet serving certificate, signed by the cluster CA, for those IPs and
N (``kubeletCert``, ``kubeletKey``). ``POST /minikube8s/kubelet-cert`` (``{"addresses":
[...]}``) issues the same for a node that already holds its node token (one that joined
before kubelets served TLS, or whose IP changed), for that node's own name only.
Neighbours: minikube8s/auth (the decisions), app.py (routes, middleware), server.py (installs
``Security`` at start).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ...api import errors, names
from ...api.resources import by_kind, require
from ...auth import authn, authz, nodepasswords, pki
from ...store import base as store
from . import params
from .keys import CALLER, REGISTRY

JOIN_PATH = "/minikube8s/join"
KUBELET_CERT_PATH = "/minikube8s/kubelet-cert"
MAX_ADDRESSES = 16
CACERTS_PATH = "/cacerts"

_ANONYMOUS_EXACT = frozenset({"/version", "/version/", CACERTS_PATH})
_ANONYMOUS_HEALTH = ("/healthz", "/livez", "/readyz")
_PODS = require("pods")


@dataclass(frozen=True, slots=True)
class Security:
    """What the HTTPS port needs: who is who, and the CA PEM that /cacerts serves."""

    authenticator: authn.Authenticator
    ca_pem: bytes
    ca: pki.CertificateAuthority | None = None
    """Signs kubelet serving certificates; None: the join hands out none."""


SECURITY: web.AppKey[Security] = web.AppKey("minikube8s.security", Security)


def unauthorized() -> errors.Unauthorized:
    # Fixed text: the token presented is never repeated back.
    return errors.Unauthorized("Unauthorized")


def anonymous_allowed(method: str, path: str) -> bool:
    if method not in ("GET", "HEAD"):
        return False
    if path in _ANONYMOUS_EXACT:
        return True
    return any(path == h or path.startswith(h + "/") for h in _ANONYMOUS_HEALTH)


def _watching(request: web.Request) -> bool:
    value = request.query.get("watch")
    return value is not None and value.strip().lower() in ("true", "1", "yes", "t", "y")


async def guard(request: web.Request) -> None:
    """Authenticate and authorize one HTTPS request; raises Unauthorized or Forbidden."""
    path = request.path
    if path in (JOIN_PATH, KUBELET_CERT_PATH):
        return  # the handlers check their own credential
    header = request.headers.get("Authorization")
    if header is None:
        if anonymous_allowed(request.method, path):
            return
        raise unauthorized()
    sec = request.app.get(SECURITY)
    token = authn.bearer(header)
    user = sec.authenticator.authenticate(token) if sec is not None and token else None
    if user is None:
        raise unauthorized()
    if user.is_admin:
        return
    info = authz.request_info(request.method, path, _watching(request),
                              request.query.get("fieldSelector", ""))
    decision = authz.authorize(user, info)
    if decision.needs_pods:
        decision = authz.authorize_graph(user.node_name, info,
                                         await _pods_on_node(request, info, user.node_name))
    if not decision.allowed:
        raise authz.forbidden_error(user, info, decision.reason)
    request[CALLER] = authz.Caller(user, info)


async def _pods_on_node(request: web.Request, info: authz.RequestInfo,
                        node: str) -> list[dict[str, Any]]:
    """The pods bound to ``node`` in the request's namespace, for the Node authorizer's graph:
    a consistent read from the watch cache (a pod bound a moment ago counts), with the field
    values each cached entry keeps, so a kubelet's secret GET costs a scan of one namespace's
    keys and no decoding of pods already seen."""
    page = await request.app[REGISTRY].list_cached(
        _PODS, info.namespace, field_selector=f"spec.nodeName={node}")
    return [entry.shared() for entry in page.items]


# -- endpoints ----------------------------------------------------------------------------------


async def cacerts(request: web.Request) -> web.Response:
    """The CA certificate (PEM), for a joining node to check against its token's hash."""
    sec = request.app.get(SECURITY)
    if sec is None:
        raise errors.NotFound("the server could not find the requested resource")
    return web.Response(body=sec.ca_pem, content_type="text/plain")


def _security(request: web.Request) -> Security:
    sec = request.app.get(SECURITY)
    if sec is None:
        raise errors.NotFound("the server could not find the requested resource")
    if request.method != "POST":
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource")
    return sec


async def _json_object(request: web.Request, what: str) -> dict[str, Any]:
    raw = await params.read_body(request)
    try:
        body = json.loads(raw)
    except ValueError as e:
        raise errors.BadRequest(f"the {what} request is not JSON: "
                                f"{e.args[0] if e.args else e}") from None
    if not isinstance(body, dict):
        raise errors.BadRequest(f"the {what} request must be a JSON object")
    return body


def _addresses(kind: str, name: str, body: dict[str, Any]) -> list[str] | None:
    """The node's IPs from ``body["addresses"]`` (None when absent); 422 for anything that is
    not a list of at most MAX_ADDRESSES IP addresses."""
    value = body.get("addresses")
    if value is None:
        return None
    if not isinstance(value, list):
        raise errors.Invalid.of(kind, name, [errors.invalid(
            "addresses", value, "must be a list of IP addresses")])
    if len(value) > MAX_ADDRESSES:
        raise errors.Invalid.of(kind, name, [errors.invalid(
            "addresses", len(value), f"must have at most {MAX_ADDRESSES} items")])
    out: list[str] = []
    for i, a in enumerate(value):
        try:
            out.append(str(ipaddress.ip_address(a if isinstance(a, str) else "")))
        except ValueError:
            raise errors.Invalid.of(kind, name, [errors.invalid(
                f"addresses[{i}]", a, "must be a valid IP address")]) from None
    return out


def _kubelet_cert(sec: Security, name: str, addresses: list[str]) -> dict[str, str]:
    if sec.ca is None:
        return {}
    cert, key = pki.issue_kubelet_cert(sec.ca, name, addresses)
    return {"kubeletCert": cert.decode(), "kubeletKey": key.decode()}


async def join(request: web.Request) -> web.Response:
    """POST {"nodeName": N[, "addresses": [IP...]]} with ``Authorization: Bearer <join
    token>`` -> a node token (and, with addresses, the kubelet serving certificate)."""
    sec = _security(request)
    token = authn.bearer(request.headers.get("Authorization", ""))
    if token is None or not sec.authenticator.is_join_token(token):
        raise unauthorized()
    body = await _json_object(request, "join")
    name = body.get("nodeName")
    if not isinstance(name, str) or not name:
        raise errors.Invalid.of("JoinRequest", "", [errors.required("nodeName")])
    problems = names.is_dns1123_subdomain(name)
    if problems:
        raise errors.Invalid.of("JoinRequest", name, [
            errors.invalid("nodeName", name, p) for p in problems])
    addresses = _addresses("JoinRequest", name, body)
    await _check_node_password(request, name, body.get("password"))
    answer = {"nodeName": name, "token": sec.authenticator.node_token(name)}
    if addresses is not None:
        answer |= _kubelet_cert(sec, name, addresses)
    return web.json_response(answer)


async def _check_node_password(request: web.Request, name: str, password: Any) -> None:
    """422 without a usable ``password``; 403 when a registered Node ``name`` joined with
    another one (auth/nodepasswords.py)."""
    lo, hi = nodepasswords.MIN_LENGTH, nodepasswords.MAX_LENGTH
    if not isinstance(password, str) or not password:
        raise errors.Invalid.of("JoinRequest", name, [errors.required(
            "password", "the node's own secret (DATA_DIR/node.password)")])
    if not lo <= len(password) <= hi:
        # Not errors.invalid: the value is a secret and never goes into a message.
        raise errors.Invalid.of("JoinRequest", name, [errors.Cause(
            "FieldValueInvalid", f"Invalid value: must be {lo} to {hi} characters",
            "password")])
    registry = request.app[REGISTRY]
    nodes = by_kind("Node")
    assert nodes is not None

    async def node_exists() -> bool:
        try:
            await registry.get_kv(nodes, "", name)
        except errors.NotFound:
            return False
        return True

    try:
        await nodepasswords.verify(registry.store, name, password, node_exists=node_exists)
    except store.Unavailable as e:
        raise errors.ServiceUnavailable(f"cannot check the node password: {e}") from e
    except nodepasswords.PasswordRejected:
        raise errors.Forbidden(
            f'node "{name}" is registered and joined with another node password: another '
            f"machine has this name, or this node lost DATA_DIR/node.password; pick another "
            f"--node-name, or delete the Node (kubectl delete node {name}) to reuse the "
            f"name") from None


async def kubelet_cert(request: web.Request) -> web.Response:
    """POST {"addresses": [IP...]} with ``Authorization: Bearer <node token>`` -> that
    node's kubelet serving certificate (its own name only: the name comes from the token)."""
    sec = _security(request)
    token = authn.bearer(request.headers.get("Authorization", ""))
    user = sec.authenticator.authenticate(token) if token else None
    if user is None:
        raise unauthorized()
    name = user.node_name
    if not name:
        raise errors.Forbidden(f'forbidden: User "{user.name}" cannot post path '
                               f'"{KUBELET_CERT_PATH}": only nodes get kubelet certificates')
    body = await _json_object(request, "kubelet certificate")
    addresses = _addresses("KubeletCertificateRequest", name, body) or []
    if sec.ca is None:
        raise errors.NotFound("the server could not find the requested resource")
    return web.json_response({"nodeName": name, **_kubelet_cert(sec, name, addresses)})


def register(app: web.Application) -> None:
    """Routes (before app.py's catch-all); they answer 404 until server.py installs
    ``Security``."""
    app.router.add_get(CACERTS_PATH, cacerts)
    app.router.add_route("*", JOIN_PATH, join)
    app.router.add_route("*", KUBELET_CERT_PATH, kubelet_cert)
