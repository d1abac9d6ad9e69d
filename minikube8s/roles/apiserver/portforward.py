"""pods/portforward: kubectl's SPDY session, ended here and spliced to the kubelet.

proxy.py checks the request (the pod, its node, the kubelet's answer to a plain ask) and calls
``serve`` with a ``dial(port)`` that opens a WebSocket to the kubelet's ``/portForward``
(roles/kubelet/server.py). ``serve`` speaks SPDY/3.1 (spdy.py) to kubectl over one of two
transports:

- the upgraded connection itself: ``POST`` with ``Upgrade: SPDY/3.1`` and
  ``X-Stream-Protocol-Version: portforward.k8s.io`` (kubectl up to 1.30, and later ones when
  the WebSocket below is refused), answered ``101 Switching Protocols``;
- a WebSocket whose subprotocol is ``SPDY/3.1+portforward.k8s.io`` (kubectl 1.31+'s
  tunnelling), the same SPDY bytes carried in binary messages.

Per forwarded connection kubectl opens two streams with the same ``requestID`` and ``port``
headers: ``streamType: error`` (which kubectl closes at once: only the server writes on it) and
``streamType: data``. Once both are there, one kubelet WebSocket carries the data: DATA frames
from kubectl go to it (their FIN as the text frame ``EOF``: a half-close), its binary frames
come back as DATA frames. When the kubelet closes (the pod's side ended) both streams get their
FIN; a text frame from the kubelet (it could not dial) is first written on the error stream,
which kubectl prints as ``an error occurred forwarding L -> R: ...`` and gives up the session
(kubectl 1.29+). Each stream is accepted with an empty SYN_REPLY, PINGs are echoed, RST_STREAM
drops the one connection, GOAWAY or the connection's end drops them all. There is no flow
control (spdystream has none): data from kubectl waits in memory for the kubelet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import aiohttp
from aiohttp import web

from ...api import errors
from . import spdy

log = logging.getLogger(__name__)

PROTOCOL = "portforward.k8s.io"
TUNNEL_PROTOCOL = "SPDY/3.1+" + PROTOCOL
SPDY_UPGRADE = "SPDY/3.1"
EOF_MESSAGE = "EOF"
"""The kubelet's half-close text frame (roles/kubelet/server.py)."""
CHUNK = 32 * 1024
# Frames from kubectl queued per connection before the session stops reading: kubectl's
# writes then wait in TCP (spdystream has no flow control either; its reader blocks the same
# way), instead of a fast upload to a slow pod piling up in the API server's memory.
INBOUND_FRAMES = 16

Dial = Callable[[int], Awaitable[aiohttp.ClientWebSocketResponse]]
"""``dial(port)``: a WebSocket to the kubelet forwarding ``port``, or ForwardError."""


class ForwardError(Exception):
    """Why a connection could not be forwarded: written on kubectl's error stream."""


# -- the two transports -----------------------------------------------------------------------


def wants_tunnel(request: web.Request) -> bool:
    offered = request.headers.get("Sec-WebSocket-Protocol", "")
    return TUNNEL_PROTOCOL in (p.strip() for p in offered.split(","))


def wants_spdy(request: web.Request) -> bool:
    upgrade = request.headers.get("Upgrade", "").strip().lower()
    versions = ",".join(request.headers.getall("X-Stream-Protocol-Version", []))
    return upgrade == SPDY_UPGRADE.lower() and PROTOCOL in (
        v.strip() for v in versions.split(","))


UPGRADE_NEEDED = (f"port-forward needs an upgrade to {SPDY_UPGRADE} with "
                  f"X-Stream-Protocol-Version: {PROTOCOL}, or a WebSocket with the "
                  f"subprotocol {TUNNEL_PROTOCOL}")


