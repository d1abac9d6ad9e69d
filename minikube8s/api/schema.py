"""The known fields of every kind minikube8s serves, as one compact table.

Three consumers: field validation and pruning (``prune_unknown_fields``: the API server drops
unknown fields from what it stores, and answers ``fieldValidation=Strict`` with 400 and
``Warn`` with ``Warning:`` headers; jsontypes.py checks value types against it), strategic merge
patch (patch.py reads merge keys and strategies from here), and the OpenAPI documents
(``openapi_definitions``, turned into /openapi/v2 and /openapi/v3 by the API server so that
``kubectl create -f`` validates and ``kubectl explain pod.spec.containers`` works).

The table lives in schema_data.py. Each type is a dict of
``field -> "TYPE [options] | description"``. TYPE is ``string``, ``integer``, ``int64``,
``boolean``, ``number``, ``IntOrString``, ``Quantity``, ``Time``, ``bytes`` (Go's ``[]byte``:
base64 text in JSON), ``object`` (free form, not
checked), ``map[string]T``, ``[]T`` or another type's name. Options: ``merge=KEY`` (a list
merged by KEY in strategic merge patch), ``merge`` (a primitive list merged as a set),
``retainKeys``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from .schema_data import (
    CORE,
    DESCRIPTIONS,
    KINDS,
    LIST_KINDS,
    META,
    META_FIELDS,
    TYPE_NS,
    TYPES,
)

__all__ = ["CORE", "KINDS", "META", "TYPES", "Field", "field_of", "fields_of", "kind_type",
           "openapi_definitions", "prune_unknown_fields", "strict_decoding_message",
           "unknown_field_messages", "unknown_fields"]

Object = dict[str, Any]


# ----------------------------------------------------------------------------- field specs


@dataclass(frozen=True, slots=True)
class Field:
    """One parsed field: ``shape`` is scalar, object, map or list."""

    shape: str
    type: str
    """Scalar type name, or the element/object type name (``object`` for free form)."""
    merge_key: str = ""
    strategy: str = ""
    """``merge`` or ``merge,retainKeys`` for strategic merge; empty means replace."""
    description: str = ""


_SCALARS = {"string", "integer", "int64", "boolean", "number", "IntOrString", "Quantity",
            "Time", "bytes"}


@cache
def _parse(spec: str) -> Field:
    typ, _, desc = spec.partition("|")
    words = typ.split()
    t = words[0]
    merge_key, strategies = "", []
    for opt in words[1:]:
        if opt == "merge":
            strategies.append("merge")
        elif opt.startswith("merge="):
            merge_key = opt[len("merge="):]
            strategies.append("merge")
        elif opt == "retainKeys":
            strategies.append("retainKeys")
    strategy = ",".join(strategies)
    desc = desc.strip()
    if t.startswith("[]"):
        return Field("list", t[2:], merge_key, strategy, desc)
    if t.startswith("map[string]"):
        return Field("map", t[len("map[string]"):], "", strategy, desc)
    if t in _SCALARS:
        return Field("scalar", t, "", strategy, desc)
    return Field("object", t, "", strategy, desc)


@cache
def fields_of(type_name: str) -> dict[str, Field] | None:
    """Fields of a type, including apiVersion/kind on top-level kinds; None if free form.
    Memoised (every write walks the schema): callers must not change the dict."""
    table = TYPES.get(type_name)
    if table is None:
        return None
    out = {k: _parse(v) for k, v in table.items()}
    if type_name in KINDS:
        out |= {k: _parse(v) for k, v in META_FIELDS.items()}
    return out


def field_of(type_name: str, name: str) -> Field | None:
    fields = fields_of(type_name)
    return None if fields is None else fields.get(name)


def kind_type(kind: str) -> str | None:
    """The schema type of a kind (``Pod``), or None when the kind is not described."""
    return kind if kind in TYPES else None


# ----------------------------------------------------------------------------- unknown fields


def unknown_fields(obj: Object) -> list[str]:
    """Paths of fields the schema does not know, as Kubernetes prints them for strict
    decoding: ``spec.containers[0].foo``. Unknown kinds report nothing."""
    return _unknown(obj, prune=False)


def prune_unknown_fields(obj: Object) -> list[str]:
    """Remove, in place and at any depth, the fields ``unknown_fields`` reports, and return
    their paths. This is what Kubernetes' decoder does for built-in types: an unknown field
    is never stored (fieldValidation only chooses between dropping it silently, with a
    warning, or refusing the body). Only types this table describes are pruned: free-form
    fields (``object``) and kinds without a schema keep everything, so the table must list
    every real field of the types it does describe (tests/apiserver/test_unknown_fields.py
    checks it against the official client's models)."""
    return _unknown(obj, prune=True)


def _unknown(obj: Object, *, prune: bool) -> list[str]:
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if not isinstance(kind, str) or kind_type(kind) is None:
        return []
    out: list[str] = []
    _walk(obj, kind, "", out, prune)
    return out


def _walk(value: Any, type_name: str, path: str, out: list[str], prune: bool) -> None:
    fields = fields_of(type_name)
    if fields is None or not isinstance(value, dict):
        return
    drop: list[str] = []
    for key, sub in value.items():
        fp = f"{path}.{key}" if path else str(key)
        f = fields.get(key)
        if f is None:
            out.append(fp)
            drop.append(key)
            continue
        if f.shape == "object":
            _walk(sub, f.type, fp, out, prune)
        elif f.shape == "list" and isinstance(sub, list) and f.type not in _SCALARS:
            for i, item in enumerate(sub):
                _walk(item, f.type, f"{fp}[{i}]", out, prune)
        elif f.shape == "map" and isinstance(sub, dict) and f.type not in _SCALARS:
            for k, item in sub.items():
                _walk(item, f.type, f"{fp}.{k}", out, prune)
    if prune:
        for key in drop:
            del value[key]


def unknown_field_messages(obj: Object) -> list[str]:
    """``unknown field "spec.foo"``: the Warn texts and the parts of the Strict error."""
    return [f'unknown field "{p}"' for p in unknown_fields(obj)]


def strict_decoding_message(obj: Object) -> str | None:
    """The 400 message for ``fieldValidation=Strict``, or None when every field is known."""
    msgs = unknown_field_messages(obj)
    if not msgs:
        return None
    kind = obj.get("kind", "")
    version = obj.get("apiVersion", "v1")
    return (f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding '
            f"error: {', '.join(msgs)}")


# ----------------------------------------------------------------------------- OpenAPI


def definition_name(type_name: str) -> str:
    if type_name in KINDS:
        return KINDS[type_name][2] + type_name
    if type_name.endswith("List") and type_name[:-4] in KINDS:
        return KINDS[type_name[:-4]][2] + type_name
    return TYPE_NS.get(type_name, CORE) + type_name


def _scalar_schema(t: str) -> dict[str, Any]:
    if t == "string":
        return {"type": "string"}
    if t == "integer":
        return {"type": "integer", "format": "int32"}
    if t == "int64":
        return {"type": "integer", "format": "int64"}
    if t == "boolean":
        return {"type": "boolean"}
    if t == "number":
        return {"type": "number", "format": "double"}
    if t == "IntOrString":
        return {"type": "string", "format": "int-or-string", "x-kubernetes-int-or-string": True}
    if t == "Quantity":
        return {"type": "string", "format": "quantity",
                "x-kubernetes-int-or-string": True}
    if t == "Time":
        return {"type": "string", "format": "date-time"}
    if t == "bytes":
        return {"type": "string", "format": "byte"}
    raise ValueError(t)


def _type_schema(t: str, ref_prefix: str) -> dict[str, Any]:
    if t in _SCALARS:
        return _scalar_schema(t)
    if t == "object" or t not in TYPES:
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return {"allOf": [{"$ref": ref_prefix + definition_name(t)}], "default": {}}


def _field_schema(f: Field, ref_prefix: str) -> dict[str, Any]:
    if f.shape == "list":
        s: dict[str, Any] = {"type": "array", "items": _type_schema(f.type, ref_prefix)}
        if f.merge_key:
            s["x-kubernetes-patch-merge-key"] = f.merge_key
            s["x-kubernetes-list-type"] = "map"
            s["x-kubernetes-list-map-keys"] = [f.merge_key]
        elif f.strategy and f.type in _SCALARS:
            s["x-kubernetes-list-type"] = "set"
        else:
            s["x-kubernetes-list-type"] = "atomic"
        if f.strategy:
            s["x-kubernetes-patch-strategy"] = f.strategy
    elif f.shape == "map":
        s = {"type": "object", "additionalProperties": _type_schema(f.type, ref_prefix)}
    else:
        s = _type_schema(f.type, ref_prefix)
    if f.description:
        s["description"] = f.description
    return s


def _object_schema(type_name: str, ref_prefix: str) -> dict[str, Any]:
    fields = fields_of(type_name) or {}
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {k: _field_schema(f, ref_prefix) for k, f in sorted(fields.items())},
    }
    desc = DESCRIPTIONS.get(type_name)
    if desc:
        schema["description"] = desc
    required = [k for k in ("containers", "name") if k in fields
                and type_name in ("PodSpec", "Container")]
    if required:
        schema["required"] = required
    if type_name in KINDS:
        group, version, _ = KINDS[type_name]
        schema["x-kubernetes-group-version-kind"] = [
            {"group": group, "version": version, "kind": type_name}]
    return schema


