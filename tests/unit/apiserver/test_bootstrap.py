"""ensure_defaults: built-in namespaces, the kubernetes service and its endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from minikube8s.api.resources import Resource, lookup
from minikube8s.roles.apiserver.bootstrap import ensure_defaults
from minikube8s.roles.apiserver.services import ServiceStrategy
from minikube8s.store import Backend, open_store

from .fakes import FakeRegistry


def res(name: str) -> Resource:
    r = lookup(name)
    assert r is not None
    return r


SERVICES, ENDPOINTS, NAMESPACES = res("services"), res("endpoints"), res("namespaces")


@pytest.fixture
async def store() -> AsyncIterator[Backend]:
    backend = await open_store("memory://")
    yield backend
    await backend.close()


async def test_creates_defaults_like_the_seed(store: Backend) -> None:
    reg = FakeRegistry({"services": ServiceStrategy("192.168.3.0/24", store=store)})
    await ensure_defaults(reg, api_host="127.0.0.1", api_port=8080)
    names = [n["metadata"]["name"] for n in await reg.list(NAMESPACES)]
    assert sorted(names) == ["default", "kube-node-lease", "kube-public", "kube-system"]
    svc = await reg.get(SERVICES, "default", "kubernetes")
    assert svc["metadata"]["labels"] == {"component": "apiserver", "provider": "kubernetes"}
    assert svc["spec"]["clusterIP"] == "192.168.3.1"
    assert svc["spec"]["ports"] == [
        {"name": "https", "port": 443, "protocol": "TCP", "targetPort": 8080}]
    assert "selector" not in svc["spec"]
    ep = await reg.get(ENDPOINTS, "default", "kubernetes")
    assert ep["subsets"] == [{"addresses": [{"ip": "127.0.0.1"}],
                              "ports": [{"name": "https", "port": 8080, "protocol": "TCP"}]}]


async def test_idempotent_and_fixes_drift(store: Backend) -> None:
    reg = FakeRegistry({"services": ServiceStrategy("192.168.3.0/24", store=store)})
    await ensure_defaults(reg, api_host="127.0.0.1", api_port=8080)
    before = dict(reg.objects)
    writes = len([c for c in reg.calls if c[0] != "get"])
    await ensure_defaults(reg, api_host="127.0.0.1", api_port=8080)
    assert reg.objects == before
    assert len([c for c in reg.calls if c[0] != "get"]) == writes
    # Restart on another port: service targetPort and endpoints follow, clusterIP stays.
    await ensure_defaults(reg, api_host="127.0.0.2", api_port=9090)
    svc = await reg.get(SERVICES, "default", "kubernetes")
    assert svc["spec"]["ports"][0]["targetPort"] == 9090
    assert svc["spec"]["clusterIP"] == "192.168.3.1"
    ep = await reg.get(ENDPOINTS, "default", "kubernetes")
    assert ep["subsets"][0]["addresses"] == [{"ip": "127.0.0.2"}]
    assert ep["subsets"][0]["ports"][0]["port"] == 9090


async def test_explicit_portal_net_and_taken_first_address(store: Backend) -> None:
    strategy = ServiceStrategy("10.0.0.0/24", store=store)
    reg = FakeRegistry({"services": strategy})
    await strategy.ips.allocate(["10.0.0.1"])  # someone holds the first address already
    await ensure_defaults(reg, api_host="0.0.0.0", api_port=8080, portal_net="10.0.0.0/24")
    svc = await reg.get(SERVICES, "default", "kubernetes")
    assert svc["spec"]["clusterIP"] not in ("", "10.0.0.1")
    ep = await reg.get(ENDPOINTS, "default", "kubernetes")
    assert ep["subsets"][0]["addresses"] == [{"ip": "127.0.0.1"}]
