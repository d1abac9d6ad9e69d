"""Refuses pods that reach into their node unless the cluster allows it (--allow-privileged).

A pod with a privileged container, a hostPath volume, or the node's network, PID or IPC
namespace is root on its node: whoever may create pods would own every node. Kubernetes of the
seed's time refused privileged containers at validation unless kube-apiserver ran with
``--allow-privileged`` ("disallowed by cluster policy"); today's PodSecurity admission refuses
all of these at its "baseline" level. This plugin does the first with the second's checks and
words, for Pods and for ReplicationController pod templates (an RC accepted with a forbidden
template would have every pod it creates refused, forever):

    pods "x" is forbidden: privileged pods are disallowed by cluster policy (the control
    plane runs without --allow-privileged): host namespaces (hostNetwork=true), hostPath
    volumes (volume "data"), privileged (container "c" must not set
    securityContext.privileged=true)

admission.build_chain puts it first in every chain, whatever --admission-control lists: a
security boundary that a flag listing other plugins could drop by omission would be no
boundary (Kubernetes' PodSecurity is likewise on by default). hostPort is not refused: the
seed's examples publish ports that way. The kubelet keeps its own check on privileged
containers (roles/kubelet/docker/runtime.py) for nodes stricter than their control plane.
"""

from __future__ import annotations

from typing import Any

from .admission import forbidden
from .interfaces import Attributes, Object, Operation, RegistryView

POLICY = ("privileged pods are disallowed by cluster policy (the control plane runs without "
          "--allow-privileged)")


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _plural(word: str, names: list[str]) -> str:
    return f"{word}s" if len(names) > 1 else word


def violations(spec: Any) -> list[str]:
    """PodSecurity's baseline checks this cluster flag stands for, in its order and words:
    ``host namespaces (hostNetwork=true)``, ``hostPath volumes (volume "v")``,
    ``privileged (container "c" must not set securityContext.privileged=true)``."""
    if not isinstance(spec, dict):
        return []
    out: list[str] = []
    hosts = [f"{f}=true" for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f) is True]
    if hosts:
        out.append(f"host namespaces ({', '.join(hosts)})")
    volumes = [str(v.get("name") or "") for v in spec.get("volumes") or []
               if isinstance(v, dict) and v.get("hostPath") is not None]
    if volumes:
        out.append(f"hostPath volumes ({_plural('volume', volumes)} {_quoted(volumes)})")
    privileged = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            sc = c.get("securityContext") if isinstance(c, dict) else None
            if isinstance(sc, dict) and sc.get("privileged") is True:
                privileged.append(str(c.get("name") or ""))
    if privileged:
        out.append(f"privileged ({_plural('container', privileged)} {_quoted(privileged)} "
                   "must not set securityContext.privileged=true)")
    return out


def _pod_spec(res_name: str, obj: Object | None) -> tuple[str, Any]:
    """(message prefix, pod spec) of what is written, or ("", None) for other kinds."""
    if obj is None:
        return "", None
    if res_name == "pods":
        return "", obj.get("spec")
    if res_name == "replicationcontrollers":
        spec = obj.get("spec")
        template = spec.get("template") if isinstance(spec, dict) else None
        return "spec.template: ", template.get("spec") if isinstance(template, dict) else None
    return "", None


class PrivilegedPolicy:
    """Always in the chain; admits everything when the cluster allows privileged pods."""

    name = "PrivilegedPolicy"

    def __init__(self, *, allow_privileged: bool = False) -> None:
        self.allow_privileged = allow_privileged

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        if (self.allow_privileged or attrs.subresource
                or attrs.operation not in (Operation.CREATE, Operation.UPDATE)):
            return
        prefix, spec = _pod_spec(attrs.resource.name, attrs.obj)
        found = violations(spec)
        if found and attrs.operation is Operation.UPDATE:
            # What an object already had (made while the cluster allowed it) does not stop
            # its label, finalizer or deletion updates; only what an update adds is refused.
            before = set(violations(_pod_spec(attrs.resource.name, attrs.old)[1]))
            found = [v for v in found if v not in before]
        if found:
            raise forbidden(attrs, f"{POLICY}: {prefix}{', '.join(found)}")
