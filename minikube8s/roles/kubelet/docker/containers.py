"""Pure translation between Kubernetes container specs and Docker's API objects.

No I/O here (tests/unit/kubelet exercise it directly): runtime.py asks these functions for
the labels and names of a pod's containers, the create body of a sandbox or an app container
(command/args with Kubernetes semantics against the image's ENTRYPOINT/CMD, env with
``valueFrom.fieldRef`` and ``$(VAR)`` expansion (secret and configMap values arrive as
literals, resolved by the core's configenv.py), resources, ports, privileged), image
references and pull policies, and turns ``docker inspect`` output back into the runtime
Protocol's ``ContainerInstance`` (runtime.py). Volumes are volumes.py's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ....api import quantity
from ..runtime import ContainerInstance, ContainerState, StartError

Object = dict[str, Any]

# dockershim's labels, so `docker ps --filter label=io.kubernetes.pod.name=...` reads as usual.
POD_UID = "io.kubernetes.pod.uid"
POD_NAME = "io.kubernetes.pod.name"
POD_NAMESPACE = "io.kubernetes.pod.namespace"
CONTAINER_NAME = "io.kubernetes.container.name"
RESTART_COUNT = "io.kubernetes.container.restartCount"
CONTAINER_TYPE = "io.kubernetes.docker.type"
SANDBOX_ID = "io.kubernetes.sandbox.id"
GRACE = "io.kubernetes.pod.terminationGracePeriod"
NODE = "minikube8s.io/node"
"""Which kubelet owns the container (two nodes may share one dockerd)."""
SANDBOX = "podsandbox"
APP = "container"
POD_CONTAINER = "POD"
HINT = "build it with `make images` or load it with `docker load`"
ZERO_TIME = "0001-01-01T00:00:00Z"


def pod_labels(pod: Object, *, node: str) -> dict[str, str]:
    md = pod.get("metadata") or {}
    grace = (pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30)
    return {POD_UID: str(md.get("uid") or ""), POD_NAME: str(md.get("name") or ""),
            POD_NAMESPACE: str(md.get("namespace") or ""), NODE: node,
            GRACE: str(30 if grace is None else grace)}


def container_name(pod: Object, name: str, attempt: int) -> str:
    """``k8s_<container>_<pod>_<namespace>_<uid>_<attempt>``, as dockershim named them."""
    md = pod.get("metadata") or {}
    return f"k8s_{name}_{md.get('name')}_{md.get('namespace')}_{md.get('uid')}_{attempt}"


# ----------------------------------------------------------------------------- images


def image_ref(image: str) -> str:
    """``nginx`` -> ``nginx:latest``; refs with a tag or digest stay as they are."""
    if "@" in image:
        return image
    last = image.rsplit("/", 1)[-1]
    return image if ":" in last else f"{image}:latest"


def pull_policy(container: Object) -> str:
    policy = str(container.get("imagePullPolicy") or "")
    if policy in ("Always", "IfNotPresent", "Never"):
        return policy
    return "Always" if image_ref(str(container.get("image") or "")).endswith(":latest") \
        else "IfNotPresent"


def names_registry(image: str) -> bool:
    """Whether ``image`` names a registry host (``localhost:5000/x``, ``quay.io/x``)."""
    first, sep, _ = image.partition("/")
    return bool(sep) and ("." in first or ":" in first or first == "localhost")


def never_pull_error(image: str) -> StartError:
    return StartError("ErrImageNeverPull",
                      f'Container image "{image}" is not present with pull policy of Never: '
                      f"{HINT}")


def pull_error(image: str, detail: str) -> StartError:
    return StartError("ErrImagePull",
                      f'Failed to pull image "{image}": {detail}; no registry reachable? '
                      f"{HINT}")


# ----------------------------------------------------------------------------- env, command

_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: known variables replaced, ``$$`` -> ``$``, unknown
    references left as written."""
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _VAR.sub(repl, text)


def _field(pod: Object, path: str, *, pod_ip: str, host_ip: str) -> str:
    md = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    simple = {"metadata.name": md.get("name"), "metadata.namespace": md.get("namespace"),
              "metadata.uid": md.get("uid"), "spec.nodeName": spec.get("nodeName"),
              "spec.serviceAccountName": spec.get("serviceAccountName"),
              "status.podIP": pod_ip, "status.podIPs": pod_ip, "status.hostIP": host_ip,
              "status.hostIPs": host_ip}
    if path in simple:
        return str(simple[path] or "")
    m = re.fullmatch(r"metadata\.(labels|annotations)\['([^']*)'\]", path)
    if m:
        return str((md.get(m.group(1)) or {}).get(m.group(2)) or "")
    raise StartError("CreateContainerConfigError", f"unsupported fieldRef fieldPath {path!r}")


