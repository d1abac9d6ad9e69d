"""The admission plugins against an in-memory RegistryView (fakes.FakeRegistry)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from minikube8s.api import errors
from minikube8s.api.resources import Resource, lookup
from minikube8s.config import DEFAULT_ADMISSION
from minikube8s.roles.apiserver.admission import (
    LIMIT_RANGER_ANNOTATION,
    LimitRanger,
    NamespaceAutoProvision,
    NamespaceLifecycle,
    build_chain,
)
from minikube8s.roles.apiserver.interfaces import AdmissionPlugin, Attributes, Operation
from minikube8s.roles.apiserver.quota import ResourceQuota

from .fakes import FakeRegistry


def res(name: str) -> Resource:
    r = lookup(name)
    assert r is not None
    return r


PODS, NAMESPACES, QUOTAS = res("pods"), res("namespaces"), res("resourcequotas")
LIMITS, SERVICES, RCS = res("limitranges"), res("services"), res("replicationcontrollers")


class Server:
    """Just enough of the registry's pipeline: admission, then the write."""

    def __init__(self, chain: list[AdmissionPlugin], *namespaces: str) -> None:
        self.reg = FakeRegistry()
        self.chain = chain
        for ns in namespaces:
            self.reg.put(NAMESPACES, {"metadata": {"name": ns}, "status": {"phase": "Active"}})

    async def create(self, r: Resource, ns: str, obj: dict[str, Any], *,
                     dry_run: bool = False) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {})["namespace"] = ns
        attrs = Attributes(Operation.CREATE, r, ns, obj["metadata"]["name"], obj=obj,
                           dry_run=dry_run)
        for plugin in self.chain:
            await plugin.admit(attrs, self.reg)
        if dry_run:
            return obj
        return await self.reg.create(r, ns, obj)

    async def update(self, r: Resource, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        old = await self.reg.get(r, ns, obj["metadata"]["name"])
        obj = copy.deepcopy(obj)
        obj["status"] = copy.deepcopy(old.get("status"))  # main resource keeps its status
        attrs = Attributes(Operation.UPDATE, r, ns, obj["metadata"]["name"], obj=obj, old=old)
        for plugin in self.chain:
            await plugin.admit(attrs, self.reg)
        return await self.reg.update(r, ns, obj)

    async def delete(self, r: Resource, ns: str, name: str, *, graceful: bool = False) -> None:
        old = await self.reg.get(r, ns, name)
        attrs = Attributes(Operation.DELETE, r, ns, name, old=old)
        for plugin in self.chain:
            await plugin.admit(attrs, self.reg)
        if graceful and not old["metadata"].get("deletionTimestamp"):
            old["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
            await self.reg.update(r, ns, old)
            return
        await self.reg.delete(r, ns, name)


def pod(name: str, *containers: dict[str, Any]) -> dict[str, Any]:
    cs = list(containers) or [{"name": "c", "image": "nginx"}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": cs}}


def container(name: str = "c", *, requests: dict[str, str] | None = None,
              limits: dict[str, str] | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"name": name, "image": "nginx", "resources": {}}
    if requests is not None:
        c["resources"]["requests"] = requests
    if limits is not None:
        c["resources"]["limits"] = limits
    return c


def quota(name: str, **hard: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
            "spec": {"hard": {k.replace("_", "."): v for k, v in hard.items()}}}


# -- the chain ---------------------------------------------------------------------------------


def test_build_chain() -> None:
    chain = build_chain(DEFAULT_ADMISSION)
    # the privileged-pod policy (podsecurity.py) starts every chain, whatever the flag lists
    assert [p.name for p in chain] == ["PrivilegedPolicy", "NamespaceLifecycle",
                                       "NamespaceAutoProvision", "LimitRanger", "ResourceQuota"]
    assert [p.name for p in build_chain("")] == ["PrivilegedPolicy"]
    assert [p.name for p in build_chain(" AlwaysAdmit , NamespaceExists")] == [
        "PrivilegedPolicy", "AlwaysAdmit", "NamespaceExists"]
    with pytest.raises(ValueError, match=r"unknown admission plugin.*Bogus"):
        build_chain("NamespaceLifecycle,Bogus")
    with pytest.raises(ValueError, match="twice"):
        build_chain("LimitRanger,LimitRanger")


async def test_always_deny() -> None:
    s = Server(build_chain("AlwaysDeny"), "default")
    with pytest.raises(errors.Forbidden) as e:
        await s.create(PODS, "default", pod("p"))
    assert e.value.message == ('pods "p" is forbidden: admission control is denying all '
                               'modifications')


# -- namespaces --------------------------------------------------------------------------------


async def test_lifecycle_alone_refuses_missing_namespace() -> None:
    s = Server([NamespaceLifecycle()], "default")
    with pytest.raises(errors.NotFound) as e:
        await s.create(PODS, "nowhere", pod("p"))
    assert e.value.message == 'namespaces "nowhere" not found'
    assert e.value.code == 404
    await s.create(PODS, "default", pod("p"))


async def test_default_chain_auto_provisions_and_refuses_terminating() -> None:
    s = Server(build_chain(DEFAULT_ADMISSION), "default")
    await s.create(PODS, "fresh", pod("p"))
    ns = await s.reg.get(NAMESPACES, "", "fresh")
    assert ns["metadata"]["name"] == "fresh"
    # Concurrent first creates into one new namespace all succeed.
    await asyncio.gather(*(s.create(PODS, "burst", pod(f"p{i}")) for i in range(10)))
    assert len(await s.reg.list(PODS, "burst")) == 10
    ns["metadata"]["deletionTimestamp"] = "2030-01-01T00:00:00Z"
    ns["status"] = {"phase": "Terminating"}
    await s.reg.update(NAMESPACES, "", ns)
    with pytest.raises(errors.Forbidden) as e:
        await s.create(PODS, "fresh", pod("q"))
    assert e.value.code == 403
    assert e.value.message == ('pods "q" is forbidden: unable to create new content in '
                               'namespace fresh because it is being terminated')
    # Deleting content of a terminating namespace is fine.
    await s.delete(PODS, "fresh", "p")


async def test_auto_provision_alone() -> None:
    s = Server([NamespaceAutoProvision()])
    await s.create(PODS, "alone", pod("p"))
    assert (await s.reg.get(NAMESPACES, "", "alone"))["metadata"]["name"] == "alone"


async def test_default_chain_reads_the_namespace_once() -> None:
    s = Server(build_chain(DEFAULT_ADMISSION), "default")
    await s.create(PODS, "default", pod("p"))
    assert [c for c in s.reg.calls if c[1] == "namespaces"] == [
        ("get", "namespaces", "", "default")]


async def test_dry_run_does_not_provision() -> None:
    s = Server([NamespaceAutoProvision()])
    await s.create(PODS, "x", pod("p"), dry_run=True)
    with pytest.raises(errors.NotFound):
        await s.reg.get(NAMESPACES, "", "x")


async def test_builtin_namespaces_cannot_be_deleted() -> None:
    s = Server(build_chain(DEFAULT_ADMISSION), "default", "kube-system", "kube-public", "mine")
    for name in ("default", "kube-system", "kube-public"):
        with pytest.raises(errors.Forbidden) as e:
            await s.delete(NAMESPACES, "", name)
        assert e.value.message == f'namespaces "{name}" is forbidden: this namespace may not ' \
                                  'be deleted'
    await s.delete(NAMESPACES, "", "mine")


# -- LimitRanger -------------------------------------------------------------------------------


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "limits"},
            "spec": {"limits": list(items)}}


async def test_limit_range_defaults_containers() -> None:
    s = Server([LimitRanger()], "default")
    await s.reg.create(LIMITS, "default", limit_range({
        "type": "Container", "default": {"cpu": "500m", "memory": "128Mi"},
        "defaultRequest": {"cpu": "100m"}}))
    got = await s.create(PODS, "default", pod(
        "p", container("a"), container("b", requests={"cpu": "50m"}, limits={"memory": "1Gi"})))
    a, b = got["spec"]["containers"]
    assert a["resources"] == {"requests": {"cpu": "100m", "memory": "128Mi"},
                              "limits": {"cpu": "500m", "memory": "128Mi"}}
    # b's own values stay; its memory request follows its own limit, as Kubernetes defaults.
    assert b["resources"] == {"requests": {"cpu": "50m", "memory": "1Gi"},
                              "limits": {"cpu": "500m", "memory": "1Gi"}}
    assert got["metadata"]["annotations"][LIMIT_RANGER_ANNOTATION] == (
        "LimitRanger plugin set: cpu, memory request for container a; cpu, memory limit for "
        "container a; cpu limit for container b")


async def test_limit_range_max_defaults_and_messages() -> None:
    s = Server([LimitRanger()], "default")
    await s.reg.create(LIMITS, "default", limit_range({
        "type": "Container", "max": {"cpu": "500m"}, "min": {"memory": "64Mi"},
        "maxLimitRequestRatio": {"cpu": "2"}}))
    with pytest.raises(errors.Forbidden) as e:
        await s.create(PODS, "default", pod("x", container(
            limits={"cpu": "1"}, requests={"cpu": "1", "memory": "64Mi"})))
    assert e.value.message == ('pods "x" is forbidden: maximum cpu usage per Container is 500m, '
                               'but limit is 1')
    with pytest.raises(errors.Forbidden) as e:
        await s.create(PODS, "default", pod("y", container(
            limits={"cpu": "1000m"}, requests={"cpu": "100m", "memory": "32Mi"})))
    assert e.value.message == (
        'pods "y" is forbidden: [minimum memory usage per Container is 64Mi, but request is '
        '32Mi, maximum cpu usage per Container is 500m, but limit is 1, cpu max limit to '
        'request ratio per Container is 2, but provided ratio is 10.000000]')
    # Max defaults the limit; min defaults the request: this one fits.
    ok = await s.create(PODS, "default", pod("z", container(requests={"cpu": "300m"})))
    assert ok["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "300m", "memory": "64Mi"}, "limits": {"cpu": "500m"}}


async def test_limit_range_pod_type() -> None:
    s = Server([LimitRanger()], "default")
    await s.reg.create(LIMITS, "default", limit_range(
        {"type": "Pod", "max": {"memory": "1Gi"}}))
    with pytest.raises(errors.Forbidden) as e:
        await s.create(PODS, "default", pod(
            "p", container("a", limits={"memory": "600Mi"}),
            container("b", limits={"memory": "600Mi"})))
    assert e.value.message == ('pods "p" is forbidden: maximum memory usage per Pod is 1Gi, '
                               'but limit is 1200Mi')
    await s.create(PODS, "default", pod("q", container("a", limits={"memory": "1Gi"})))


# -- ResourceQuota -----------------------------------------------------------------------------


async def used(s: Server, name: str = "q1", ns: str = "default") -> dict[str, str]:
    return dict((await s.reg.get(QUOTAS, ns, name))["status"]["used"])


async def test_quota_counts_existing_and_refuses_over_hard() -> None:
    s = Server([ResourceQuota()], "default")
    await s.create(PODS, "default", pod("a"))
    q = await s.create(QUOTAS, "default", quota("q1", pods="2"))
    assert q["status"] == {"hard": {"pods": "2"}, "used": {"pods": "1"}}
    await s.create(PODS, "default", pod("b"))
    assert await used(s) == {"pods": "2"}
    with pytest.raises(errors.Forbidden) as e:
        await s.create(PODS, "default", pod("c"))
    assert e.value.code == 403
    assert e.value.message == ('pods "c" is forbidden: exceeded quota: q1, requested: pods=1, '
                               'used: pods=2, limited: pods=2')
    await s.delete(PODS, "default", "a")
    assert await used(s) == {"pods": "1"}
    await s.create(PODS, "default", pod("c"))


async def test_quota_exact_under_concurrent_creates() -> None:
    s = Server([ResourceQuota()], "default")
    q = quota("q1", pods="7")
    q["spec"]["hard"]["count/pods"] = "100"
    await s.create(QUOTAS, "default", q)
    results = await asyncio.gather(*(s.create(PODS, "default", pod(f"p{i}"))
                                     for i in range(20)), return_exceptions=True)
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, errors.Forbidden)]
    assert len(ok) == 7 and len(refused) == 13
    assert await used(s) == {"pods": "7", "count/pods": "7"}


