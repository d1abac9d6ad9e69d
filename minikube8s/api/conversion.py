"""apiVersion conversion: the seed's v1beta3 dialect in, stored v1 out, and back for serving.

Objects are stored as v1. ``to_v1`` is called by the API server on every body it decodes,
before defaulting (defaults.py) and validation (validation.py); ``from_v1`` when a client reads
through ``/api/v1beta3``. v1beta3 (Kubernetes v0.15-v0.17) differed from v1 mostly in names:
Service ``portalIP``/``publicIPs`` became ``clusterIP``/``externalIPs``, a PodSpec's ``host``
became ``nodeName``, Minions became Nodes. The seed's manifests also carry fields no version
ever had (``enabled``/``type`` in a probe, ``portals`` in a pod spec) and ``TimeoutSeconds``
with a capital T, which v0.17 read as ``timeoutSeconds`` because Go's JSON decoding matches
field names case-insensitively. Such fields are converted or dropped, and each is reported as
a warning the API server sends back as a ``Warning:`` header, so ``kubectl create -f`` shows
it. Pure data: returns new objects, never mutates its input.
"""

from __future__ import annotations

import copy
from typing import Any

from . import errors, resources, schema

Object = dict[str, Any]

V1BETA3 = "v1beta3"
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
# Probe fields of v1 (and v1beta3); any other spelling that matches case-insensitively is what
# v0.17's decoder would have accepted.
_PROBE_FIELDS = ("exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds",
                 "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold",
                 "terminationGracePeriodSeconds")


def _known_versions() -> set[str]:
    out = {"v1"}
    for r in resources.ALL:
        out.add(r.group_version)
    for s in resources.SUBRESOURCES:
        out.add(f"{s.group}/{s.version}" if s.group else s.version)
    return out


def to_v1(obj: Object, *, default_version: str = "v1") -> tuple[Object, list[str]]:
    """Convert a decoded body to the stored version. Returns (object, warnings).

    ``default_version`` is the URL's version, used when the body has no apiVersion (the API
    server fills it from the URL, as Kubernetes does).
    """
    if not isinstance(obj, dict):
        raise errors.BadRequest("the object to convert must be a JSON object")
    version = obj.get("apiVersion") or default_version
    kind = str(obj.get("kind") or "")
    if version == V1BETA3:
        out = copy.deepcopy(obj)
        warnings: list[str] = []
        _v1beta3_to_v1(out, warnings)
        _fold_case(out, str(out.get("kind") or ""), "", warnings)
        return out, warnings
    if version in _known_versions():
        return copy.deepcopy(obj), []
    raise errors.BadRequest(f'no kind "{kind}" is registered for version "{version}"')


def from_v1(obj: Object, version: str) -> Object:
    """A stored v1 object as served under ``/api/<version>``; lists convert item by item."""
    out = copy.deepcopy(obj)
    if version in ("v1", ""):
        return out
    if version != V1BETA3:
        raise errors.BadRequest(f'no kind "{obj.get("kind", "")}" is registered for version '
                                f'"{version}"')
    _v1_to_v1beta3(out)
    return out


# ------------------------------------------------------------------------ v1beta3 -> v1


def _v1beta3_to_v1(obj: Object, warnings: list[str], base: str = "") -> None:
    """Convert in place; ``base`` prefixes field paths (``items[2].`` inside a List)."""
    kind = obj.get("kind")
    obj["apiVersion"] = "v1"
    if kind in ("Minion", "MinionList"):
        obj["kind"] = kind = "Node" + kind[len("Minion"):]
        warnings.append(f'v1beta3: {base}kind "Minion" is "Node" in v1')
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        for i, item in enumerate(obj["items"]):
            if isinstance(item, dict):
                _v1beta3_to_v1(item, warnings, f"{base}items[{i}].")
        return
    if kind == "Pod":
        _pod_spec_to_v1(obj.get("spec"), f"{base}spec", warnings)
        _pod_status_to_v1(obj)
    elif kind in ("ReplicationController", "PodTemplate"):
        holder = obj.get("spec") if kind == "ReplicationController" else obj
        path = f"{base}spec.template" if kind == "ReplicationController" else f"{base}template"
        template = holder.get("template") if isinstance(holder, dict) else None
        if isinstance(template, dict):
            _pod_spec_to_v1(template.get("spec"), f"{path}.spec", warnings)
    elif kind == "Service":
        _service_to_v1(obj.get("spec"), f"{base}spec", warnings)


