"""The object machinery of minikube8s.api, as the REST layer calls it.

One place binds the pure-data modules (meta, defaults, validation, conversion, schema, patch)
to the names registry.py and handlers.py use, so the write pipeline reads as a list of steps
and a change of signature over there is absorbed here. Errors raised by those modules are
already ``errors.APIError``s; patch helpers that trip over malformed input are turned into a
400 by handlers.py.
"""

from __future__ import annotations

from typing import Any, cast

from ...api import conversion, defaults, meta, patch, schema, validation

Object = dict[str, Any]


def prepare_for_create(obj: Object, *, namespace: str | None) -> None:
    meta.prepare_for_create(obj, namespace=namespace)


def prepare_for_update(obj: Object, old: Object) -> None:
    meta.prepare_for_update(obj, old)


def now_rfc3339() -> str:
    return meta.now_rfc3339()


def apply_defaults(obj: Object) -> None:
    defaults.apply_defaults(obj)


def validate(obj: Object, *, old: Object | None = None, subresource: str = "") -> None:
    validation.validate(obj, old=old, subresource=subresource)


def to_v1(obj: Object) -> tuple[Object, list[str]]:
    out, warnings = conversion.to_v1(obj)
    return out, list(warnings)


def from_v1(obj: Object, version: str) -> Object:
    if version == "v1":
        return obj
    return conversion.from_v1(obj, version)


def unknown_fields(obj: Object) -> list[str]:
    return list(schema.unknown_fields(obj))


def prune_unknown_fields(obj: Object) -> list[str]:
    return list(schema.prune_unknown_fields(obj))


def merge_patch(orig: Object, body: Any) -> Object:
    return cast(Object, patch.merge_patch(orig, body))


def json_patch(orig: Object, ops: Any) -> Object:
    return cast(Object, patch.json_patch(orig, ops))


def strategic_merge_patch(orig: Object, body: Any, *, kind: str) -> Object:
    return patch.strategic_merge_patch(orig, body, kind=kind)
