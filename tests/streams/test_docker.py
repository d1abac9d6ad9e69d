"""kubectl logs / exec and the Python client's exec against a real Docker node.

The node (tests/fixtures/docker.py) runs inside its own network namespace: dockerd, the API
server, the kubelet and its server on 10250. kubectl 1.33 and the Python client run here and
reach the API's HTTPS port through the namespace's veth pair, verifying the node's certificate
with its CA and sending the admin token; the API server proxies to the kubelet inside (over
TLS too, with its client certificate).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as kclient
from kubernetes.stream import stream as kstream

from tests.compat.kubectl import Kubectl
from tests.fixtures.docker import NodeNamespace, docker_node  # noqa: F401 - fixture

from .conftest import kubectl_on, wait_for, wait_running

pytestmark = [pytest.mark.kubectl, pytest.mark.slow]

TICKER = "echo hello from $(hostname); echo to-stderr >&2; i=0; " \
         "while true; do i=$((i+1)); echo tick $i; sleep 0.5; done"
# Counts its runs in an emptyDir (which outlives the container) and crashes after 3 s.
CRASHER = "n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /d/n; " \
          "echo attempt $n; sleep 3; exit 1"


def busybox_pod(name: str, script: str, *, volume: bool = False) -> str:
    c: dict[str, Any] = {"name": "main", "image": "busybox", "imagePullPolicy": "Never",
                         "command": ["sh", "-c", script]}
    spec: dict[str, Any] = {"containers": [c], "terminationGracePeriodSeconds": 1}
    if volume:
        c["volumeMounts"] = [{"name": "d", "mountPath": "/d"}]
        spec["volumes"] = [{"name": "d", "emptyDir": {}}]
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": spec})


@pytest.fixture(scope="module")
def kubectl(docker_node: NodeNamespace,  # noqa: F811
            tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    return kubectl_on("1.33", docker_node, tmp_path_factory.mktemp("kube-docker"))


def client_for(node: NodeNamespace) -> kclient.CoreV1Api:
    """The official client over verified TLS with the admin token (exec's WebSocket too)."""
    cfg = kclient.Configuration(host=node.url, api_key={
        "authorization": f"Bearer {node.admin_token}"})
    cfg.ssl_ca_cert = str(node.ca_file)
    return kclient.CoreV1Api(kclient.ApiClient(cfg))


@pytest.fixture(scope="module")
def ticker(kubectl: Kubectl) -> str:
    kubectl("create", "-f", "-", input=busybox_pod("ticker", TICKER))
    wait_running(kubectl, "ticker")
    wait_for(lambda: "tick 2" in kubectl("logs", "ticker").out, what="two ticks")
    return "ticker"


def test_logs(kubectl: Kubectl, ticker: str) -> None:
    out = kubectl("logs", ticker).out.splitlines()
    # stderr interleaved, as kubectl shows it (the order across the two pipes is Docker's)
    assert f"hello from {ticker}" in out[:3] and "to-stderr" in out[:3]
    assert re.fullmatch(r"tick \d+", out[-1])
    last = kubectl("logs", ticker, "--tail=1").out.splitlines()
    assert len(last) == 1 and last[0].startswith("tick ")
    stamped = kubectl("logs", ticker, "--timestamps", "--tail=2").out.splitlines()
    assert len(stamped) == 2
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \S.*", line)
               for line in stamped), stamped


def test_logs_follow(kubectl: Kubectl, ticker: str) -> None:
    proc = kubectl.popen("logs", "-f", "--tail=1", ticker)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        second = proc.stdout.readline()  # written half a second later: it streams
        n1, n2 = int(first.split()[1]), int(second.split()[1])
        assert n2 == n1 + 1
    finally:
        proc.kill()
        proc.communicate()


def test_exec_hostname_exit_code_and_stdin(kubectl: Kubectl, ticker: str) -> None:
    assert kubectl("exec", ticker, "--", "cat", "/etc/hostname").out == f"{ticker}\n"
    res = kubectl("exec", ticker, "--", "sh", "-c", "echo out; echo err >&2; exit 7",
                  check=False)
    assert res.code == 7, res
    assert res.out == "out\n" and "err" in res.err
    assert "command terminated with exit code 7" in res.err
    res = kubectl("exec", "-i", ticker, "--", "tr", "a-z", "A-Z", input="shout\n")
    assert res.out == "SHOUT\n"
    res = kubectl("exec", ticker, "--", "/no/such/binary", check=False)
    assert res.code != 0
    # Output bigger than any one frame or buffer on the way arrives whole and in order.
    big = kubectl("exec", ticker, "--", "sh", "-c", "yes 0123456789 | head -n 30000").out
    assert big == "0123456789\n" * 30000
    res = kubectl("exec", "-i", ticker, "--", "wc", "-c", input="x" * 300_000)
    assert res.out.strip() == "300000"


