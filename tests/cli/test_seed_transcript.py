"""The seed's kubectl session (/work/shared/seed/kubernetes-basics.txt), replayed step by step
with the bundled CLI, both ways the article shows: manual commands, then config files (the
seed's v1beta3 manifests in examples/seed/). Every command carries ``-s URL`` as the article's
do.

The cluster is a real ``minikube8s --role a`` (API server, scheduler, controller manager) and
``minikube8s hollow-nodes --count 3`` named like the seed's machines (192.168.0.10-12), so
the RC's 6 pods really run, 2 per node. Hollow pods serve nothing, so the seed's two ``curl``
steps (the portal IP, then 12.0.0.5) are in tests/e2e/test_seed_walkthrough.py, which replays
the same session through the bundled CLI on three network-namespace nodes with real Docker and
curls from inside each node's namespace (test traffic may not leave this machine).

Tests in this module run in file order and share the cluster's state, like the article's
terminal session.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fixtures.apiserver import ApiServerProcess

from .conftest import EXAMPLES, REPO, Minikube8s

PORTAL_NET = ipaddress.ip_network("192.168.3.0/24")

def eventually(check: Callable[[], Any], *, timeout: float = 60, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")


def get_json(mk: Minikube8s, *args: str) -> Any:
    return json.loads(mk("get", *args, "-o", "json").out)


def table(out: str) -> dict[str, list[list[str]]]:
    """``get a,b`` output: rows (split on whitespace) keyed by the block's kind prefix."""
    blocks: dict[str, list[list[str]]] = {}
    for block in out.strip().split("\n\n"):
        lines = block.splitlines()
        rows = [line.split() for line in lines[1:]]
        kind = rows[0][0].split("/")[0] if rows and "/" in rows[0][0] else "?"
        blocks[kind] = rows
    return blocks


