"""Made-up nodes and pods for the scheduler's pure-function tests (no API involved)."""

from __future__ import annotations

from typing import Any

Object = dict[str, Any]


def node(name: str, *, cpu: str = "4", memory: str = "8Gi", pods: int = 110,
         ready: bool = True, unschedulable: bool = False, labels: dict[str, str] | None = None,
         taints: list[Object] | None = None) -> Object:
    spec: Object = {}
    if unschedulable:
        spec["unschedulable"] = True
    if taints:
        spec["taints"] = taints
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name,
                                                   **(labels or {})}},
            "spec": spec,
            "status": {"allocatable": {"cpu": cpu, "memory": memory, "pods": str(pods)},
                       "capacity": {"cpu": cpu, "memory": memory, "pods": str(pods)},
                       "conditions": [{"type": "Ready",
                                       "status": "True" if ready else "False"}]}}


def pod(name: str, *, cpu: str | None = None, memory: str | None = None, ns: str = "default",
        node_name: str = "", host_port: int = 0, host_ip: str = "", protocol: str = "TCP",
        node_selector: dict[str, str] | None = None, owner: str = "",
        labels: dict[str, str] | None = None, init_cpu: str | None = None,
        extra_containers: int = 0, tolerations: list[Object] | None = None,
        phase: str = "Pending") -> Object:
    def container(cname: str, c: str | None, m: str | None) -> Object:
        req = {k: v for k, v in (("cpu", c), ("memory", m)) if v is not None}
        out: Object = {"name": cname, "image": "busybox", "resources": {"requests": req}}
        return out

    main = container("main", cpu, memory)
    if host_port:
        port: Object = {"containerPort": 80, "hostPort": host_port, "protocol": protocol}
        if host_ip:
            port["hostIP"] = host_ip
        main["ports"] = [port]
    spec: Object = {"containers": [main] + [container(f"c{i}", cpu, memory)
                                            for i in range(extra_containers)],
                    "schedulerName": "default-scheduler"}
    if init_cpu is not None:
        spec["initContainers"] = [container("init", init_cpu, None)]
    if node_name:
        spec["nodeName"] = node_name
    if node_selector:
        spec["nodeSelector"] = node_selector
    if tolerations:
        spec["tolerations"] = tolerations
    md: Object = {"name": name, "namespace": ns, "uid": f"uid-{ns}-{name}",
                  "labels": labels or {}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "v1", "kind": "ReplicationController",
                                  "name": owner, "uid": f"uid-rc-{owner}", "controller": True}]
    return {"kind": "Pod", "apiVersion": "v1", "metadata": md, "spec": spec,
            "status": {"phase": phase}}
