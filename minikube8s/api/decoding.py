"""Decoding untrusted JSON and YAML into plain JSON-shaped data, in bounded time and memory.

The API server (roles/apiserver/params.py) decodes every request body here, and the bundled
CLI (cli/manifests.py) every manifest. Both used ``json.loads`` / ``yaml.safe_load`` directly,
which a hostile document defeats in several ways:

- YAML aliases (the "billion laughs"): ten anchors of ten aliases each load as shared
  references in a few KiB, but expand to 10^9 nodes in ``json.dumps``, validation or a
  deepcopy. Expansion is counted from the parser's events *before* anything is built and
  refused past a budget with go-yaml's words, ``yaml: document contains excessive aliasing``.
- Node count: PyYAML builds ~500 bytes of Node and Mark objects per scalar and its pure-Python
  composer takes ~35 us each, so a 3 MiB flow sequence of a million ``1,`` costs a GiB and
  minutes. The same event pre-pass caps the node count; libyaml (``CSafeLoader``) is used
  when PyYAML has it (5x faster, and it refuses flow nesting past 1,000 itself).
- Depth: 10,000 nested ``[`` make ``json.loads`` raise RecursionError, and objects a few
  hundred levels deep make every later recursive step (deepcopy, merge patch, encoding)
  raise it instead. Anything deeper than ``MAX_DEPTH`` is refused up front.
- Numbers and text JSON cannot carry: NaN, Infinity, ``1e999999`` (a float that overflows to
  inf), integers beyond int64 (``10**10000`` even trips Python's int-string limit), YAML's
  timestamps, binaries and non-string keys; lone UTF-16 surrogates (``"\\ud800"``) become
  U+FFFD as Go's decoder makes them, since ``str.encode`` would fail on them later.

Everything refused raises ``DecodeError`` (a ValueError) with a one-line message; callers map
it to 400 BadRequest (the server) or a CLIError (the CLI). Pure data, no I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import yaml

MAX_DEPTH = 100
"""Deepest nesting of lists and maps accepted (a Pod with affinity rules is about 15)."""

MAX_YAML_NODES = 50_000
"""Scalars, sequences and maps in one YAML stream, aliases expanded (server bodies: about
0.5 s of parsing at most; a large Pod is a few hundred)."""

MAX_YAML_BYTES = 6 * 1024 * 1024
"""Scalar text in one YAML stream, aliases expanded: twice the API's 3 MiB body limit."""

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DecodeError(ValueError):
    """A body or manifest that cannot become JSON-shaped data within the limits."""


class _JSONSafeLoader(_Loader):
    """SafeLoader without the timestamp resolver: ``2015-05-01`` stays a string, as it does
    in Kubernetes' YAML-to-JSON conversion (go-yaml into interface{})."""


_JSONSafeLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# ----------------------------------------------------------------------------- JSON


def _no_constant(name: str) -> Any:
    # json.loads accepts NaN and Infinity; JSON (and Go) do not.
    raise DecodeError(f"invalid character '{name[0]}' looking for beginning of value")


def loads_json(data: bytes | str) -> Any:
    """One JSON document, checked (``check``). Raises DecodeError."""
    try:
        value = json.loads(data, parse_constant=_no_constant)
    except DecodeError:
        raise
    except RecursionError as e:
        raise DecodeError(f"json: exceeded max depth of {MAX_DEPTH}") from e
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError, int digits limit
        raise DecodeError(_message(e)) from e
    return check(value)


def raw_decode_json(text: str, pos: int) -> tuple[Any, int]:
    """json.JSONDecoder.raw_decode for streams of several documents (the CLI's ``-f``);
    json.JSONDecodeError passes through (it carries the line), the rest is DecodeError."""
    decoder = json.JSONDecoder(parse_constant=_no_constant)
    try:
        value, end = decoder.raw_decode(text, pos)
    except (DecodeError, json.JSONDecodeError):
        raise
    except RecursionError as e:
        raise DecodeError(f"json: exceeded max depth of {MAX_DEPTH}") from e
    except ValueError as e:
        raise DecodeError(_message(e)) from e
    return check(value), end


# ----------------------------------------------------------------------------- YAML


