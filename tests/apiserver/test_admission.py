"""The admission chain (the seed's default --admission-control) against a real
``minikube8s --role a`` with the official Python client: namespaces, LimitRange, ResourceQuota
(exact under concurrent creates)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import EtcdProcess


@pytest.fixture(scope="module")
def core(apiserver: ApiServerProcess) -> Iterator[client.CoreV1Api]:
    cfg = client.Configuration()
    cfg.host = apiserver.url
    cfg.connection_pool_maxsize = 32
    with client.ApiClient(cfg) as api_client:
        yield client.CoreV1Api(api_client)


def pod(name: str, resources: dict[str, Any] | None = None, **meta: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "nginx"}
    if resources is not None:
        c["resources"] = resources
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **meta},
            "spec": {"containers": [c]}}


def quota(name: str, hard: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name},
            "spec": {"hard": hard}}


def refused(e: pytest.ExceptionInfo[ApiException]) -> tuple[int, str, str]:
    body = json.loads(e.value.body)
    return int(e.value.status), str(body["reason"]), str(body["message"])


def used(core: client.CoreV1Api, ns: str, name: str = "q1") -> dict[str, str]:
    return dict(core.read_namespaced_resource_quota(name, ns).status.used)


def test_quota_exact_under_concurrent_creates(core: client.CoreV1Api) -> None:
    ns = "quota-burst"
    core.create_namespace({"metadata": {"name": ns}})
    q = core.create_namespaced_resource_quota(ns, quota("q1", {"pods": "5"}))
    assert q.status.hard == {"pods": "5"} and q.status.used == {"pods": "0"}

    def attempt(i: int) -> int:
        try:
            core.create_namespaced_pod(ns, pod(f"p{i}"))
            return 201
        except ApiException as e:
            assert e.status == 403, e.body
            assert "exceeded quota: q1" in json.loads(e.body)["message"]
            return 403

    with ThreadPoolExecutor(20) as pool:
        codes = list(pool.map(attempt, range(20)))
    assert codes.count(201) == 5 and codes.count(403) == 15
    assert len(core.list_namespaced_pod(ns).items) == 5
    assert used(core, ns) == {"pods": "5"}


def test_quota_message_release_and_describe_fields(core: client.CoreV1Api) -> None:
    ns = "quota-msg"
    core.create_namespaced_pod(ns, pod("a"))  # auto-provisions the namespace
    core.create_namespaced_resource_quota(ns, quota("q1", {"pods": "2", "services": "5"}))
    assert used(core, ns) == {"pods": "1", "services": "0"}
    core.create_namespaced_pod(ns, pod("b"))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(ns, pod("c"))
    assert refused(e) == (403, "Forbidden", 'pods "c" is forbidden: exceeded quota: q1, '
                          'requested: pods=1, used: pods=2, limited: pods=2')
    core.delete_namespaced_pod("a", ns)
    assert used(core, ns)["pods"] == "1"
    core.create_namespaced_pod(ns, pod("c"))
    assert used(core, ns)["pods"] == "2"
    # A second create of an existing name is a 409 and costs nothing.
    with pytest.raises(ApiException) as dup:
        core.create_namespaced_pod(ns, pod("c"))
    assert dup.value.status in (403, 409)
    assert used(core, ns)["pods"] == "2"


def test_quota_compute_resources(core: client.CoreV1Api) -> None:
    ns = "quota-cpu"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_resource_quota(ns, quota("q1", {"cpu": "1", "memory": "1Gi"}))
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(ns, pod("bare"))
    assert refused(e) == (403, "Forbidden",
                          'pods "bare" is forbidden: failed quota: q1: must specify cpu,memory')
    core.create_namespaced_pod(ns, pod("a", {"requests": {"cpu": "600m", "memory": "256Mi"}}))
    assert used(core, ns) == {"cpu": "600m", "memory": "256Mi"}
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(ns, pod("b", {"requests": {"cpu": "500m",
                                                              "memory": "256Mi"}}))
    assert refused(e)[2] == ('pods "b" is forbidden: exceeded quota: q1, requested: cpu=500m, '
                             'used: cpu=600m, limited: cpu=1')


def test_limit_range_defaults_and_maximum(core: client.CoreV1Api) -> None:
    ns = "limits"
    core.create_namespace({"metadata": {"name": ns}})
    core.create_namespaced_limit_range(ns, {
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "lr"},
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "500m"},
                             "default": {"cpu": "200m", "memory": "64Mi"},
                             "defaultRequest": {"cpu": "100m", "memory": "32Mi"}}]}})
    p = core.create_namespaced_pod(ns, pod("d"))
    res = p.spec.containers[0].resources
    assert res.limits == {"cpu": "200m", "memory": "64Mi"}
    assert res.requests == {"cpu": "100m", "memory": "32Mi"}
    assert p.metadata.annotations["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for "
        "container c")
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(ns, pod("x", {"limits": {"cpu": "1"}}))
    assert refused(e) == (403, "Forbidden", 'pods "x" is forbidden: maximum cpu usage per '
                          'Container is 500m, but limit is 1')


def test_namespaces(core: client.CoreV1Api) -> None:
    core.create_namespaced_pod("auto-made", pod("p"))
    assert core.read_namespace("auto-made").status.phase == "Active"
    for name in ("default", "kube-system", "kube-public"):
        with pytest.raises(ApiException) as e:
            core.delete_namespace(name)
        assert refused(e) == (403, "Forbidden",
                              f'namespaces "{name}" is forbidden: this namespace may not be '
                              'deleted')
    # A terminating namespace takes no new content; a finalizer keeps it terminating.
    ns = "doomed"
    core.create_namespaced_pod(ns, pod("held", finalizers=["example.com/hold"]))
    core.delete_namespace(ns)
    with pytest.raises(ApiException) as e:
        core.create_namespaced_pod(ns, pod("late"))
    assert refused(e) == (403, "Forbidden", 'pods "late" is forbidden: unable to create new '
                          f'content in namespace {ns} because it is being terminated')
    # The namespace controller (in --role a) is deleting "held" meanwhile: a read-modify-write
    # that loses that race is retried, as any client would.
    for _ in range(10):
        held = core.read_namespaced_pod("held", ns)
        held.metadata.finalizers = []
        try:
            core.replace_namespaced_pod("held", ns, held)
            break
        except ApiException as e:
            if e.status != 409:
                raise
    else:
        pytest.fail("could not remove the finalizer")


@pytest.mark.slow
@pytest.mark.etcd
def test_quota_exact_across_two_api_servers_on_etcd(tmp_path: Path) -> None:
    etcd = EtcdProcess(tmp_path / "etcd")  # our own: /registry keys must not be shared
    etcd.start()
    servers = [ApiServerProcess(tmp_path / f"data{i}", "--store", etcd.url) for i in range(2)]
    try:
        for server in servers:
            server.start()
        apis = []
        for server in servers:
            cfg = client.Configuration()
            cfg.host = server.url
            cfg.connection_pool_maxsize = 16
            apis.append(client.CoreV1Api(client.ApiClient(cfg)))
        apis[0].create_namespaced_resource_quota("default", quota("q1", {"pods": "6"}))

        def attempt(i: int) -> int:
            try:
                apis[i % 2].create_namespaced_pod("default", pod(f"p{i}"))
                return 201
            except ApiException as e:
                return int(e.status)

        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(attempt, range(20)))
        assert codes.count(201) == 6 and codes.count(403) == 14
        assert used(apis[1], "default") == {"pods": "6"}
        for api in apis:
            api.api_client.close()
    finally:
        for server in servers:
            server.stop()
        etcd.stop()