def _fold_case(value: Any, type_name: str, path: str, warnings: list[str]) -> None:
    """Rename keys that match a known field only case-insensitively (``TimeoutSeconds``), as
    v0.17's decoder accepted them; everything else is left for strict field validation."""
    if isinstance(value, dict) and type_name.endswith("List") and type_name != "List":
        type_name = ""
    if isinstance(value, dict) and isinstance(value.get("items"), list) and (
            not type_name or type_name.endswith("List")):
        for i, item in enumerate(value["items"]):
            if isinstance(item, dict):
                _fold_case(item, str(item.get("kind") or ""), f"{path}items[{i}].", warnings)
        return
    fields = schema.fields_of(type_name) if type_name else None
    if fields is None or not isinstance(value, dict):
        return
    lower = {f.lower(): f for f in fields}
    for key in list(value):
        canon = lower.get(key.lower()) if key not in fields else None
        if canon is not None and canon not in value:
            value[canon] = value.pop(key)
            warnings.append(f'v1beta3: field "{path}{key}" read as "{canon}" (Kubernetes '
                            "v0.17 matched field names case-insensitively)")
    for key, sub in value.items():
        f = fields.get(key)
        if f is None or f.type not in schema.TYPES:
            continue
        if f.shape == "object":
            _fold_case(sub, f.type, f"{path}{key}.", warnings)
        elif f.shape == "list" and isinstance(sub, list):
            for i, item in enumerate(sub):
                _fold_case(item, f.type, f"{path}{key}[{i}].", warnings)


def _rename(d: dict[str, Any], old: str, new: str, path: str, warnings: list[str]) -> None:
    if old not in d:
        return
    value = d.pop(old)
    if new in d:
        warnings.append(f'v1beta3: field "{path}.{old}" ignored: "{path}.{new}" is also set')
        return
    d[new] = value


def _pod_spec_to_v1(spec: Any, path: str, warnings: list[str]) -> None:
    if not isinstance(spec, dict):
        return
    _rename(spec, "host", "nodeName", path, warnings)
    _rename(spec, "serviceAccount", "serviceAccountName", path, warnings)
    for key in ("containers", "initContainers"):
        containers = spec.get(key)
        if not isinstance(containers, list):
            continue
        for i, c in enumerate(containers):
            if isinstance(c, dict):
                _container_to_v1(c, f"{path}.{key}[{i}]", warnings)
    if "portals" in spec:
        spec.pop("portals")
        warnings.append(f'v1beta3: unknown field "{path}.portals" dropped: no Kubernetes version '
                        "has pod-level portals (a Service gives pods a portal IP)")


def _container_to_v1(c: dict[str, Any], path: str, warnings: list[str]) -> None:
    if "portals" in c:
        c.pop("portals")
        warnings.append(f'v1beta3: unknown field "{path}.portals" dropped: no Kubernetes version '
                        "has container portals")
    for field in ("privileged", "capabilities"):
        if field in c:
            sc = c.setdefault("securityContext", {})
            if isinstance(sc, dict):
                sc.setdefault(field, c.pop(field))
    for probe_name in _PROBES:
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            if not _probe_to_v1(probe, f"{path}.{probe_name}", warnings):
                del c[probe_name]


