"""What every cluster has from its first second: the built-in namespaces and the API server's own
``kubernetes`` service with its endpoints.

The seed's ``kubectl get services`` shows ``kubernetes  component=apiserver,provider=kubernetes
... 443/TCP`` right after kube-up; Kubernetes' apiserver keeps the same objects (its
"bootstrap controller"). ``ensure_defaults`` runs at every API server start, after the registry
is up and before the port is served; it is idempotent, tolerates a second API server doing the
same at the same moment, and fixes drift (a new API port after a restart). The service's
clusterIP comes from ServiceStrategy (services.py), which hands ``default/kubernetes`` the first
usable portal address. Neighbours: registry.py (the RegistryView used here), server.py (calls
this).
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

from ...api import errors
from ...api.resources import require
from .interfaces import Object, RegistryView

log = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public")
NODE_LEASE_NAMESPACE = "kube-node-lease"
"""Made at start too (as Kubernetes does): nodes renew their Leases there and, on the secure
port, may not create namespaces themselves (auth/authz.py)."""
SERVICE_NAME = "kubernetes"
SERVICE_LABELS = {"component": "apiserver", "provider": "kubernetes"}
SERVICE_PORT = 443
_ATTEMPTS = 5



_NAMESPACES = require("namespaces")
_SERVICES = require("services")
_ENDPOINTS = require("endpoints")


def endpoint_ip(api_host: str) -> str:
    """The address clients should dial: a wildcard bind address means loopback here, since
    this machine's API servers only listen on loopback addresses anyway."""
    if api_host in ("", "0.0.0.0", "::", "localhost"):
        return "127.0.0.1"
    ipaddress.ip_address(api_host)  # ValueError for a hostname: Endpoints only hold IPs
    return api_host


def service_object(*, api_port: int, cluster_ip: str = "") -> Object:
    spec: dict[str, Any] = {
        "type": "ClusterIP",
        "sessionAffinity": "None",
        "ports": [{"name": "https", "port": SERVICE_PORT, "protocol": "TCP",
                   "targetPort": api_port}],
    }
    if cluster_ip:
        spec["clusterIP"] = cluster_ip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": SERVICE_NAME, "namespace": "default",
                     "labels": dict(SERVICE_LABELS)},
        "spec": spec,
    }


def endpoints_subsets(*, api_host: str, api_port: int) -> list[dict[str, Any]]:
    return [{
        "addresses": [{"ip": endpoint_ip(api_host)}],
        "ports": [{"name": "https", "port": api_port, "protocol": "TCP"}],
    }]


async def ensure_defaults(
    registry: RegistryView, *, api_host: str, api_port: int, portal_net: str | None = None
) -> None:
    """Create what is missing, correct what drifted; safe to call at every start.

    ``portal_net``, when given, makes the kubernetes service ask for its first usable address
    explicitly; without it ServiceStrategy gives ``default/kubernetes`` that address anyway.
    """
    for ns in (*SYSTEM_NAMESPACES, NODE_LEASE_NAMESPACE):
        await _ensure_namespace(registry, ns)
    cluster_ip = ""
    if portal_net:
        net = ipaddress.ip_network(portal_net, strict=False)
        cluster_ip = str(net.network_address + 1) if net.num_addresses > 2 else str(
            net.network_address)
    await _ensure_service(registry, api_port=api_port, cluster_ip=cluster_ip)
    await _ensure_endpoints(registry, api_host=api_host, api_port=api_port)


async def _ensure_namespace(registry: RegistryView, name: str) -> None:
    try:
        await registry.get(_NAMESPACES, "", name)
        return
    except errors.NotFound:
        pass
    try:
        await registry.create(_NAMESPACES, "", {
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
        log.info("created namespace %s", name)
    except errors.AlreadyExists:
        pass  # another API server started at the same moment


async def _ensure_service(registry: RegistryView, *, api_port: int, cluster_ip: str) -> None:
    for _ in range(_ATTEMPTS):
        try:
            current = await registry.get(_SERVICES, "default", SERVICE_NAME)
        except errors.NotFound:
            try:
                await registry.create(_SERVICES, "default",
                                      service_object(api_port=api_port, cluster_ip=cluster_ip))
                log.info("created service default/kubernetes")
                return
            except errors.AlreadyExists:
                continue
            except errors.Invalid as e:
                if not cluster_ip:
                    raise
                # The first address is held by someone else: take any free one instead.
                log.warning("kubernetes service cannot have %s (%s)", cluster_ip, e.message)
                cluster_ip = ""
                continue
        want = service_object(api_port=api_port)
        spec = current.get("spec") or {}
        labels = (current.get("metadata") or {}).get("labels") or {}
        if spec.get("ports") == want["spec"]["ports"] and all(
                labels.get(k) == v for k, v in SERVICE_LABELS.items()) and not spec.get(
                "selector"):
            return
        updated = dict(current)
        updated["metadata"] = dict(current.get("metadata") or {})
        updated["metadata"]["labels"] = {**labels, **SERVICE_LABELS}
        updated["spec"] = {**spec, "ports": want["spec"]["ports"]}
        updated["spec"].pop("selector", None)
        try:
            await registry.update(_SERVICES, "default", updated)
            log.info("updated service default/kubernetes to target port %d", api_port)
            return
        except (errors.Conflict, errors.NotFound):
            continue
    raise errors.ServiceUnavailable("could not reconcile service default/kubernetes")


async def _ensure_endpoints(registry: RegistryView, *, api_host: str, api_port: int) -> None:
    subsets = endpoints_subsets(api_host=api_host, api_port=api_port)
    for _ in range(_ATTEMPTS):
        try:
            current = await registry.get(_ENDPOINTS, "default", SERVICE_NAME)
        except errors.NotFound:
            try:
                await registry.create(_ENDPOINTS, "default", {
                    "apiVersion": "v1",
                    "kind": "Endpoints",
                    "metadata": {"name": SERVICE_NAME, "namespace": "default",
                                 "labels": dict(SERVICE_LABELS)},
                    "subsets": subsets,
                })
                return
            except errors.AlreadyExists:
                continue
        if current.get("subsets") == subsets:
            return
        updated = {**current, "subsets": subsets}
        try:
            await registry.update(_ENDPOINTS, "default", updated)
            log.info("endpoints default/kubernetes now %s:%d", endpoint_ip(api_host), api_port)
            return
        except (errors.Conflict, errors.NotFound):
            continue
    raise errors.ServiceUnavailable("could not reconcile endpoints default/kubernetes")