class _Feed:
    """What aiohttp feeds an upgraded connection's bytes to (its set_parser), into a
    StreamReader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self.reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self.reader.feed_eof()


async def serve(request: web.Request, *, dial: Dial, name: str) -> web.StreamResponse:
    """Upgrade the request (see the module docstring) and run the session until kubectl
    leaves. BadRequest if it asks for neither transport."""
    reader = asyncio.StreamReader(limit=1 << 20)
    if wants_tunnel(request):
        ws = web.WebSocketResponse(protocols=(TUNNEL_PROTOCOL,), max_msg_size=0)
        if not ws.can_prepare(request).ok:
            raise errors.BadRequest(UPGRADE_NEEDED)
        await ws.prepare(request)

        async def pump() -> None:
            try:
                async for msg in ws:
                    if msg.type == aiohttp.WSMsgType.BINARY:
                        reader.feed_data(msg.data)
            finally:
                reader.feed_eof()

        pumping = asyncio.create_task(pump(), name=f"port-forward tunnel {name}")
        try:
            await Session(reader, ws.send_bytes, dial=dial, name=name).run()
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
            await ws.close()
        return ws
    if not wants_spdy(request):
        raise errors.BadRequest(UPGRADE_NEEDED)
    resp, write = await upgrade_spdy(request, reader, PROTOCOL)
    await Session(reader, write, dial=dial, name=name).run()
    return resp


async def upgrade_spdy(request: web.Request, reader: asyncio.StreamReader, protocol: str,
                       ) -> tuple[web.StreamResponse, Callable[[bytes], Awaitable[None]]]:
    """Answer ``101 Switching Protocols`` to SPDY/3.1 with ``protocol`` as the stream protocol
    (exec's spdyexec.py uses it too); the connection's bytes go to ``reader`` from now on.
    Returns the response (the handler's answer once the session is over) and its write."""
    resp = web.StreamResponse(status=101, headers={
        "Connection": "Upgrade", "Upgrade": SPDY_UPGRADE, "X-Stream-Protocol-Version": protocol})
    resp.force_close()
    # aiohttp switches protocols for WebSocket upgrades only: take the connection's bytes
    # before the 101 goes out (kubectl sends its first frame as soon as it reads it).
    cast(Any, request.protocol).set_parser(_Feed(reader))
    if request.transport is not None:
        reader.set_transport(request.transport)  # pauses reading when kubectl outruns us
    await resp.prepare(request)
    return resp, resp.write


# -- the session ------------------------------------------------------------------------------


@dataclass(eq=False)
class _Pair:
    """One forwarded connection: kubectl's error and data streams for one requestID."""

    port: str
    error_id: int = 0
    data_id: int = 0
    inbound: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=INBOUND_FRAMES))
    task: asyncio.Task[None] | None = None


