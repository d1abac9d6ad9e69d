"""pods/log, exec, attach and portforward: the API server's side, proxied to the node's kubelet.

subresources.py routes ``GET .../pods/NAME/log`` and ``GET|POST .../pods/NAME/exec|attach|
portforward`` here. They check what the API server can check itself, in Kubernetes' words
(the pod exists and has a node: 400 ``pod X does not have a host assigned``; which container:
the only one by default, else 400 ``a container name must be specified for pod X, choose one
of: [a b]``), then find the kubelet: the node's InternalIP (ExternalIP if none) and
``status.daemonEndpoints.kubeletEndpoint.Port``, served by roles/kubelet/server.py.

- log: the kubelet's ``/containerLogs/NS/POD/CONTAINER`` streamed through as text/plain,
  chunked, each chunk written as it comes (``follow=true`` stays open until the container
  ends or the client leaves; the API server cancels the handler then, which closes the
  upstream request);
- exec: a WebSocket client to the kubelet's ``/exec/NS/POD/CONTAINER`` first, offering the
  client's own subprotocols (``v5.channel.k8s.io``, ``v4.channel.k8s.io``); then a WebSocket
  server to the client with the one the kubelet chose, and frames relayed both ways unchanged
  until either side closes. A refused upstream handshake is asked again as a plain GET to read
  the kubelet's Status (aiohttp drops the body of a failed handshake), and that Status is the
  answer. kubectl 1.27-1.29's SPDY/3.1 upgrade (``v4.channel.k8s.io``) gets the same kubelet
  WebSocket (v5), and spdyexec.py relays its SPDY streams to it. Any other request that is
  not a WebSocket upgrade gets 400 saying so, after the checks above;
- attach: exec's way exactly (``_remote_command``), to the kubelet's
  ``/attach/NS/POD/CONTAINER`` with the stream flags and no command;
- portforward: kubectl's SPDY session (a SPDY/3.1 upgrade, or SPDY tunnelled in a WebSocket)
  is ended here by portforward.py; each forwarded connection is a WebSocket to the kubelet's
  ``/portForward/NS/POD?port=N``. Before the upgrade, the kubelet is asked the same without
  one, so an unknown pod or a runtime that cannot forward is a plain error to kubectl.

Errors from the kubelet keep their code and message; an unreachable kubelet is 503 naming the
node. The kubelet is reached over HTTPS, verified with the cluster CA for the address dialled,
with this API server's client certificate (``KUBELET_TLS``, installed by server.py), unless
its Node says it serves plain HTTP (annotation ``minikube8s.io/kubelet-scheme: http``, or none:
a kubelet older than TLS). The scheme comes only from that annotation: an https kubelet is
never tried over http. An API server without a secure port has no client certificate and
answers 503 for an https kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from ...api import errors
from ...api.resources import by_kind
from . import portforward, spdyexec
from .keys import REGISTRY
from .params import Target

log = logging.getLogger(__name__)

Object = dict[str, Any]
_nodes = by_kind("Node")
assert _nodes is not None
NODES = _nodes
V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)


def websocket_needed(kind: str) -> str:
    return (f"{kind} needs the WebSocket protocol (kubectl 1.30+, or "
            "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true on 1.29)")

CONNECT_TIMEOUT = 5.0
LOG_PARAMS = ("follow", "tailLines", "previous", "timestamps", "sinceSeconds", "limitBytes")
EXEC_FLAGS = ("stdin", "stdout", "stderr", "tty")
SCHEME_ANNOTATION = "minikube8s.io/kubelet-scheme"
"""Set by the kubelet at registration (roles/kubelet/registration.py): https or http."""

KUBELET_TLS: web.AppKey[ssl.SSLContext] = web.AppKey("minikube8s.kubelet_tls", ssl.SSLContext)

_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            405: "MethodNotAllowed", 409: "Conflict", 500: "InternalError",
            501: "NotImplemented", 503: "ServiceUnavailable", 504: "Timeout"}


def _error(code: int, message: str, reason: str = "") -> errors.APIError:
    """An APIError with any code (the kubelet's 501 has no class of its own)."""
    e = errors.APIError(message)
    e.code = code
    e.reason = reason or _REASONS.get(code, "InternalError")
    return e


def _kubelet_error(node: str, code: int, body: bytes) -> errors.APIError:
    try:
        status = json.loads(body)
    except ValueError:
        status = None
    if isinstance(status, dict) and status.get("kind") == "Status":
        return _error(code, str(status.get("message") or ""), str(status.get("reason") or ""))
    text = body.decode(errors="replace").strip() or f"HTTP {code}"
    return _error(code, f"the kubelet of node {node} answered: {text}")


# -- what the API server checks itself --------------------------------------------------------


def container_of(pod: Object, wanted: str) -> str:
    """The container a request means (validateContainer in Kubernetes' pod registry)."""
    name = str((pod.get("metadata") or {}).get("name") or "")
    spec = pod.get("spec") or {}
    names = [str(c.get("name")) for c in spec.get("containers") or []]
    inits = [str(c.get("name")) for c in spec.get("initContainers") or []]
    if not wanted:
        if len(names) == 1:
            return names[0]
        if not names:
            raise errors.BadRequest(f"no containers found for pod {name}")
        message = (f"a container name must be specified for pod {name}, choose one of: "
                   f"[{' '.join(names)}]")
        if inits:
            message += f" or one of the init containers: [{' '.join(inits)}]"
        raise errors.BadRequest(message)
    if wanted not in names and wanted not in inits:
        raise errors.BadRequest(f"container {wanted} is not valid for pod {name}")
    return wanted


async def _kubelet_base(request: web.Request, pod: Object) -> tuple[str, str]:
    """(node name, ``https://IP:PORT`` or ``http://...``) of the kubelet running ``pod``."""
    name = str((pod.get("metadata") or {}).get("name") or "")
    node_name = str((pod.get("spec") or {}).get("nodeName") or "")
    if not node_name:
        raise errors.BadRequest(f"pod {name} does not have a host assigned")
    try:
        node = await request.app[REGISTRY].get(NODES, "", node_name)
    except errors.NotFound:
        raise errors.ServiceUnavailable(
            f"node {node_name} of pod {name} is not registered; no kubelet to ask") from None
    status = node.get("status") or {}
    by_type = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    ip = by_type.get("InternalIP") or by_type.get("ExternalIP")
    port = ((status.get("daemonEndpoints") or {}).get("kubeletEndpoint") or {}).get("Port")
    if not ip:
        raise errors.ServiceUnavailable(f"node {node_name} has no InternalIP to reach its "
                                        "kubelet at")
    if not isinstance(port, int) or port <= 0:
        raise errors.ServiceUnavailable(f"the kubelet of node {node_name} serves no logs or "
                                        "exec port (daemonEndpoints.kubeletEndpoint.Port)")
    annotations = (node.get("metadata") or {}).get("annotations") or {}
    scheme = str(annotations.get(SCHEME_ANNOTATION) or "http").lower()
    if scheme not in ("http", "https"):
        raise errors.ServiceUnavailable(f"node {node_name} announces an unknown kubelet scheme "
                                        f"{scheme!r} ({SCHEME_ANNOTATION})")
    if scheme == "https" and request.app.get(KUBELET_TLS) is None:
        raise errors.ServiceUnavailable(
            f"the kubelet of node {node_name} serves https, and this API server has no "
            f"kubelet client certificate (it runs without a secure port)")
    host = f"[{ip}]" if ":" in str(ip) else str(ip)
    return node_name, f"{scheme}://{host}:{port}"


def _unreachable(node: str, base: str, e: BaseException) -> errors.APIError:
    return errors.ServiceUnavailable(
        f"the kubelet of node {node} is unreachable at {base}: {e or type(e).__name__}")


async def _target_pod(request: web.Request, target: Target) -> Object:
    return await request.app[REGISTRY].get(target.resource, target.namespace, target.name)


def _path(kind: str, target: Target, container: str) -> str:
    return "/".join((f"/{kind}", quote(target.namespace, safe=""),
                     quote(target.name, safe=""), quote(container, safe="")))


def _session(request: web.Request, base: str) -> aiohttp.ClientSession:
    # One per request: logs and exec are rare and long, pooling buys nothing here.
    tls = request.app.get(KUBELET_TLS) if base.startswith("https://") else None
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=None),
        connector=aiohttp.TCPConnector(ssl=tls) if tls is not None else None)


