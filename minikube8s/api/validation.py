"""Validation of v1 objects, with Kubernetes' field paths and wording.

Mirrors pkg/apis/core/validation/validation.go for the kinds minikube8s serves. The API server
calls ``validate(obj, old=...)`` after conversion (conversion.py), defaulting (defaults.py) and
its strategies, so objects here are already defaulted; the result is one 422
``errors.Invalid`` listing every problem, which kubectl prints as one bullet per field
(``* spec.containers[0].image: Required value``). Malformed types (a string where a list
belongs) are reported as invalid values rather than crashing. Name and label syntax lives in
names.py, quantities in quantity.py. Pod-spec rules are in podspec.py.
"""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Callable
from typing import Any

from . import configdata, errors, names, quantity
from .errors import Cause
from .meta import is_namespaced
from .podspec import (
    as_dict,
    as_list,
    go_map,
    nonnegative,
    port_num_or_name,
    resource_list,
    unique_name,
    validate_labels,
    validate_pod_spec,
)

Object = dict[str, Any]
NameFn = Callable[[str], list[str]]

IP_MSG = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
CIDR_MSG = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
PROTOCOLS = ["SCTP", "TCP", "UDP"]


# ----------------------------------------------------------------------------- metadata


def validate_object_meta(md: Any, *, namespaced: bool, name_fn: NameFn,
                         path: str = "metadata") -> list[Cause]:
    out: list[Cause] = []
    if not isinstance(md, dict):
        return [errors.required(path, "")]
    name = md.get("name")
    if not name and not md.get("generateName"):
        out.append(errors.required(f"{path}.name", "name or generateName is required"))
    elif name:
        if not isinstance(name, str):
            out.append(errors.invalid(f"{path}.name", name, "must be a string"))
        else:
            out.extend(errors.invalid(f"{path}.name", name, m) for m in name_fn(name))
    gen = md.get("generateName")
    if gen and isinstance(gen, str) and not name:
        # generateName is checked as the prefix of a name: trailing '-' is fine.
        out.extend(errors.invalid(f"{path}.generateName", gen, m)
                   for m in name_fn(gen.rstrip("-") or "a"))
    ns = md.get("namespace")
    if namespaced:
        if not ns:
            out.append(errors.required(f"{path}.namespace", ""))
        elif not isinstance(ns, str):
            out.append(errors.invalid(f"{path}.namespace", ns, "must be a string"))
        else:
            out.extend(errors.invalid(f"{path}.namespace", ns, m)
                       for m in names.is_dns1123_label(ns))
    elif ns:
        out.append(errors.forbidden(f"{path}.namespace", "not allowed on this type"))
    out.extend(validate_labels(md.get("labels"), f"{path}.labels"))
    out.extend(validate_annotations(md.get("annotations"), f"{path}.annotations"))
    gen_no = md.get("generation")
    if gen_no is not None and (not isinstance(gen_no, int) or gen_no < 0):
        out.append(errors.invalid(f"{path}.generation", gen_no,
                                  "must be greater than or equal to 0"))
    for key in ("finalizers", "ownerReferences"):
        # A stored non-list broke every later delete (found by HYPOTHESIS_PROFILE=thorough).
        if md.get(key) is not None and not isinstance(md[key], list):
            out.append(errors.invalid(f"{path}.{key}", md[key], "must be a list"))
    for i, fin in enumerate(as_list(md.get("finalizers"))):
        if not isinstance(fin, str):
            out.append(errors.invalid(f"{path}.finalizers[{i}]", fin, "must be a string"))
            continue
        out.extend(errors.invalid(f"{path}.finalizers[{i}]", fin, m)
                   for m in names.is_qualified_name(fin))
    for i, ref in enumerate(as_list(md.get("ownerReferences"))):
        rp = f"{path}.ownerReferences[{i}]"
        r = as_dict(ref)
        for key in ("apiVersion", "kind", "name", "uid"):
            if not r.get(key):
                out.append(errors.required(f"{rp}.{key}", f"{key} must not be empty"))
    return out


