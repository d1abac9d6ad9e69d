"""Kubernetes v1 API defaults, applied to every object the API server accepts.

Mirrors pkg/apis/core/v1/defaults.go: what a user may leave out of a manifest and what the
server then fills in, so ``kubectl get -o yaml`` and ``kubectl describe`` show the same fields
as on a real cluster (``protocol: TCP``, ``imagePullPolicy``, probe thresholds...). Called by
the API server after conversion (conversion.py) and before validation (validation.py), which
can therefore assume defaulted objects. Server-allocated values (a Service's clusterIP, a Pod's
initial status) belong to the API server strategies, not here. Pure data: mutates in place.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from . import b64, configdata, quantity

Object = dict[str, Any]

_VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral",
)
_DEFAULT_MODE = 0o644  # 420, what Kubernetes prints for secret/configMap volumes


def _dict(parent: dict[str, Any], key: str) -> dict[str, Any]:
    """parent[key] as a dict, created (or replaced when not a dict) as needed."""
    v = parent.get(key)
    if not isinstance(v, dict):
        v = {}
        parent[key] = v
    return v


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The dict items of a list field; malformed items are left for validation to report."""
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def image_pull_policy(image: str) -> str:
    """``Always`` for ``:latest`` or an untagged image, else ``IfNotPresent``."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.rsplit(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _canonical_resource_list(rl: Any) -> None:
    # Quantities are re-printed canonically ("0.5" -> "500m"), as Quantity marshals; junk is
    # left untouched so validation can name it.
    if not isinstance(rl, dict):
        return
    for k, v in list(rl.items()):
        try:
            rl[k] = quantity.canonical(v)
        except (ValueError, TypeError):
            pass


def default_probe(probe: dict[str, Any]) -> None:
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")


def default_container(c: dict[str, Any]) -> None:
    image = c.get("image")
    if isinstance(image, str) and image and not c.get("imagePullPolicy"):
        c["imagePullPolicy"] = image_pull_policy(image)
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    for port in _dicts(c.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
    for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(probe_name)
        if isinstance(probe, dict):
            default_probe(probe)
    for env in _dicts(c.get("env")):
        field_ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(
            env.get("valueFrom"), dict) else None
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    resources = _dict(c, "resources")
    limits, requests = resources.get("limits"), resources.get("requests")
    _canonical_resource_list(limits)
    _canonical_resource_list(requests)
    # SetDefaults_Pod: a limit without a request makes the request equal to the limit.
    if isinstance(limits, dict) and limits:
        req = _dict(resources, "requests")
        for k, v in limits.items():
            req.setdefault(k, v)


def default_volume(v: dict[str, Any]) -> None:
    if not any(src in v for src in _VOLUME_SOURCES):
        v["emptyDir"] = {}
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        s = v.get(src)
        if isinstance(s, dict):
            s.setdefault("defaultMode", _DEFAULT_MODE)
    host_path = v.get("hostPath")
    if isinstance(host_path, dict):
        host_path.setdefault("type", "")


def default_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("schedulerName", "default-scheduler")
    if not isinstance(spec.get("securityContext"), dict):
        spec["securityContext"] = {}
    for c in _dicts(spec.get("initContainers")) + _dicts(spec.get("containers")):
        default_container(c)
        if spec.get("hostNetwork"):
            for port in _dicts(c.get("ports")):
                if not port.get("hostPort") and port.get("containerPort"):
                    port["hostPort"] = port["containerPort"]
    for v in _dicts(spec.get("volumes")):
        default_volume(v)


def _pod(obj: Object) -> None:
    default_pod_spec(_dict(obj, "spec"))


def _pod_template(obj: Object) -> None:
    default_pod_spec(_dict(_dict(obj, "template"), "spec"))


def _replication_controller(obj: Object) -> None:
    spec = _dict(obj, "spec")
    template = spec.get("template")
    if isinstance(template, dict):
        labels = (template.get("metadata") or {}).get("labels") if isinstance(
            template.get("metadata"), dict) else None
        if isinstance(labels, dict) and labels:
            if not spec.get("selector"):
                spec["selector"] = copy.deepcopy(labels)
            md = _dict(obj, "metadata")
            if not md.get("labels"):
                md["labels"] = copy.deepcopy(labels)
        default_pod_spec(_dict(template, "spec"))
    if spec.get("replicas") is None:
        spec["replicas"] = 1


def _service(obj: Object) -> None:
    spec = _dict(obj, "spec")
    if not spec.get("sessionAffinity"):
        spec["sessionAffinity"] = "None"
    if not spec.get("type"):
        spec["type"] = "ClusterIP"
    stype = spec["type"]
    if spec["sessionAffinity"] == "ClientIP":
        cfg = _dict(_dict(spec, "sessionAffinityConfig"), "clientIP")
        cfg.setdefault("timeoutSeconds", 10800)
    if stype == "ExternalName":
        return
    for port in _dicts(spec.get("ports")):
        if not port.get("protocol"):
            port["protocol"] = "TCP"
        if port.get("targetPort") in (None, 0, "") and port.get("port") is not None:
            port["targetPort"] = port["port"]
    if stype in ("NodePort", "LoadBalancer") and not spec.get("externalTrafficPolicy"):
        spec["externalTrafficPolicy"] = "Cluster"
    if not spec.get("internalTrafficPolicy"):
        spec["internalTrafficPolicy"] = "Cluster"
    # Single-stack IPv4 cluster: what the service IP allocator records on a real one
    # (`kubectl describe svc` prints these). Headless services are left as sent.
    cluster_ip = spec.get("clusterIP")
    if cluster_ip != "None":
        if not spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = "SingleStack"
        if not spec.get("ipFamilies"):
            spec["ipFamilies"] = ["IPv6" if ":" in str(cluster_ip or "") else "IPv4"]
        if cluster_ip and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [cluster_ip]


def _namespace(obj: Object) -> None:
    md = _dict(obj, "metadata")
    name = md.get("name")
    if isinstance(name, str) and name:
        _dict(md, "labels")["kubernetes.io/metadata.name"] = name
    spec = _dict(obj, "spec")
    if not spec.get("finalizers"):
        spec["finalizers"] = ["kubernetes"]
    status = _dict(obj, "status")
    if not status.get("phase"):
        status["phase"] = "Active"


def _node(obj: Object) -> None:
    _dict(obj, "spec")
    status = obj.get("status")
    if isinstance(status, dict) and isinstance(status.get("capacity"), dict):
        _canonical_resource_list(status["capacity"])
        if not status.get("allocatable"):
            status["allocatable"] = copy.deepcopy(status["capacity"])


def _endpoints(obj: Object) -> None:
    for subset in _dicts(obj.get("subsets")):
        for port in _dicts(subset.get("ports")):
            if not port.get("protocol"):
                port["protocol"] = "TCP"


def _event(obj: Object) -> None:
    # v1 Events have no API defaults; the field exists so every kind goes through one table.
    _dict(obj, "involvedObject")


def _limit_range(obj: Object) -> None:
    for item in _dicts(_dict(obj, "spec").get("limits")):
        for key in ("max", "min", "default", "defaultRequest", "maxLimitRequestRatio"):
            _canonical_resource_list(item.get(key))
        if item.get("type") != "Container":
            continue
        default = _dict(item, "default")
        default_request = _dict(item, "defaultRequest")
        # A wrong-typed max or min is left for validation to report.
        for k, v in _mapping(item.get("max")).items():
            default.setdefault(k, v)
        for k, v in default.items():
            default_request.setdefault(k, v)
        for k, v in _mapping(item.get("min")).items():
            default_request.setdefault(k, v)


def _resource_quota(obj: Object) -> None:
    _canonical_resource_list(_dict(obj, "spec").get("hard"))


def _secret(obj: Object) -> None:
    if not obj.get("type"):
        obj["type"] = "Opaque"
    configdata.canonical_bytes_map(obj.get("data"))
    # Kubernetes merges the write-only stringData into data while converting v1 to its
    # internal type (a stringData key wins over the same data key), so it is never stored
    # and never read back.
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _dict(obj, "data")
        for k, v in string_data.items():
            if isinstance(v, str):
                data[k] = b64.encode(v.encode())


def _config_map(obj: Object) -> None:
    configdata.canonical_bytes_map(obj.get("binaryData"))


_BY_KIND: dict[str, Callable[[Object], None]] = {
    "Pod": _pod,
    "PodTemplate": _pod_template,
    "ReplicationController": _replication_controller,
    "Service": _service,
    "Namespace": _namespace,
    "Node": _node,
    "Endpoints": _endpoints,
    "Event": _event,
    "LimitRange": _limit_range,
    "ResourceQuota": _resource_quota,
    "Secret": _secret,
    "ConfigMap": _config_map,
}


def apply_defaults(obj: Object) -> None:
    """Fill in v1 defaults for ``obj["kind"]`` in place; unknown kinds are left alone."""
    fn = _BY_KIND.get(str(obj.get("kind", "")))
    if fn is not None:
        fn(obj)