# -- log --------------------------------------------------------------------------------------


async def logs(request: web.Request, target: Target) -> web.StreamResponse:
    pod = await _target_pod(request, target)
    container = container_of(pod, request.query.get("container", ""))
    for name in ("tailLines", "sinceSeconds", "limitBytes"):
        value = request.query.get(name)
        if value is not None and value != "":
            try:
                n = int(value)
            except ValueError:
                raise errors.BadRequest(f"{name}: invalid integer {value!r}") from None
            if n < 0:
                raise errors.Invalid.of("PodLogOptions", "", [errors.invalid(
                    name, n, "must be greater than or equal to 0")])
    node, base = await _kubelet_base(request, pod)
    query = {k: request.query[k] for k in LOG_PARAMS if request.query.get(k)}
    url = base + _path("containerLogs", target, container)
    async with _session(request, base) as http:
        try:
            upstream = await http.get(url, params=query)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _unreachable(node, base, e) from e
        async with upstream:
            if upstream.status != 200:
                raise _kubelet_error(node, upstream.status, await upstream.read())
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            except (TimeoutError, aiohttp.ClientError) as e:
                # Headers are gone already: all that is left is to end the stream.
                log.info("logs of %s/%s from node %s cut short: %s", target.namespace,
                         target.name, node, e)
            with contextlib.suppress(ConnectionResetError):
                await resp.write_eof()
            return resp


