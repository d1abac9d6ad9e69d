"""The downward API as files: a pod's own metadata and its containers' resources.

Kubernetes' downwardapi.CollectData (pkg/volume/downwardapi) with the helpers it calls
(fieldpath.ExtractFieldPathAsString, resource.ExtractResourceValueByContainerNameAndNode
Allocatable). For the items of a ``downwardAPI`` volume, or of a projected volume's
``downwardAPI`` source::

    {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}
    {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                          "divisor": "1Mi"}, "mode": 0o400}

``collect`` gives each path its bytes:

- ``metadata.name|namespace|uid`` as they are; ``metadata.labels`` and
  ``metadata.annotations`` as FormatMap writes them: ``key="value"`` lines sorted by key,
  joined by newlines with none after the last, each value quoted as Go's strconv.Quote does
  (``go_quote``); ``metadata.labels['k']`` one value, unquoted ("" when absent);
- ``limits.cpu|memory|ephemeral-storage|hugepages-<size>`` and the same ``requests.`` of the
  named container (app or init) as an integer number of ``divisor`` (default 1), rounded up:
  ``ceil(milli(cpu) / milli(divisor))`` for CPU, ``ceil(bytes / divisor)`` for the byte
  resources, so 250m of CPU is ``1``
  and 100Mi with divisor 1Gi is ``1``. An unset (or zero) limit is the node's allocatable
  (here its capacity: this kubelet reserves nothing), as MergeContainerResourceLimits does;
  an unset request is 0.

Every item failing is collected and reported together (``ConfigError``, as Go's aggregate
prints it) so the FailedMount event names them all. The values follow the pod: the pod
workers sync a pod on every update the informer delivers, so a label change reaches the file
on that sync. Neighbours: projected.py and podvolumes.py call ``collect``.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from ...api import names
from ...api.quantity import parse_quantity
from .atomic_writer import FileProjection
from .configcache import ConfigError

Object = dict[str, Any]
Allocatable = Mapping[str, str]
"""The node's allocatable resources (``{"cpu": "4", "memory": "8Gi"}``)."""

_SUBSCRIPTED = re.compile(r"^(metadata\.(?:labels|annotations))\['(.*)'\]$", re.DOTALL)
_ESCAPES = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t",
            "\v": r"\v", "\\": r"\\", '"': r"\""}


def go_quote(text: str) -> str:
    """Go's strconv.Quote: printable runes as they are (Go's unicode.IsPrint is Python's
    isprintable: letters, marks, numbers, punctuation, symbols and the ASCII space), the C
    escapes, ``\\xNN`` below 0x80, ``\\uNNNN`` and ``\\UNNNNNNNN`` above."""
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\ufffd")  # a lone surrogate: Go sees invalid UTF-8 as U+FFFD
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def format_map(m: Mapping[str, str]) -> str:
    """fieldpath.FormatMap: ``k="v"`` lines, sorted by key (Go compares bytes: UTF-8 order
    is code point order, as Python's)."""
    return "\n".join(f"{k}={go_quote(str(m[k]))}" for k in sorted(m))


def field_value(pod: Object, field_path: str) -> str:
    """ExtractFieldPathAsString for the paths a downwardAPI volume may name."""
    md = pod.get("metadata") or {}
    m = _SUBSCRIPTED.match(field_path)
    if m:
        path, key = m.group(1), m.group(2)
        problems = names.is_qualified_name(key.lower() if path.endswith("annotations")
                                           else key)
        if problems:
            raise ConfigError(f"invalid key subscript in {field_path}: {';'.join(problems)}")
        return str((md.get(path.split(".")[1]) or {}).get(key, ""))
    if "[" in field_path and field_path.endswith("]"):
        raise ConfigError(f'fieldPath "{field_path}" does not support subscript')
    if field_path in ("metadata.labels", "metadata.annotations"):
        return format_map(md.get(field_path.split(".")[1]) or {})
    if field_path in ("metadata.name", "metadata.namespace", "metadata.uid"):
        return str(md.get(field_path.split(".")[1]) or "")
    raise ConfigError(f"unsupported fieldPath: {field_path}")


def _container(pod: Object, name: str) -> Object:
    spec = pod.get("spec") or {}
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        if c.get("name") == name:
            return dict(c)
    raise ConfigError(f"container {name} not found")


def _quantity(value: Any) -> Fraction:
    try:
        return parse_quantity(value) if value is not None else Fraction(0)
    except ValueError as e:
        raise ConfigError(f"bad quantity {value!r}: {e}") from e


def _milli(q: Fraction) -> int:
    return math.ceil(q * 1000)  # Quantity.MilliValue rounds up


def resource_value(pod: Object, ref: Object, allocatable: Allocatable) -> str:
    """ExtractResourceValueByContainerNameAndNodeAllocatable."""
    container = _container(pod, str(ref.get("containerName") or ""))
    resources = container.get("resources") or {}
    limits = dict(resources.get("limits") or {})
    requests = resources.get("requests") or {}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if _quantity(limits.get(name)) == 0 and name in allocatable:
            limits[name] = allocatable[name]  # MergeContainerResourceLimits
    resource = str(ref.get("resource") or "")
    kind, _, name = resource.partition(".")
    if kind not in ("limits", "requests") or not (
            name in ("cpu", "memory", "ephemeral-storage") or name.startswith("hugepages-")):
        raise ConfigError(f"unsupported container resource : {resource}")
    value = _quantity((limits if kind == "limits" else requests).get(name))
    divisor = _quantity(ref.get("divisor"))
    if divisor == 0:
        divisor = Fraction(1)
    if name == "cpu":
        return str(math.ceil(Fraction(_milli(value), _milli(divisor))))
    return str(math.ceil(Fraction(math.ceil(value), math.ceil(divisor))))


def aggregate(messages: list[str]) -> str:
    """utilerrors.NewAggregate's Error(): one message as it is, more in brackets."""
    return messages[0] if len(messages) == 1 else f"[{', '.join(messages)}]"


def collect(items: Any, pod: Object, *, default_mode: int,
            allocatable: Allocatable) -> dict[str, FileProjection]:
    """CollectData: the files of these items; ConfigError naming every item that failed."""
    out: dict[str, FileProjection] = {}
    errors: list[str] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        mode = item.get("mode")
        mode = int(mode) & 0o777 if isinstance(mode, int) else default_mode
        path = posixpath.normpath(str(item.get("path") or ""))
        try:
            if isinstance(item.get("fieldRef"), dict):
                value = field_value(pod, str(item["fieldRef"].get("fieldPath") or ""))
            elif isinstance(item.get("resourceFieldRef"), dict):
                value = resource_value(pod, item["resourceFieldRef"], allocatable)
            else:
                value = ""
        except ConfigError as e:
            errors.append(e.message)
            continue
        out[path] = FileProjection(value.encode(), mode)
    if errors:
        raise ConfigError(aggregate(errors))
    return out
