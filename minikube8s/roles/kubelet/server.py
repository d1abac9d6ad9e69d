"""The kubelet's HTTP server (port 10250 by default): logs, exec, attach and port-forward.

The API server's pods/log, exec, attach and portforward (roles/apiserver/proxy.py) find the
pod's node, read its InternalIP and ``status.daemonEndpoints.kubeletEndpoint.Port`` and come
here:

- ``GET /containerLogs/{namespace}/{pod}/{container}?follow&tailLines&previous&timestamps
  &sinceSeconds&limitBytes``: text/plain, chunked, kept open while ``follow`` lasts;
- ``GET|POST /exec/{namespace}/{pod}/{container}?command=..&command=..&stdin&stdout&stderr
  &tty``: a WebSocket speaking ``v5.channel.k8s.io`` or ``v4.channel.k8s.io`` (the
  remotecommand protocols of client-go): every binary frame starts with its channel, 0 stdin,
  1 stdout, 2 stderr, 3 the final metav1 Status (``Success``, or ``Failure`` with reason
  ``NonZeroExitCode`` and the cause ``ExitCode``: the code), 4 terminal resize
  (``{"Width":..,"Height":..}``). v5 adds the close signal: a frame ``\\xff`` + channel, sent
  by the client when it has no more stdin. The server closes the WebSocket (1000) after the
  status frame; client-go reads every stream to that close;
- ``GET|POST /attach/{namespace}/{pod}/{container}?stdin&stdout&stderr&tty``: the same
  WebSocket to the container's running main process (the runtime's ``Attaching``; hollow has
  none: 501), with the container spec's tty whatever the request says, as Kubernetes'
  GetAttach. It lasts until the process ends or the runtime detaches (its stdin ended on a
  container without ``stdinOnce``), then a Success Status; a client leaving detaches only;
- ``GET /portForward/{namespace}/{pod}?port=N``: a WebSocket per forwarded connection (the
  API server's pods/portforward, roles/apiserver/portforward.py, opens one for each of
  kubectl's). The kubelet dials the port (the runtime's ``PortForwarding``); binary frames
  are the bytes both ways, the text frame ``EOF`` from the API server half-closes the
  connection to the pod, and the kubelet closes the WebSocket when the pod's side has ended.
  A failed dial is one text frame, the error kubectl shows, then the close;
- ``GET /healthz``.

Errors before a stream starts are Status bodies with the code the API server passes on (400 no
such instance or not running, 404 unknown pod, 500 nothing running to attach to, 501 a
runtime without that side). The streams themselves come from the runtime's
StreamingRuntime (streams.py). ``KubeletServer.run`` is the supervised task.

With a ``KubeletTLS`` (a joined node, or a control-plane node with a secure port) the server
speaks HTTPS with its CA-signed serving certificate and serves one client only: the API
server, proven by its client certificate (CN ``kube-apiserver-kubelet-client``, signed by the
cluster CA; auth/pki.py). Every path, /healthz too, answers anyone else 401, as Kubernetes'
kubelet does with anonymous access off: no certificate, bearer tokens of any kind (even the
admin's), a node's own certificate. Without one (``--server http://...``, an old control
plane, ``--secure-port -1``) it is plain HTTP without authentication, and the Node says so
(registration.py's scheme annotation).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from ...auth import pki
from .streams import (
    Attaching,
    ExecProcess,
    PortForwarding,
    StreamError,
    StreamingRuntime,
    container_spec,
)

log = logging.getLogger(__name__)

Object = dict[str, Any]
PodLookup = Callable[[str, str], Object | None]
"""``(namespace, name) -> pod`` from the kubelet's pod informer (None if not bound here)."""

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
PROTOCOLS = (V5, V4)
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
SUCCESS: Object = {"metadata": {}, "status": "Success"}


def websocket_needed(verb: str) -> str:
    return (f"{verb} needs the WebSocket protocol (kubectl 1.30+, or "
            "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true on 1.29)")


@dataclass(frozen=True, slots=True)
class KubeletTLS:
    """The kubelet's serving certificate and key, and the CA its one client is signed by."""

    cert: Path
    key: Path
    ca_file: Path


