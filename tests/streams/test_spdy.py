"""SPDY/3.1 framing (roles/apiserver/spdy.py) and the port-forward session on it
(roles/apiserver/portforward.py), without a network: frames round-trip, header blocks use the
SPDY/3 dictionary and carry zlib state across blocks, anything truncated or malformed is a
SpdyError, and a session answers kubectl's streams as spdystream expects."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import aiohttp
import pytest

from minikube8s.roles.apiserver import portforward, spdy


def roundtrip(frame: spdy.Frame) -> spdy.Frame:
    sender, receiver = spdy.HeaderCodec(), spdy.HeaderCodec()
    wire = spdy.encode(frame, sender)
    parsed, used = spdy.parse_frame(wire + b"extra", receiver)
    assert used == len(wire)
    assert parsed is not None
    return parsed


def test_every_frame_round_trips() -> None:
    syn = roundtrip(spdy.Frame(spdy.SYN_STREAM, stream_id=5, flags=spdy.FLAG_FIN,
                               headers={"streamtype": "data", "port": "80", "requestid": "0"},
                               priority=3))
    assert (syn.stream_id, syn.fin, syn.priority) == (5, True, 3)
    assert syn.headers == {"streamtype": "data", "port": "80", "requestid": "0"}
    assert roundtrip(spdy.Frame(spdy.SYN_REPLY, stream_id=7)).stream_id == 7
    assert roundtrip(spdy.Frame(spdy.HEADERS, stream_id=9, headers={"a": "b"})).headers == {
        "a": "b"}
    rst = roundtrip(spdy.Frame(spdy.RST_STREAM, stream_id=3, value=spdy.CANCEL))
    assert (rst.stream_id, rst.value) == (3, spdy.CANCEL)
    assert roundtrip(spdy.Frame(spdy.PING, value=0xFFFFFFFF)).value == 0xFFFFFFFF
    goaway = roundtrip(spdy.Frame(spdy.GOAWAY, stream_id=11, value=1))
    assert (goaway.stream_id, goaway.value) == (11, 1)
    assert roundtrip(spdy.Frame(spdy.WINDOW_UPDATE, stream_id=1, value=4096)).value == 4096
    settings = roundtrip(spdy.Frame(spdy.SETTINGS, settings=[(1, 7, 65536), (0, 4, 100)]))
    assert settings.settings == [(1, 7, 65536), (0, 4, 100)]
    data = roundtrip(spdy.Frame(0, stream_id=1, flags=spdy.FLAG_FIN, data=b"\x00" * 70000))
    assert (data.kind, data.stream_id, data.fin, len(data.data)) == (0, 1, True, 70000)


def test_header_blocks_use_the_spdy3_dictionary_and_share_state() -> None:
    d = spdy.DICTIONARY
    assert len(d) == 1423 and d.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert d.endswith(b",*,enq=0.")
    a, b = spdy.HeaderCodec(), spdy.HeaderCodec()
    first = a.compress({"streamType": "error", "port": "8080"})
    # zlib header (2 bytes), then the dictionary's adler32 (FDICT set).
    assert first[1] & 0x20 and int.from_bytes(first[2:6], "big") == zlib.adler32(d)
    with pytest.raises(zlib.error):
        zlib.decompressobj().decompress(first)  # a peer without the dictionary cannot read it
    second = a.compress({"streamType": "data", "port": "8080"})
    assert b.decompress(first) == {"streamtype": "error", "port": "8080"}  # names lower-cased
    assert b.decompress(second) == {"streamtype": "data", "port": "8080"}
    with pytest.raises(spdy.SpdyError):
        spdy.HeaderCodec().decompress(second)  # out of order: the state is the connection's


def test_truncated_or_malformed_input_is_an_error_not_a_crash() -> None:
    codec = spdy.HeaderCodec()
    wire = spdy.encode(spdy.Frame(spdy.PING, value=1), codec)
    assert spdy.parse_frame(wire[:5], codec) == (None, 0)
    assert spdy.parse_frame(wire[:-1], codec) == (None, 0)

    async def read(raw: bytes) -> spdy.Frame | None:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await spdy.read_frame(reader, spdy.HeaderCodec())

    assert asyncio.run(read(b"")) is None  # a clean end between frames
    for cut in (3, len(wire) - 1):
        with pytest.raises(spdy.SpdyError):
            asyncio.run(read(wire[:cut]))
    with pytest.raises(spdy.SpdyError, match="version"):
        asyncio.run(read(b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"))
    with pytest.raises(spdy.SpdyError, match="too short"):
        asyncio.run(read(b"\x80\x03\x00\x01\x00\x00\x00\x02\x00\x01"))
    with pytest.raises(spdy.SpdyError):  # SYN_STREAM whose header block is not zlib
        asyncio.run(read(b"\x80\x03\x00\x01\x00\x00\x00\x0e" + b"\x00" * 10 + b"junk"))
    with pytest.raises(spdy.SpdyError, match="truncated header block"):
        spdy.parse_header_block(b"\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x09b")


def test_a_header_block_that_expands_hugely_is_refused() -> None:
    """64 MiB of zeros compress to ~64 KiB: the codec stops at MAX_HEADER_BLOCK instead of
    inflating them."""
    z = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15, zdict=spdy.DICTIONARY)
    bomb = z.compress(b"\0" * (64 << 20)) + z.flush(zlib.Z_SYNC_FLUSH)
    assert len(bomb) < spdy.MAX_HEADER_BLOCK
    with pytest.raises(spdy.SpdyError, match="header block larger than"):
        spdy.HeaderCodec().decompress(bomb)


class _Kubectl:
    """kubectl's side of a session: frames in through a StreamReader, frames out decoded."""

    def __init__(self) -> None:
        self.to_server = asyncio.StreamReader()
        self.codec = spdy.HeaderCodec()
        self.server_codec = spdy.HeaderCodec()
        self.received: list[spdy.Frame] = []
        self.buf = bytearray()

    async def write(self, data: bytes) -> None:  # the server's writes
        self.buf += data
        while True:
            frame, used = spdy.parse_frame(self.buf, self.server_codec)
            if frame is None:
                return
            del self.buf[:used]
            self.received.append(frame)

    def send(self, frame: spdy.Frame) -> None:
        self.to_server.feed_data(spdy.encode(frame, self.codec))

    def open_pair(self, request_id: str, port: str, first: int) -> None:
        for sid, kind in ((first, "error"), (first + 2, "data")):
            self.send(spdy.Frame(spdy.SYN_STREAM, stream_id=sid, headers={
                "streamType": kind, "port": port, "requestID": request_id}))


