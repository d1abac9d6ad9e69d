"""Validation of what a pod takes from ConfigMaps and Secrets: ``env[].valueFrom`` key
selectors, ``envFrom``, and the ``secret``, ``configMap`` and ``projected`` volume sources with
their ``items``.

Mirrors validateEnvVarValueFrom, ValidateEnvFrom, validate{Secret,ConfigMap}VolumeSource,
validateProjectionSources and validateKeyToPath in pkg/apis/core/validation: exactly one
source per ``valueFrom`` or ``envFrom`` entry, names that are DNS subdomains, keys that are
config keys, file modes within 0-0777, and item paths that are relative and never step out of
the volume (``..``), so a kubelet writing a secret volume can trust them. Split out of
podspec.py (its caller) to keep that module about containers. Pure functions.
"""

from __future__ import annotations

import posixpath
from typing import Any

from . import configdata, errors, names
from .errors import Cause

__all__ = ["env_from", "value_from", "volume_source"]

_FILE_MODE = "must be a number between 0 and 0777 (octal), both inclusive"
_VALUE_FROM_SOURCES = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef",
                       "fileKeyRef")


def _dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def _name(value: Any, path: str) -> list[Cause]:
    """ValidateNameFunc(ValidateSecretName): a DNS subdomain (so "" is invalid, not
    missing)."""
    text = value if isinstance(value, str) else ""
    return [errors.invalid(path, text, m) for m in names.is_dns1123_subdomain(text)]


def _key_selector(sel: dict[str, Any], path: str) -> list[Cause]:
    """validate{ConfigMap,Secret}KeySelector."""
    out = _name(sel.get("name"), f"{path}.name")
    key = sel.get("key")
    if not key:
        out.append(errors.required(f"{path}.key", ""))
    else:
        out.extend(errors.invalid(f"{path}.key", key, m)
                   for m in configdata.is_config_map_key(str(key)))
    return out


def value_from(env: dict[str, Any], path: str) -> list[Cause]:
    """One ``env[i]``'s valueFrom (``path`` is ``...env[i]``)."""
    source = env.get("valueFrom")
    if source is None:
        return []
    vp = f"{path}.valueFrom"
    src = _dict(source)
    out: list[Cause] = []
    for kind in ("configMapKeyRef", "secretKeyRef"):
        if src.get(kind) is not None:
            out.extend(_key_selector(_dict(src[kind]), f"{vp}.{kind}"))
    count = sum(1 for k in _VALUE_FROM_SOURCES if src.get(k) is not None)
    if count == 0:
        out.append(errors.invalid(vp, "", "must specify one of: `fieldRef`, "
                                  "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
    elif env.get("value"):
        out.append(errors.invalid(vp, "", "may not be specified when `value` is not empty"))
    elif count > 1:
        out.append(errors.invalid(vp, "", "may not have more than one field specified at a "
                                  "time"))
    return out


def env_from(sources: Any, path: str) -> list[Cause]:
    """ValidateEnvFrom over a container's ``envFrom`` (``path`` ends in ``envFrom``)."""
    out: list[Cause] = []
    for i, item in enumerate(_list(sources)):
        ip = f"{path}[{i}]"
        src = _dict(item)
        prefix = src.get("prefix")
        if prefix:
            out.extend(errors.invalid(f"{ip}.prefix", prefix, m)
                       for m in names.is_env_var_name(str(prefix)))
        count = 0
        for kind in ("configMapRef", "secretRef"):
            if src.get(kind) is None:
                continue
            count += 1
            name = _dict(src[kind]).get("name")
            if not name:
                out.append(errors.required(f"{ip}.{kind}.name", ""))
            else:
                out.extend(_name(name, f"{ip}.{kind}.name"))
        if count == 0:
            out.append(errors.invalid(path, "", "must specify one of: `configMapRef` or "
                                      "`secretRef`"))
        elif count > 1:
            out.append(errors.invalid(path, "", "may not have more than one field specified "
                                      "at a time"))
    return out


def _mode(value: Any, path: str) -> list[Cause]:
    if value is None:
        return []
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0o777:
        return [errors.invalid(path, value, _FILE_MODE)]
    return []


def _item_path(target: Any, path: str) -> list[Cause]:
    """ValidateLocalNonReservedPath: relative, no ``..`` element, not ``..``-prefixed."""
    text = target if isinstance(target, str) else ""
    out: list[Cause] = []
    if posixpath.isabs(text):
        out.append(errors.invalid(path, text, "must be a relative path"))
    if ".." in text.replace("\\", "/").split("/"):
        out.append(errors.invalid(path, text, "must not contain '..'"))
    if text.startswith(".."):
        out.append(errors.invalid(path, text, "must not start with '..'"))
    return out


def _items(items: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, item in enumerate(_list(items)):
        ip = f"{path}[{i}]"
        kp = _dict(item)
        if not kp.get("key"):
            out.append(errors.required(f"{ip}.key", ""))
        if not kp.get("path"):
            out.append(errors.required(f"{ip}.path", ""))
        out.extend(_item_path(kp.get("path"), f"{ip}.path"))
        out.extend(_mode(kp.get("mode"), f"{ip}.mode"))
    return out


def volume_source(volume: dict[str, Any], path: str) -> list[Cause]:
    """The secret, configMap and projected sources of one volume (``path`` is
    ``...volumes[i]``); the source's own required name is podspec's check."""
    out: list[Cause] = []
    for kind in ("secret", "configMap"):
        src = volume.get(kind)
        if isinstance(src, dict):
            out.extend(_mode(src.get("defaultMode"), f"{path}.{kind}.defaultMode"))
            out.extend(_items(src.get("items"), f"{path}.{kind}.items"))
    projected = volume.get("projected")
    if isinstance(projected, dict):
        pp = f"{path}.projected"
        out.extend(_mode(projected.get("defaultMode"), f"{pp}.defaultMode"))
        for i, source in enumerate(_list(projected.get("sources"))):
            sp = f"{pp}.sources[{i}]"
            src = _dict(source)
            kinds = [k for k in ("secret", "configMap", "downwardAPI", "serviceAccountToken",
                                 "clusterTrustBundle", "podCertificate")
                     if src.get(k) is not None]
            if len(kinds) > 1:
                out.append(errors.forbidden(f"{sp}.{kinds[1]}",
                                            "may not specify more than 1 volume type per "
                                            "source"))
            for kind in ("secret", "configMap"):
                ref = src.get(kind)
                if isinstance(ref, dict):
                    if not ref.get("name"):
                        out.append(errors.required(f"{sp}.{kind}.name", ""))
                    out.extend(_items(ref.get("items"), f"{sp}.{kind}.items"))
    return out
