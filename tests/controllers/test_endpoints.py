"""The endpoints controller against the real API server: Endpoints follow pods' readiness and
IPs, ports resolve by name and number, selector-less services are left alone, and Endpoints
go with their service. The test writes pod status as a kubelet would."""

from __future__ import annotations

import asyncio
import copy

from minikube8s.client import errors, resource
from tests.controllers.conftest import PODS, Cluster, Object, eventually

SERVICES = resource("services")
ENDPOINTS = resource("endpoints")


def pod(name: str, app: str = "web") -> Object:
    return {"metadata": {"name": name, "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                                     "ports": [{"name": "http", "containerPort": 8080}]}]}}


def service(name: str, selector: dict[str, str] | None) -> Object:
    spec: Object = {"ports": [{"name": "web", "port": 80, "targetPort": "http"},
                              {"name": "metrics", "port": 9000, "targetPort": 9100}]}
    if selector is not None:
        spec["selector"] = selector
    return {"metadata": {"name": name, "labels": {"tier": "front"}}, "spec": spec}


async def set_status(cluster: Cluster, ns: str, name: str, ip: str, ready: bool) -> None:
    p = copy.deepcopy(await cluster.client.get(PODS, name, namespace=ns))
    p["status"] = {"phase": "Running", "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    await cluster.client.update_status(PODS, p)


async def endpoints(cluster: Cluster, ns: str, name: str) -> Object | None:
    try:
        return await cluster.client.get(ENDPOINTS, name, namespace=ns)
    except errors.NotFound:
        return None


def ips(ep: Object | None, field: str) -> list[str]:
    return [a["ip"] for s in (ep or {}).get("subsets") or [] for a in s.get(field) or []]


async def test_endpoints_follow_ready_pods(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"endpoints"})
    for n in ("a", "b", "c"):
        await cluster.client.create(PODS, pod(n), namespace=ns)
    await cluster.client.create(PODS, pod("other", app="db"), namespace=ns)
    await cluster.client.create(SERVICES, service("web", {"app": "web"}), namespace=ns)

    async def created() -> bool:
        return await endpoints(cluster, ns, "web") is not None
    await eventually(created, what="endpoints created")
    ep = await endpoints(cluster, ns, "web")
    assert ep is not None and not ep.get("subsets")  # no pod has an IP yet
    assert ep["metadata"]["labels"] == {"tier": "front"}

    await set_status(cluster, ns, "a", "172.16.1.2", ready=True)
    await set_status(cluster, ns, "b", "172.16.1.3", ready=False)
    await set_status(cluster, ns, "other", "172.16.1.9", ready=True)

    async def two() -> bool:
        ep = await endpoints(cluster, ns, "web")
        return ips(ep, "addresses") == ["172.16.1.2"] and \
            ips(ep, "notReadyAddresses") == ["172.16.1.3"]
    await eventually(two, what="a ready, b not ready")
    ep = await endpoints(cluster, ns, "web")
    assert ep is not None
    [subset] = ep["subsets"]
    assert subset["ports"] == [{"name": "metrics", "port": 9100, "protocol": "TCP"},
                               {"name": "web", "port": 8080, "protocol": "TCP"}]
    addr = subset["addresses"][0]
    assert addr["targetRef"]["kind"] == "Pod" and addr["targetRef"]["name"] == "a"
    assert addr["targetRef"]["namespace"] == ns

    # b becomes ready, a is deleted: the endpoints follow.
    await set_status(cluster, ns, "b", "172.16.1.3", ready=True)
    await cluster.client.delete(PODS, "a", namespace=ns)

    async def only_b() -> bool:
        ep = await endpoints(cluster, ns, "web")
        return ips(ep, "addresses") == ["172.16.1.3"] and not ips(ep, "notReadyAddresses")
    await eventually(only_b, what="only b")

    # Relabel b out of the service.
    await cluster.client.patch(PODS, "b", {"metadata": {"labels": {"app": "gone"}}},
                               namespace=ns)

    async def empty() -> bool:
        ep = await endpoints(cluster, ns, "web")
        return ep is not None and not ep.get("subsets")
    await eventually(empty, what="empty subsets")

    # Endpoints deleted by hand come back; deleted with the service they stay gone.
    await cluster.client.delete(ENDPOINTS, "web", namespace=ns)
    await eventually(created, what="endpoints recreated")
    await cluster.client.delete(SERVICES, "web", namespace=ns)

    async def gone() -> bool:
        return await endpoints(cluster, ns, "web") is None
    await eventually(gone, what="endpoints deleted with the service")


async def test_service_without_selector_is_left_alone(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"endpoints"})
    await cluster.client.create(PODS, pod("a"), namespace=ns)
    await set_status(cluster, ns, "a", "172.16.1.2", ready=True)
    await cluster.client.create(SERVICES, service("manual", None), namespace=ns)
    mine = {"metadata": {"name": "manual"},
            "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 5432}]}]}
    await cluster.client.create(ENDPOINTS, mine, namespace=ns)
    await asyncio.sleep(0.5)
    ep = await endpoints(cluster, ns, "manual")
    assert ep is not None and ips(ep, "addresses") == ["10.0.0.1"]
    # The API server's own kubernetes service has no selector either: untouched.
    kep = await endpoints(cluster, "default", "kubernetes")
    assert kep is not None and ips(kep, "addresses")
