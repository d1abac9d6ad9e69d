"""Pod spec validation (containers, ports, probes, resources, volumes) and shared helpers.

Split out of validation.py because Pods and ReplicationController templates share it. Field
paths and texts follow pkg/apis/core/validation/validation.go (ValidatePodSpec and friends),
so kubectl shows ``spec.template.spec.containers[0].ports[1].containerPort: Invalid value:
70000: must be between 1 and 65535, inclusive`` exactly as a real cluster would. What a pod
takes from ConfigMaps and Secrets (valueFrom, envFrom, their volumes) is podconfig.py's.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import errors, names, podconfig, quantity
from .errors import Cause

RESTART_POLICIES = ["Always", "Never", "OnFailure"]
DNS_POLICIES = ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]
PULL_POLICIES = ["Always", "IfNotPresent", "Never"]
TERMINATION_MESSAGE_POLICIES = ["FallbackToLogsOnError", "File"]
PROTOCOLS = ["SCTP", "TCP", "UDP"]
HTTP_SCHEMES = ["HTTP", "HTTPS"]
VOLUME_SOURCES = (
    "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret",
    "nfs", "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder",
    "cephfs", "flocker", "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume",
    "quobyte", "azureDisk", "photonPersistentDisk", "projected", "portworxVolume", "scaleIO",
    "storageos", "csi", "ephemeral",
)
_STANDARD_RESOURCES = {"cpu", "memory", "ephemeral-storage", "storage", "pods", "services",
                       "replicationcontrollers", "resourcequotas", "secrets", "configmaps",
                       "persistentvolumeclaims", "services.nodeports",
                       "services.loadbalancers", "requests.cpu", "requests.memory",
                       "limits.cpu", "limits.memory", "requests.storage",
                       "requests.ephemeral-storage", "limits.ephemeral-storage"}
_INT32_MAX = 2**31 - 1


def as_dict(v: Any) -> dict[str, Any]:
    return v if isinstance(v, dict) else {}


def as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def go_map(d: dict[str, Any]) -> str:
    """A map printed the way Go's ``%#v`` prints map[string]string, for Invalid values."""
    inner = ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(d.items()))
    return f"map[string]string{{{inner}}}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def nonnegative(d: dict[str, Any], key: str, path: str) -> list[Cause]:
    v = d.get(key)
    fp = f"{path}.{key}" if path else key
    if v is None:
        return []
    if not _is_int(v):
        return [errors.invalid(fp, v, "must be an integer")]
    if v < 0:
        return [errors.invalid(fp, v, "must be greater than or equal to 0")]
    return []


def validate_labels(labels: Any, path: str) -> list[Cause]:
    if labels is None:
        return []
    if not isinstance(labels, dict):
        return [errors.invalid(path, str(labels), "must be a map of string keys to string "
                                                  "values")]
    out: list[Cause] = []
    for k, v in labels.items():
        out.extend(errors.invalid(path, k, m) for m in names.is_qualified_name(str(k)))
        if not isinstance(v, str):
            out.append(errors.invalid(path, v, "must be a string"))
            continue
        out.extend(errors.invalid(path, v, m) for m in names.is_valid_label_value(v))
    return out


def port_num_or_name(v: Any, path: str) -> list[Cause]:
    if _is_int(v):
        return [errors.invalid(path, v, m) for m in names.is_valid_port_num(v)]
    if isinstance(v, str) and v:
        if v.isdigit():
            return [errors.invalid(path, v, m) for m in names.is_valid_port_num(int(v))]
        return [errors.invalid(path, v, m) for m in names.is_valid_port_name(v)]
    if v in (None, ""):
        return [errors.required(path, "")]
    return [errors.invalid(path, v, "must contain an integer or a port name")]


def _resource_name_ok(name: str) -> bool:
    if name in _STANDARD_RESOURCES or name.startswith(("hugepages-", "count/", "requests.",
                                                       "limits.")):
        return True
    # Extended resources must be domain-qualified (example.com/gpu).
    return "/" in name and not names.is_qualified_name(name)