def test_session_accepts_streams_echoes_pings_and_reports_dial_errors() -> None:
    async def main() -> list[spdy.Frame]:
        k = _Kubectl()
        dialled: list[int] = []

        async def dial(port: int) -> aiohttp.ClientWebSocketResponse:
            dialled.append(port)
            raise portforward.ForwardError(f"error forwarding port {port} to pod p, uid : "
                                           "connect: connection refused")

        session = portforward.Session(k.to_server, k.write, dial=dial, name="t")
        running = asyncio.create_task(session.run())
        k.send(spdy.Frame(spdy.PING, value=1))
        k.open_pair("0", "81", 1)
        k.open_pair("1", "not-a-port", 5)
        for _ in range(100):
            if sum(f.fin for f in k.received) == 4:
                break
            await asyncio.sleep(0.01)
        k.send(spdy.Frame(spdy.GOAWAY))
        await asyncio.wait_for(running, 5)
        assert dialled == [81]
        return k.received

    frames = asyncio.run(main())
    assert [f.value for f in frames if f.kind == spdy.PING] == [1]
    assert sorted(f.stream_id for f in frames if f.kind == spdy.SYN_REPLY) == [1, 3, 5, 7]
    errors = {f.stream_id: f.data.decode() for f in frames if f.kind == 0 and f.data}
    assert errors[1].endswith("connect: connection refused")
    assert errors[5] == "invalid port header 'not-a-port'"
    assert sorted(f.stream_id for f in frames if f.kind == 0 and f.fin) == [1, 3, 5, 7]


class _SlowKubelet:
    """The kubelet's WebSocket of one forwarded connection, taking bytes only when let."""

    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.go = asyncio.Event()
        self.done = asyncio.Event()

    async def send_bytes(self, data: bytes) -> None:
        await self.go.wait()
        self.got.append(data)

    async def send_str(self, text: str) -> None:
        self.done.set()  # kubectl's FIN reached the kubelet as "EOF"

    def __aiter__(self) -> _SlowKubelet:
        return self

    async def __anext__(self) -> Any:
        await self.done.wait()
        raise StopAsyncIteration

    async def close(self) -> None:
        self.done.set()


def test_a_slow_kubelet_holds_kubectl_back_instead_of_filling_memory() -> None:
    """kubectl's data frames wait in its connection once INBOUND_FRAMES are queued for a
    forwarded connection whose kubelet side does not keep up; then all arrive, in order."""
    async def main() -> None:
        k = _Kubectl()
        kubelet = _SlowKubelet()

        async def dial(port: int) -> Any:
            return kubelet

        session = portforward.Session(k.to_server, k.write, dial=dial, name="t")
        running = asyncio.create_task(session.run())
        k.open_pair("0", "80", 1)
        chunks = [f"{i:04d}".encode() * 256 for i in range(200)]
        for c in chunks:
            k.send(spdy.Frame(0, stream_id=3, data=c))
        k.send(spdy.Frame(0, stream_id=3, flags=spdy.FLAG_FIN))
        for _ in range(20):
            await asyncio.sleep(0.01)
        pair = session.pairs["0"]
        assert pair.inbound.qsize() == portforward.INBOUND_FRAMES
        assert len(k.to_server._buffer) > 100 * 1024  # type: ignore[attr-defined]
        kubelet.go.set()
        await asyncio.wait_for(kubelet.done.wait(), 5)
        assert kubelet.got == chunks
        k.send(spdy.Frame(spdy.GOAWAY))
        await asyncio.wait_for(running, 5)

    asyncio.run(main())


def test_portforward_is_create_on_the_subresource() -> None:
    from minikube8s.auth import authn, authz

    for method in ("GET", "POST"):
        info = authz.request_info(method, "/api/v1/namespaces/d/pods/p/portforward", False)
        assert (info.verb, info.subresource) == ("create", "portforward")
        # The read-only user (Kubernetes' view role) may not forward, as it may not exec.
        assert not authz.authorize(authn.READONLY, info).allowed