def _probe_to_v1(probe: dict[str, Any], path: str, warnings: list[str]) -> bool:
    """Fix a probe in place; False when it must be removed (``enabled: false``)."""
    lower = {f.lower(): f for f in _PROBE_FIELDS}
    for key in list(probe):
        if key in _PROBE_FIELDS:
            continue
        canon = lower.get(key.lower())
        if canon is not None:
            value = probe.pop(key)
            if canon in probe:
                warnings.append(f'v1beta3: field "{path}.{key}" ignored: "{path}.{canon}" is '
                                "also set")
            else:
                probe[canon] = value
                warnings.append(f'v1beta3: field "{path}.{key}" read as "{canon}" (Kubernetes '
                                "v0.17 matched field names case-insensitively)")
    enabled = probe.pop("enabled", None)
    if enabled is not None:
        if enabled is False:
            warnings.append(f'v1beta3: "{path}" dropped: it says enabled: false, and a probe '
                            "runs whenever it is set")
            return False
        warnings.append(f'v1beta3: unknown field "{path}.enabled" dropped: a probe runs '
                        "whenever it is set")
    ptype = probe.pop("type", None)
    if ptype is not None:
        handler = {"http": "httpGet", "tcp": "tcpSocket", "exec": "exec"}.get(
            str(ptype).lower())
        if handler and handler not in probe:
            warnings.append(f'v1beta3: unknown field "{path}.type" dropped, and "{path}" has '
                            f"no {handler} handler to go with type: {ptype}")
        else:
            warnings.append(f'v1beta3: unknown field "{path}.type" dropped: the handler '
                            f"({handler or 'httpGet, tcpSocket or exec'}) gives the probe type")
    return True


def _pod_status_to_v1(obj: Object) -> None:
    status = obj.get("status")
    if isinstance(status, dict) and "host" in status:
        host = status.pop("host")
        spec = obj.setdefault("spec", {})
        if isinstance(spec, dict) and not spec.get("nodeName") and host:
            spec["nodeName"] = host


def _service_to_v1(spec: Any, path: str, warnings: list[str]) -> None:
    if not isinstance(spec, dict):
        return
    _rename(spec, "portalIP", "clusterIP", path, warnings)
    _rename(spec, "publicIPs", "externalIPs", path, warnings)
    if spec.pop("createExternalLoadBalancer", False) and not spec.get("type"):
        spec["type"] = "LoadBalancer"
    # The v1beta1/v1beta2 single-port form, still accepted by early v1beta3 manifests.
    if "port" in spec and "ports" not in spec:
        port: dict[str, Any] = {"port": spec.pop("port")}
        if "containerPort" in spec:
            port["targetPort"] = spec.pop("containerPort")
        if "protocol" in spec:
            port["protocol"] = spec.pop("protocol")
        spec["ports"] = [port]
        warnings.append(f'v1beta3: single-port fields "{path}.port"/"{path}.containerPort" '
                        f'converted to "{path}.ports[0]"')
    elif "containerPort" in spec:
        target = spec.pop("containerPort")
        for p in spec.get("ports") or []:
            if isinstance(p, dict) and not p.get("targetPort"):
                p["targetPort"] = target
        warnings.append(f'v1beta3: field "{path}.containerPort" used as the ports\' targetPort')


# ------------------------------------------------------------------------ v1 -> v1beta3


def _v1_to_v1beta3(obj: Object) -> None:
    kind = obj.get("kind")
    # Only core objects change version; a Status, a meta.k8s.io Table or a Lease stay as is.
    if obj.get("apiVersion", "v1") == "v1" and kind != "Status":
        obj["apiVersion"] = V1BETA3
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        for item in obj["items"]:
            if isinstance(item, dict):
                _v1_to_v1beta3(item)
        return
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if kind == "Service":
        _plain_rename(spec, "clusterIP", "portalIP")
        _plain_rename(spec, "externalIPs", "publicIPs")
        if spec.get("type") == "LoadBalancer":
            spec["createExternalLoadBalancer"] = True
    elif kind == "Pod":
        _pod_spec_to_v1beta3(spec)
    elif kind == "ReplicationController":
        template = spec.get("template")
        if isinstance(template, dict) and isinstance(template.get("spec"), dict):
            _pod_spec_to_v1beta3(template["spec"])


def _plain_rename(d: dict[str, Any], old: str, new: str) -> None:
    if old in d:
        d[new] = d.pop(old)


def _pod_spec_to_v1beta3(spec: dict[str, Any]) -> None:
    _plain_rename(spec, "nodeName", "host")
    _plain_rename(spec, "serviceAccountName", "serviceAccount")
