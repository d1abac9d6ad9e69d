"""ServiceStrategy and its allocators on the memory:// store (real backend, fake registry)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube8s.api import errors
from minikube8s.api.resources import Resource, lookup
from minikube8s.roles.apiserver.services import (
    SERVICE_IPS_KEY,
    AlreadyAllocated,
    IPRange,
    OutOfRange,
    PortRange,
    RangeFull,
    ServiceStrategy,
)
from minikube8s.store import Backend, open_store

from .fakes import FakeRegistry


def res(name: str) -> Resource:
    r = lookup(name)
    assert r is not None
    return r


SERVICES = res("services")


@pytest.fixture
async def store() -> AsyncIterator[Backend]:
    backend = await open_store("memory://")
    yield backend
    await backend.close()


def svc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}], **spec}}


def registry_for(strategy: ServiceStrategy) -> FakeRegistry:
    return FakeRegistry({"services": strategy})


async def test_allocates_unique_usable_ips_concurrently(store: Backend) -> None:
    reg = registry_for(ServiceStrategy("192.168.3.0/24", store=store))
    created = await asyncio.gather(*(reg.create(SERVICES, "default", svc(f"s{i}"))
                                     for i in range(30)))
    ips = [c["spec"]["clusterIP"] for c in created]
    assert len(set(ips)) == 30
    net = ipaddress.ip_network("192.168.3.0/24")
    for ip in ips:
        assert ipaddress.ip_address(ip) in net
        assert ip not in ("192.168.3.0", "192.168.3.255")
    assert all(c["spec"]["clusterIPs"] == [c["spec"]["clusterIP"]] for c in created)


async def test_two_api_servers_on_one_store_never_share(store: Backend) -> None:
    a = registry_for(ServiceStrategy("192.168.3.0/28", store=store))
    b = registry_for(ServiceStrategy("192.168.3.0/28", store=store))
    created = await asyncio.gather(
        *(r.create(SERVICES, "default", svc(f"s{i}"))
          for i, r in enumerate([a, b] * 7)))
    ips = [c["spec"]["clusterIP"] for c in created]
    assert len(set(ips)) == 14 == len(ips)


async def test_kubernetes_service_takes_first_address(store: Backend) -> None:
    reg = registry_for(ServiceStrategy("192.168.3.0/24", store=store))
    k = await reg.create(SERVICES, "default", svc("kubernetes"))
    assert k["spec"]["clusterIP"] == "192.168.3.1"
    other = await reg.create(SERVICES, "other", svc("kubernetes"))
    assert other["spec"]["clusterIP"] != "192.168.3.1"


async def test_requested_ip_honoured_or_refused(store: Backend) -> None:
    reg = registry_for(ServiceStrategy("192.168.3.0/24", store=store))
    got = await reg.create(SERVICES, "default", svc("a", clusterIP="192.168.3.66"))
    assert got["spec"]["clusterIP"] == "192.168.3.66"
    with pytest.raises(errors.Invalid) as taken:
        await reg.create(SERVICES, "default", svc("b", clusterIP="192.168.3.66"))
    assert taken.value.message == ('Service "b" is invalid: spec.clusterIP: Invalid value: '
                                   '"192.168.3.66": provided IP is already allocated')
    assert taken.value.causes[0].field == "spec.clusterIP"
    with pytest.raises(errors.Invalid) as outside:
        await reg.create(SERVICES, "default", svc("c", clusterIP="10.0.0.5"))
    assert "provided IP is not in the valid range. The range of valid IPs is 192.168.3.0/24" \
        in outside.value.message
    for bad in ("192.168.3.0", "192.168.3.255"):
        with pytest.raises(errors.Invalid):
            await reg.create(SERVICES, "default", svc("d", clusterIP=bad))
    with pytest.raises(errors.Invalid) as junk:
        await reg.create(SERVICES, "default", svc("e", clusterIP="nope"))
    assert "must be empty, 'None', or a valid IP address" in junk.value.message
    # Refusals took nothing.
    assert set(await reg.strategies["services"].ips.allocated()) == {  # type: ignore[attr-defined]
        "192.168.3.66"}


async def test_headless_and_external_name_get_no_address(store: Backend) -> None:
    strategy = ServiceStrategy("192.168.3.0/24", store=store)
    reg = registry_for(strategy)
    h = await reg.create(SERVICES, "default", svc("h", clusterIP="None"))
    assert h["spec"]["clusterIP"] == "None"
    x = await reg.create(SERVICES, "default", {"metadata": {"name": "x"}, "spec": {
        "type": "ExternalName", "externalName": "example.com"}})
    assert "clusterIP" not in x["spec"]
    assert await strategy.ips.allocated() == {}


async def test_release_on_delete_and_reuse(store: Backend) -> None:
    strategy = ServiceStrategy("192.168.3.0/24", store=store)
    reg = registry_for(strategy)
    a = await reg.create(SERVICES, "default", svc("a"))
    ip = a["spec"]["clusterIP"]
    await reg.delete(SERVICES, "default", "a")
    assert ip not in await strategy.ips.allocated()
    again = await reg.create(SERVICES, "default", svc("b", clusterIP=ip))
    assert again["spec"]["clusterIP"] == ip


async def test_allocations_survive_a_restart(store: Backend) -> None:
    first = registry_for(ServiceStrategy("192.168.3.0/29", store=store))
    ips = {(await first.create(SERVICES, "default", svc(f"s{i}")))["spec"]["clusterIP"]
           for i in range(5)}
    # A new API server process: fresh strategy, same store, knows nothing in memory.
    second = registry_for(ServiceStrategy("192.168.3.0/29", store=store))
    second.objects = first.objects
    last = await second.create(SERVICES, "default", svc("s5"))
    assert last["spec"]["clusterIP"] not in ips
    with pytest.raises(errors.InternalError) as full:
        await second.create(SERVICES, "default", svc("s6"))
    assert "range is full" in full.value.message


async def test_duplicate_create_does_not_leak(store: Backend) -> None:
    strategy = ServiceStrategy("192.168.3.0/24", store=store)
    reg = registry_for(strategy)
    await reg.create(SERVICES, "default", svc("a"))
    for _ in range(3):
        with pytest.raises(errors.AlreadyExists):
            await reg.create(SERVICES, "default", svc("a"))
    assert len(await strategy.ips.allocated()) == 1


async def test_abort_and_repair_reclaim_leaks(store: Backend) -> None:
    strategy = ServiceStrategy("192.168.3.0/29", store=store, repair_grace=0)
    reg = registry_for(strategy)
    kept = await reg.create(SERVICES, "default", svc("kept"))
    # A create that failed after prepare_create (validation, quota, store error):
    leaked = svc("leaked")
    await strategy.prepare_create(leaked, reg)
    aborted = svc("aborted")
    await strategy.prepare_create(aborted, reg)
    await strategy.abort_create(aborted)
    assert aborted["spec"]["clusterIP"] not in await strategy.ips.allocated()
    assert leaked["spec"]["clusterIP"] in await strategy.ips.allocated()
    assert await strategy.repair(reg) == 1
    assert set(await strategy.ips.allocated()) == {kept["spec"]["clusterIP"]}


async def test_repair_respects_grace_for_in_flight_creates(store: Backend) -> None:
    strategy = ServiceStrategy("192.168.3.0/24", store=store)  # default 60 s grace
    reg = registry_for(strategy)
    in_flight = svc("in-flight")
    await strategy.prepare_create(in_flight, reg)
    assert await strategy.repair(reg) == 0
    assert in_flight["spec"]["clusterIP"] in await strategy.ips.allocated()


async def test_full_range_repairs_before_failing(store: Backend) -> None:
    strategy = ServiceStrategy("192.168.3.0/30", store=store, repair_grace=0)
    reg = registry_for(strategy)
    for i in range(2):
        await strategy.prepare_create(svc(f"lost{i}"), reg)  # both addresses leak
    ok = await reg.create(SERVICES, "default", svc("ok"))
    assert ok["spec"]["clusterIP"] in ("192.168.3.1", "192.168.3.2")


async def test_update_keeps_cluster_ip_and_refuses_change(store: Backend) -> None:
    reg = registry_for(ServiceStrategy("192.168.3.0/24", store=store))
    a = await reg.create(SERVICES, "default", svc("a"))
    ip = a["spec"]["clusterIP"]
    replaced = svc("a")  # kubectl replace of the original manifest: no clusterIP
    replaced["metadata"]["resourceVersion"] = a["metadata"]["resourceVersion"]
    b = await reg.update(SERVICES, "default", replaced)
    assert b["spec"]["clusterIP"] == ip
    assert b["spec"]["clusterIPs"] == [ip]
    changed = svc("a", clusterIP="192.168.3.200")
    with pytest.raises(errors.Invalid) as e:
        await reg.update(SERVICES, "default", changed)
    assert e.value.message == ('Service "a" is invalid: spec.clusterIP: Invalid value: '
                               '"192.168.3.200": field is immutable')


async def test_external_name_to_cluster_ip_allocates(store: Backend) -> None:
    reg = registry_for(ServiceStrategy("192.168.3.0/24", store=store))
    await reg.create(SERVICES, "default", {"metadata": {"name": "x"}, "spec": {
        "type": "ExternalName", "externalName": "example.com"}})
    b = await reg.update(SERVICES, "default", svc("x", type="ClusterIP"))
    assert ipaddress.ip_address(b["spec"]["clusterIP"]) in ipaddress.ip_network(
        "192.168.3.0/24")


async def test_node_ports(store: Backend) -> None:
    strategy = ServiceStrategy("192.168.3.0/24", store=store)
    reg = registry_for(strategy)
    spec_ports = [{"name": "a", "port": 80, "protocol": "TCP"},
                  {"name": "b", "port": 443, "protocol": "TCP", "nodePort": 30443}]
    n = await reg.create(SERVICES, "default", svc("n", type="NodePort", ports=spec_ports))
    ports = n["spec"]["ports"]
    assert ports[1]["nodePort"] == 30443
    assert 30000 <= ports[0]["nodePort"] <= 32767
    with pytest.raises(errors.Invalid) as taken:
        await reg.create(SERVICES, "default", svc("m", type="NodePort", ports=[
            {"port": 1, "protocol": "TCP", "nodePort": 30443}]))
    assert taken.value.message == ('Service "m" is invalid: spec.ports[0].nodePort: Invalid '
                                   'value: 30443: provided port is already allocated')
    with pytest.raises(errors.Invalid) as outside:
        await reg.create(SERVICES, "default", svc("o", type="NodePort", ports=[
            {"port": 1, "protocol": "TCP", "nodePort": 80}]))
    assert "The range of valid ports is 30000-32767" in outside.value.message
    # The refused creates gave back their clusterIPs.
    assert len(await strategy.ips.allocated()) == 1
    # An update that omits the nodePorts keeps them.
    upd = svc("n", type="NodePort", ports=[{"name": "a", "port": 80, "protocol": "TCP"},
                                           {"name": "b", "port": 443, "protocol": "TCP"}])
    kept = await reg.update(SERVICES, "default", upd)
    assert [p["nodePort"] for p in kept["spec"]["ports"]] == [p["nodePort"] for p in ports]
    await reg.delete(SERVICES, "default", "n")
    assert await strategy.ports.allocated() == {}


async def test_allocator_errors(store: Backend) -> None:
    ips = IPRange(store, cidr="10.0.0.0/30", key="/t/ips")
    assert ips.size == 2 and ips.first == "10.0.0.1"
    assert await ips.allocate(["10.0.0.2", None]) == ["10.0.0.2", "10.0.0.1"]
    with pytest.raises(RangeFull):
        await ips.allocate([None])
    with pytest.raises(AlreadyAllocated):
        await ips.allocate(["10.0.0.1"])
    with pytest.raises(OutOfRange):
        await ips.allocate(["10.0.0.3"])
    ports = PortRange(store, span="100-101", key="/t/ports")
    assert sorted(await ports.allocate([None, None])) == ["100", "101"]
    with pytest.raises(ValueError):
        PortRange(store, span="0-5")
    # An all-or-nothing request leaves nothing behind when one member fails.
    await ips.release(["10.0.0.1"])
    with pytest.raises(AlreadyAllocated):
        await ips.allocate([None, "10.0.0.2"])
    assert set(await ips.allocated()) == {"10.0.0.2"}


async def test_map_is_one_store_key(store: Backend) -> None:
    reg = registry_for(ServiceStrategy("192.168.3.0/24", store=store))
    await reg.create(SERVICES, "default", svc("a"))
    kv = await store.get(SERVICE_IPS_KEY)
    assert b'"kind":"RangeAllocation"' in kv.value