def resource_list(rl: Any, path: str) -> list[Cause]:
    """A ResourceList: known resource names, parseable non-negative quantities."""
    if rl is None:
        return []
    if not isinstance(rl, dict):
        return [errors.invalid(path, str(rl), "must be a map of resource names to quantities")]
    out: list[Cause] = []
    for k, v in rl.items():
        fp = f"{path}[{k}]"
        if not _resource_name_ok(str(k)):
            out.append(errors.invalid(fp, k, "must be a standard resource type or fully "
                                             "qualified"))
            continue
        try:
            q = quantity.parse_quantity(v)
        except ValueError as e:
            out.append(errors.invalid(fp, v, str(e)))
            continue
        if q < 0:
            out.append(errors.invalid(fp, v, "must be greater than or equal to 0"))
    return out


def _resources(res: Any, path: str) -> list[Cause]:
    r = as_dict(res)
    limits, requests = r.get("limits"), r.get("requests")
    out = resource_list(limits, f"{path}.limits") + resource_list(requests, f"{path}.requests")
    if out or not isinstance(limits, dict) or not isinstance(requests, dict):
        return out
    for k, req in requests.items():
        if k not in limits:
            continue
        if quantity.parse_quantity(req) > quantity.parse_quantity(limits[k]):
            out.append(errors.invalid(f"{path}.requests[{k}]", req,
                                      f"must be less than or equal to {k} limit of "
                                      f"{limits[k]}"))
    return out


def _probe(probe: Any, path: str, *, liveness: bool) -> list[Cause]:
    if probe is None:
        return []
    if not isinstance(probe, dict):
        return [errors.invalid(path, str(probe), "must be an object")]
    out: list[Cause] = []
    handlers = [h for h in ("exec", "httpGet", "tcpSocket", "grpc") if probe.get(h) is not None]
    if not handlers:
        out.append(errors.required(path, "must specify a handler type"))
    elif len(handlers) > 1:
        out.append(errors.forbidden(f"{path}.{handlers[1]}",
                                    "may not specify more than 1 handler type"))
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold",
                "failureThreshold", "terminationGracePeriodSeconds"):
        out.extend(nonnegative(probe, key, path))
    if liveness and _is_int(probe.get("successThreshold")) and probe["successThreshold"] != 1:
        out.append(errors.invalid(f"{path}.successThreshold", probe["successThreshold"],
                                  "must be 1"))
    http = probe.get("httpGet")
    if isinstance(http, dict):
        hp = f"{path}.httpGet"
        if not http.get("path"):
            out.append(errors.required(f"{hp}.path", ""))
        out.extend(port_num_or_name(http.get("port"), f"{hp}.port"))
        scheme = http.get("scheme")
        if scheme and scheme not in HTTP_SCHEMES:
            out.append(errors.not_supported(f"{hp}.scheme", scheme, HTTP_SCHEMES))
    elif http is not None:
        out.append(errors.invalid(f"{path}.httpGet", str(http), "must be an object"))
    tcp = probe.get("tcpSocket")
    if isinstance(tcp, dict):
        out.extend(port_num_or_name(tcp.get("port"), f"{path}.tcpSocket.port"))
    ex = probe.get("exec")
    if isinstance(ex, dict) and not ex.get("command"):
        out.append(errors.required(f"{path}.exec.command", ""))
    return out


