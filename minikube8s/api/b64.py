"""Base64 exactly as Go's ``encoding/base64.StdEncoding`` decodes it.

A Secret's ``data`` and a ConfigMap's ``binaryData`` are ``[]byte`` in Go, so kube-apiserver's
JSON decoder base64-decodes every value and refuses the body with the decoder's own error,
``illegal base64 data at input byte N``, before validation. Python's ``base64`` module accepts
and rejects other strings (it skips any non-alphabet byte unless ``validate=True``, which then
refuses the newlines Go skips) and reports no position, so the decoder is ported here: same
alphabet, padding required, ``\\r`` and ``\\n`` skipped anywhere, unused trailing bits ignored
(StdEncoding is not ``Strict``). Neighbours: jsontypes.py (reports the error as Go's decoder
does), configdata.py (sizes the decoded values). Pure functions.
"""

from __future__ import annotations

import base64
import re

__all__ = ["corrupt_at", "decode", "encode"]

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_DECODE = {c: i for i, c in enumerate(_ALPHABET)}
_NEWLINES = (0x0A, 0x0D)
_PAD = 0x3D  # '='
_WELL_FORMED = re.compile(r"[A-Za-z0-9+/]*={0,2}")
"""Full quanta, padding only at the end, no newlines: what Go and Python's decoder both take
the same way, so it may skip the byte-wise port (1 MiB of Secret data is common enough)."""


class CorruptInputError(ValueError):
    """Go's base64.CorruptInputError: the offset of the first illegal byte."""

    def __init__(self, offset: int) -> None:
        super().__init__(f"illegal base64 data at input byte {offset}")
        self.offset = offset


def _skip_newlines(src: bytes, si: int) -> int:
    while si < len(src) and src[si] in _NEWLINES:
        si += 1
    return si


def _quantum(src: bytes, si: int, out: bytearray) -> int:
    """Go's decodeQuantum: decode up to four symbols from ``si`` into ``out``; the new index."""
    buf = [0, 0, 0, 0]
    dlen = 4
    j = 0
    while j < 4:
        if si == len(src):
            if j == 0:
                return si
            raise CorruptInputError(si - j)  # padding is required: a short final quantum
        c = src[si]
        si += 1
        val = _DECODE.get(c)
        if val is not None:
            buf[j] = val
            j += 1
            continue
        if c in _NEWLINES:
            continue
        if c != _PAD or j < 2:
            raise CorruptInputError(si - 1)
        if j == 2:  # "==" expected; the first '=' is consumed
            si = _skip_newlines(src, si)
            if si == len(src):
                raise CorruptInputError(len(src))
            if src[si] != _PAD:
                raise CorruptInputError(si - 1)
            si += 1
        si = _skip_newlines(src, si)
        if si < len(src):
            raise CorruptInputError(si)  # trailing garbage after the padding
        dlen = j
        break
    val = buf[0] << 18 | buf[1] << 12 | buf[2] << 6 | buf[3]
    out.extend(val.to_bytes(3, "big")[:dlen - 1])
    return si


def decode(text: str) -> bytes:
    """The bytes ``text`` encodes; raises CorruptInputError where Go's decoder would."""
    if len(text) % 4 == 0 and _WELL_FORMED.fullmatch(text):
        return base64.b64decode(text)
    src = text.encode()
    out = bytearray()
    si = 0
    while si < len(src):
        si = _quantum(src, si, out)
    return bytes(out)


def corrupt_at(text: str) -> int | None:
    """The offset Go's decoder would report for ``text``, or None when it decodes."""
    try:
        decode(text)
    except CorruptInputError as e:
        return e.offset
    return None


def encode(data: bytes) -> str:
    """StdEncoding with padding: how Go marshals a ``[]byte``."""
    return base64.b64encode(data).decode("ascii")