def validate_annotations(ann: Any, path: str) -> list[Cause]:
    if ann is None:
        return []
    if not isinstance(ann, dict):
        return [errors.invalid(path, str(ann), "must be a map of string keys to string values")]
    out: list[Cause] = []
    total = 0
    for k, v in ann.items():
        out.extend(errors.invalid(path, k, m) for m in names.is_qualified_name(str(k).lower()))
        if not isinstance(v, str):
            out.append(errors.invalid(f"{path}[{k}]", v, "must be a string"))
            continue
        total += len(str(k)) + len(v.encode())
    if total > names.TOTAL_ANNOTATION_SIZE_LIMIT:
        out.append(Cause("FieldValueTooLong",
                         f"Too long: must have at most {names.TOTAL_ANNOTATION_SIZE_LIMIT} bytes",
                         path))
    return out


def validate_object_meta_update(md: Any, old_md: Any, path: str = "metadata") -> list[Cause]:
    new, old = as_dict(md), as_dict(old_md)
    out: list[Cause] = []
    for key in ("name", "namespace", "uid", "creationTimestamp"):
        if old.get(key) and new.get(key) != old.get(key):
            out.append(errors.invalid(f"{path}.{key}", new.get(key) or "",
                                      "field is immutable"))
    if old.get("deletionTimestamp") and not new.get("deletionTimestamp"):
        out.append(errors.invalid(f"{path}.deletionTimestamp", None, "field is immutable; "
                                  "may only be changed via deletion"))
    return out


# ----------------------------------------------------------------------------- kinds