class Session:
    def __init__(self, reader: asyncio.StreamReader,
                 write: Callable[[bytes], Awaitable[None]], *, dial: Dial, name: str) -> None:
        self.reader = reader
        self.write = write
        self.dial = dial
        self.name = name
        self.codec = spdy.HeaderCodec()
        self.lock = asyncio.Lock()
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}
        self.closed = False

    async def send(self, frame: spdy.Frame) -> None:
        # Encoded under the lock too: the header compressor's state follows the write order.
        async with self.lock:
            if not self.closed:
                await self.write(spdy.encode(frame, self.codec))

    async def run(self) -> None:
        try:
            while (frame := await spdy.read_frame(self.reader, self.codec)) is not None:
                if frame.kind == spdy.GOAWAY:
                    break
                await self._handle(frame)
        except spdy.SpdyError as e:
            log.info("port-forward %s: %s", self.name, e)
            with contextlib.suppress(ConnectionError, RuntimeError, OSError):
                await self.send(spdy.Frame(spdy.GOAWAY, value=spdy.PROTOCOL_ERROR))
        except (ConnectionError, OSError) as e:
            log.info("port-forward %s ended: %s", self.name, e)
        finally:
            self.closed = True
            tasks = [p.task for p in self.pairs.values() if p.task is not None]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, frame: spdy.Frame) -> None:
        if frame.kind == spdy.SYN_STREAM:
            await self.send(spdy.Frame(spdy.SYN_REPLY, stream_id=frame.stream_id))
            self._opened(frame)
        elif frame.kind == 0:
            pair = self.by_stream.get(frame.stream_id)
            if pair is not None and frame.stream_id == pair.data_id:
                if frame.data:
                    await self._deliver(pair, frame.data)
                if frame.fin:
                    await self._deliver(pair, None)
        elif frame.kind == spdy.PING:
            await self.send(spdy.Frame(spdy.PING, value=frame.value))
        elif frame.kind == spdy.RST_STREAM:
            pair = self.by_stream.get(frame.stream_id)
            if pair is not None and pair.task is not None:
                pair.task.cancel()

    @staticmethod
    async def _deliver(pair: _Pair, item: bytes | None) -> None:
        """Queue kubectl's bytes (None: its FIN) for the connection's splice, waiting while
        the queue is full; dropped once the connection has ended (nobody would read them, and
        waiting would stall every other connection of the session)."""
        if pair.task is not None and pair.task.done():
            return
        if not pair.inbound.full():
            pair.inbound.put_nowait(item)
            return
        put = asyncio.ensure_future(pair.inbound.put(item))
        waits: set[asyncio.Future[Any]] = {put}
        if pair.task is not None:
            waits.add(pair.task)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()

    def _opened(self, frame: spdy.Frame) -> None:
        kind = frame.headers.get("streamtype", "")
        request_id = frame.headers.get("requestid")
        if request_id is None:
            # Clients before requestID: a connection's data stream follows its error stream.
            request_id = str(frame.stream_id if kind == "error" else frame.stream_id - 2)
        pair = self.pairs.setdefault(request_id, _Pair(frame.headers.get("port", "")))
        if kind == "error":
            pair.error_id = frame.stream_id
        elif kind == "data":
            pair.data_id = frame.stream_id
        else:
            return
        self.by_stream[frame.stream_id] = pair
        if pair.error_id and pair.data_id and pair.task is None:
            pair.task = asyncio.create_task(self._forward(pair),
                                            name=f"port-forward {self.name}:{pair.port}")

    async def _forward(self, pair: _Pair) -> None:
        error = ""
        try:
            port = int(pair.port)
            if not 0 < port < 65536:
                raise ValueError(pair.port)
        except ValueError:
            error = f"invalid port header {pair.port!r}"
        else:
            try:
                error = await self._splice(pair, port)
            except ForwardError as e:
                error = str(e)
            except (ConnectionError, RuntimeError, OSError):
                return  # kubectl has gone: nobody to tell
        with contextlib.suppress(ConnectionError, RuntimeError, OSError):
            if error:
                await self.send(spdy.Frame(0, stream_id=pair.error_id, data=error.encode()))
            await self.send(spdy.Frame(0, stream_id=pair.error_id, flags=spdy.FLAG_FIN))
            await self.send(spdy.Frame(0, stream_id=pair.data_id, flags=spdy.FLAG_FIN))

    async def _splice(self, pair: _Pair, port: int) -> str:
        """Bytes both ways until the kubelet closes; its error text, if it sent one."""
        ws = await self.dial(port)
        error = ""

        async def to_kubelet() -> None:
            while (chunk := await pair.inbound.get()) is not None:
                await ws.send_bytes(chunk)
            await ws.send_str(EOF_MESSAGE)

        up = asyncio.create_task(to_kubelet(), name=f"port-forward {self.name} to kubelet")
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    data = bytes(msg.data)
                    for at in range(0, len(data), CHUNK):
                        await self.send(spdy.Frame(0, stream_id=pair.data_id,
                                                   data=data[at:at + CHUNK]))
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    error = str(msg.data)
        finally:
            up.cancel()
            await asyncio.gather(up, return_exceptions=True)
            await ws.close()
        return error