async def test_quota_exact_across_two_api_servers() -> None:
    # Two plugin instances (two processes' locks) on one registry still agree via the CAS.
    s = Server([ResourceQuota()], "default")
    other = ResourceQuota()
    await s.create(QUOTAS, "default", quota("q1", pods="5"))

    async def via(plugin: ResourceQuota, name: str) -> bool:
        obj = pod(name)
        obj["metadata"]["namespace"] = "default"
        attrs = Attributes(Operation.CREATE, PODS, "default", name, obj=obj)
        try:
            await plugin.admit(attrs, s.reg)
        except errors.Forbidden:
            return False
        await s.reg.create(PODS, "default", obj)
        return True

    plugins = [s.chain[0], other] * 10
    outcomes = await asyncio.gather(*(via(p, f"p{i}") for i, p in  # type: ignore[arg-type]
                                      enumerate(plugins)))
    assert sum(outcomes) == 5
    assert await used(s) == {"pods": "5"}


async def test_quota_compute_resources() -> None:
    s = Server([LimitRanger(), ResourceQuota()], "default")
    await s.create(QUOTAS, "default", quota(
        "q1", cpu="1", requests_memory="1Gi", limits_cpu="2"))
    with pytest.raises(errors.Forbidden) as e:
        await s.create(PODS, "default", pod("p", container(requests={"memory": "1Mi"})))
    assert e.value.message == ('pods "p" is forbidden: failed quota: q1: must specify '
                               'cpu,limits.cpu')
    # Limits alone count as requests too.
    await s.create(PODS, "default", pod("a", container(limits={"cpu": "500m", "memory": "256Mi"})))
    assert await used(s) == {"cpu": "500m", "requests.memory": "256Mi", "limits.cpu": "500m"}
    await s.create(PODS, "default", pod("b", container(
        requests={"cpu": "250m", "memory": "256Mi"}, limits={"cpu": "1"})))
    assert await used(s) == {"cpu": "750m", "requests.memory": "512Mi", "limits.cpu": "1500m"}
    with pytest.raises(errors.Forbidden) as e:
        await s.create(PODS, "default", pod("c", container(
            requests={"cpu": "500m", "memory": "600Mi"}, limits={"cpu": "500m"})))
    assert e.value.message == (
        'pods "c" is forbidden: exceeded quota: q1, requested: cpu=500m,requests.memory=600Mi, '
        'used: cpu=750m,requests.memory=512Mi, limited: cpu=1,requests.memory=1Gi')
    await s.delete(PODS, "default", "a")
    assert await used(s) == {"cpu": "250m", "requests.memory": "256Mi", "limits.cpu": "1"}


