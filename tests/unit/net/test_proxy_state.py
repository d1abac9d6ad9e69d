"""Pure parts of the proxy: desired service ports and endpoints from API objects
(net/proxier.py) and the nft batch the portals apply (net/portals.py render)."""

from __future__ import annotations

import pytest

from minikube8s.net.loadbalancer import Endpoint, ServicePortName
from minikube8s.net.portals import Portal, check_table_name, cleanup_batch, render
from minikube8s.net.proxier import endpoints_by_port, service_ports

NGINX = {
    "metadata": {"name": "nginx", "namespace": "default"},
    "spec": {"clusterIP": "192.168.3.214", "externalIPs": ["12.0.0.5"],
             "selector": {"name": "nginx"},
             "ports": [{"name": "http", "port": 80, "targetPort": 80, "protocol": "TCP"},
                       {"name": "https", "port": 443, "targetPort": 443}]},
}


def test_service_ports_of_the_seed_nginx_service() -> None:
    got = service_ports([NGINX])
    http = ServicePortName("default", "nginx", "http")
    https = ServicePortName("default", "nginx", "https")
    assert set(got) == {http, https}
    assert got[http].cluster_ip == "192.168.3.214"
    assert got[http].external_ips == ("12.0.0.5",)
    assert got[https].protocol == "TCP" and got[https].port == 443
    assert got[http].affinity == "None"


def test_service_ports_skip_what_is_not_proxied() -> None:
    svcs = [
        {"metadata": {"name": "headless", "namespace": "a"},
         "spec": {"clusterIP": "None", "ports": [{"port": 80}]}},
        {"metadata": {"name": "ext", "namespace": "a"},
         "spec": {"type": "ExternalName", "externalName": "x.example", "ports": [{"port": 80}]}},
        {"metadata": {"name": "noip", "namespace": "a"}, "spec": {"ports": [{"port": 80}]}},
        {"metadata": {"name": "sctp", "namespace": "a"},
         "spec": {"clusterIP": "192.168.3.9", "ports": [{"port": 80, "protocol": "SCTP"},
                                                        {"port": 53, "protocol": "UDP"}]}},
    ]
    got = service_ports(svcs)
    assert list(got) == [ServicePortName("a", "sctp", "")]
    assert got[ServicePortName("a", "sctp", "")].protocol == "UDP"


def test_service_ports_affinity_and_its_timeout() -> None:
    svc = {"metadata": {"name": "s", "namespace": "d"},
           "spec": {"clusterIP": "192.168.3.7", "sessionAffinity": "ClientIP",
                    "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 30}},
                    "ports": [{"port": 80}]}}
    (spec,) = service_ports([svc]).values()
    assert spec.affinity == "ClientIP" and spec.affinity_timeout == 30
    del svc["spec"]["sessionAffinityConfig"]
    (spec,) = service_ports([svc]).values()
    assert spec.affinity_timeout == 10800


def test_endpoints_by_port_uses_ready_addresses_only() -> None:
    ep = {"metadata": {"name": "nginx", "namespace": "default"},
          "subsets": [
              {"addresses": [{"ip": "172.16.1.2"}, {"ip": "172.16.2.2"}],
               "notReadyAddresses": [{"ip": "172.16.3.2"}],
               "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}]},
              {"addresses": [{"ip": "172.16.4.2"}], "ports": [{"name": "http", "port": 8080}]},
          ]}
    got = endpoints_by_port([ep])
    assert got[ServicePortName("default", "nginx", "http")] == [
        Endpoint("172.16.1.2", 80), Endpoint("172.16.2.2", 80), Endpoint("172.16.4.2", 8080)]
    assert got[ServicePortName("default", "nginx", "https")] == [
        Endpoint("172.16.1.2", 443), Endpoint("172.16.2.2", 443)]
    assert endpoints_by_port([{"metadata": {"name": "e", "namespace": "d"}}]) == {}


def test_render_is_one_atomic_batch_replacing_the_table() -> None:
    batch = render([Portal("192.168.3.214", 80, "tcp", 40001, "default/nginx:http"),
                    Portal("12.0.0.5", 80, "tcp", 40001, "default/nginx:http"),
                    Portal("192.168.3.10", 53, "udp", 40002, "kube-system/dns:dns")],
                   table="minikube8s", host_ip="192.168.0.10")
    lines = batch.splitlines()
    # add + delete + the new table: the same transaction replaces whatever was there.
    assert lines[:3] == ["add table ip minikube8s", "delete table ip minikube8s",
                         "table ip minikube8s {"]
    assert "192.168.3.214 . 80 comment \"default/nginx:http\" : 40001" in batch
    assert "12.0.0.5 . 80 comment \"default/nginx:http\" : 40001" in batch
    assert "192.168.3.214 . 80 : 192.168.0.10 . 40001" in batch  # KUBE-PORTALS-HOST: DNAT
    assert "192.168.3.10 . 53" in batch and "udp_portals" in batch
    assert "hook prerouting" in batch and "hook output" in batch
    assert "redirect to : ip daddr . tcp dport map @tcp_portals" in batch
    assert "dnat ip to ip daddr . tcp dport map @tcp_host" in batch
    # Nobody else's table is named.
    assert " nat" not in batch.replace("type nat", "")


def test_render_without_node_ip_redirects_host_traffic_too() -> None:
    batch = render([Portal("192.168.3.1", 443, "tcp", 5000)], table="t1")
    assert "tcp_host" not in batch
    assert batch.count("redirect to : ip daddr . tcp dport map @tcp_portals") == 2


def test_render_of_nothing_is_an_empty_but_valid_table() -> None:
    batch = render([], table="minikube8s")
    assert "elements" not in batch
    assert batch.count("chain ") == 2


def test_render_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        render([Portal("not-an-ip", 80, "tcp", 1)])
    with pytest.raises(ValueError):
        render([Portal("10.0.0.1", 80, "sctp", 1)])
    with pytest.raises(ValueError):
        check_table_name("bad name; flush ruleset")
    with pytest.raises(ValueError):
        cleanup_batch("x y")
    # A comment cannot break out of its quotes.
    batch = render([Portal("10.0.0.1", 80, "tcp", 1, 'a" ; flush ruleset')])
    assert 'comment "a____flush_ruleset"' in batch
    assert "flush ruleset" not in batch