def container_env(pod: Object, container: Object, *, pod_ip: str,
                  host_ip: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in container.get("env") or []:
        name = str(item.get("name") or "")
        if not name:
            continue
        if "value" in item and item["value"] is not None:
            env[name] = expand(str(item["value"]), env)
            continue
        ref = ((item.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath")
        if ref:
            env[name] = _field(pod, str(ref), pod_ip=pod_ip, host_ip=host_ip)
        elif item.get("valueFrom"):
            # secretKeyRef/configMapKeyRef were resolved by the kubelet core (configenv.py).
            raise StartError("CreateContainerConfigError",
                             f"env {name}: only valueFrom.fieldRef, secretKeyRef and "
                             "configMapKeyRef are supported")
        else:
            env[name] = ""
    return env


def command_config(container: Object, env: Mapping[str, str]) -> Object:
    """Entrypoint/Cmd for the create body: ``command`` replaces the image's ENTRYPOINT (and
    drops its CMD), ``args`` replaces CMD; neither keeps the image's."""
    out: Object = {}
    command = [expand(str(a), env) for a in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    if command:
        out["Entrypoint"] = command
        out["Cmd"] = args
    elif args:
        out["Cmd"] = args
    return out


# ----------------------------------------------------------------------------- resources


def resources_config(container: Object) -> Object:
    res = container.get("resources") or {}
    limits = res.get("limits") or {}
    requests = {**limits, **(res.get("requests") or {})}  # requests default to limits
    out: Object = {}
    try:
        if "cpu" in requests:
            milli = float(quantity.parse_quantity(requests["cpu"])) * 1000
            out["CpuShares"] = max(2, int(milli * 1024 / 1000))
        if "cpu" in limits:
            milli = float(quantity.parse_quantity(limits["cpu"])) * 1000
            out["CpuPeriod"] = 100_000
            out["CpuQuota"] = max(1000, math.ceil(milli * 100))
        if "memory" in limits:
            out["Memory"] = int(quantity.parse_quantity(limits["memory"]))
    except (ValueError, TypeError) as e:
        raise StartError("CreateContainerConfigError", f"bad resources: {e}") from e
    return out


def port_bindings(pod: Object) -> tuple[Object, Object]:
    """(ExposedPorts, PortBindings) of every hostPort in the pod, for its sandbox."""
    exposed: Object = {}
    bindings: Object = {}
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            host_port = p.get("hostPort")
            if not host_port:
                continue
            key = f"{p.get('containerPort')}/{str(p.get('protocol') or 'TCP').lower()}"
            exposed[key] = {}
            bindings.setdefault(key, []).append(
                {"HostIp": str(p.get("hostIP") or ""), "HostPort": str(host_port)})
    return exposed, bindings


# ----------------------------------------------------------------------------- inspect


def parse_time(value: str | None) -> float | None:
    """Docker's RFC 3339 with nanoseconds -> epoch seconds (None for the zero time)."""
    if not value or value.startswith("0001-01-01"):
        return None
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", value)
    if not m:
        return None
    frac = float(m.group(2)[:10]) if m.group(2) else 0.0
    tz = "+00:00" if m.group(3) == "Z" else m.group(3)
    return datetime.fromisoformat(m.group(1) + tz).timestamp() + frac


_STATES = {"created": ContainerState.CREATED, "running": ContainerState.RUNNING,
           "paused": ContainerState.RUNNING, "restarting": ContainerState.RUNNING,
           "exited": ContainerState.EXITED, "dead": ContainerState.EXITED,
           "removing": ContainerState.EXITED}


def instance(info: Object) -> ContainerInstance:
    """A ``ContainerInstance`` from ``docker inspect`` of an app container."""
    labels = (info.get("Config") or {}).get("Labels") or {}
    state = info.get("State") or {}
    st = _STATES.get(str(state.get("Status") or ""), ContainerState.UNKNOWN)
    inst = ContainerInstance(
        name=str(labels.get(CONTAINER_NAME) or ""), container_id=f"docker://{info['Id']}",
        image=str((info.get("Config") or {}).get("Image") or ""),
        image_id=f"docker-pullable://{info.get('Image') or ''}", state=st,
        attempt=int(labels.get(RESTART_COUNT) or 0),
        created_at=parse_time(info.get("Created")) or 0.0,
        started_at=parse_time(state.get("StartedAt")))
    if st == ContainerState.EXITED:
        inst.finished_at = parse_time(state.get("FinishedAt"))
        inst.exit_code = int(state.get("ExitCode") or 0)
        if state.get("OOMKilled"):
            inst.reason = "OOMKilled"
        elif state.get("Error"):
            inst.reason, inst.message = "ContainerCannotRun", str(state["Error"])
        else:
            inst.reason = "Completed" if inst.exit_code == 0 else "Error"
    return inst
