"""ConfigMap and Secret: validation and the canonical form of their data.

Mirrors ValidateConfigMap(Update) and ValidateSecret(Update) in pkg/apis/core/validation:
every key is a config key (``[-._a-zA-Z0-9]+``, at most 253 characters, not ``.``, ``..`` or
``..``-prefixed), the values together hold at most 1 MiB (MaxSecretSize, decoded bytes), a
ConfigMap key is in ``data`` or ``binaryData`` but not both, a Secret's ``type`` never changes
and the well-known types carry their required keys, and once ``immutable`` is true neither
the data nor the flag may change (``field is immutable when `immutable` is set``).

Also the canonical form the API stores: a ``[]byte`` value is re-encoded as Go marshals it
(``YW\\nJj`` is stored and read back as ``YWJj``), so equal bytes compare equal. Called by
defaults.py (canonical form, stringData) and validation.py (the rules). Neighbours: b64.py
(Go's decoder), jsontypes.py (which has already refused a value that does not decode). Pure
functions.
"""

from __future__ import annotations

import re
from typing import Any

from . import b64, errors, names
from .errors import Cause

__all__ = ["MAX_SECRET_SIZE", "canonical_bytes_map", "is_config_map_key",
           "validate_config_map", "validate_secret"]

Object = dict[str, Any]

MAX_SECRET_SIZE = 1024 * 1024
"""core.MaxSecretSize: the decoded bytes of all values of one Secret or ConfigMap."""

_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"
_CONFIG_KEY_RE = re.compile(f"^{_CONFIG_KEY_FMT}$")
_IMMUTABLE = "field is immutable when `immutable` is set"

# Secret types whose keys Kubernetes checks (pkg/apis/core/types.go), and those keys.
_REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}


def is_config_map_key(key: str) -> list[str]:
    """validation.IsConfigMapKey."""
    out = []
    if len(key) > names.DNS1123_SUBDOMAIN_MAX:
        out.append(names.max_len_error(names.DNS1123_SUBDOMAIN_MAX))
    if not _CONFIG_KEY_RE.match(key):
        out.append(names.regex_error(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.'",
            _CONFIG_KEY_FMT, "key.name", "KEY_NAME", "key-name"))
    if key == ".":
        out.append("must not be '.'")
    elif key == "..":
        out.append("must not be '..'")
    elif key.startswith(".."):
        out.append("must not start with '..'")
    return out


def canonical_bytes_map(value: Any) -> None:
    """Re-encode, in place, every ``[]byte`` value of a data map as Go marshals it; values
    that do not decode are left for the decoder's check to refuse."""
    if not isinstance(value, dict):
        return
    for k, v in value.items():
        if isinstance(v, str):
            try:
                value[k] = b64.encode(b64.decode(v))
            except ValueError:
                continue


def _dict(obj: Object, key: str) -> dict[str, Any]:
    v = obj.get(key)
    return v if isinstance(v, dict) else {}


def _size(v: Any, *, encoded: bool) -> int:
    if not isinstance(v, str):
        return 0
    if not encoded:
        return len(v.encode())
    try:
        return len(b64.decode(v))
    except ValueError:
        return 0


def _keys(data: dict[str, Any], path: str) -> list[Cause]:
    return [errors.invalid(f"{path}[{k}]", k, msg)
            for k in sorted(data) for msg in is_config_map_key(str(k))]


def _immutable(obj: Object, old: Object | None, fields: tuple[str, ...]) -> list[Cause]:
    if old is None or old.get("immutable") is not True:
        return []
    out = []
    if obj.get("immutable") is not True:
        out.append(errors.forbidden("immutable", _IMMUTABLE))
    for f in fields:
        if _dict(obj, f) != _dict(old, f):
            out.append(errors.forbidden(f, _IMMUTABLE))
    return out


def validate_config_map(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    data, binary = _dict(obj, "data"), _dict(obj, "binaryData")
    out = _immutable(obj, old, ("data", "binaryData"))
    out.extend(_keys(data, "data"))
    out.extend(errors.invalid(f"data[{k}]", k, "duplicate of key present in binaryData")
               for k in sorted(data) if k in binary)
    out.extend(_keys(binary, "binaryData"))
    total = sum(_size(v, encoded=False) for v in data.values())
    total += sum(_size(v, encoded=True) for v in binary.values())
    if total > MAX_SECRET_SIZE:
        out.append(errors.too_long("", "", MAX_SECRET_SIZE))
    return out


def validate_secret(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    data = _dict(obj, "data")
    out: list[Cause] = []
    if old is not None and obj.get("type") != old.get("type"):
        out.append(errors.invalid("type", obj.get("type") or "", "field is immutable"))
    out.extend(_immutable(obj, old, ("data",)))
    out.extend(_keys(data, "data"))
    if sum(_size(v, encoded=True) for v in data.values()) > MAX_SECRET_SIZE:
        out.append(errors.too_long("data", "", MAX_SECRET_SIZE))
    out.extend(_type_rules(obj, data))
    return out


def _type_rules(obj: Object, data: dict[str, Any]) -> list[Cause]:
    """The keys a well-known Secret type requires (the content of a docker config is not
    parsed here)."""
    stype = str(obj.get("type") or "")
    if stype == "kubernetes.io/service-account-token":
        ann = _dict(_dict(obj, "metadata"), "annotations")
        key = "kubernetes.io/service-account.name"
        return [] if ann.get(key) else [errors.required(f"metadata.annotations[{key}]")]
    if stype == "kubernetes.io/basic-auth":
        if "username" in data or "password" in data:
            return []
        return [errors.required("data[username]"), errors.required("data[password]")]
    if stype == "kubernetes.io/ssh-auth":
        if _size(data.get("ssh-privatekey"), encoded=True):
            return []
        return [errors.required("data[ssh-privatekey]")]
    return [errors.required(f"data[{k}]") for k in _REQUIRED_KEYS.get(stype, ())
            if k not in data]
