"""Validation of what a pod takes from ConfigMaps and Secrets: ``env[].valueFrom`` key
selectors, ``envFrom``, and the ``secret``, ``configMap`` and ``projected`` volume sources with
their ``items``; and the ``downwardAPI`` items of volumes and projected sources
(``downward_api_items``: validateDownwardAPIVolumeFile).

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

from . import configdata, errors, names, quantity
from .errors import Cause

__all__ = ["downward_api_items", "env_from", "value_from", "volume_source"]

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
    # As Kubernetes: not reported again when the '..' element check above already caught it.
    if text.startswith("..") and not text.startswith("../"):
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
    downward = volume.get("downwardAPI")
    if isinstance(downward, dict):
        out.extend(_mode(downward.get("defaultMode"), f"{path}.downwardAPI.defaultMode"))
        out.extend(downward_api_items(downward.get("items"), f"{path}.downwardAPI"))
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
            if isinstance(src.get("downwardAPI"), dict):
                out.extend(downward_api_items(src["downwardAPI"].get("items"),
                                              f"{sp}.downwardAPI"))
    return out


# ----------------------------------------------------------------------------- downward API

_FIELD_PATHS = ["metadata.annotations", "metadata.labels", "metadata.name",
                "metadata.namespace", "metadata.uid"]
_RESOURCES = ["limits.cpu", "limits.ephemeral-storage", "limits.memory", "requests.cpu",
              "requests.ephemeral-storage", "requests.memory"]
_CPU_DIVISORS = {"1m", "1"}
_BYTE_DIVISORS = {"1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi",
                  "1Ei"}


def _field_selector(ref: dict[str, Any], path: str) -> list[Cause]:
    """validateObjectFieldSelector with the volume's field paths (an absent apiVersion is
    v1, as defaulting would make it)."""
    version = ref.get("apiVersion")
    field_path = ref.get("fieldPath")
    if not field_path:
        return [errors.required(f"{path}.fieldPath", "")]
    text = str(field_path)
    if version not in (None, "", "v1"):
        return [errors.invalid(f"{path}.fieldPath", text, "error converting fieldPath: "
                               f'field label not supported: {text}')]
    base, _, key = text[:-2].partition("['")
    if text.endswith("']") and base and "['" in text:  # fieldpath.SplitMaybeSubscriptedPath
        if base == "metadata.annotations":
            key = key.lower()
        elif base != "metadata.labels":
            return [errors.invalid(path, base, "does not support subscript")]
        return [errors.invalid(path, key, m) for m in names.is_qualified_name(key)]
    if text not in _FIELD_PATHS:
        return [errors.not_supported(f"{path}.fieldPath", text, _FIELD_PATHS)]
    return []


def _resource_selector(ref: dict[str, Any], path: str) -> list[Cause]:
    """validateContainerResourceFieldSelector (volume: containerName is required) and
    validateContainerResourceDivisor."""
    out: list[Cause] = []
    resource = str(ref.get("resource") or "")
    if not ref.get("containerName"):
        out.append(errors.required(f"{path}.containerName", ""))
    elif not resource:
        out.append(errors.required(f"{path}.resource", ""))
    elif resource not in _RESOURCES and not resource.startswith(
            ("limits.hugepages-", "requests.hugepages-")):
        out.append(errors.not_supported(f"{path}.resource", resource, _RESOURCES))
    divisor = ref.get("divisor")
    if divisor is None or not quantity.is_quantity(divisor) or \
            quantity.parse_quantity(divisor) == 0:
        return out
    text = quantity.canonical(divisor)
    allowed = _CPU_DIVISORS if resource.endswith(".cpu") else _BYTE_DIVISORS
    if resource.endswith((".cpu", ".memory", ".ephemeral-storage")) and text not in allowed:
        what = resource.split(".", 1)[1]
        values = "1m and 1" if what == "cpu" else \
            "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"
        out.append(errors.invalid(f"{path}.divisor", resource, f"only divisor's values "
                                  f"{values} are supported with the {what} resource"))
    return out


def downward_api_items(items: Any, path: str) -> list[Cause]:
    """validateDownwardAPIVolumeFile over a downwardAPI volume's (or projected source's)
    ``items``. ``path`` is the volume source's, not the item's: Kubernetes names the
    fields ``...downwardAPI.path`` without the item's index, and so does this."""
    out: list[Cause] = []
    for item in _list(items):
        f = _dict(item)
        if not f.get("path"):
            out.append(errors.required(f"{path}.path", ""))
        out.extend(_item_path(f.get("path"), f"{path}.path"))
        field_ref, resource_ref = f.get("fieldRef"), f.get("resourceFieldRef")
        if field_ref is not None:
            out.extend(_field_selector(_dict(field_ref), f"{path}.fieldRef"))
            if resource_ref is not None:
                out.append(errors.invalid(path, "resource", "fieldRef and resourceFieldRef "
                                          "can not be specified simultaneously"))
        elif resource_ref is not None:
            out.extend(_resource_selector(_dict(resource_ref), f"{path}.resourceFieldRef"))
        else:
            out.append(errors.required(path, "one of fieldRef and resourceFieldRef is "
                                       "required"))
        out.extend(_mode(f.get("mode"), f"{path}.mode"))
    return out