@cache
def _definitions(ref_prefix: str) -> dict[str, dict[str, Any]]:
    out = {definition_name(t): _object_schema(t, ref_prefix) for t in TYPES}
    for kind in LIST_KINDS:
        group, version, ns = KINDS[kind]
        out[ns + kind + "List"] = {
            "type": "object",
            "description": f"{kind}List is a list of {kind} objects.",
            "required": ["items"],
            "properties": {
                "apiVersion": _field_schema(_parse(META_FIELDS["apiVersion"]), ref_prefix),
                "kind": _field_schema(_parse(META_FIELDS["kind"]), ref_prefix),
                "items": {"type": "array", "description": f"List of {kind} objects.",
                          "items": _type_schema(kind, ref_prefix)},
                "metadata": {"allOf": [{"$ref": ref_prefix + META + "ListMeta"}],
                             "default": {}, "description": "Standard list metadata."},
            },
            "x-kubernetes-group-version-kind": [
                {"group": group, "version": version, "kind": kind + "List"}],
        }
    return out


def openapi_definitions(ref_prefix: str = "#/components/schemas/") -> dict[str, dict[str, Any]]:
    """OpenAPI component schemas keyed ``io.k8s.api.core.v1.Pod``; references use
    ``ref_prefix`` (pass ``"#/definitions/"`` for an OpenAPI v2 document). The result is
    shared: copy it before changing it."""
    return _definitions(ref_prefix)
