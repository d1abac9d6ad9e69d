"""Service portal IPs against a real ``minikube8s --role a`` with the official Python client:
the seed's ``kubernetes`` service, unique clusterIPs under concurrency, release and reuse,
refusals, and consistency across a restart."""

from __future__ import annotations

import ipaddress
import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import EtcdProcess

PORTAL = ipaddress.ip_network("192.168.3.0/24")


def api_for(url: str) -> client.CoreV1Api:
    cfg = client.Configuration()
    cfg.host = url
    cfg.connection_pool_maxsize = 32
    return client.CoreV1Api(client.ApiClient(cfg))


@pytest.fixture(scope="module")
def core(apiserver: ApiServerProcess) -> Iterator[client.CoreV1Api]:
    api = api_for(apiserver.url)
    yield api
    api.api_client.close()


def svc(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}],
                     **spec}}


def status_of(e: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(e.body)
    return body


def test_kubernetes_service_like_the_seed(core: client.CoreV1Api,
                                          apiserver: ApiServerProcess) -> None:
    k = core.read_namespaced_service("kubernetes", "default")
    assert k.spec.cluster_ip == "192.168.3.1"
    assert k.metadata.labels == {"component": "apiserver", "provider": "kubernetes"}
    (port,) = k.spec.ports
    assert (port.name, port.port, port.protocol) == ("https", 443, "TCP")
    # The HTTPS port (issue 9): pods reaching the API through the portal get TLS and tokens,
    # never the unauthenticated insecure port.
    assert port.target_port == apiserver.secure_port
    ep = core.read_namespaced_endpoints("kubernetes", "default")
    (subset,) = ep.subsets
    assert [a.ip for a in subset.addresses] == ["127.0.0.1"]
    assert [(p.name, p.port) for p in subset.ports] == [("https", apiserver.secure_port)]
    names = {n.metadata.name for n in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names


def test_concurrent_creates_get_unique_ips(core: client.CoreV1Api) -> None:
    ns = "svc-burst"
    with ThreadPoolExecutor(30) as pool:
        created = list(pool.map(lambda i: core.create_namespaced_service(ns, svc(f"s{i}")),
                                range(30)))
    ips = [s.spec.cluster_ip for s in created]
    assert len(set(ips)) == 30
    for ip in ips:
        addr = ipaddress.ip_address(ip)
        assert addr in PORTAL and ip not in ("192.168.3.0", "192.168.3.1", "192.168.3.255")
    listed = {s.spec.cluster_ip for s in core.list_namespaced_service(ns).items}
    assert listed == set(ips)
    with ThreadPoolExecutor(30) as pool:
        list(pool.map(lambda i: core.delete_namespaced_service(f"s{i}", ns), range(30)))


def test_requested_ip_released_and_reusable(core: client.CoreV1Api) -> None:
    ns = "svc-reuse"
    a = core.create_namespaced_service(ns, svc("a", clusterIP="192.168.3.77"))
    assert a.spec.cluster_ip == "192.168.3.77"
    with pytest.raises(ApiException) as taken:
        core.create_namespaced_service(ns, svc("b", clusterIP="192.168.3.77"))
    assert taken.value.status == 422
    st = status_of(taken.value)
    assert st["reason"] == "Invalid"
    assert st["message"] == ('Service "b" is invalid: spec.clusterIP: Invalid value: '
                             '"192.168.3.77": provided IP is already allocated')
    assert st["details"]["causes"][0]["field"] == "spec.clusterIP"
    with pytest.raises(ApiException) as outside:
        core.create_namespaced_service(ns, svc("c", clusterIP="10.9.9.9"))
    assert outside.value.status == 422
    assert "provided IP is not in the valid range. The range of valid IPs is 192.168.3.0/24" \
        in status_of(outside.value)["message"]
    core.delete_namespaced_service("a", ns)
    b = core.create_namespaced_service(ns, svc("b", clusterIP="192.168.3.77"))
    assert b.spec.cluster_ip == "192.168.3.77"
    core.delete_namespaced_service("b", ns)


def test_replace_keeps_ip_and_refuses_change(core: client.CoreV1Api) -> None:
    ns = "svc-update"
    a = core.create_namespaced_service(ns, svc("a"))
    body = svc("a")  # the original manifest, as `kubectl replace -f` sends it
    body["metadata"]["resourceVersion"] = a.metadata.resource_version
    b = core.replace_namespaced_service("a", ns, body)
    assert b.spec.cluster_ip == a.spec.cluster_ip
    moved = svc("a", clusterIP="192.168.3.250")
    moved["metadata"]["resourceVersion"] = b.metadata.resource_version
    with pytest.raises(ApiException) as e:
        core.replace_namespaced_service("a", ns, moved)
    assert e.value.status == 422
    assert "field is immutable" in status_of(e.value)["message"]
    core.delete_namespaced_service("a", ns)


def test_headless_and_node_port(core: client.CoreV1Api) -> None:
    ns = "svc-kinds"
    h = core.create_namespaced_service(ns, svc("h", clusterIP="None"))
    assert h.spec.cluster_ip == "None"
    n = core.create_namespaced_service(ns, svc("n", type="NodePort"))
    assert 30000 <= n.spec.ports[0].node_port <= 32767
    assert ipaddress.ip_address(n.spec.cluster_ip) in PORTAL
    for name in ("h", "n"):
        core.delete_namespaced_service(name, ns)


def test_metrics_count_service_creates(core: client.CoreV1Api,
                                       apiserver: ApiServerProcess) -> None:
    with urllib.request.urlopen(f"{apiserver.url}/metrics", timeout=5) as r:
        text = r.read().decode()
    assert 'apiserver_request_total{code="201",resource="services",verb="create"}' in text
    assert 'apiserver_request_duration_seconds_bucket{le="0.005",resource="services",' \
           'verb="create"}' in text


@pytest.mark.slow
def test_allocations_consistent_across_restart(tmp_path: Path) -> None:
    server = ApiServerProcess(tmp_path / "data")
    server.start()
    try:
        api = api_for(server.url)
        before = {api.create_namespaced_service("default", svc(f"s{i}")).spec.cluster_ip
                  for i in range(10)}
        api.delete_namespaced_service("s0", "default")
        api.api_client.close()
    finally:
        assert server.stop() == 0, server.logs()[-3000:]
    server.start()
    try:
        api = api_for(server.url)
        assert api.read_namespaced_service("kubernetes", "default").spec.cluster_ip == \
            "192.168.3.1"
        held = {s.spec.cluster_ip for s in api.list_namespaced_service("default").items}
        assert len(held) == 10  # 9 of ours and the kubernetes service
        with ThreadPoolExecutor(10) as pool:
            after = {s.spec.cluster_ip for s in pool.map(
                lambda i: api.create_namespaced_service("default", svc(f"t{i}")), range(10))}
        assert not after & held
        assert len(after) == 10
        taken = next(iter(before & held))
        with pytest.raises(ApiException) as e:
            api.create_namespaced_service("default", svc("dup", clusterIP=taken))
        assert e.value.status == 422
        api.api_client.close()
    finally:
        assert server.stop() == 0, server.logs()[-3000:]


@pytest.mark.slow
@pytest.mark.etcd
def test_two_api_servers_on_one_etcd_never_share_an_ip(tmp_path: Path) -> None:
    """The allocation map is one CAS'd key, so two processes racing for a small portal net
    (a /27: 30 usable, one of them the kubernetes service's) still never collide."""
    etcd = EtcdProcess(tmp_path / "etcd")  # our own: /registry keys must not be shared
    etcd.start()
    servers = [ApiServerProcess(tmp_path / f"data{i}", "--store", etcd.url,
                                "--portal-net", "10.0.0.0/27") for i in range(2)]
    try:
        for server in servers:
            server.start()
        apis = [api_for(server.url) for server in servers]

        def create(i: int) -> str | None:
            try:
                made = apis[i % 2].create_namespaced_service("default", svc(f"s{i}"))
                return str(made.spec.cluster_ip)
            except ApiException as e:
                assert e.status == 500 and "range is full" in e.body, e.body
                return None

        with ThreadPoolExecutor(16) as pool:
            got = list(pool.map(create, range(32)))
        ips = [ip for ip in got if ip]
        assert len(ips) == 29 == len(set(ips))
        assert "10.0.0.1" not in ips
        listed = [s.spec.cluster_ip for s in apis[1].list_namespaced_service("default").items]
        assert len(listed) == 30 == len(set(listed))
        for api in apis:
            api.api_client.close()
    finally:
        for server in servers:
            server.stop()
        etcd.stop()