async def test_quota_graceful_delete_releases_once() -> None:
    s = Server([ResourceQuota()], "default")
    await s.create(QUOTAS, "default", quota("q1", pods="3"))
    for n in ("a", "b"):
        await s.create(PODS, "default", pod(n))
    await s.delete(PODS, "default", "a", graceful=True)   # kubectl delete: deletionTimestamp
    assert await used(s) == {"pods": "1"}
    await s.delete(PODS, "default", "a")                  # the kubelet's final delete
    assert await used(s) == {"pods": "1"}


async def test_quota_dry_run_and_duplicates_do_not_charge() -> None:
    s = Server([ResourceQuota()], "default")
    await s.create(QUOTAS, "default", quota("q1", pods="3"))
    await s.create(PODS, "default", pod("a"), dry_run=True)
    assert await used(s) == {"pods": "0"}
    await s.create(PODS, "default", pod("a"))
    with pytest.raises(errors.AlreadyExists):
        await s.create(PODS, "default", pod("a"))
    assert await used(s) == {"pods": "1"}


async def test_two_quotas_roll_back_partial_charge() -> None:
    s = Server([ResourceQuota()], "default")
    await s.create(QUOTAS, "default", quota("q1", pods="10"))
    await s.create(QUOTAS, "default", quota("q2", pods="1"))
    await s.create(PODS, "default", pod("a"))
    with pytest.raises(errors.Forbidden, match="exceeded quota: q2"):
        await s.create(PODS, "default", pod("b"))
    assert await used(s, "q1") == {"pods": "1"}
    assert await used(s, "q2") == {"pods": "1"}