def _container_ports(ports: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, port in enumerate(as_list(ports)):
        pp = f"{path}[{i}]"
        if not isinstance(port, dict):
            out.append(errors.invalid(pp, str(port), "must be an object"))
            continue
        name = port.get("name")
        if name:
            out.extend(unique_name(f"{pp}.name", name, names.is_valid_port_name, seen))
        cp = port.get("containerPort")
        if cp in (None, 0):
            out.append(errors.required(f"{pp}.containerPort", ""))
        else:
            out.extend(errors.invalid(f"{pp}.containerPort", cp, m)
                       for m in names.is_valid_port_num(cp))
        hp = port.get("hostPort")
        if hp not in (None, 0):
            out.extend(errors.invalid(f"{pp}.hostPort", hp, m)
                       for m in names.is_valid_port_num(hp))
        proto = port.get("protocol")
        if not proto:
            out.append(errors.required(f"{pp}.protocol", ""))
        elif proto not in PROTOCOLS:
            out.append(errors.not_supported(f"{pp}.protocol", proto, PROTOCOLS))
    return out


def _env(env: Any, path: str) -> list[Cause]:
    out: list[Cause] = []
    for i, e in enumerate(as_list(env)):
        ep = f"{path}[{i}]"
        d = as_dict(e)
        name = d.get("name")
        if not name:
            out.append(errors.required(f"{ep}.name", ""))
        else:
            out.extend(errors.invalid(f"{ep}.name", name, m)
                       for m in names.is_env_var_name(str(name)))
        out.extend(podconfig.value_from(d, ep))
    return out


def _container(c: Any, path: str, volumes: set[str], *, init: bool) -> list[Cause]:
    if not isinstance(c, dict):
        return [errors.invalid(path, str(c), "must be an object")]
    out: list[Cause] = []
    name = c.get("name")
    if not name:
        out.append(errors.required(f"{path}.name", ""))
    elif not isinstance(name, str):
        out.append(errors.invalid(f"{path}.name", name, "must be a string"))
    else:
        out.extend(errors.invalid(f"{path}.name", name, m) for m in names.is_dns1123_label(name))
    image = c.get("image")
    if not image:
        out.append(errors.required(f"{path}.image", ""))
    elif not isinstance(image, str):
        out.append(errors.invalid(f"{path}.image", image, "must be a string"))
    elif image != image.strip():
        out.append(errors.invalid(f"{path}.image", image,
                                  "must not have leading or trailing whitespace"))
    for key, allowed in (("imagePullPolicy", PULL_POLICIES),
                         ("terminationMessagePolicy", TERMINATION_MESSAGE_POLICIES)):
        v = c.get(key)
        if v and v not in allowed:
            out.append(errors.not_supported(f"{path}.{key}", v, allowed))
    out.extend(_container_ports(c.get("ports"), f"{path}.ports"))
    out.extend(_env(c.get("env"), f"{path}.env"))
    out.extend(podconfig.env_from(c.get("envFrom"), f"{path}.envFrom"))
    mount_paths: set[str] = set()
    for i, m in enumerate(as_list(c.get("volumeMounts"))):
        mp = f"{path}.volumeMounts[{i}]"
        d = as_dict(m)
        mname = d.get("name")
        if not mname:
            out.append(errors.required(f"{mp}.name", ""))
        elif not isinstance(mname, str):  # a list would not even hash for the lookup
            out.append(errors.invalid(f"{mp}.name", mname, "must be a string"))
        elif mname not in volumes:
            out.append(errors.not_found(f"{mp}.name", mname))
        mpath = d.get("mountPath")
        if not mpath:
            out.append(errors.required(f"{mp}.mountPath", ""))
        elif not isinstance(mpath, str):
            out.append(errors.invalid(f"{mp}.mountPath", mpath, "must be a string"))
        elif mpath in mount_paths:
            out.append(errors.invalid(f"{mp}.mountPath", mpath, "must be unique"))
        else:
            mount_paths.add(str(mpath))
    if init:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            if c.get(probe) is not None:
                out.append(errors.forbidden(f"{path}.{probe}",
                                            "may not be set for init containers without "
                                            "restartPolicy=Always"))
    else:
        out.extend(_probe(c.get("livenessProbe"), f"{path}.livenessProbe", liveness=True))
        out.extend(_probe(c.get("readinessProbe"), f"{path}.readinessProbe", liveness=False))
        out.extend(_probe(c.get("startupProbe"), f"{path}.startupProbe", liveness=True))
    out.extend(_resources(c.get("resources"), f"{path}.resources"))
    return out


def _volumes(vols: Any, path: str) -> tuple[list[Cause], set[str]]:
    out: list[Cause] = []
    seen: set[str] = set()
    for i, v in enumerate(as_list(vols)):
        vp = f"{path}[{i}]"
        if not isinstance(v, dict):
            out.append(errors.invalid(vp, str(v), "must be an object"))
            continue
        name = v.get("name")
        if not name:
            out.append(errors.required(f"{vp}.name", ""))
        else:
            out.extend(unique_name(f"{vp}.name", name, names.is_dns1123_label, seen))
        sources = [s for s in VOLUME_SOURCES if v.get(s) is not None]
        if not sources:
            out.append(errors.required(vp, "must specify a volume type"))
        elif len(sources) > 1:
            out.append(errors.forbidden(f"{vp}.{sources[1]}",
                                        "may not specify more than 1 volume type"))
        host_path = v.get("hostPath")
        if isinstance(host_path, dict) and not host_path.get("path"):
            out.append(errors.required(f"{vp}.hostPath.path", ""))
        secret = v.get("secret")
        if isinstance(secret, dict) and not secret.get("secretName"):
            out.append(errors.required(f"{vp}.secret.secretName", ""))
        cm = v.get("configMap")
        if isinstance(cm, dict) and not cm.get("name"):
            out.append(errors.required(f"{vp}.configMap.name", ""))
        out.extend(podconfig.volume_source(v, vp))
        pvc = v.get("persistentVolumeClaim")
        if isinstance(pvc, dict) and not pvc.get("claimName"):
            out.append(errors.required(f"{vp}.persistentVolumeClaim.claimName", ""))
    return out, seen


def unique_name(field: str, name: Any, check: Callable[[str], list[str]],
                seen: set[str]) -> list[Cause]:
    """A name that is present: a string, valid by ``check``, not seen before in its list."""
    if not isinstance(name, str):
        return [errors.invalid(field, name, "must be a string")]
    out = [errors.invalid(field, name, m) for m in check(name)]
    if name in seen:
        out.append(errors.duplicate(field, name))
    seen.add(name)
    return out


def validate_pod_spec(spec: Any, path: str) -> list[Cause]:
    if spec is None:
        return [errors.required(path, "")]
    if not isinstance(spec, dict):
        return [errors.invalid(path, str(spec), "must be an object")]
    out, volumes = _volumes(spec.get("volumes"), f"{path}.volumes")
    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        out.append(errors.required(f"{path}.containers", ""))
    seen: set[str] = set()
    for key in ("initContainers", "containers"):
        for i, c in enumerate(as_list(spec.get(key))):
            cp = f"{path}.{key}[{i}]"
            out.extend(_container(c, cp, volumes, init=key == "initContainers"))
            name = as_dict(c).get("name")
            if isinstance(name, str) and name:
                if name in seen:
                    out.append(errors.duplicate(f"{cp}.name", name))
                seen.add(name)
    policy = spec.get("restartPolicy")
    if not policy:
        out.append(errors.required(f"{path}.restartPolicy", ""))
    elif policy not in RESTART_POLICIES:
        out.append(errors.not_supported(f"{path}.restartPolicy", policy, RESTART_POLICIES))
    dns = spec.get("dnsPolicy")
    if not dns:
        out.append(errors.required(f"{path}.dnsPolicy", ""))
    elif dns not in DNS_POLICIES:
        out.append(errors.not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    out.extend(nonnegative(spec, "terminationGracePeriodSeconds", path))
    ads = spec.get("activeDeadlineSeconds")
    if ads is not None and (not _is_int(ads) or not 1 <= ads <= _INT32_MAX):
        out.append(errors.invalid(f"{path}.activeDeadlineSeconds", ads,
                                  f"must be between 1 and {_INT32_MAX}, inclusive"))
    out.extend(validate_labels(spec.get("nodeSelector"), f"{path}.nodeSelector"))
    node_name = spec.get("nodeName")
    if node_name:
        out.extend(errors.invalid(f"{path}.nodeName", node_name, m)
                   for m in names.is_dns1123_subdomain(str(node_name)))
    for i, tol in enumerate(as_list(spec.get("tolerations"))):
        t = as_dict(tol)
        op = t.get("operator")
        if op and op not in ("Equal", "Exists"):
            out.append(errors.not_supported(f"{path}.tolerations[{i}].operator", op,
                                            ["Equal", "Exists"]))
        if op == "Exists" and t.get("value"):
            out.append(errors.invalid(f"{path}.tolerations[{i}].operator", t.get("value"),
                                      "value must be empty when `operator` is 'Exists'"))
    return out
