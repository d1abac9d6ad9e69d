"""Where in a manifest file a field the server refused is: 422 causes mapped to YAML lines.

The API answers an invalid object with a 422 Status whose causes name fields by path
(``spec.ports[0].targetPort``); kubectl prints them without saying where they are in the
file. For a YAML file, manifests.py keeps each object's composed node, whose marks give the
line of every key and item, so ``create``, ``apply`` and ``replace -f FILE`` (write.py,
apply.py) print one line per refused field instead:

    error: nginx_service.yaml:16: spec.ports[0].targetPort: Invalid value: "80 порт
    контейнера ...": must be no more than 15 characters; must contain only ...

(on one line). A path the file does not spell out to the end (a required field left out, a
field the server renamed converting v1beta3) points at the deepest part that is there. When
any cause has no field, or the object came from stdin or JSON, the caller keeps kubectl's
``Error from server (Invalid): ...`` line.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from ..client import errors as client_errors
from .manifests import Manifest

_SEGMENT = re.compile(r"\[([^\]]*)\]|([^.\[\]]+)")


def segments(path: str) -> list[str]:
    """``spec.ports[0].targetPort`` -> ``["spec", "ports", "0", "targetPort"]``; bracketed
    map keys keep their dots (``metadata.annotations[example.com/x]``)."""
    return [m.group(1) if m.group(1) is not None else m.group(2)
            for m in _SEGMENT.finditer(path)]


def line_of(node: yaml.Node, path: str) -> int:
    """The 1-based line of ``path`` under ``node``: the key's line for a map entry, the
    item's for a list item; the deepest part present when the rest is missing."""
    line = int(node.start_mark.line) + 1
    for seg in segments(path):
        nxt: Any = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == seg:
                    nxt, line = v, int(k.start_mark.line) + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and seg.isdigit() and int(seg) < len(
                node.value):
            nxt = node.value[int(seg)]
            line = int(nxt.start_mark.line) + 1
        if nxt is None:
            break
        node = nxt
    return line


def _joined(messages: list[str]) -> str:
    """Several causes of one field as one text: their common ``Invalid value: "v": `` said
    once, the details after it joined with ``; ``."""
    if len(messages) == 1:
        return messages[0]
    # the common prefix of all is that of the least and greatest
    lo, hi = min(messages), max(messages)
    n = 0
    while n < min(len(lo), len(hi)) and lo[n] == hi[n]:
        n += 1
    prefix = lo[:n]
    cut = prefix.rfind(": ")
    if cut > 0 and prefix.startswith(("Invalid value: ", "Unsupported value: ")):
        head = prefix[:cut + 2]
        return head + "; ".join(m[len(head):] for m in messages)
    return "; ".join(messages)


def located(exc: BaseException, manifest: Manifest) -> list[str] | None:
    """One ``error: FILE:LINE: FIELD: MESSAGE`` line per refused field of a 422 on an object
    read from a YAML file, in the server's order; None when that cannot be said."""
    if (manifest.node is None or manifest.source == "STDIN"
            or not isinstance(exc, client_errors.ClientError)
            or exc.status.get("code") != 422 or not exc.causes):
        return None
    by_field: dict[str, list[str]] = {}
    for cause in exc.causes:
        fld = cause.get("field") if isinstance(cause, dict) else None
        if not isinstance(fld, str) or not fld:
            return None
        text = " ".join(str(cause.get("message") or cause.get("reason") or "").split())
        by_field.setdefault(fld, []).append(text)
    return [f"error: {manifest.source}:{line_of(manifest.node, fld)}: {fld}: {_joined(msgs)}"
            for fld, msgs in by_field.items()]