async def test_services_rcs_and_quota_updates() -> None:
    s = Server([ResourceQuota()], "default")
    await s.create(QUOTAS, "default", quota("q1", services="1", replicationcontrollers="1"))
    await s.create(SERVICES, "default", {"metadata": {"name": "s"}, "spec": {
        "ports": [{"port": 80}]}})
    with pytest.raises(errors.Forbidden, match=r"requested: services=1, used: services=1, "
                                               r"limited: services=1"):
        await s.create(SERVICES, "default", {"metadata": {"name": "t"}, "spec": {}})
    await s.create(RCS, "default", {"metadata": {"name": "r"}, "spec": {}})
    assert await used(s) == {"services": "1", "replicationcontrollers": "1"}
    # Raising a limit and adding a key: the new key's usage is counted at once.
    await s.create(PODS, "default", pod("p"))
    q = await s.reg.get(QUOTAS, "default", "q1")
    q["spec"]["hard"] = {"services": "2", "pods": "5"}
    updated = await s.update(QUOTAS, "default", q)
    assert updated["status"] == {"hard": {"services": "2", "pods": "5"},
                                 "used": {"services": "1", "pods": "1"}}
    await s.create(SERVICES, "default", {"metadata": {"name": "t"}, "spec": {}})
    assert await used(s) == {"services": "2", "pods": "1"}


async def test_quota_scopes() -> None:
    s = Server([ResourceQuota()], "default")
    q = quota("q1", pods="1")
    q["spec"]["scopes"] = ["BestEffort"]
    await s.create(QUOTAS, "default", q)
    await s.create(PODS, "default", pod("a"))
    await s.create(PODS, "default", pod("b", container(requests={"cpu": "1"})))
    with pytest.raises(errors.Forbidden):
        await s.create(PODS, "default", pod("c"))
    assert await used(s) == {"pods": "1"}