# -- exec and attach --------------------------------------------------------------------------


def _offered(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p for p in (s.strip() for s in header.split(",")) if p in PROTOCOLS]


async def exec_(request: web.Request, target: Target) -> web.StreamResponse:
    pod = await _target_pod(request, target)
    container = container_of(pod, request.query.get("container", ""))
    command = request.query.getall("command", [])
    if not command:
        raise errors.BadRequest("you must specify at least one command for the container")
    query: list[tuple[str, str]] = [("command", c) for c in command]
    return await _remote_command(request, target, pod, kind="exec", container=container,
                                 query=query)


async def attach(request: web.Request, target: Target) -> web.StreamResponse:
    """pods/attach: exec's streams to the container's running process (Kubernetes checks
    no more here than the container; the kubelet refuses what it cannot attach to)."""
    pod = await _target_pod(request, target)
    container = container_of(pod, request.query.get("container", ""))
    return await _remote_command(request, target, pod, kind="attach", container=container,
                                 query=[])


async def _remote_command(request: web.Request, target: Target, pod: Object, *, kind: str,
                          container: str, query: list[tuple[str, str]]) -> web.StreamResponse:
    """exec or attach: the kubelet's ``/{kind}/NS/POD/CONTAINER`` WebSocket, relayed to the
    client's WebSocket or ended in its SPDY session (spdyexec.py)."""
    node, base = await _kubelet_base(request, pod)
    query = query + [(k, request.query[k]) for k in EXEC_FLAGS if k in request.query]
    url = base + _path(kind, target, container)
    client_ws = web.WebSocketResponse(protocols=PROTOCOLS)
    check = client_ws.can_prepare(request)
    offered = _offered(request)
    spdy_exec = spdyexec.wants_spdy(request) and spdyexec.offers_v4(request)
    async with _session(request, base) as http:
        if spdy_exec:
            offered = [V5]
        elif not check.ok or not offered:
            # Not a WebSocket (or SPDY without v4): say so, unless the kubelet has a better
            # reason.
            await _plain_check(http, node, base, url, query)
            raise errors.BadRequest(websocket_needed(kind))
        try:
            upstream = await http.ws_connect(url, params=query, protocols=offered,
                                             autoping=True, max_msg_size=0)
        except aiohttp.WSServerHandshakeError as e:
            await _plain_check(http, node, base, url, query)
            raise _error(502 if e.status < 400 else e.status,
                         f"the kubelet of node {node} refused the {kind}: {e.status} "
                         f"{e.message}") from e
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise _unreachable(node, base, e) from e
        if spdy_exec:
            flags = {k: request.query.get(k, "").lower() in ("true", "1")
                     for k in EXEC_FLAGS}
            async with upstream:
                return await spdyexec.serve(
                    request, upstream, expected=spdyexec.expected_streams(**flags),
                    verb=kind, name=f"{target.namespace}/{target.name}")
        async with upstream:
            chosen = upstream.protocol or offered[0]
            client_ws = web.WebSocketResponse(protocols=(chosen,), max_msg_size=0)
            await client_ws.prepare(request)
            await _relay(client_ws, upstream)
        return client_ws