def _pod(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    out = validate_pod_spec(obj.get("spec"), "spec")
    if old is not None and subresource != "status":
        out.extend(_pod_spec_update(as_dict(obj.get("spec")), as_dict(old.get("spec")),
                                    allow_binding=subresource == "binding"))
    status = obj.get("status")
    if isinstance(status, dict):
        phase = status.get("phase")
        phases = ["Failed", "Pending", "Running", "Succeeded", "Unknown"]
        if phase and phase not in phases:
            out.append(errors.not_supported("status.phase", phase, phases))
        for fld in ("podIP", "hostIP"):
            ip = status.get(fld)
            if ip and not _is_ip(ip):
                out.append(errors.invalid(f"status.{fld}", ip, IP_MSG))
    return out


_POD_UPDATE_MSG = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def _pod_spec_update(new: dict[str, Any], old: dict[str, Any], *,
                     allow_binding: bool) -> list[Cause]:
    # Overlay the mutable fields of the new spec on a copy of the old one: anything else that
    # differs is a forbidden change (ValidatePodUpdate does the same with a deep copy).
    masked = copy.deepcopy(new)
    for key in ("containers", "initContainers"):
        new_cs, old_cs = as_list(masked.get(key)), as_list(old.get(key))
        if len(new_cs) == len(old_cs):
            for nc, oc in zip(new_cs, old_cs, strict=True):
                if isinstance(nc, dict) and isinstance(oc, dict):
                    if "image" in oc:
                        nc["image"] = oc["image"]
                    else:
                        nc.pop("image", None)
    old_grace = old.get("terminationGracePeriodSeconds")
    if isinstance(old_grace, int) and old_grace < 0 and masked.get(
            "terminationGracePeriodSeconds") == 1:
        masked["terminationGracePeriodSeconds"] = old_grace
    for key in ("activeDeadlineSeconds", "tolerations"):
        if key in old:
            masked[key] = old[key]
        else:
            masked.pop(key, None)
    if allow_binding and not old.get("nodeName"):
        if "nodeName" in old:
            masked["nodeName"] = old["nodeName"]
        else:
            masked.pop("nodeName", None)
    out: list[Cause] = []
    if masked != old:
        changed = sorted(k for k in set(masked) | set(old) if masked.get(k) != old.get(k))
        out.append(errors.forbidden("spec", _POD_UPDATE_MSG + "\n  changed: "
                                    + ", ".join(f"spec.{k}" for k in changed)))
    ads = new.get("activeDeadlineSeconds")
    old_ads = old.get("activeDeadlineSeconds")
    if old_ads is not None and (ads is None or (isinstance(ads, int) and ads > old_ads)):
        out.append(errors.invalid("spec.activeDeadlineSeconds", ads,
                                  "must be less than or equal to previous value"))
    return out


def _replication_controller(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [errors.required("spec", "")]
    out: list[Cause] = []
    selector = spec.get("selector")
    if not selector:
        out.append(errors.required("spec.selector", ""))
    else:
        out.extend(validate_labels(selector, "spec.selector"))
    out.extend(nonnegative(spec, "replicas", "spec"))
    out.extend(nonnegative(spec, "minReadySeconds", "spec"))
    template = spec.get("template")
    if template is None:
        out.append(errors.required("spec.template", ""))
        return out
    if not isinstance(template, dict):
        out.append(errors.invalid("spec.template", str(template), "must be an object"))
        return out
    tmd = as_dict(template.get("metadata"))
    labels = tmd.get("labels")
    out.extend(validate_labels(labels, "spec.template.metadata.labels"))
    out.extend(validate_annotations(tmd.get("annotations"), "spec.template.metadata.annotations"))
    if isinstance(selector, dict) and selector:
        lbls = labels if isinstance(labels, dict) else {}
        if any(lbls.get(k) != v for k, v in selector.items()):
            out.append(Cause("FieldValueInvalid", f"Invalid value: {go_map(lbls)}: `selector` "
                             "does not match template `labels`", "spec.template.metadata.labels"))
    tspec = template.get("spec")
    out.extend(validate_pod_spec(tspec, "spec.template.spec"))
    tspec_d = as_dict(tspec)
    policy = tspec_d.get("restartPolicy")
    if policy and policy != "Always":
        out.append(errors.not_supported("spec.template.spec.restartPolicy", policy, ["Always"]))
    if tspec_d.get("activeDeadlineSeconds") is not None:
        out.append(errors.forbidden("spec.template.spec.activeDeadlineSeconds",
                                    "activeDeadlineSeconds in ReplicationController is not "
                                    "Supported"))
    status = as_dict(obj.get("status"))
    for key in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas",
                "observedGeneration"):
        out.extend(nonnegative(status, key, "status"))
    return out


def _is_ip(v: Any) -> bool:
    try:
        ipaddress.ip_address(str(v))
    except ValueError:
        return False
    return True


def _service(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return [errors.required("spec", "")]
    out: list[Cause] = []
    stype = spec.get("type") or "ClusterIP"
    types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
    if stype not in types:
        out.append(errors.not_supported("spec.type", stype, types))
    affinity = spec.get("sessionAffinity")
    if affinity and affinity not in ("ClientIP", "None"):
        out.append(errors.not_supported("spec.sessionAffinity", affinity, ["ClientIP", "None"]))
    if affinity == "ClientIP":
        timeout = as_dict(as_dict(spec.get("sessionAffinityConfig")).get("clientIP")).get(
            "timeoutSeconds")
        if timeout is not None and (not isinstance(timeout, int) or not 0 < timeout <= 86400):
            out.append(errors.invalid("spec.sessionAffinityConfig.clientIP.timeoutSeconds",
                                      timeout, "must be greater than 0 and less than 86400"))
    cluster_ip = spec.get("clusterIP")
    if cluster_ip and cluster_ip != "None" and not _is_ip(cluster_ip):
        out.append(errors.invalid("spec.clusterIP", cluster_ip, IP_MSG))
    for i, ip in enumerate(as_list(spec.get("externalIPs"))):
        if not _is_ip(ip):
            out.append(errors.invalid(f"spec.externalIPs[{i}]", ip, IP_MSG))
        elif ipaddress.ip_address(str(ip)).is_unspecified:
            out.append(errors.invalid(f"spec.externalIPs[{i}]", ip,
                                      "may not be unspecified (0.0.0.0)"))
    for key in ("internalTrafficPolicy", "externalTrafficPolicy"):
        pol = spec.get(key)
        if pol and pol not in ("Cluster", "Local"):
            out.append(errors.not_supported(f"spec.{key}", pol, ["Cluster", "Local"]))
    out.extend(validate_labels(spec.get("selector"), "spec.selector"))
    if stype == "ExternalName":
        ext = spec.get("externalName")
        if not ext:
            out.append(errors.required("spec.externalName", ""))
        else:
            out.extend(errors.invalid("spec.externalName", ext, m)
                       for m in names.is_dns1123_subdomain(str(ext).rstrip(".")))
    else:
        out.extend(_service_ports(spec, stype))
    if old is not None:
        old_spec = as_dict(old.get("spec"))
        old_ip = old_spec.get("clusterIP")
        if (old_ip and old_spec.get("type") != "ExternalName" and stype != "ExternalName"
                and cluster_ip != old_ip):
            out.append(errors.invalid("spec.clusterIP", cluster_ip or "", "field is immutable"))
    return out


def _service_ports(spec: dict[str, Any], stype: str) -> list[Cause]:
    out: list[Cause] = []
    ports = spec.get("ports")
    if not isinstance(ports, list) or not ports:
        if spec.get("clusterIP") != "None":
            out.append(errors.required("spec.ports", ""))
        return out
    seen_names: set[str] = set()
    seen_ports: set[tuple[str, str]] = set()
    for i, p in enumerate(ports):
        pp = f"spec.ports[{i}]"
        if not isinstance(p, dict):
            out.append(errors.invalid(pp, str(p), "must be an object"))
            continue
        name = p.get("name")
        if not name:
            if len(ports) > 1:
                out.append(errors.required(f"{pp}.name", ""))
        else:
            out.extend(unique_name(f"{pp}.name", name, names.is_dns1123_label, seen_names))
        port = p.get("port")
        out.extend(errors.invalid(f"{pp}.port", port, m) for m in names.is_valid_port_num(port))
        proto = p.get("protocol")
        if not proto:
            out.append(errors.required(f"{pp}.protocol", ""))
        elif proto not in PROTOCOLS:
            out.append(errors.not_supported(f"{pp}.protocol", proto, PROTOCOLS))
        if "targetPort" in p:
            out.extend(port_num_or_name(p.get("targetPort"), f"{pp}.targetPort"))
        node_port = p.get("nodePort")
        if node_port:
            if stype == "ClusterIP":
                out.append(errors.forbidden(f"{pp}.nodePort",
                                            "may not be used when `type` is 'ClusterIP'"))
            else:
                out.extend(errors.invalid(f"{pp}.nodePort", node_port, m)
                           for m in names.is_valid_port_num(node_port))
        # repr: a wrong-typed port or protocol (a list, an object) is reported above, and
        # must not make the duplicate check itself fail as unhashable.
        key = (repr(port), repr(proto))
        if key in seen_ports:
            out.append(errors.duplicate(pp, f"{port}/{proto}"))
        seen_ports.add(key)
    return out


def _endpoints(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    out: list[Cause] = []
    for i, subset in enumerate(as_list(obj.get("subsets"))):
        sp = f"subsets[{i}]"
        s = as_dict(subset)
        for key in ("addresses", "notReadyAddresses"):
            for j, addr in enumerate(as_list(s.get(key))):
                ip = as_dict(addr).get("ip")
                if not ip:
                    out.append(errors.required(f"{sp}.{key}[{j}].ip", ""))
                elif not _is_ip(ip):
                    out.append(errors.invalid(f"{sp}.{key}[{j}].ip", ip, IP_MSG))
        ports = as_list(s.get("ports"))
        for j, port in enumerate(ports):
            pp = f"{sp}.ports[{j}]"
            p = as_dict(port)
            if len(ports) > 1 and not p.get("name"):
                out.append(errors.required(f"{pp}.name", ""))
            elif p.get("name"):
                out.extend(errors.invalid(f"{pp}.name", p["name"], m)
                           for m in names.is_dns1123_label(str(p["name"])))
            out.extend(errors.invalid(f"{pp}.port", p.get("port"), m)
                       for m in names.is_valid_port_num(p.get("port")))
            proto = p.get("protocol")
            if not proto:
                out.append(errors.required(f"{pp}.protocol", ""))
            elif proto not in PROTOCOLS:
                out.append(errors.not_supported(f"{pp}.protocol", proto, PROTOCOLS))
    return out


def _namespace(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    out: list[Cause] = []
    for i, fin in enumerate(as_list(as_dict(obj.get("spec")).get("finalizers"))):
        if not isinstance(fin, str) or not fin:
            out.append(errors.invalid(f"spec.finalizers[{i}]", fin, "must be a qualified name"))
            continue
        out.extend(errors.invalid(f"spec.finalizers[{i}]", fin, m)
                   for m in names.is_qualified_name(fin))
    phase = as_dict(obj.get("status")).get("phase")
    if phase and phase not in ("Active", "Terminating"):
        out.append(errors.not_supported("status.phase", phase, ["Active", "Terminating"]))
    return out


def _node(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    out: list[Cause] = []
    spec = as_dict(obj.get("spec"))
    cidr = spec.get("podCIDR")
    if cidr:
        try:
            ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            out.append(errors.invalid("spec.podCIDR", cidr, CIDR_MSG))
    effects = ["NoExecute", "NoSchedule", "PreferNoSchedule"]
    for i, taint in enumerate(as_list(spec.get("taints"))):
        t = as_dict(taint)
        tp = f"spec.taints[{i}]"
        out.extend(errors.invalid(f"{tp}.key", t.get("key"), m)
                   for m in names.is_qualified_name(str(t.get("key") or "")))
        if t.get("effect") not in effects:
            out.append(errors.not_supported(f"{tp}.effect", t.get("effect"), effects))
    status = as_dict(obj.get("status"))
    out.extend(resource_list(status.get("capacity"), "status.capacity"))
    out.extend(resource_list(status.get("allocatable"), "status.allocatable"))
    for i, addr in enumerate(as_list(status.get("addresses"))):
        a = as_dict(addr)
        if not a.get("type"):
            out.append(errors.required(f"status.addresses[{i}].type", ""))
    if old is not None and subresource != "status":
        old_cidr = as_dict(old.get("spec")).get("podCIDR")
        if old_cidr and cidr != old_cidr:
            out.append(errors.forbidden("spec.podCIDR",
                                        "node updates may not change podCIDR except from "
                                        '"" to valid'))
    return out


def _event(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    out: list[Cause] = []
    involved = obj.get("involvedObject")
    md = as_dict(obj.get("metadata"))
    if not isinstance(involved, dict):
        return [errors.required("involvedObject", "")]
    ins = involved.get("namespace")
    if ins and md.get("namespace") and ins != md.get("namespace"):
        out.append(errors.invalid("involvedObject.namespace", ins,
                                  "does not match event.namespace"))
    etype = obj.get("type")
    if etype and etype not in ("Normal", "Warning"):
        out.append(errors.not_supported("type", etype, ["Normal", "Warning"]))
    out.extend(nonnegative(obj, "count", ""))
    return out


_LIMIT_TYPES = ["Container", "PersistentVolumeClaim", "Pod"]


def _limit_range(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    out: list[Cause] = []
    for i, item in enumerate(as_list(as_dict(obj.get("spec")).get("limits"))):
        ip = f"spec.limits[{i}]"
        it = as_dict(item)
        if it.get("type") not in _LIMIT_TYPES:
            out.append(errors.not_supported(f"{ip}.type", it.get("type"), _LIMIT_TYPES))
        parsed: dict[str, dict[str, Any]] = {}
        for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            causes = resource_list(it.get(key), f"{ip}.{key}")
            out.extend(causes)
            parsed[key] = {k: quantity.parse_quantity(v) for k, v in as_dict(it.get(key)).items()
                           if quantity.is_quantity(v)}
        mins, maxs = parsed["min"], parsed["max"]
        for k, lo in mins.items():
            hi = maxs.get(k)
            if hi is not None and lo > hi:
                out.append(errors.invalid(
                    f"{ip}.min[{k}]", it["min"][k],
                    f"min value {it['min'][k]} is greater than max value {it['max'][k]}"))
        for key in ("default", "defaultRequest"):
            for k, v in parsed[key].items():
                if k in mins and v < mins[k]:
                    out.append(errors.invalid(
                        f"{ip}.{key}[{k}]", it[key][k],
                        f"min value {it['min'][k]} is greater than {key} value {it[key][k]}"))
                if k in maxs and v > maxs[k]:
                    out.append(errors.invalid(
                        f"{ip}.{key}[{k}]", it[key][k],
                        f"{key} value {it[key][k]} is greater than max value {it['max'][k]}"))
        for k, v in parsed["defaultRequest"].items():
            lim = parsed["default"].get(k)
            if lim is not None and v > lim:
                out.append(errors.invalid(
                    f"{ip}.defaultRequest[{k}]", it["defaultRequest"][k],
                    f"default request value {it['defaultRequest'][k]} is greater than default "
                    f"limit value {it['default'][k]}"))
    return out


def _resource_quota(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    out = resource_list(as_dict(obj.get("spec")).get("hard"), "spec.hard")
    status = as_dict(obj.get("status"))
    out.extend(resource_list(status.get("hard"), "status.hard"))
    out.extend(resource_list(status.get("used"), "status.used"))
    return out


def _lease(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    spec = as_dict(obj.get("spec"))
    d = spec.get("leaseDurationSeconds")
    if d is not None and (not isinstance(d, int) or isinstance(d, bool) or d <= 0):
        return [errors.invalid("spec.leaseDurationSeconds", d, "must be greater than 0")]
    return nonnegative(spec, "leaseTransitions", "spec")


def _binding(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    target = as_dict(obj.get("target"))
    out: list[Cause] = []
    if target.get("kind") and target.get("kind") != "Node":
        out.append(errors.not_supported("target.kind", target.get("kind"), ["Node", "<empty>"]))
    if not target.get("name"):
        out.append(errors.required("target.name", ""))
    return out


def _scale(obj: Object, old: Object | None, subresource: str) -> list[Cause]:
    return nonnegative(as_dict(obj.get("spec")), "replicas", "spec")


_KINDS: dict[str, tuple[NameFn, Callable[[Object, Object | None, str], list[Cause]]]] = {
    "Pod": (names.is_dns1123_subdomain, _pod),
    "ReplicationController": (names.is_dns1123_subdomain, _replication_controller),
    "Service": (names.is_dns1035_label, _service),
    "Endpoints": (names.is_dns1123_subdomain, _endpoints),
    "Namespace": (names.is_dns1123_label, _namespace),
    "Node": (names.is_dns1123_subdomain, _node),
    "Event": (names.is_dns1123_subdomain, _event),
    "LimitRange": (names.is_dns1123_subdomain, _limit_range),
    "ResourceQuota": (names.is_dns1123_subdomain, _resource_quota),
    "Lease": (names.is_dns1123_subdomain, _lease),
    "Binding": (names.is_dns1123_subdomain, _binding),
    "Scale": (names.is_dns1123_subdomain, _scale),
    "ConfigMap": (names.is_dns1123_subdomain, configdata.validate_config_map),
    "Secret": (names.is_dns1123_subdomain, configdata.validate_secret),
}


def _namespaced(obj: Object) -> bool:
    return obj.get("kind") not in ("Scale",) and is_namespaced(obj)


def causes_for(obj: Object, *, old: Object | None = None, subresource: str = "") -> list[Cause]:
    """Every validation problem of ``obj`` (and of the transition from ``old``), in order."""
    kind = str(obj.get("kind", ""))
    name_fn, fn = _KINDS.get(kind, (names.is_dns1123_subdomain, None))
    out = validate_object_meta(obj.get("metadata"), namespaced=_namespaced(obj), name_fn=name_fn)
    if old is not None:
        out.extend(validate_object_meta_update(obj.get("metadata"), old.get("metadata")))
    if fn is not None:
        out.extend(fn(obj, old, subresource))
    return out


def validate(obj: Object, *, old: Object | None = None, subresource: str = "") -> None:
    """Raise ``errors.Invalid`` (422) listing every problem; return None when valid.

    ``subresource`` relaxes update rules the way Kubernetes' subresource strategies do:
    ``"status"`` skips spec immutability, ``"binding"`` lets a Pod's spec.nodeName go from
    empty to a node.
    """
    causes = causes_for(obj, old=old, subresource=subresource)
    if causes:
        md = as_dict(obj.get("metadata"))
        raise errors.Invalid.of(str(obj.get("kind", "")), str(md.get("name") or ""), causes)


def validate_status_update(obj: Object, old: Object) -> None:
    """PUT/PATCH on ``/status``: metadata immutables and status fields, not spec rules."""
    validate(obj, old=old, subresource="status")
