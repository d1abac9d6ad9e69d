"""A read-only EndpointSlice view of Endpoints, for ``kubectl describe service`` 1.32+.

kubectl 1.32 and later fill the ``Endpoints:`` line of ``describe svc`` from
``GET /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices?labelSelector=
kubernetes.io/service-name=NAME`` (older versions read the Endpoints object). minikube8s
stores only Endpoints, as Kubernetes v0.17 did, so this module answers that list by mirroring
the service's Endpoints into slices the way Kubernetes' endpointslice-mirroring controller
does (one slice per subset, notReadyAddresses with ``ready: false``). It is deliberately not
advertised in discovery: the group would promise create/watch/update that nothing implements,
and ``get all``/``api-resources`` would show a resource users cannot write.

Neighbours: registry.py (reads Endpoints through it), discovery.py registers the route.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ...api import resources, selectors
from .keys import REGISTRY

GROUP_VERSION = "discovery.k8s.io/v1"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MIRRORING = "endpointslicemirroring-controller.k8s.io"

Object = dict[str, Any]


def _address_type(ip: str) -> str:
    return "IPv6" if ":" in ip else "IPv4"


def _endpoint(addr: Object, *, ready: bool) -> Object:
    ep: Object = {"addresses": [str(addr.get("ip", ""))],
                  "conditions": {"ready": ready, "serving": ready, "terminating": False}}
    if addr.get("hostname"):
        ep["hostname"] = addr["hostname"]
    if addr.get("nodeName"):
        ep["nodeName"] = addr["nodeName"]
    if isinstance(addr.get("targetRef"), dict):
        ep["targetRef"] = addr["targetRef"]
    return ep


def slices_for(endpoints: Object) -> list[Object]:
    """The EndpointSlices mirroring one Endpoints object."""
    raw_md = endpoints.get("metadata")
    md: Object = raw_md if isinstance(raw_md, dict) else {}
    name = str(md.get("name", ""))
    out: list[Object] = []
    subsets = [s for s in endpoints.get("subsets") or [] if isinstance(s, dict)]
    for i, subset in enumerate(subsets):
        ready = [a for a in subset.get("addresses") or [] if isinstance(a, dict)]
        not_ready = [a for a in subset.get("notReadyAddresses") or [] if isinstance(a, dict)]
        all_ips = [str(a.get("ip", "")) for a in ready + not_ready]
        # name is always present ("" for an unnamed port), as the EndpointSlice controller
        # writes it: kubectl 1.32+ describe svc dereferences it and panics when it is missing.
        ports = [{"name": str(p.get("name") or ""),
                  **{k: p[k] for k in ("port", "protocol", "appProtocol") if k in p}}
                 for p in subset.get("ports") or [] if isinstance(p, dict)]
        out.append({
            "apiVersion": GROUP_VERSION,
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{name}-{i}" if i else name,
                "namespace": md.get("namespace", ""),
                "uid": md.get("uid", ""),
                "resourceVersion": md.get("resourceVersion", ""),
                "creationTimestamp": md.get("creationTimestamp"),
                "labels": {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: MIRRORING},
            },
            "addressType": _address_type(all_ips[0]) if all_ips else "IPv4",
            "endpoints": [_endpoint(a, ready=True) for a in ready]
            + [_endpoint(a, ready=False) for a in not_ready],
            "ports": ports,
        })
    return out


async def _list(request: web.Request) -> web.Response:
    namespace = request.match_info["namespace"]
    res = resources.lookup("endpoints")
    assert res is not None
    registry = request.app[REGISTRY]
    selector = selectors.parse_label_selector(request.query.get("labelSelector", ""))
    page = await registry.list_page(res, namespace)
    items: list[Object] = []
    for ep in page.items:
        for s in slices_for(ep):
            if selector.matches(s["metadata"]["labels"]):
                items.append(s)
    doc = {"kind": "EndpointSliceList", "apiVersion": GROUP_VERSION,
           "metadata": {"resourceVersion": page.resource_version}, "items": items}
    return web.Response(body=json.dumps(doc).encode(),
                        headers={"Content-Type": "application/json"})


def register(app: web.Application) -> None:
    path = "/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    app.router.add_get(path, _list)
    app.router.add_get(path + "/", _list)
