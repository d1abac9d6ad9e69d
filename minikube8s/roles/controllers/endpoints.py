"""The endpoints controller: each Service with a selector gets an Endpoints object of its name.

Kubernetes' pkg/controller/endpoint, reduced: the Endpoints hold one address per pod that
matches the service's selector and has a podIP (terminating and finished pods are left out),
under ``addresses`` when the pod is Ready and ``notReadyAddresses`` when not (or always under
``addresses`` with ``spec.publishNotReadyAddresses``). Each address names the pod
(``targetRef``) and its node. Ports come from the service: a ``targetPort`` number is used as
is, a name is looked up among the pod's container ports (a pod without that port is skipped
for that service port), no targetPort means the service port. Addresses that share a port set
are packed into one subset (endpoints.RepackSubsets).

Services without a selector (the ``kubernetes`` service, hand-made Endpoints) and
ExternalName services are left alone. When a service goes, its Endpoints go. The controller
writes only when the computed Endpoints differ from the cached ones, so a pod status update
that changes nothing a client can see costs no write. ``build_subsets`` is pure and unit
tested; kube-proxy (its own issue) reads what this writes.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from ...api import selectors
from ...client import EventRecorder, Informer, errors, key_of, resource, split_key
from ..context import RoleContext
from . import podutil
from .base import BaseController

log = logging.getLogger(__name__)

PODS = resource("pods")
SERVICES = resource("services")
ENDPOINTS = resource("endpoints")

Object = dict[str, Any]
PortKey = tuple[str, int, str]


def service_selector(svc: Object) -> selectors.LabelSelector | None:
    spec = svc.get("spec") or {}
    sel = spec.get("selector")
    if spec.get("type") == "ExternalName" or not isinstance(sel, dict) or not sel:
        return None
    return selectors.selector_from_match_labels(sel)


def resolve_port(pod: Object, svc_port: Object) -> int | None:
    """The pod's port for one service port (podutil.FindPort), None if the pod lacks it."""
    target = svc_port.get("targetPort")
    if target is None or target == "":
        target = svc_port.get("port")
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    proto = str(svc_port.get("protocol") or "TCP")
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == target and str(p.get("protocol") or "TCP") == proto:
                port = p.get("containerPort")
                return int(port) if port is not None else None
    return None


def should_be_in_endpoints(pod: Object) -> bool:
    return (bool((pod.get("status") or {}).get("podIP")) and not podutil.is_terminating(pod)
            and podutil.phase(pod) not in ("Succeeded", "Failed"))


def address_of(pod: Object) -> Object:
    md = podutil.meta(pod)
    addr: Object = {"ip": str((pod.get("status") or {}).get("podIP")),
                    "targetRef": {"kind": "Pod", "namespace": str(md.get("namespace") or ""),
                                  "name": str(md.get("name") or ""),
                                  "uid": str(md.get("uid") or "")}}
    node = podutil.node_name(pod)
    if node:
        addr["nodeName"] = node
    return addr


def build_subsets(svc: Object, pods: list[Object]) -> list[Object]:
    """The Endpoints subsets for ``svc`` over ``pods`` (already filtered by selector)."""
    spec = svc.get("spec") or {}
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    groups: dict[tuple[PortKey, ...], tuple[dict[str, Object], dict[str, Object]]] = {}
    for pod in pods:
        if not should_be_in_endpoints(pod):
            continue
        ports: list[PortKey] = []
        for sp in spec.get("ports") or []:
            n = resolve_port(pod, sp)
            if n is not None:
                ports.append((str(sp.get("name") or ""), n, str(sp.get("protocol") or "TCP")))
        if not ports:
            continue
        ready, not_ready = groups.setdefault(tuple(sorted(set(ports))), ({}, {}))
        addr = address_of(pod)
        (ready if publish_not_ready or podutil.is_ready(pod) else not_ready)[addr["ip"]] = addr
    subsets: list[Object] = []
    for ports_key in sorted(groups):
        ready, not_ready = groups[ports_key]
        subset: Object = {}
        if ready:
            subset["addresses"] = [ready[ip] for ip in sorted(ready, key=_ip_sort_key)]
        if not_ready:
            subset["notReadyAddresses"] = [not_ready[ip]
                                           for ip in sorted(not_ready, key=_ip_sort_key)]
        subset["ports"] = [_port(name, port, proto) for name, port, proto in ports_key]
        subsets.append(subset)
    return subsets


