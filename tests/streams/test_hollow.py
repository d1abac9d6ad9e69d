"""kubectl logs / exec and the Python client's exec through the API server to a hollow kubelet.

The hollow runtime runs nothing: its log lines and exec commands are scripted (see
minikube8s/roles/kubelet/streams.py), which is enough to test every hop: kubectl -> pods/log,
pods/exec (WebSocket v5, v4) -> the API server's proxy -> the kubelet server -> the runtime.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from typing import Any

import aiohttp
import pytest
from kubernetes import client as kclient
from kubernetes.stream import stream as kstream

from tests.compat.kubectl import Kubectl

from .conftest import NODE, HollowNode, MakePod, kubectl_for, wait_for

pytestmark = pytest.mark.kubectl

STARTED = re.compile(r'^hollow: container "web" started \(image nginx, restart 0\)$')
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z"


def core(url: str) -> kclient.CoreV1Api:
    cfg = kclient.Configuration()
    cfg.host = url
    return kclient.CoreV1Api(kclient.ApiClient(cfg))


# -- logs -------------------------------------------------------------------------------------


def test_logs_tail_and_timestamps(kubectl: Kubectl, make_pod: MakePod) -> None:
    pod = make_pod()
    out = kubectl("logs", pod).out.splitlines()
    assert len(out) == 1 and STARTED.match(out[0]), out
    stamped = kubectl("logs", pod, "--timestamps").out.splitlines()
    assert re.fullmatch(STAMP + r' hollow: container "web" started .*', stamped[0]), stamped
    assert kubectl("logs", pod, "--tail=0").out == ""
    assert kubectl("logs", f"pod/{pod}", "--tail=1").out.splitlines() == out


def test_logs_follow_stays_open_then_ends_with_the_container(kubectl: Kubectl,
                                                             make_pod: MakePod) -> None:
    pod = make_pod(annotations={"hollow.minikube8s.io/run-seconds": "3"},
                   restart_policy="Never")
    proc = kubectl.popen("logs", "-f", pod)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert STARTED.match(first.rstrip("\n")), first
        # Still streaming: the container runs on.
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
        rest, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert rest == 'hollow: container "web" exited with code 0 (Completed)\n'


def test_logs_follow_interrupted_by_timeout(kubectl: Kubectl, make_pod: MakePod) -> None:
    pod = make_pod()
    proc = kubectl.popen("logs", "-f", pod)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
    finally:
        proc.kill()
        out, _ = proc.communicate()
    assert STARTED.match(out.splitlines()[0])


def test_logs_previous_after_a_restart(kubectl: Kubectl, make_pod: MakePod) -> None:
    pod = make_pod(annotations={"hollow.minikube8s.io/exit-code": "2",
                                "hollow.minikube8s.io/run-seconds": "1"}, running=False)
    wait_for(lambda: int(kubectl("get", "pod", pod, "-o", "jsonpath={.status."
                                 "containerStatuses[0].restartCount}").out or 0) >= 1,
             what="a restart")
    prev = kubectl("logs", pod, "--previous").out.splitlines()
    assert prev == ['hollow: container "web" started (image nginx, restart 0)',
                    'hollow: container "web" exited with code 2 (Error)'], prev
    # The newest instance once it has started (until then, logs show the one before it).
    wait_for(lambda: "started (image nginx, restart 1)" in kubectl("logs", pod).out,
             what="the second instance's log")


def test_logs_errors(kubectl: Kubectl, make_pod: MakePod) -> None:
    pod = make_pod()
    res = kubectl.fail("logs", pod, "--previous")
    assert f'previous terminated container "web" in pod "{pod}" not found' in res.err
    res = kubectl.fail("logs", pod, "-c", "nope")
    assert f"container nope is not valid for pod {pod}" in res.err
    res = kubectl.fail("logs", "missing-pod")
    assert 'pods "missing-pod" not found' in res.err


async def test_logs_api_container_choice(hollow_node: HollowNode, make_pod: MakePod) -> None:
    two = make_pod("a", "b")
    base = f"{hollow_node.url}/api/v1/namespaces/default/pods"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/{two}/log") as r:
            assert r.status == 400
            body = await r.json()
            assert body["message"] == (f"a container name must be specified for pod {two}, "
                                       "choose one of: [a b]")
        async with http.get(f"{base}/{two}/log", params={"container": "b"}) as r:
            assert r.status == 200 and r.content_type == "text/plain"
            assert 'container "b" started' in await r.text()
        async with http.get(f"{base}/{two}/log", params={"tailLines": "x"}) as r:
            assert r.status == 400


async def test_unscheduled_pod_and_unreachable_kubelet(hollow_node: HollowNode,
                                                       kubectl: Kubectl) -> None:
    base = f"{hollow_node.url}/api/v1"
    # A pod on a node nobody runs: the scheduler never sees it (spec.nodeName is set) and a
    # hand-made Node whose kubelet port has no listener.
    dead_port = hollow_node.kubelet_port + 1
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ghost"},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": dead_port}}}}
    pending = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pending-x"},
               "spec": {"containers": [{"name": "c", "image": "nginx"}],
                        "nodeSelector": {"no-such": "label"}}}
    ghost_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ghost-x"},
                 "spec": {"nodeName": "ghost",
                          "containers": [{"name": "c", "image": "nginx"}]}}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/nodes", json=node) as r:
            assert r.status == 201, await r.text()
        async with http.patch(f"{base}/nodes/ghost/status", json={"status": node["status"]},
                              headers={"Content-Type": "application/merge-patch+json"}) as r:
            assert r.status == 200, await r.text()
        for p in (pending, ghost_pod):
            async with http.post(f"{base}/namespaces/default/pods", json=p) as r:
                assert r.status == 201, await r.text()
        async with http.get(f"{base}/namespaces/default/pods/pending-x/log") as r:
            assert r.status == 400
            assert (await r.json())["message"] == "pod pending-x does not have a host assigned"
        async with http.get(f"{base}/namespaces/default/pods/ghost-x/log") as r:
            assert r.status == 503
            body = await r.json()
            assert body["reason"] == "ServiceUnavailable" and "node ghost" in body["message"]
        async with http.get(f"{base}/namespaces/default/pods/ghost-x/exec",
                            params={"command": "true", "stdout": "true"}) as r:
            assert r.status == 503 and "node ghost" in (await r.json())["message"]
    res = kubectl.fail("logs", "ghost-x")
    assert "node ghost" in res.err


# -- exec -------------------------------------------------------------------------------------


def test_exec_output_exit_codes_and_stdin(kubectl: Kubectl, make_pod: MakePod) -> None:
    pod = make_pod()
    assert kubectl("exec", pod, "--", "cat", "/etc/hostname").out == f"{pod}\n"
    res = kubectl("exec", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                  check=False)
    assert res.code == 3, res
    assert res.out == "out\n"
    assert "err\n" in res.err and "command terminated with exit code 3" in res.err
    res = kubectl("exec", pod, "--", "no-such-binary", check=False)
    assert res.code == 127 and "executable file not found" in res.err
    res = kubectl("exec", "-i", pod, "--", "cat", input="line one\nline two\n")
    assert res.out == "line one\nline two\n"


def test_exec_with_kubectl_129_and_130(hollow_node: HollowNode, make_pod: MakePod,
                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    pod = make_pod()
    k130 = kubectl_for("1.30", hollow_node.url, tmp_path_factory.mktemp("k130"))
    assert k130("exec", pod, "--", "hostname").out == f"{pod}\n"
    k129 = kubectl_for("1.29", hollow_node.url, tmp_path_factory.mktemp("k129"))
    # 1.29 speaks SPDY/3.1 unless told otherwise (the API server relays it, spdyexec.py).
    assert k129("exec", pod, "--", "hostname").out == f"{pod}\n"
    env_proc = subprocess.run(k129.argv("exec", pod, "--", "hostname"), capture_output=True,
                              text=True, timeout=60,
                              env={**k129.env(), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "true"})
    assert env_proc.returncode == 0 and env_proc.stdout == f"{pod}\n", env_proc.stderr


def test_python_client_stream_exec(hollow_node: HollowNode, make_pod: MakePod) -> None:
    pod = make_pod()
    api = core(hollow_node.url)
    out = kstream(api.connect_get_namespaced_pod_exec, pod, "default",
                  command=["cat", "/etc/hostname"], stderr=True, stdin=False, stdout=True,
                  tty=False)
    assert out == f"{pod}\n"
    ws: Any = kstream(api.connect_get_namespaced_pod_exec, pod, "default",
                      command=["sh", "-c", "echo bad >&2; exit 5"], stderr=True, stdin=False,
                      stdout=True, tty=False, _preload_content=False)
    ws.run_forever(timeout=20)
    assert ws.returncode == 5
    assert ws.read_stderr() == "bad\n"
    ws = kstream(api.connect_get_namespaced_pod_exec, pod, "default", command=["cat"],
                 stderr=True, stdin=True, stdout=True, tty=False, _preload_content=False)
    ws.write_stdin("ping\n")
    assert ws.readline_stdout(timeout=10) == "ping"
    ws.close_channel(0)  # v5: end of stdin, so cat ends
    ws.run_forever(timeout=20)
    assert ws.returncode == 0


async def test_exec_v4_protocol_and_resize(hollow_node: HollowNode, make_pod: MakePod) -> None:
    pod = make_pod()
    url = f"{hollow_node.url}/api/v1/namespaces/default/pods/{pod}/exec"
    params = [("command", "sh"), ("command", "-c"), ("command", "echo hi; exit 4"),
              ("stdout", "true"), ("stderr", "true"), ("stdin", "true")]
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, params=params,
                                   protocols=("v4.channel.k8s.io",)) as ws:
            assert ws.protocol == "v4.channel.k8s.io"
            await ws.send_bytes(b"\x04" + json.dumps({"Width": 80, "Height": 24}).encode())
            frames = [m.data async for m in ws if m.type == aiohttp.WSMsgType.BINARY]
            assert ws.close_code == 1000
    assert frames[0] == b"\x01hi\n"
    status = json.loads(frames[-1][1:])
    assert frames[-1][0] == 3 and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "4"}]


async def test_exec_refusals(hollow_node: HollowNode, make_pod: MakePod) -> None:
    pod = make_pod()
    done = make_pod(annotations={"hollow.minikube8s.io/run-seconds": "0.2"},
                    restart_policy="Never", running=False)
    url = f"{hollow_node.url}/api/v1/namespaces/default/pods"
    cmd = {"command": "true", "stdout": "true"}
    async with aiohttp.ClientSession() as http:
        # SPDY without a stream protocol (or anything but a WebSocket): 400 with the way out.
        async with http.post(f"{url}/{pod}/exec", params=cmd,
                             headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}) as r:
            assert r.status == 400
            assert "exec needs the WebSocket protocol" in (await r.json())["message"]
        async with http.get(f"{url}/{pod}/exec", params={"stdout": "true"}) as r:
            assert r.status == 400
        async with http.get(f"{url}/{pod}/exec", params={**cmd, "container": "x"}) as r:
            assert (await r.json())["message"] == f"container x is not valid for pod {pod}"

        async def finished() -> bool:
            async with http.get(f"{url}/{done}") as r:
                return bool((await r.json())["status"].get("phase") == "Succeeded")

        for _ in range(100):
            if await finished():
                break
            await asyncio.sleep(0.1)
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await http.ws_connect(f"{url}/{done}/exec", params=cmd,
                                  protocols=("v5.channel.k8s.io",))
        assert e.value.status == 400
        async with http.get(f"{url}/{done}/exec", params=cmd) as r:
            assert r.status == 400
            assert f'container "web" in pod "{done}" is not running' in (await r.json())[
                "message"]


def test_node_publishes_the_kubelet_port(hollow_node: HollowNode, kubectl: Kubectl) -> None:
    port = kubectl("get", "node", NODE, "-o",
                   "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}").out
    assert port == str(hollow_node.kubelet_port)


def test_bundled_cli_logs_and_exec(hollow_node: HollowNode, make_pod: MakePod) -> None:
    pod = make_pod()

    def cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "minikube8s", "-s", hollow_node.url,
                               *args], input=input, capture_output=True, text=True,
                              timeout=60)

    res = cli("logs", pod)
    assert res.returncode == 0 and STARTED.match(res.stdout.rstrip("\n")), res
    res = cli("exec", pod, "--", "cat", "/etc/hostname")
    assert res.returncode == 0 and res.stdout == f"{pod}\n", res
    res = cli("exec", pod, "--", "sh", "-c", "echo e >&2; exit 3")
    assert res.returncode == 3 and res.stderr == "e\n", res
    res = cli("exec", "-i", pod, "--", "cat", input="via stdin\n")
    assert res.returncode == 0 and res.stdout == "via stdin\n", res


async def test_attach_on_a_hollow_node(hollow_node: HollowNode, make_pod: MakePod,
                                       kubectl: Kubectl) -> None:
    """The hollow runtime has no process to attach to: the kubelet's 501 comes through the
    API server, for a WebSocket as for a plain request, and kubectl reports it."""
    pod = make_pod()
    url = f"{hollow_node.url}/api/v1/namespaces/default/pods/{pod}/attach"
    params = {"stdout": "true"}
    async with aiohttp.ClientSession() as http:
        async with http.get(url, params=params) as r:
            assert r.status == 501
            assert "cannot attach to containers" in (await r.json())["message"]
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await http.ws_connect(url, params=params, protocols=("v5.channel.k8s.io",))
        assert e.value.status == 501
        async with http.get(url, params={**params, "container": "x"}) as r:
            assert (await r.json())["message"] == f"container x is not valid for pod {pod}"
    res = await asyncio.to_thread(kubectl, "attach", pod, check=False)
    assert res.code != 0 and "cannot attach to containers" in res.err, res
