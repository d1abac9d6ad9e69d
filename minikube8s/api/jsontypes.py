"""Wrong JSON types in a request body, reported as Kubernetes' decoder reports them.

kube-apiserver decodes every body into Go structs, so ``"replicas": "3"`` or
``"args": [1]`` never reaches validation or storage: encoding/json fails with
``json: cannot unmarshal string into Go struct field ReplicationControllerSpec.spec.replicas
of type int32`` and the API answers 400 (create, update, server-side apply) or 422 on the
``patch`` field (JSON and merge patches, whose result is decoded the same way). minikube8s
keeps objects as dicts, so without this check a wrongly typed field would be stored and break
every typed reader later (the official Python client, kubectl's printers, our own kubelet).

``type_error(obj)`` walks the object against schema.py's field table (the same table that
prunes unknown fields and feeds /openapi) and returns encoding/json's message for the first
mismatch in document order, or None. On the way it turns an integral float in an integer
field (``replicas: 2.0`` in YAML) into an int, as kubectl's YAML-to-JSON step does: stored
as ``2.0``, Go clients could not read the object back. Neighbours: schema.py (the table),
quantity.py (what a Quantity accepts), roles/apiserver/handlers.py (turns the message into a
Status).

Go's message names the innermost struct and the field's JSON path from the root without list
indices or map keys (``Container.spec.containers.args``), and its Go type (``int32``,
``[]string``, ``v1.PodSpec``, ``map[string]string``). Free-form fields (``object``) and kinds
the table does not describe are not checked.
"""

from __future__ import annotations

import re
from typing import Any

from . import b64, quantity
from .schema import Field, fields_of, kind_type

__all__ = ["type_error"]

_GO_SCALAR = {"string": "string", "integer": "int32", "int64": "int64", "boolean": "bool",
              "number": "float64", "IntOrString": "intstr.IntOrString",
              "Quantity": "resource.Quantity", "Time": "v1.Time", "bytes": "[]uint8"}
# time.RFC3339 as Go parses it: fractional seconds are accepted although the layout has none.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


class _Mismatch(Exception):
    """Internal: unwinds the walk at the first error (the message is complete)."""


def type_error(obj: dict[str, Any]) -> str | None:
    """encoding/json's error for the first field of ``obj`` whose JSON type its Go type
    cannot hold, or None when every described field has a compatible type."""
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind_type(kind) is None:
        return None
    try:
        _struct(obj, kind, "")
    except _Mismatch as e:
        return str(e)
    return None


def json_kind(v: Any, *, number_text: bool = False) -> str:
    """How encoding/json names a JSON value in an UnmarshalTypeError (``number 1.5`` when
    the number's text matters: a fraction into an integer)."""
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return f"number {v!r}" if number_text else "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def _go_type(f: Field) -> str:
    elem = _GO_SCALAR.get(f.type) or f"v1.{f.type}"
    if f.shape == "list":
        return f"[]{elem}"
    if f.shape == "map":
        return f"map[string]{elem}"
    return elem


def _fail(v: Any, struct: str, path: str, go: str, *, number_text: bool = False) -> _Mismatch:
    return _Mismatch(f"json: cannot unmarshal {json_kind(v, number_text=number_text)} into "
                     f"Go struct field {struct}.{path} of type {go}")


def _struct(value: dict[str, Any], type_name: str, path: str) -> None:
    fields = fields_of(type_name) or {}
    for key, sub in value.items():
        f = fields.get(key)
        if f is None or sub is None:  # unknown (pruned elsewhere) or null (Go: zero value)
            continue
        fp = f"{path}.{key}" if path else key
        if f.shape == "scalar":
            if _scalar(sub, f.type, type_name, fp):
                value[key] = int(sub)
        elif f.shape == "object":
            if f.type == "object":  # free form (RawExtension and the like)
                continue
            if not isinstance(sub, dict):
                raise _fail(sub, type_name, fp, _go_type(f))
            _struct(sub, f.type, fp)
        else:
            container = list if f.shape == "list" else dict
            if not isinstance(sub, container):
                raise _fail(sub, type_name, fp, _go_type(f))
            keys = range(len(sub)) if isinstance(sub, list) else list(sub)
            for k in keys:
                if _element(sub[k], f, type_name, fp):
                    sub[k] = int(sub[k])


def _element(item: Any, f: Field, struct: str, path: str) -> bool:
    if item is None:
        return False
    if f.type in _GO_SCALAR:
        return _scalar(item, f.type, struct, path)
    if f.type != "object":
        if not isinstance(item, dict):
            raise _fail(item, struct, path, f"v1.{f.type}")
        _struct(item, f.type, path)
    return False


def _scalar(v: Any, t: str, struct: str, path: str) -> bool:
    """Raise _Mismatch if Go's type ``t`` cannot take ``v``; True when ``v`` is an integral
    float that the caller must store as an int."""
    # The tricky part: which JSON values each Go type takes. bool is a subclass of int in
    # Python, so it is tested first. A number with an integral value (1.0) is taken for an
    # integer, as it arrives from YAML through kubectl (sigs.k8s.io/yaml re-marshals 1.0 as 1).
    if t == "string":
        if not isinstance(v, str):
            raise _fail(v, struct, path, "string")
    elif t in ("integer", "int64"):
        go = _GO_SCALAR[t]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _fail(v, struct, path, go)
        if isinstance(v, float) and not v.is_integer():
            raise _fail(v, struct, path, go, number_text=True)
        bits = 31 if t == "integer" else 63
        if not -(2**bits) <= v < 2**bits:
            raise _fail(v, struct, path, go, number_text=True)
        return isinstance(v, float)
    elif t == "boolean":
        if not isinstance(v, bool):
            raise _fail(v, struct, path, "bool")
    elif t == "number":
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise _fail(v, struct, path, "float64")
    elif t == "IntOrString":
        # intstr.IntOrString.UnmarshalJSON: a string, else an int32 (Go reports the int32).
        return False if isinstance(v, str) else _scalar(v, "integer", struct, path)
    elif t == "Quantity":
        # resource.Quantity.UnmarshalJSON parses the raw text: no field context in its error.
        if not quantity.is_quantity(v):
            raise _Mismatch(quantity.FORMAT_ERROR)
    elif t == "bytes":
        # []byte: a base64 string, decoded by encoding/base64's StdEncoding; its error has no
        # field context (``illegal base64 data at input byte 4``).
        if not isinstance(v, str):
            raise _fail(v, struct, path, "[]uint8")
        bad = b64.corrupt_at(v)
        if bad is not None:
            raise _Mismatch(f"illegal base64 data at input byte {bad}")
    elif t == "Time":
        # metav1.Time.UnmarshalJSON: a string (the type error gets the field context), then
        # time.Parse(time.RFC3339, s).
        if not isinstance(v, str):
            raise _fail(v, struct, path, "string")
        if not _RFC3339.match(v):
            raise _Mismatch(f'parsing time "{v}" as "2006-01-02T15:04:05Z07:00": cannot parse '
                            f'"{v}" as RFC 3339')
    return False