@pytest.fixture(scope="module")
def hollow_nodes(apiserver: ApiServerProcess) -> Iterator[None]:
    """Three simulated nodes named as the seed's: 192.168.0.10, .11 and .12."""
    proc = subprocess.Popen([sys.executable, "-m", "minikube8s", "hollow-nodes", "--count",
                             "3", "--server", apiserver.url, "--name-prefix", "192.168.0.1",
                             "--first-index", "0"], cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# ------------------------------------------------------------------ the cluster is up


def test_01_get_services_minions(mk: Minikube8s) -> None:
    """conf% kubectl get services,minions -s "http://192.168.0.10:8080" """
    res = mk("get", "services,minions")
    blocks = table(res.out)
    svc = {r[0]: r for r in blocks["service"]}
    # v0.17 also had kubernetes-ro on port 80; today's Kubernetes (and minikube8s) has one.
    assert "service/kubernetes" in svc
    assert ipaddress.ip_address(svc["service/kubernetes"][2]) in PORTAL_NET
    assert svc["service/kubernetes"][4] == "443/TCP"


def test_01_minions_ready(mk: Minikube8s, hollow_nodes: None) -> None:
    def ready() -> list[str]:
        nodes = get_json(mk, "minions")["items"]
        return [n["metadata"]["name"] for n in nodes
                if any(c["type"] == "Ready" and c["status"] == "True"
                       for c in n["status"].get("conditions", []))]
    assert len(eventually(lambda: len(ready()) == 3 and ready(), what="3 Ready nodes")) == 3
    rows = table(mk("get", "services,minions").out)["node"]
    assert [r[0] for r in rows] == ["node/192.168.0.10", "node/192.168.0.11",
                                    "node/192.168.0.12"]
    assert [r[1] for r in rows] == ["Ready"] * 3


# ------------------------------------------------------------------ manual service start


def test_02_run_container(mk: Minikube8s) -> None:
    """conf% kubectl run-container nginx --port=80 --port=443 --image=nginx --replicas=6"""
    res = mk("run-container", "nginx", "--port=80", "--port=443", "--image=nginx",
             "--replicas=6")
    assert res.out == "replicationcontroller/nginx created\n"
    rc = get_json(mk, "rc", "nginx")
    assert rc["spec"]["replicas"] == 6
    assert rc["spec"]["selector"] == {"run-container": "nginx"}
    template = rc["spec"]["template"]
    assert template["metadata"]["labels"] == {"run-container": "nginx"}
    (container,) = template["spec"]["containers"]
    assert (container["name"], container["image"]) == ("nginx", "nginx")
    assert [p["containerPort"] for p in container["ports"]] == [80, 443]


def test_03_get_pods_rc(mk: Minikube8s) -> None:
    """conf% kubectl get pods,rc: the rc row (CONTROLLER nginx, SELECTOR run-container=nginx,
    REPLICAS 6 in v0.17's columns; NAME DESIRED ... and -o wide's SELECTOR today)."""
    rows = table(mk("get", "pods,rc", "-o", "wide").out)["replicationcontroller"]
    (row,) = rows
    assert row[0] == "replicationcontroller/nginx" and row[1] == "6"
    assert row[5:] == ["nginx", "nginx", "run-container=nginx"]


def test_03_six_pods_running(mk: Minikube8s, hollow_nodes: None) -> None:
    def running() -> list[Any]:
        pods = get_json(mk, "pods", "-l", "run-container=nginx")["items"]
        return [p for p in pods if p["status"].get("phase") == "Running"]
    pods = eventually(lambda: len(running()) == 6 and running(), what="6 running pods")
    assert all(p["metadata"]["name"].startswith("nginx-") for p in pods)
    hosts = [p["spec"]["nodeName"] for p in pods]
    assert sorted(hosts.count(h) for h in set(hosts)) == [2, 2, 2]
    blocks = table(mk("get", "pods,rc").out)
    assert len(blocks["pod"]) == 6
    assert blocks["replicationcontroller"][0][:4] == ["replicationcontroller/nginx", "6", "6",
                                                      "6"]


def test_04_expose_http_and_https(mk: Minikube8s) -> None:
    """conf% kubectl expose rc nginx --port=80 --target-port=80 --service-name=nginx-http
    conf% kubectl expose rc nginx --port=443 --target-port=443 --service-name=nginx-https"""
    assert mk("expose", "rc", "nginx", "--port=80", "--target-port=80",
              "--service-name=nginx-http").out == "service/nginx-http exposed\n"
    assert mk("expose", "rc", "nginx", "--port=443", "--target-port=443",
              "--service-name=nginx-https").out == "service/nginx-https exposed\n"
    for name, port in (("nginx-http", 80), ("nginx-https", 443)):
        svc = get_json(mk, "svc", name)
        assert svc["spec"]["selector"] == {"run-container": "nginx"}
        assert [(p["port"], p["targetPort"], p["protocol"]) for p in svc["spec"]["ports"]] == [
            (port, port, "TCP")]
        assert ipaddress.ip_address(svc["spec"]["clusterIP"]) in PORTAL_NET


def test_05_get_rc_services(mk: Minikube8s) -> None:
    """conf% kubectl get rc,services"""
    blocks = table(mk("get", "rc,services").out)
    assert [r[0] for r in blocks["replicationcontroller"]] == ["replicationcontroller/nginx"]
    svc = {r[0]: r for r in blocks["service"]}
    assert set(svc) == {"service/kubernetes", "service/nginx-http", "service/nginx-https"}
    assert svc["service/nginx-http"][4] == "80/TCP"
    assert svc["service/nginx-https"][4] == "443/TCP"
    ips = {svc[n][2] for n in svc}
    assert len(ips) == 3 and all(ipaddress.ip_address(ip) in PORTAL_NET for ip in ips)


# ------------------------------------------------------------------ clean up, then configs


def test_07_delete_services(mk: Minikube8s) -> None:
    """conf% kubectl delete services nginx-http nginx-https"""
    assert mk("delete", "services", "nginx-http", "nginx-https").out == (
        'service "nginx-http" deleted\nservice "nginx-https" deleted\n')
    names = [s["metadata"]["name"] for s in get_json(mk, "services")["items"]]
    assert names == ["kubernetes"]


def test_08_stop_rc(mk: Minikube8s) -> None:
    """conf% kubectl stop rc nginx: scaled to 0, waited for, deleted."""
    start = time.monotonic()
    assert mk("stop", "rc", "nginx").out == "replicationcontroller/nginx stopped\n"
    assert time.monotonic() - start < 30
    assert get_json(mk, "rc")["items"] == []
    assert get_json(mk, "pods", "-l", "run-container=nginx")["items"] == []


def test_09_create_rc_from_seed_file(mk: Minikube8s) -> None:
    """conf% kubectl create -f ./nginx_rc.yaml (apiVersion v1beta3, the article's fields)"""
    res = mk("create", "-f", str(EXAMPLES / "seed" / "nginx_rc.yaml"))
    assert res.out == "replicationcontroller/nginx-controller created\n"
    warnings = [line for line in res.err.splitlines() if line.startswith("Warning: ")]
    assert len(warnings) == 4, res.err  # TimeoutSeconds, enabled, type, portals
    rc = get_json(mk, "rc", "nginx-controller")
    assert rc["spec"]["replicas"] == 6 and rc["spec"]["selector"] == {"name": "nginx"}
    (container,) = rc["spec"]["template"]["spec"]["containers"]
    assert [p["containerPort"] for p in container["ports"]] == [80, 443]
    probe = container["livenessProbe"]
    assert probe["httpGet"] == {"path": "/", "port": 80, "scheme": "HTTP"}
    assert (probe["initialDelaySeconds"], probe["timeoutSeconds"]) == (30, 5)
    assert "portals" not in rc["spec"]["template"]["spec"]


def test_10_get_pods_rc(mk: Minikube8s) -> None:
    """conf% kubectl get pods,rc: CONTROLLER nginx-controller, SELECTOR name=nginx, 6."""
    (row,) = table(mk("get", "pods,rc", "-o", "wide").out)["replicationcontroller"]
    assert row[0] == "replicationcontroller/nginx-controller" and row[1] == "6"
    assert row[5:] == ["nginx", "nginx", "name=nginx"]


def test_10_six_pods_running(mk: Minikube8s, hollow_nodes: None) -> None:
    def running() -> list[Any]:
        pods = get_json(mk, "pods", "-l", "name=nginx")["items"]
        return [p for p in pods if p["status"].get("phase") == "Running"]
    pods = eventually(lambda: len(running()) == 6 and running(), what="6 running pods")
    assert all(p["metadata"]["name"].startswith("nginx-controller-") for p in pods)
    assert all(p["spec"]["containers"][0]["livenessProbe"]["timeoutSeconds"] == 5
               for p in pods)


def test_11_create_service_from_seed_file(mk: Minikube8s) -> None:
    """conf% kubectl create -f ./nginx_service.yaml, then get rc,services"""
    res = mk("create", "-f", str(EXAMPLES / "seed" / "nginx_service.yaml"))
    assert res.out == "service/nginx created\n"
    svc = get_json(mk, "svc", "nginx")
    assert svc["spec"]["externalIPs"] == ["12.0.0.5"]
    assert [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
        ("http", 80, 80), ("https", 443, 443)]
    blocks = table(mk("get", "rc,services").out)
    assert [r[0] for r in blocks["replicationcontroller"]] == [
        "replicationcontroller/nginx-controller"]
    row = {r[0]: r for r in blocks["service"]}["service/nginx"]
    assert ipaddress.ip_address(row[2]) in PORTAL_NET
    assert row[3:5] == ["12.0.0.5", "80/TCP,443/TCP"]
