"""pods/exec and pods/attach over SPDY/3.1 (kubectl 1.27-1.29), relayed to the kubelet's WS.

Before 1.30 kubectl's exec and attach (client-go remotecommand, the same executor for both)
upgrade a POST to ``SPDY/3.1`` offering
``X-Stream-Protocol-Version: v4.channel.k8s.io`` (then v3, v2, channel.k8s.io). proxy.py has
already opened the kubelet's exec or attach WebSocket (``v5.channel.k8s.io``,
roles/kubelet/server.py) when it calls ``serve``, so a request the kubelet refuses is still a
plain HTTP error. Then the
answer is 101 with ``v4.channel.k8s.io`` and kubectl opens one SPDY stream per channel, told
apart by the ``streamType`` header: ``error`` always, ``stdin`` / ``stdout`` with those
options, ``stderr`` unless a tty, ``resize`` with a tty. Once the expected ones are there:

- kubelet -> kubectl: channel 1 on stdout, 2 on stderr, 3 (the v4 Status JSON: Success, or
  Failure with reason NonZeroExitCode and the code as cause, which kubectl turns into its own
  exit code) on the error stream; when the kubelet closes, every stream gets its FIN;
- kubectl -> kubelet: stdin DATA as channel 0 and its FIN as v5's close signal (``\\xff\\x00``),
  resize DATA (JSON ``{"Width":..,"Height":..}``) as channel 4.

Only v4 is spoken (every kubectl since 1.5 offers it); a client without it gets 400.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aiohttp
from aiohttp import web

from ...api import errors
from . import spdy
from .portforward import SPDY_UPGRADE, upgrade_spdy

log = logging.getLogger(__name__)

V4 = "v4.channel.k8s.io"
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
STREAMS_TIMEOUT = 30.0
"""How long kubectl has to open its streams after the 101 (the kubelet's is 30 s too)."""
CHUNK = 32 * 1024


def wants_spdy(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").strip().lower() == SPDY_UPGRADE.lower()


def offers_v4(request: web.Request) -> bool:
    versions = ",".join(request.headers.getall("X-Stream-Protocol-Version", []))
    return V4 in (v.strip() for v in versions.split(","))


def expected_streams(*, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> set[str]:
    kinds = {"error"}
    if stdin:
        kinds.add("stdin")
    if stdout:
        kinds.add("stdout")
    if stderr and not tty:
        kinds.add("stderr")
    if tty:
        kinds.add("resize")
    return kinds


async def serve(request: web.Request, upstream: aiohttp.ClientWebSocketResponse, *,
                expected: set[str], name: str, verb: str = "exec") -> web.StreamResponse:
    """Upgrade kubectl's request and relay until the kubelet's WebSocket closes."""
    if not offers_v4(request):
        raise errors.BadRequest(f"{verb} over {SPDY_UPGRADE} needs X-Stream-Protocol-Version "
                                f"{V4}")
    reader = asyncio.StreamReader(limit=1 << 20)
    resp, write = await upgrade_spdy(request, reader, V4)
    codec = spdy.HeaderCodec()
    lock = asyncio.Lock()
    ids: dict[str, int] = {}
    kinds: dict[int, str] = {}
    ready = asyncio.Event()

    async def send(frame: spdy.Frame) -> None:
        async with lock:
            await write(spdy.encode(frame, codec))

    async def from_kubectl() -> None:
        while (frame := await spdy.read_frame(reader, codec)) is not None:
            if frame.kind == spdy.GOAWAY:
                return
            if frame.kind == spdy.SYN_STREAM:
                await send(spdy.Frame(spdy.SYN_REPLY, stream_id=frame.stream_id))
                kind = frame.headers.get("streamtype", "")
                ids[kind], kinds[frame.stream_id] = frame.stream_id, kind
                if expected <= ids.keys():
                    ready.set()
            elif frame.kind == spdy.PING:
                await send(spdy.Frame(spdy.PING, value=frame.value))
            elif frame.kind == 0:
                kind = kinds.get(frame.stream_id, "")
                if kind == "stdin":
                    if frame.data:
                        await upstream.send_bytes(bytes((STDIN,)) + frame.data)
                    if frame.fin:
                        await upstream.send_bytes(bytes((CLOSE, STDIN)))
                elif kind == "resize":
                    for line in frame.data.splitlines():
                        if line.strip():
                            await upstream.send_bytes(bytes((RESIZE,)) + line.strip())

    async def to_kubectl() -> None:
        await asyncio.wait_for(ready.wait(), STREAMS_TIMEOUT)
        targets = {STDOUT: "stdout", STDERR: "stderr", STATUS: "error"}
        async for msg in upstream:
            if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                continue
            sid = ids.get(targets.get(msg.data[0], ""))
            data = bytes(msg.data[1:])
            if sid is not None:
                for at in range(0, len(data), CHUNK):
                    await send(spdy.Frame(0, stream_id=sid, data=data[at:at + CHUNK]))
        for sid in sorted(ids.values()):
            await send(spdy.Frame(0, stream_id=sid, flags=spdy.FLAG_FIN))

    down = asyncio.create_task(to_kubectl(), name=f"spdy {verb} {name} to kubectl")
    up = asyncio.create_task(from_kubectl(), name=f"spdy {verb} {name} to kubelet")
    try:
        await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        if up.done() and not down.done():
            # kubectl went away (or sent GOAWAY): the command's stdin ends with it.
            with contextlib.suppress(ConnectionError, RuntimeError):
                await upstream.send_bytes(bytes((CLOSE, STDIN)))
            await upstream.close()
        await asyncio.gather(down, return_exceptions=True)
        for t in (down, up):
            if t.done() and not t.cancelled() and t.exception() is not None:
                log.info("%s %s over SPDY ended: %s", verb, name, t.exception())
    finally:
        for t in (down, up):
            t.cancel()
        await asyncio.gather(down, up, return_exceptions=True)
    return resp