def _budget(loader: Any, *, max_nodes: int, max_bytes: int) -> None:
    """Walk the event stream once, counting nodes and scalar bytes with aliases expanded and
    tracking depth, before any node is built. Raises DecodeError past a limit."""
    anchors: dict[str, tuple[int, int]] = {}
    # one frame per open collection: (nodes, bytes) counted when it opened, its anchor
    stack: list[tuple[int, int, str | None]] = []
    nodes = size = 0
    aliased = False
    while loader.check_event():
        ev = loader.get_event()
        if isinstance(ev, yaml.ScalarEvent):
            nodes += 1
            size += len(ev.value)
            if ev.anchor:
                anchors[ev.anchor] = (1, len(ev.value))
        elif isinstance(ev, yaml.AliasEvent):
            # an anchor is known only once its node is complete, so no alias can reach
            # into its own anchor (a recursive document)
            if ev.anchor not in anchors:
                raise DecodeError(f"yaml: unknown anchor '{ev.anchor}' referenced")
            aliased = True
            n, b = anchors[ev.anchor]
            nodes += n
            size += b
        elif isinstance(ev, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            stack.append((nodes, size, ev.anchor))
            nodes += 1
            if len(stack) > MAX_DEPTH:
                raise DecodeError(f"yaml: exceeded max depth of {MAX_DEPTH}")
        elif isinstance(ev, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            n0, b0, anchor = stack.pop()
            if anchor:
                anchors[anchor] = (nodes - n0, size - b0)
        if nodes > max_nodes or size > max_bytes:
            _over(aliased, max_nodes, max_bytes)


def _over(aliased: bool, max_nodes: int, max_bytes: int) -> None:
    if aliased:
        raise DecodeError("yaml: document contains excessive aliasing")
    raise DecodeError(f"yaml: document is too large: more than {max_nodes} nodes or "
                      f"{max_bytes} bytes of text")


def _message(e: Exception) -> str:
    text = " ".join(str(e).split())
    if "integer string conversion" in text:
        # Python's own guard (4300 digits) against quadratic int parsing
        return "number has too many digits to be an int64"
    return text


def _loader(data: bytes | str) -> Any:
    return _JSONSafeLoader(data)


def yaml_nodes(data: bytes | str, *, max_nodes: int = MAX_YAML_NODES,
               max_bytes: int = MAX_YAML_BYTES) -> Iterator[tuple[yaml.Node, Any]]:
    """Every document of a YAML stream as (node, value): the node keeps line marks (the CLI
    maps a server's field paths back to lines with it), the value is checked JSON-shaped
    data. Raises DecodeError, or yaml.YAMLError for syntax errors (which carry a mark)."""
    try:
        _budget(_loader(data), max_nodes=max_nodes, max_bytes=max_bytes)
        loader = _loader(data)
        try:
            while loader.check_node():
                node = loader.get_node()
                value = loader.construct_document(node)
                yield node, _to_json_shape(value)
        finally:
            loader.dispose()
    except RecursionError as e:
        raise DecodeError(f"yaml: exceeded max depth of {MAX_DEPTH}") from e
    except (ValueError, OverflowError) as e:
        # ints past Python's 4300-digit limit, and the like, from the constructors
        if isinstance(e, DecodeError):
            raise
        raise DecodeError("error converting YAML to JSON: " + _message(e)) from e


def loads_yaml(data: bytes | str, **limits: int) -> Any:
    """A single YAML document (empty: None). Raises DecodeError or yaml.YAMLError."""
    docs = [value for _, value in yaml_nodes(data, **limits)]
    if len(docs) > 1:
        raise DecodeError("yaml: expected a single document in the stream")
    return docs[0] if docs else None


def _to_json_shape(value: Any) -> Any:
    """Through JSON and back: aliases become independent copies (bounded by the budget),
    keys strings, tuples lists; NaN, infinities and binaries are refused."""
    try:
        text = json.dumps(value, allow_nan=False, default=_unsupported)
    except DecodeError:
        raise
    except ValueError as e:  # allow_nan=False
        raise DecodeError("error converting YAML to JSON: json: unsupported value: "
                          "NaN or Infinity") from e
    except TypeError as e:  # keys JSON has no form for
        raise DecodeError("error converting YAML to JSON: " + str(e)) from e
    return check(json.loads(text))


def _unsupported(value: Any) -> Any:
    raise DecodeError(f"error converting YAML to JSON: unsupported value of type "
                      f"{type(value).__name__}")


# ----------------------------------------------------------------------------- checks


def _fix_text(s: str) -> str:
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in s)


def _bad_text(s: str) -> bool:
    if s.isascii():
        return False
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def check(value: Any) -> Any:
    """Refuse what JSON cannot carry in decoded data (depth, non-finite floats, ints outside
    int64) and replace lone surrogates; iterative, so depth cannot exhaust the stack.
    Returns the value (changed in place)."""
    if not isinstance(value, (dict, list)):
        return _scalar(value)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DecodeError(f"json: exceeded max depth of {MAX_DEPTH}")
        if isinstance(node, dict):
            if any(_bad_text(k) for k in node):
                fixed = {_fix_text(k): v for k, v in node.items()}
                node.clear()
                node.update(fixed)
            items: Iterator[tuple[Any, Any]] = iter(node.items())
        else:
            items = enumerate(node)
        # (replacing a value while iterating is fine for both: no key is added or removed)
        for key, child in items:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif isinstance(child, (str, float, int)):
                fixed_child = _scalar(child)
                if fixed_child is not child:
                    node[key] = fixed_child
    return value


def _scalar(v: Any) -> Any:
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, str):
        return _fix_text(v) if _bad_text(v) else v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise DecodeError("json: cannot unmarshal a number out of the float64 range "
                              "(NaN and infinities are not JSON)")
        return v
    if isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:
        raise DecodeError("json: cannot unmarshal a number out of the int64 range "
                          f"({v.bit_length()} bits) into Go value of type int64")
    return v

