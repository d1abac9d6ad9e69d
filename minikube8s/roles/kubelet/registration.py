"""Node registration: who this node is (name, addresses, capacity, labels, nodeInfo).

``machine_facts`` reads the host once (os.cpu_count, /proc/meminfo, the first non-loopback
interface address through SIOCGIFADDR, so nothing is sent anywhere); flags override each
fact (--node-ip, --node-cpu, --node-memory, --max-pods), and hollow-nodes passes its own.
``node_object`` builds the Node as the kubelet registers it and ``node_status`` the part the
heartbeat (heartbeat.py) keeps posting; ``register`` creates the Node or, when it exists (a
restarted kubelet, or a node the admin made first), updates its labels and status in place,
so re-registration never fails. Neighbours: kubelet.py calls ``register`` once the API answers.
"""

from __future__ import annotations

import fcntl
import logging
import os
import platform
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from ...client import AlreadyExists, Client, resource

log = logging.getLogger(__name__)

Object = dict[str, Any]
NODES = resource("nodes")
SCHEME_ANNOTATION = "minikube8s.io/kubelet-scheme"
"""https or http: how the API server reaches this node's kubelet server (roles/apiserver/
proxy.py reads it; it never tries http on a kubelet that announces https)."""
KUBELET_VERSION = "v1.30.0-minikube8s"
SIOCGIFADDR = 0x8915


def _arch() -> str:
    m = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(m, m or "amd64")


def _interface_ip(name: str) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("256s", name.encode()[:15])
        try:
            res = fcntl.ioctl(s.fileno(), SIOCGIFADDR, req)
        except OSError:
            return ""
    return socket.inet_ntoa(res[20:24])


def host_ip() -> str:
    """The IPv4 address of the first non-loopback interface that has one ("" if none)."""
    try:
        names = socket.if_nameindex()
    except OSError:
        return ""
    for _, name in names:
        if name == "lo":
            continue
        ip = _interface_ip(name)
        if ip and not ip.startswith("127."):
            return ip
    return ""


def machine_memory() -> str:
    """MemTotal from /proc/meminfo as a quantity (``16318764Ki``)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1])}Ki"
    except (OSError, ValueError, IndexError):
        pass
    return "1Gi"


@dataclass(slots=True)
class NodeFacts:
    name: str
    ip: str
    hostname: str
    cpu: str
    memory: str
    pods: int
    runtime_version: str
    labels: dict[str, str] = field(default_factory=dict)
    ephemeral_storage: str = "10Gi"
    kubelet_port: int = 0
    """Published as daemonEndpoints.kubeletEndpoint.Port: set by the kubelet server once it
    listens; 0 (no server: hollow-nodes) makes the API server answer logs/exec with a 503."""
    kubelet_scheme: str = "http"
    """Announced in the SCHEME_ANNOTATION: https once the kubelet server has a certificate."""


def machine_facts(*, name: str, runtime_version: str, ip: str = "", cpu: str = "",
                  memory: str = "", pods: int = 110,
                  labels: dict[str, str] | None = None) -> NodeFacts:
    return NodeFacts(name=name, ip=ip or host_ip(), hostname=name,
                     cpu=cpu or str(os.cpu_count() or 1), memory=memory or machine_memory(),
                     pods=pods, runtime_version=runtime_version, labels=dict(labels or {}))


def node_labels(facts: NodeFacts) -> dict[str, str]:
    arch = _arch()
    return {"kubernetes.io/hostname": facts.hostname, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch, "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": arch, **facts.labels}


def node_annotations(facts: NodeFacts) -> dict[str, str]:
    return {SCHEME_ANNOTATION: facts.kubelet_scheme}


def node_status(facts: NodeFacts) -> Object:
    """Everything of node.status except conditions (heartbeat.py adds those)."""
    resources = {"cpu": facts.cpu, "memory": facts.memory, "pods": str(facts.pods),
                 "ephemeral-storage": facts.ephemeral_storage}
    addresses = [{"type": "Hostname", "address": facts.hostname}]
    if facts.ip:
        addresses.insert(0, {"type": "InternalIP", "address": facts.ip})
    return {
        "capacity": dict(resources),
        "allocatable": dict(resources),
        "addresses": addresses,
        "daemonEndpoints": {"kubeletEndpoint": {"Port": facts.kubelet_port}},
        "nodeInfo": {
            "machineID": "", "systemUUID": "", "bootID": "",
            "kernelVersion": platform.release(), "osImage": "minikube8s",
            "containerRuntimeVersion": facts.runtime_version,
            "kubeletVersion": KUBELET_VERSION, "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux", "architecture": _arch(),
        },
    }


def node_object(facts: NodeFacts, conditions: list[Object]) -> Object:
    status = node_status(facts)
    status["conditions"] = conditions
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": facts.name, "labels": node_labels(facts),
                         "annotations": node_annotations(facts)},
            "spec": {}, "status": status}


async def register(client: Client, facts: NodeFacts, conditions: list[Object]) -> Object:
    """Create the Node, or bring an existing one up to date; returns the Node as stored."""
    obj = node_object(facts, conditions)
    try:
        created = await client.create(NODES, obj)
        log.info("registered node %s", facts.name)
        return created
    except AlreadyExists:
        pass
    # Merge patches: our labels and facts win, anything else (an admin's labels, the node
    # controller's podCIDR and taints, current conditions until the first heartbeat) stays.
    await client.patch(NODES, facts.name, {"metadata": {
        "labels": node_labels(facts), "annotations": node_annotations(facts)}})
    out = await client.patch_status(NODES, facts.name, {"status": node_status(facts)})
    log.info("node %s was already registered; updated it", facts.name)
    return out