def test_python_client_exec(docker_node: NodeNamespace, ticker: str) -> None:  # noqa: F811
    api = client_for(docker_node)
    out = kstream(api.connect_get_namespaced_pod_exec, ticker, "default",
                  command=["cat", "/etc/hostname"], stderr=True, stdin=False, stdout=True,
                  tty=False)
    assert out == f"{ticker}\n"
    ws: Any = kstream(api.connect_get_namespaced_pod_exec, ticker, "default",
                      command=["sh", "-c", "exit 4"], stderr=True, stdin=False, stdout=True,
                      tty=False, _preload_content=False)
    ws.run_forever(timeout=30)
    assert ws.returncode == 4
    ws = kstream(api.connect_get_namespaced_pod_exec, ticker, "default", command=["cat"],
                 stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    ws.write_stdin(b"ping\n")
    assert ws.readline_stdout(timeout=10) == "ping"
    ws.close_channel(0)
    ws.run_forever(timeout=30)
    assert ws.returncode == 0



def test_python_client_tty_and_resize(docker_node: NodeNamespace,  # noqa: F811
                                      ticker: str) -> None:
    api = client_for(docker_node)
    ws: Any = kstream(api.connect_get_namespaced_pod_exec, ticker, "default",
                      command=["sh", "-c", "sleep 1; stty size; echo err >&2"], stderr=False,
                      stdin=True, stdout=True, tty=True, _preload_content=False)
    ws.write_channel(4, json.dumps({"Width": 100, "Height": 30}))
    ws.run_forever(timeout=30)
    # A terminal: its size as resized, stderr merged into stdout, CRLF line ends.
    assert ws.read_stdout() == "30 100\r\nerr\r\n"
    assert ws.returncode == 0


def test_nginx_logs_and_exec(kubectl: Kubectl, docker_node: NodeNamespace) -> None:  # noqa: F811
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
        "spec": {"containers": [{"name": "nginx", "image": "nginx",
                                 "imagePullPolicy": "Never"}]}}))
    wait_running(kubectl, "web")
    res = kubectl("logs", "web")
    assert res.code == 0
    assert kubectl("exec", "web", "--", "cat", "/etc/hostname").out == "web\n"


def test_logs_previous_after_a_restart(kubectl: Kubectl) -> None:
    kubectl("create", "-f", "-", input=busybox_pod("crasher", CRASHER, volume=True))

    def restarted_twice_started() -> bool:
        count = kubectl("get", "pod", "crasher", "-o",
                        "jsonpath={.status.containerStatuses[0].restartCount}").out
        return bool(count) and int(count) >= 1 and "attempt 2" in kubectl(
            "logs", "crasher", check=False).out

    wait_for(restarted_twice_started, within=60, what="the second run")
    assert kubectl("logs", "crasher", "--previous").out == "attempt 1\n"
    assert kubectl("logs", "crasher").out == "attempt 2\n"


def test_logs_errors_in_kubelet_words(kubectl: Kubectl, ticker: str,
                                      tmp_path: Path) -> None:
    res = kubectl.fail("logs", ticker, "--previous")
    assert f'previous terminated container "main" in pod "{ticker}" not found' in res.err
    kubectl("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "noimage"},
        "spec": {"containers": [{"name": "c", "image": "no-such-image:1",
                                 "imagePullPolicy": "Never"}]}}))
    # The reason is the pod's own waiting reason, once the kubelet has reported it.
    wait_for(lambda: "ErrImageNeverPull" in kubectl("get", "pod", "noimage", "-o", "json").out,
             within=30, what="ErrImageNeverPull")
    res = wait_for(lambda: (r := kubectl("logs", "noimage", check=False)).code == 1
                   and "ErrImageNeverPull" in r.err and r, within=10, what="logs refused")
    assert 'container "c" in pod "noimage" is waiting to start: ErrImageNeverPull' in res.err


@pytest.mark.parametrize("version", ["1.27", "1.29"])
def test_exec_over_spdy(version: str, ticker: str, docker_node: NodeNamespace,  # noqa: F811
                        tmp_path: Path) -> None:
    """kubectl before 1.30 speaks SPDY/3.1 for exec: same answers as the WebSocket."""
    k = kubectl_on(version, docker_node, tmp_path)
    assert k("exec", ticker, "--", "cat", "/etc/hostname").out == f"{ticker}\n"
    res = k("exec", ticker, "--", "sh", "-c", "echo out; echo err >&2; exit 7", check=False)
    assert res.code == 7, res
    assert res.out == "out\n" and "err" in res.err
    assert "command terminated with exit code 7" in res.err
    assert k("exec", "-i", ticker, "--", "tr", "a-z", "A-Z", input="shout\n").out == "SHOUT\n"
    res = k("exec", "-i", ticker, "--", "wc", "-c", input="x" * 300_000)
    assert res.out.strip() == "300000"
    big = k("exec", ticker, "--", "sh", "-c", "yes 0123456789 | head -n 30000").out
    assert big == "0123456789\n" * 30000


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_kubectl_cp_both_ways(version: str, ticker: str, docker_node: NodeNamespace,  # noqa: F811
                              tmp_path: Path) -> None:
    """kubectl cp is exec with tar (busybox has it): a file and a directory into the pod and
    back, over SPDY (1.27) and the WebSocket (1.33)."""
    k = kubectl_on(version, docker_node, tmp_path / "home")
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha\n")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 64)
    target = f"/tmp/cp-{version}"
    k("cp", str(src / "a.txt"), f"{ticker}:{target}.txt")
    assert k("exec", ticker, "--", "cat", f"{target}.txt").out == "alpha\n"
    k("cp", str(src), f"{ticker}:{target}")
    assert k("exec", ticker, "--", "wc", "-c", f"{target}/sub/b.bin").out.split()[0] == "16384"
    back = tmp_path / "back"
    k("cp", f"{ticker}:{target}", str(back))
    assert (back / "a.txt").read_text() == "alpha\n"
    assert (back / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 64
