"""kubectl port-forward against a real Docker node, with kubectl 1.27, 1.30 and 1.33.

The node is tests/fixtures/docker.py's (its own network namespace, dockerd, API server and
kubelet). kubectl runs here and listens on this machine's loopback; the API server ends its
SPDY session (1.27 and 1.30 upgrade to SPDY/3.1, 1.33 tunnels SPDY in a WebSocket) and the
kubelet dials localhost inside the pod's own network namespace, as Kubernetes' runtimes do, so
a server bound to the container's 127.0.0.1 is reachable too. Traffic from here goes only to
loopback and to the node's veth address.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.compat.kubectl import Kubectl
from tests.fixtures.docker import NodeNamespace, docker_node  # noqa: F401 - fixture

from .conftest import kubectl_on, wait_for

pytestmark = [pytest.mark.kubectl, pytest.mark.slow]

POD = "pf-web"
FORWARDING = re.compile(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)")


@pytest.fixture(scope="module")
def nginx(docker_node: NodeNamespace,  # noqa: F811
          tmp_path_factory: pytest.TempPathFactory) -> str:
    k = kubectl_on("1.33", docker_node, tmp_path_factory.mktemp("pf-setup"))
    k("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": POD},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            {"name": "nginx", "image": "nginx", "imagePullPolicy": "Never"}]}}))
    wait_for(lambda: k("get", "pod", POD, "-o", "jsonpath={.status.phase}").out == "Running",
             within=60, what=f"pod {POD} Running")
    ip = k("get", "pod", POD, "-o", "jsonpath={.status.podIP}").out
    # nginx answers once it listens: wait for it from inside the node.
    wait_for(lambda: "nginx" in docker_node.run(["curl", "-s", "-m", "2", f"http://{ip}/"],
                                                check=False).stdout,
             within=30, what="nginx listening")
    return POD


@contextmanager
def forwarding(k: Kubectl, remote: int) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """``kubectl port-forward pod/POD :REMOTE`` running; yields (local port, process)."""
    proc = k.popen("port-forward", f"pod/{POD}", f":{remote}")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        m = FORWARDING.search(line)
        if m is None:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise AssertionError(f"kubectl port-forward did not start: {line!r} {err!r}")
        yield int(m.group(1)), proc
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def http_get(port: int, path: str = "/") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("version", ["1.27", "1.30", "1.33"])
def test_port_forward_to_nginx(version: str, nginx: str,
                               docker_node: NodeNamespace,  # noqa: F811
                               tmp_path: Path) -> None:
    k = kubectl_on(version, docker_node, tmp_path)
    with forwarding(k, 80) as (port, _):
        page = http_get(port)
        assert page.startswith(b"HTTP/1.1 200 OK"), page[:200]
        assert b"Welcome to nginx!" in page
        # Two connections at once, each its own pair of streams on the one session.
        results: list[bytes] = []
        threads = [threading.Thread(target=lambda: results.append(http_get(port)))
                   for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert len(results) == 2 and all(b"Welcome to nginx!" in r for r in results)
        # A response bigger than any frame on the way comes whole (nginx's 404 page is
        # small; ask for the page many times on one connection instead).
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            n = 50
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * (n - 1)
                      + b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        assert data.count(b"Welcome to nginx!") == 2 * n  # title and heading of each page


def test_port_nothing_listens_on(nginx: str, docker_node: NodeNamespace,  # noqa: F811
                                 tmp_path: Path) -> None:
    k = kubectl_on("1.33", docker_node, tmp_path)
    with forwarding(k, 81) as (port, proc):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100) == b""  # closed, nothing forwarded
        # kubectl prints the kubelet's error and gives up the session.
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        assert "an error occurred forwarding" in err and "error forwarding port 81" in err, err
        assert "connection refused" in err, err
    # 1.33 tunnels SPDY in a WebSocket: a GET (1.27 and 1.30 upgrade a POST to SPDY).
    wait_for(lambda: "GET /api/v1/namespaces/default/pods/pf-web/portforward"
             in docker_node.node_logs(), within=10, what="the tunnel's access line")
    assert "Traceback" not in docker_node.node_logs()


LOOPBACK_POD = "pf-loopback"


def test_a_server_on_the_containers_loopback_is_reached(
        docker_node: NodeNamespace, tmp_path: Path) -> None:  # noqa: F811
    """busybox httpd bound to 127.0.0.1:8081 inside the pod: not reachable on the pod IP,
    reachable through port-forward (the kubelet dials inside the pod's network namespace)."""
    k = kubectl_on("1.33", docker_node, tmp_path)
    script = ("mkdir -p /www && echo loopback-only > /www/index.html && "
              "exec httpd -f -p 127.0.0.1:8081 -h /www")
    k("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": LOOPBACK_POD},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            {"name": "web", "image": "busybox", "imagePullPolicy": "Never",
             "command": ["sh", "-c", script]}]}}))
    try:
        wait_for(lambda: k("get", "pod", LOOPBACK_POD, "-o",
                           "jsonpath={.status.phase}").out == "Running",
                 within=60, what=f"pod {LOOPBACK_POD} Running")
        ip = k("get", "pod", LOOPBACK_POD, "-o", "jsonpath={.status.podIP}").out
        # Listening (seen from inside the container), but not on the pod IP.
        wait_for(lambda: "loopback-only" in k(
            "exec", LOOPBACK_POD, "--", "wget", "-q", "-O", "-", "http://127.0.0.1:8081/",
            check=False).out, within=20, what="httpd listening on the pod's loopback")
        refused = docker_node.run(["curl", "-s", "-m", "2", f"http://{ip}:8081/"], check=False)
        assert refused.returncode != 0 and "loopback-only" not in refused.stdout
        proc = k.popen("port-forward", f"pod/{LOOPBACK_POD}", ":8081")
        try:
            assert proc.stdout is not None
            m = FORWARDING.search(proc.stdout.readline())
            assert m is not None
            page = http_get(int(m.group(1)))
            assert page.startswith(b"HTTP/1.") and b"loopback-only" in page, page[:200]
        finally:
            proc.kill()
            proc.communicate(timeout=10)
    finally:
        k("delete", "pod", LOOPBACK_POD, "--grace-period=0", "--wait=false", check=False)


def test_port_forward_errors(nginx: str, docker_node: NodeNamespace,  # noqa: F811
                             tmp_path: Path) -> None:
    k = kubectl_on("1.33", docker_node, tmp_path)
    res = k.fail("port-forward", "pod/no-such-pod", ":80")
    assert 'pods "no-such-pod" not found' in res.err
    started = time.monotonic()
    # No upgrade at all: a Status in Kubernetes' shape, not a hang.
    raw = k("get", "--raw", f"/api/v1/namespaces/default/pods/{POD}/portforward",
            check=False)
    assert raw.code != 0 and "port-forward needs an upgrade" in raw.err, raw
    assert time.monotonic() - started < 10