def status_body(code: int, message: str, *, reason: str = "") -> Object:
    reason = reason or {400: "BadRequest", 401: "Unauthorized", 404: "NotFound",
                        501: "NotImplemented", 503: "ServiceUnavailable"}.get(code, "InternalError")
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def error_response(code: int, message: str) -> web.Response:
    return web.json_response(status_body(code, message), status=code)


def exit_status(code: int, command: list[str]) -> Object:
    """The channel-3 Status for an ended command (the kubelet's v4WriteStatusFunc)."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    return {"metadata": {}, "status": "Failure",
            "message": (f"command terminated with non-zero exit code: error executing "
                        f"command {command}, exit code {code}"),
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def query_bool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("true", "1", "yes")


def query_int(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise StreamError(f"{name}: invalid integer {text!r}") from None


class KubeletServer:
    def __init__(self, *, streams: StreamingRuntime | None, pods: PodLookup,
                 host: str = "0.0.0.0", port: int = 10250, node_name: str = "",
                 tls: KubeletTLS | None = None) -> None:
        self.streams = streams
        self.pods = pods
        self.host = host
        self.port = port
        self.node_name = node_name
        self.tls = tls
        self._runner: web.AppRunner | None = None
        self.app = web.Application(middlewares=[_only_apiserver] if tls is not None else [])
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", self._logs)
        self.app.router.add_route("GET", "/exec/{namespace}/{pod}/{container}", self._exec)
        self.app.router.add_route("POST", "/exec/{namespace}/{pod}/{container}", self._exec)
        for method in ("GET", "POST"):
            self.app.router.add_route(method, "/attach/{namespace}/{pod}/{container}",
                                      self._attach)
        self.app.router.add_get("/portForward/{namespace}/{pod}", self._port_forward)

    async def start(self) -> int:
        """Bind and serve; returns the port (the bound one when 0 was asked). OSError when
        the address is taken."""
        runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None,
                               shutdown_timeout=1.0)
        ssl_ctx = (pki.kubelet_server_ssl_context(self.tls.cert, self.tls.key, self.tls.ca_file)
                   if self.tls is not None else None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, ssl_context=ssl_ctx)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        server: Any = site._server
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        log.info("kubelet server for node %s on %s://%s:%d", self.node_name, self.scheme,
                 self.host, self.port)
        return self.port

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"

    async def run(self) -> None:
        """The supervised task: serves until cancelled, then stops the server."""
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # -- helpers ---------------------------------------------------------------------------------

    def _target(self, request: web.Request) -> tuple[StreamingRuntime, Object, str]:
        if self.streams is None:
            raise StreamError("this node's container runtime cannot stream logs or exec",
                              code=501)
        return self.streams, self._pod(request), request.match_info["container"]

    def _pod(self, request: web.Request) -> Object:
        ns, name = request.match_info["namespace"], request.match_info["pod"]
        pod = self.pods(ns, name)
        if pod is None:
            raise StreamError(f'pod "{name}" not found in namespace "{ns}" on node '
                              f"{self.node_name}", code=404)
        return pod

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    # -- logs ------------------------------------------------------------------------------------

    async def _logs(self, request: web.Request) -> web.StreamResponse:
        try:
            streams, pod, container = self._target(request)
            tail_lines = query_int(request, "tailLines")
            since = query_int(request, "sinceSeconds")
            limit = query_int(request, "limitBytes")
            chunks = await streams.logs(
                pod, container, follow=query_bool(request, "follow"), tail_lines=tail_lines,
                previous=query_bool(request, "previous"),
                timestamps=query_bool(request, "timestamps"), since_seconds=since)
        except StreamError as e:
            return error_response(e.code, e.message)
        resp = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            with contextlib.suppress(ConnectionResetError):
                async for chunk in _limited(chunks, limit):
                    await resp.write(chunk)
                await resp.write_eof()
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        return resp

    # -- exec and attach ------------------------------------------------------------------------

    @staticmethod
    def _flags(request: web.Request) -> dict[str, bool]:
        """The stream flags asked, as remotecommand's NewOptions reads them."""
        want = {n: query_bool(request, n) for n in ("stdin", "stdout", "stderr", "tty")}
        if want["tty"]:
            want["stderr"] = False  # a terminal has one output; Kubernetes drops stderr too
        if not (want["stdin"] or want["stdout"] or want["stderr"]):
            raise StreamError("you must specify at least 1 of stdin, stdout, stderr")
        return want

    @staticmethod
    def _check_upgrade(request: web.Request, ws: web.WebSocketResponse, verb: str) -> None:
        check = ws.can_prepare(request)
        if not check.ok:
            raise StreamError(websocket_needed(verb))
        if check.protocol is None:
            raise StreamError(f"{verb} needs one of the WebSocket subprotocols "
                              f"{', '.join(PROTOCOLS)}")

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(protocols=PROTOCOLS)
        try:
            streams, pod, container = self._target(request)
            command = request.query.getall("command", [])
            if not command:
                raise StreamError("you must specify at least one command for the container")
            want = self._flags(request)
            await streams.check_exec(pod, container)
            self._check_upgrade(request, ws, "exec")
            proc = await streams.exec(pod, container, command, stdin=want["stdin"],
                                      tty=want["tty"])
        except StreamError as e:
            return error_response(e.code, e.message)
        return await _serve(request, ws, proc, want,
                            final=lambda code: exit_status(code, command))

    async def _attach(self, request: web.Request) -> web.StreamResponse:
        """The container's main process (the runtime's ``Attaching``), its tty the spec's
        (Kubernetes' GetAttach); the final Status is Success whenever the attach ended
        without a runtime error: the process's exit code is the pod's status to tell."""
        ws = web.WebSocketResponse(protocols=PROTOCOLS)
        try:
            if not isinstance(self.streams, Attaching):
                raise StreamError("this node's container runtime cannot attach to containers",
                                  code=501)
            attacher, pod = self.streams, self._pod(request)
            container = request.match_info["container"]
            want = self._flags(request)
            await attacher.check_attach(pod, container)
            self._check_upgrade(request, ws, "attach")
            tty = bool(container_spec(pod, container).get("tty"))
            proc = await attacher.attach(pod, container, stdin=want["stdin"], tty=tty)
        except StreamError as e:
            return error_response(e.code, e.message)
        return await _serve(request, ws, proc, want, final=lambda _: SUCCESS)

    # -- port-forward ----------------------------------------------------------------------------

    async def _port_forward(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        try:
            if not isinstance(self.streams, PortForwarding):
                raise StreamError("this node's container runtime cannot forward ports",
                                  code=501)
            forwarder, pod = self.streams, self._pod(request)
            port = query_int(request, "port")
            if port is None or not 0 < port < 65536:
                raise StreamError(f"invalid port {request.query.get('port', '')!r}: "
                                  "must be between 1 and 65535")
            if not ws.can_prepare(request).ok:
                raise StreamError("port-forward needs a WebSocket")
        except StreamError as e:
            return error_response(e.code, e.message)
        await ws.prepare(request)
        try:
            reader, writer = await forwarder.port_forward(pod, port)
        except StreamError as e:
            await ws.send_str(e.message)
            await ws.close()
            return ws
        try:
            await _splice(ws, reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return ws


@web.middleware
async def _only_apiserver(request: web.Request,
                          handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
                          ) -> web.StreamResponse:
    """Serve the API server's client certificate only (verified against the cluster CA by
    the TLS layer; a certificate without clientAuth usage fails there already)."""
    transport = request.transport
    peer = transport.get_extra_info("peercert") if transport is not None else None
    if pki.peer_common_name(peer) != pki.KUBELET_CLIENT_CN:
        return web.json_response(status_body(401, "Unauthorized"), status=401)
    return await handler(request)


async def _limited(chunks: AsyncIterator[bytes], limit: int | None) -> AsyncIterator[bytes]:
    if limit is None or limit <= 0:
        async for chunk in chunks:
            yield chunk
        return
    left = limit
    async for chunk in chunks:
        yield chunk[:left]
        left -= len(chunk)
        if left <= 0:
            return


async def _serve(request: web.Request, ws: web.WebSocketResponse, proc: ExecProcess,
                 want: dict[str, bool], *, final: Callable[[int], Object]) -> web.WebSocketResponse:
    try:
        await ws.prepare(request)
        await _relay(ws, proc, final=final, stdin=want["stdin"], stdout=want["stdout"],
                     stderr=want["stderr"])
    finally:
        await proc.close()
    return ws


async def _relay(ws: web.WebSocketResponse, proc: ExecProcess, *,
                 final: Callable[[int], Object], stdin: bool, stdout: bool,
                 stderr: bool) -> None:
    """Output to the client until the process ends, client frames to it meanwhile; then
    ``final(exit code)`` (or the runtime's error) as the Status on channel 3 and a normal
    close."""
    v5 = ws.ws_protocol == V5
    lock = asyncio.Lock()

    async def send(channel: int, data: bytes) -> None:
        async with lock:
            await ws.send_bytes(bytes((channel,)) + data)

    async def pump(channel: int, chunks: AsyncIterator[bytes], forward: bool) -> None:
        async for chunk in chunks:
            if forward and not ws.closed:
                await send(channel, chunk)

    async def read_client() -> None:
        async for msg in ws:
            # Text frames too: the Python client sends str stdin as text (channel as chr(0)).
            if msg.type == aiohttp.WSMsgType.TEXT:
                raw = str(msg.data).encode()
            elif msg.type == aiohttp.WSMsgType.BINARY:
                raw = bytes(msg.data)
            else:
                continue
            if not raw:
                continue
            channel, data = raw[0], raw[1:]
            if channel == STDIN and stdin:
                await proc.write_stdin(data)
            elif channel == RESIZE:
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    size = json.loads(data)
                    await proc.resize(width=int(size.get("Width", 0)),
                                      height=int(size.get("Height", 0)))
            elif channel == CLOSE and v5 and data[:1] == bytes((STDIN,)):
                await proc.close_stdin()

    async def outputs() -> int:
        await asyncio.gather(pump(STDOUT, proc.stdout(), stdout),
                             pump(STDERR, proc.stderr(), stderr))
        return await proc.wait()

    out_task = asyncio.create_task(outputs(), name="kubelet exec output")
    in_task = asyncio.create_task(read_client(), name="kubelet exec input")
    try:
        await asyncio.wait({out_task, in_task}, return_when=asyncio.FIRST_COMPLETED)
        if not out_task.done():
            # The client went away: the command's stdin ends; nobody is left to tell.
            await proc.close_stdin()
            return
        try:
            status = final(out_task.result())
        except StreamError as e:
            status = status_body(e.code, e.message)
        if not ws.closed:
            await send(STATUS, json.dumps(status).encode())
            # Stop reading first: with a reader still waiting, aiohttp's close() drops the
            # connection right after its close frame instead of awaiting the client's reply,
            # and the client (the API server's relay) sees an abnormal end (1006), which
            # kubectl reports as an error after a successful command.
            in_task.cancel()
            await asyncio.gather(in_task, return_exceptions=True)
            await ws.close()
    finally:
        for t in (out_task, in_task):
            t.cancel()
        await asyncio.gather(out_task, in_task, return_exceptions=True)


EOF_MESSAGE = "EOF"
"""The text frame that half-closes a forwarded connection (the client has no more to send)."""


async def _splice(ws: web.WebSocketResponse, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    """Bytes between the WebSocket and the pod's port until the pod's side ends (then the
    WebSocket closes normally) or the WebSocket does."""

    async def to_pod() -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.BINARY:
                writer.write(msg.data)
                await writer.drain()
            elif msg.type == aiohttp.WSMsgType.TEXT and msg.data == EOF_MESSAGE:
                if writer.can_write_eof():
                    writer.write_eof()

    async def from_pod() -> None:
        while chunk := await reader.read(65536):
            await ws.send_bytes(chunk)

    up = asyncio.create_task(to_pod(), name="kubelet port-forward to pod")
    down = asyncio.create_task(from_pod(), name="kubelet port-forward from pod")
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if down in done and not ws.closed:
            # As in _relay: stop reading before close(), or the close handshake is cut.
            up.cancel()
            await asyncio.gather(up, return_exceptions=True)
            await ws.close()
    except (ConnectionError, OSError) as e:
        log.info("port-forward ended: %s", e)
    finally:
        for t in (up, down):
            t.cancel()
        await asyncio.gather(up, down, return_exceptions=True)