def _port(name: str, port: int, proto: str) -> Object:
    out: Object = {"port": port, "protocol": proto}
    if name:
        out["name"] = name
    return out


def _ip_sort_key(ip: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in ip.split("."))
    except ValueError:
        return (1 << 30,)


class EndpointsController(BaseController):
    name = "endpoints"
    workers = 5

    def __init__(self, ctx: RoleContext, recorder: EventRecorder) -> None:
        super().__init__(ctx, recorder)
        self.services: Informer = self.watch(ctx.informers.informer(SERVICES))
        self.pods: Informer = self.watch(ctx.informers.informer(PODS))
        self.endpoints: Informer = self.watch(ctx.informers.informer(ENDPOINTS))
        self.services.add_handler(on_add=self._enqueue,
                                  on_update=lambda old, new: self._enqueue(new),
                                  on_delete=self._enqueue)
        self.pods.add_handler(on_add=self._pod_changed,
                              on_update=self._pod_updated, on_delete=self._pod_changed)
        self.endpoints.add_handler(on_update=lambda old, new: self._endpoints_changed(new),
                                   on_delete=self._endpoints_changed)

    # -- handlers -------------------------------------------------------------------------------

    def _enqueue(self, obj: Object) -> None:
        self.queue.add(key_of(obj))

    def _services_of(self, pod: Object) -> list[str]:
        ns = str(podutil.meta(pod).get("namespace") or "")
        labels = podutil.labels_of(pod)
        out = []
        for svc in self.services.select(namespace=ns):
            sel = service_selector(svc)
            if sel is not None and sel.matches(labels):
                out.append(key_of(svc))
        return out

    def _pod_changed(self, pod: Object) -> None:
        for k in self._services_of(pod):
            self.queue.add(k)

    def _pod_updated(self, old: Object, new: Object) -> None:
        if podutil.meta(old).get("resourceVersion") == podutil.meta(new).get("resourceVersion"):
            return
        keys = set(self._services_of(new))
        if podutil.labels_of(old) != podutil.labels_of(new):
            keys.update(self._services_of(old))
        for k in keys:
            self.queue.add(k)

    def _endpoints_changed(self, ep: Object) -> None:
        # Someone else edited or deleted Endpoints we manage: put them back.
        key = key_of(ep)
        svc = self.services.get(key)
        if svc is not None and service_selector(svc) is not None:
            self.queue.add(key)

    # -- reconcile ------------------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        namespace, name = split_key(key)
        svc = self.services.get(key)
        if svc is None:
            if self.endpoints.get(key) is not None:
                try:
                    await self.client.delete(ENDPOINTS, name, namespace=namespace)
                except errors.NotFound:
                    pass
            return None
        sel = service_selector(svc)
        if sel is None:
            return None
        pods = self.pods.select(namespace=namespace, selector=sel)
        subsets = build_subsets(svc, pods)
        labels = dict(podutil.labels_of(svc))
        current = self.endpoints.get(key)
        if current is None:
            body: Object = {"apiVersion": "v1", "kind": "Endpoints",
                            "metadata": {"name": name, "namespace": namespace}}
            if labels:
                body["metadata"]["labels"] = labels
            if subsets:
                body["subsets"] = subsets
            try:
                await self.client.create(ENDPOINTS, body)
            except errors.AlreadyExists:
                # Our cache is behind: the update event will bring us back here.
                return 0.5
            except errors.Forbidden as e:
                if "terminated" in str(e):
                    return None  # the namespace is going away
                self._failed(svc, e)
                raise
            except errors.ClientError as e:
                self._failed(svc, e)
                raise
            return None
        if (current.get("subsets") or []) == subsets and podutil.labels_of(current) == labels:
            return None
        new = copy.deepcopy(current)
        if subsets:
            new["subsets"] = subsets
        else:
            new.pop("subsets", None)
        if labels:
            new["metadata"]["labels"] = labels
        else:
            new["metadata"].pop("labels", None)
        try:
            await self.client.update(ENDPOINTS, new)
        except errors.NotFound:
            return 0.5
        except errors.Conflict:
            raise  # a newer version in flight: routine, retried
        except errors.ClientError as e:
            self._failed(svc, e)
            raise
        return None

    def _failed(self, svc: Object, e: errors.ClientError) -> None:
        self.recorder.event(svc, "Warning", "FailedToUpdateEndpoint",
                            f"Failed to update endpoint {key_of(svc)}: {e}")