async def _plain_check(http: aiohttp.ClientSession, node: str, base: str, url: str,
                       query: list[tuple[str, str]]) -> None:
    """Ask the kubelet the same request without an upgrade: it answers with its reason to refuse
    (not running, unknown pod...) or, if it has none, that it needs a WebSocket."""
    try:
        async with http.get(url, params=query) as resp:
            body = await resp.read()
            status = resp.status
    except (TimeoutError, aiohttp.ClientError, OSError) as e:
        raise _unreachable(node, base, e) from e
    err = _kubelet_error(node, status, body)
    if status >= 400 and "WebSocket" not in err.message:
        raise err


async def _relay(client: web.WebSocketResponse,
                 upstream: aiohttp.ClientWebSocketResponse) -> None:
    async def to_kubelet() -> None:
        async for msg in client:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await upstream.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await upstream.send_str(msg.data)

    async def to_client() -> None:
        async for msg in upstream:
            if msg.type == aiohttp.WSMsgType.BINARY:
                await client.send_bytes(msg.data)
            elif msg.type == aiohttp.WSMsgType.TEXT:
                await client.send_str(msg.data)

    up = asyncio.create_task(to_kubelet(), name="apiserver stream relay to kubelet")
    down = asyncio.create_task(to_client(), name="apiserver stream relay to client")
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if down in done:
            # The kubelet ended the session (after its status frame): end the client's. Stop
            # reading the client first: with a reader waiting, aiohttp's close() drops the
            # connection right after the close frame instead of awaiting the client's reply,
            # which kubectl reports as "bad close code 1006". 1006 itself (the kubelet's
            # connection ended without a close handshake) must never go on the wire.
            up.cancel()
            await asyncio.gather(up, return_exceptions=True)
            code = upstream.close_code or aiohttp.WSCloseCode.OK
            if code == aiohttp.WSCloseCode.ABNORMAL_CLOSURE:
                code = aiohttp.WSCloseCode.INTERNAL_ERROR
            await client.close(code=code)
        else:
            await upstream.close()
    finally:
        for t in (up, down):
            t.cancel()
        await asyncio.gather(up, down, return_exceptions=True)


# -- portforward ------------------------------------------------------------------------------


async def port_forward(request: web.Request, target: Target) -> web.StreamResponse:
    pod = await _target_pod(request, target)
    node, base = await _kubelet_base(request, pod)
    url = "/".join((f"{base}/portForward", quote(target.namespace, safe=""),
                    quote(target.name, safe="")))
    if not (portforward.wants_spdy(request) or portforward.wants_tunnel(request)):
        raise errors.BadRequest(portforward.UPGRADE_NEEDED)
    async with _session(request, base) as http:
        await _plain_check(http, node, base, url, [("port", "1")])

        async def dial(port: int) -> aiohttp.ClientWebSocketResponse:
            try:
                return await http.ws_connect(url, params={"port": str(port)},
                                             autoping=True, max_msg_size=0)
            except aiohttp.WSServerHandshakeError as e:
                raise portforward.ForwardError(
                    f"the kubelet of node {node} refused to forward port {port}: "
                    f"{e.status} {e.message}") from e
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise portforward.ForwardError(_unreachable(node, base, e).message) from e

        return await portforward.serve(request, dial=dial,
                                       name=f"{target.namespace}/{target.name}")
