"""SPDY/3.1 framing: what kubectl's port-forward (and exec before 1.30) speaks after its upgrade.

client-go streams over moby/spdystream: after ``Upgrade: SPDY/3.1`` (or inside a WebSocket
whose subprotocol is ``SPDY/3.1+portforward.k8s.io``, kubectl 1.31+) the connection is a
sequence of SPDY/3 frames. The client opens streams (SYN_STREAM, odd ids, headers naming the
stream's role), the server accepts each one (SYN_REPLY), both send DATA frames and end their
half of a stream with the FIN flag. PING is echoed; SETTINGS, WINDOW_UPDATE and HEADERS are
read and ignored (spdystream does no flow control).

Header blocks (SYN_STREAM, SYN_REPLY, HEADERS) are zlib streams, one per direction for the
whole connection, primed with the dictionary of the SPDY/3 draft (section 2.6.10.1): a
``HeaderCodec`` holds both, and each block is flushed (Z_SYNC_FLUSH) so the peer can read it
at once.

This module is only the wire format: ``encode`` a ``Frame``, ``read_frame`` from an
asyncio.StreamReader, ``parse_frame`` a buffer. portforward.py (the API server's
pods/portforward) runs a session on it. Anything malformed, a truncated frame included, is a
``SpdyError``, never anything else.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS = 1, 2, 3, 4
PING, GOAWAY, HEADERS, WINDOW_UPDATE = 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
MAX_LENGTH = (1 << 24) - 1
# A decompressed header block is refused past this: a few kilobytes of zlib would otherwise
# expand to gigabytes (kubectl's blocks are a few hundred bytes).
MAX_HEADER_BLOCK = 1 << 20
HEADER = struct.Struct(">LL")
"""Every frame starts with 8 bytes: control bit + version + type (or stream id), flags +
24-bit length."""

# RST_STREAM status codes
PROTOCOL_ERROR, INVALID_STREAM, REFUSED_STREAM, CANCEL, INTERNAL_ERROR = 1, 2, 3, 5, 6

_WORDS = (
    *("options head post put delete trace accept accept-charset accept-encoding "
      "accept-language accept-ranges age allow authorization cache-control connection "
      "content-base content-encoding content-language content-length content-location "
      "content-md5 content-range content-type date etag expect expires from host if-match "
      "if-modified-since if-none-match if-range if-unmodified-since last-modified location "
      "max-forwards pragma proxy-authenticate proxy-authorization range referer retry-after "
      "server te trailer transfer-encoding upgrade user-agent vary via warning "
      "www-authenticate method get status").split(),
    "200 OK",
    *"version HTTP/1.1 url public set-cookie keep-alive origin".split())
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504"
    "505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request"
    "401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented"
    "503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, "
    "Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,"
    "application/xml,application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age="
    "gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.")


def _dictionary() -> bytes:
    # The draft's table: length-prefixed words, then a run of bare text.
    out = b"".join(struct.pack(">L", len(w)) + w.encode() for w in _WORDS)
    return out + _TAIL.encode()


DICTIONARY = _dictionary()
"""The SPDY/3 header compression dictionary (1423 bytes)."""


class SpdyError(Exception):
    """A malformed or truncated frame or header block: the session ends (GOAWAY)."""


@dataclass(slots=True)
class Frame:
    """One frame. ``kind`` is a control type, or 0 for DATA. ``stream_id`` is the stream of
    DATA, SYN_*, RST_STREAM, HEADERS and WINDOW_UPDATE frames and the last good stream of a
    GOAWAY; ``value`` is RST_STREAM's and GOAWAY's status, PING's id, WINDOW_UPDATE's delta."""

    kind: int
    stream_id: int = 0
    flags: int = 0
    data: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    value: int = 0
    associated: int = 0
    priority: int = 0
    settings: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class HeaderCodec:
    """Both zlib streams of one connection (they carry state from block to block)."""

    def __init__(self) -> None:
        self._out = zlib.compressobj(zlib.Z_BEST_COMPRESSION, zlib.DEFLATED, 15,
                                     zdict=DICTIONARY)
        self._in = zlib.decompressobj(zdict=DICTIONARY)

    def compress(self, headers: dict[str, str]) -> bytes:
        block = bytearray(struct.pack(">L", len(headers)))
        for name, value in headers.items():
            for text in (name.lower(), value):
                raw = text.encode()
                block += struct.pack(">L", len(raw)) + raw
        return self._out.compress(bytes(block)) + self._out.flush(zlib.Z_SYNC_FLUSH)

    def decompress(self, data: bytes) -> dict[str, str]:
        """Name -> value; several values of one name are NUL-separated as on the wire."""
        try:
            block = self._in.decompress(data, MAX_HEADER_BLOCK)
        except zlib.error as e:
            raise SpdyError(f"bad header block: {e}") from e
        if self._in.unconsumed_tail:
            raise SpdyError(f"header block larger than {MAX_HEADER_BLOCK} bytes")
        return parse_header_block(block)


def parse_header_block(block: bytes) -> dict[str, str]:
    def u32(at: int) -> int:
        if at + 4 > len(block):
            raise SpdyError("truncated header block")
        return int.from_bytes(block[at:at + 4], "big")

    count, at, headers = u32(0), 4, {}
    for _ in range(count):
        pair: list[str] = []
        for _ in range(2):
            n = u32(at)
            at += 4
            if at + n > len(block):
                raise SpdyError("truncated header block")
            pair.append(block[at:at + n].decode("utf-8", "replace"))
            at += n
        headers[pair[0].lower()] = pair[1]
    return headers


def encode(frame: Frame, codec: HeaderCodec) -> bytes:
    """The wire bytes of ``frame`` (header blocks compressed with ``codec``)."""
    if frame.kind == 0:
        body = frame.data
        first = frame.stream_id & 0x7FFFFFFF
    else:
        first = 0x80000000 | (VERSION << 16) | frame.kind
        sid = struct.pack(">L", frame.stream_id & 0x7FFFFFFF)
        if frame.kind == SYN_STREAM:
            body = (sid + struct.pack(">LBB", frame.associated & 0x7FFFFFFF,
                                      (frame.priority & 7) << 5, 0)
                    + codec.compress(frame.headers))
        elif frame.kind in (SYN_REPLY, HEADERS):
            body = sid + codec.compress(frame.headers)
        elif frame.kind in (RST_STREAM, GOAWAY, WINDOW_UPDATE):
            body = sid + struct.pack(">L", frame.value)
        elif frame.kind == PING:
            body = struct.pack(">L", frame.value)
        elif frame.kind == SETTINGS:
            body = struct.pack(">L", len(frame.settings)) + b"".join(
                struct.pack(">L", (flags << 24) | ident) + struct.pack(">L", value)
                for flags, ident, value in frame.settings)
        else:
            raise SpdyError(f"cannot encode control frame type {frame.kind}")
    if len(body) > MAX_LENGTH:
        raise SpdyError(f"frame of {len(body)} bytes is too long")
    return HEADER.pack(first, (frame.flags << 24) | len(body)) + body


def parse_frame(buf: bytes | bytearray, codec: HeaderCodec) -> tuple[Frame | None, int]:
    """The first frame in ``buf`` and the bytes it took, or ``(None, 0)`` if ``buf`` holds
    only part of one."""
    if len(buf) < HEADER.size:
        return None, 0
    first, second = HEADER.unpack_from(buf)
    length = second & 0xFFFFFF
    if len(buf) < HEADER.size + length:
        return None, 0
    body = bytes(buf[HEADER.size:HEADER.size + length])
    return decode(first, second >> 24, body, codec), HEADER.size + length


def decode(first: int, flags: int, body: bytes, codec: HeaderCodec) -> Frame:
    """One frame from its first header word, its flags and its body."""
    if not first & 0x80000000:
        return Frame(0, stream_id=first & 0x7FFFFFFF, flags=flags, data=body)
    version, kind = (first >> 16) & 0x7FFF, first & 0xFFFF
    if version != VERSION:
        raise SpdyError(f"SPDY version {version} is not spoken here (only {VERSION})")

    def need(n: int) -> None:
        if len(body) < n:
            raise SpdyError(f"control frame type {kind} too short ({len(body)} bytes)")

    def u31(at: int) -> int:
        return int.from_bytes(body[at:at + 4], "big") & 0x7FFFFFFF

    frame = Frame(kind, flags=flags)
    if kind == SYN_STREAM:
        need(10)
        frame.stream_id, frame.associated = u31(0), u31(4)
        frame.priority = body[8] >> 5
        frame.headers = codec.decompress(body[10:])
    elif kind in (SYN_REPLY, HEADERS):
        need(4)
        frame.stream_id = u31(0)
        frame.headers = codec.decompress(body[4:])
    elif kind in (RST_STREAM, GOAWAY, WINDOW_UPDATE):
        need(4 if kind == GOAWAY else 8)
        frame.stream_id = u31(0)
        frame.value = int.from_bytes(body[4:8], "big") if len(body) >= 8 else 0
    elif kind == PING:
        need(4)
        frame.value = int.from_bytes(body[:4], "big")
    elif kind == SETTINGS:
        need(4)
        count = int.from_bytes(body[:4], "big")
        need(4 + 8 * count)
        for i in range(count):
            word, value = struct.unpack_from(">LL", body, 4 + 8 * i)
            frame.settings.append((word >> 24, word & 0xFFFFFF, value))
    # Other types (NOOP, CREDENTIAL) are skipped whole, as the draft says to.
    return frame


async def read_frame(reader: asyncio.StreamReader, codec: HeaderCodec) -> Frame | None:
    """The next frame, or None at a clean end of the connection (between frames)."""
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise SpdyError("connection ended inside a frame header") from None
    first, second = HEADER.unpack(head)
    try:
        body = await reader.readexactly(second & 0xFFFFFF)
    except asyncio.IncompleteReadError:
        raise SpdyError("connection ended inside a frame") from None
    return decode(first, second >> 24, body, codec)
