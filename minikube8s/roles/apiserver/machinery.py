"""The object machinery of minikube8s.api, as the REST layer calls it.

One place binds the pure-data modules (defaults, validation, conversion, schema, patch) to the
names registry.py and handlers.py use, so the write pipeline reads as a list of steps. The
modules are imported on first use: the API server still starts (and serves reads) if one of
them fails to import, and the failure is reported on the request that needed it as a 500
Status instead of killing the process at import time. Defaulting, validation and the schema
check are skipped (logged once) while their module is missing.
"""

from __future__ import annotations

import importlib
import logging
from types import ModuleType
from typing import Any, cast

from ...api import errors

log = logging.getLogger(__name__)

Object = dict[str, Any]

_modules: dict[str, ModuleType] = {}
_missing: set[str] = set()


def _mod(name: str) -> ModuleType:
    m = _modules.get(name)
    if m is None:
        try:
            m = importlib.import_module(f"minikube8s.api.{name}")
        except ImportError as e:
            if name in _missing:
                raise errors.InternalError(f"minikube8s.api.{name} is not available") from e
            _missing.add(name)
            log.error("minikube8s.api.%s is not importable: %s", name, e)
            raise errors.InternalError(f"minikube8s.api.{name} is not available: {e}") from e
        _modules[name] = m
    return m


def _optional(name: str) -> ModuleType | None:
    """A step the pipeline can do without (defaulting, validation, schema) while its module is
    missing from the tree: logged once, then skipped."""
    try:
        return _mod(name)
    except errors.InternalError:
        return None


def prepare_for_create(obj: Object, *, namespace: str | None) -> None:
    _mod("meta").prepare_for_create(obj, namespace=namespace)


def prepare_for_update(obj: Object, old: Object) -> None:
    _mod("meta").prepare_for_update(obj, old)


def now_rfc3339() -> str:
    return cast(str, _mod("meta").now_rfc3339())


def apply_defaults(obj: Object) -> None:
    m = _optional("defaults")
    if m is not None:
        m.apply_defaults(obj)


def validate(obj: Object, *, old: Object | None = None) -> None:
    m = _optional("validation")
    if m is not None:
        m.validate(obj, old=old)


def to_v1(obj: Object) -> tuple[Object, list[str]]:
    out, warnings = _mod("conversion").to_v1(obj)
    return cast(Object, out), list(warnings)


def from_v1(obj: Object, version: str) -> Object:
    if version == "v1":
        return obj
    return cast(Object, _mod("conversion").from_v1(obj, version))


def unknown_fields(obj: Object) -> list[str]:
    m = _optional("schema")
    return [] if m is None else list(m.unknown_fields(obj))


def merge_patch(orig: Object, patch: Any) -> Object:
    return cast(Object, _mod("patch").merge_patch(orig, patch))


def json_patch(orig: Object, ops: Any) -> Object:
    return cast(Object, _mod("patch").json_patch(orig, ops))


def strategic_merge_patch(orig: Object, patch: Any, *, kind: str) -> Object:
    return cast(Object, _mod("patch").strategic_merge_patch(orig, patch, kind=kind))
