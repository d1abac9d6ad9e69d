"""kubectl attach and ``kubectl run -i --rm`` against a real Docker node, kubectl 1.27 (SPDY),
1.30 and 1.33 (WebSocket v5).

The node is tests/fixtures/docker.py's. kubectl creates pods with ``stdin``/``stdinOnce``/``tty``
(the kubelet creates their containers with Docker's OpenStdin/StdinOnce/Tty), waits for them
Running and attaches: the API server's pods/attach -> the kubelet's /attach -> Docker's
hijacked ``/containers/{id}/attach``. Stdin is the test's, through a pipe, or a pseudo-terminal
for ``-it``.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes.stream import stream as kstream

from tests.compat.kubectl import Kubectl
from tests.fixtures.docker import NodeNamespace, docker_node  # noqa: F401 - fixture

from .conftest import kubectl_on, wait_for, wait_running
from .test_docker import client_for

pytestmark = [pytest.mark.kubectl, pytest.mark.slow]

READER = "reader"
"""A pod whose main process reads stdin line by line (``stdin: true``, not ``stdinOnce``:
it outlives every attach)."""


@pytest.fixture(scope="module")
def reader(docker_node: NodeNamespace,  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> str:
    k = kubectl_on("1.33", docker_node, tmp_path_factory.mktemp("attach-setup"))
    k("create", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": READER},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [
            {"name": "main", "image": "busybox", "imagePullPolicy": "Never", "stdin": True,
             "command": ["sh", "-c", "while read x; do echo got $x; echo err $x >&2; done"]},
        ]}}))
    wait_running(k, READER)
    return READER


def _popen(k: Kubectl, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(k.argv(*args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=k.env())


@pytest.mark.parametrize("version", ["1.27", "1.30", "1.33"])
def test_attach_to_a_running_shell(version: str, reader: str,
                                   docker_node: NodeNamespace,  # noqa: F811
                                   tmp_path: Path) -> None:
    """stdin reaches the running process, its stdout and stderr come back; the end of
    kubectl's stdin detaches (the container has no stdinOnce) and the process lives on."""
    k = kubectl_on(version, docker_node, tmp_path)
    proc = _popen(k, "attach", "-i", reader)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(f"v{version}\n")
        proc.stdin.flush()
        assert proc.stdout.readline() == f"got v{version}\n"
        out, err = proc.communicate(timeout=20)  # closes kubectl's stdin first
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (out, err)
    assert f"err v{version}" in err
    assert k("get", "pod", reader, "-o", "jsonpath={.status.phase}").out == "Running"
    # 1.27 upgrades a POST to SPDY/3.1, 1.30+ a GET to WebSocket (v5.channel.k8s.io).
    method = "POST" if version == "1.27" else "GET"
    line = f"{method} /api/v1/namespaces/default/pods/{reader}/attach"
    wait_for(lambda: line in docker_node.node_logs(), within=10, what="the access line")
    assert "Traceback" not in docker_node.node_logs()


def test_attach_output_only_and_errors(reader: str,
                                       docker_node: NodeNamespace,  # noqa: F811
                                       tmp_path: Path) -> None:
    """Without -i attach streams output until the client leaves; ``-t`` on a container
    without a tty is kubectl's own warning; no upgrade or a bad container is the API server's
    400."""
    k = kubectl_on("1.33", docker_node, tmp_path)
    watcher = k.popen("attach", reader)
    try:
        time.sleep(1.0)  # attached (no output until something is written)
        writer = _popen(k, "attach", "-i", reader)
        assert writer.stdin is not None and writer.stdout is not None
        writer.stdin.write("shared\n")
        writer.stdin.flush()
        assert writer.stdout.readline() == "got shared\n"
        writer.communicate(timeout=20)
        assert watcher.stdout is not None
        assert watcher.stdout.readline() == "got shared\n"  # the same process's output
    finally:
        watcher.kill()
        watcher.communicate(timeout=10)
    # (Its output may not come back: stdin ends at once, and Docker detaches a container
    # without stdinOnce when an attach's stdin ends.)
    res = k("attach", "-it", reader, input="tty\n")
    assert "Unable to use a TTY - container main did not allocate one" in res.err
    # The read-only user reads the pod but may not attach (create on pods/attach, as exec).
    ro = (docker_node.data_dir / "readonly.token").read_text().strip()
    res = k("attach", reader, f"--token={ro}", check=False, timeout=30)
    assert res.code != 0, res
    assert ('User "kubernetes-ro" cannot create resource "pods/attach" in API group "" in '
            'the namespace "default"') in res.err, res
    raw = k("get", "--raw", f"/api/v1/namespaces/default/pods/{reader}/attach?stdout=true",
            check=False)
    assert raw.code != 0 and "attach needs the WebSocket protocol" in raw.err, raw
    raw = k("get", "--raw",
            f"/api/v1/namespaces/default/pods/{reader}/attach?container=nope&stdout=true",
            check=False)
    assert raw.code != 0 and "container nope is not valid for pod reader" in raw.err, raw


def test_python_client_attach(reader: str, docker_node: NodeNamespace) -> None:  # noqa: F811
    ws: Any = kstream(client_for(docker_node).connect_get_namespaced_pod_attach, reader,
                      "default", stdin=True, stdout=True, stderr=True, tty=False,
                      _preload_content=False)
    try:
        ws.write_stdin("py\n")
        assert ws.readline_stdout(timeout=10) == "got py"
        assert ws.readline_stderr(timeout=10) == "err py"
    finally:
        ws.close()


@pytest.mark.parametrize("version", ["1.27", "1.33"])
def test_run_interactive_and_remove(version: str, docker_node: NodeNamespace,  # noqa: F811
                                    tmp_path: Path) -> None:
    """``kubectl run -i --rm --restart=Never``: the pod (stdin, stdinOnce) reads the test's
    input through the attach, ends with stdin, kubectl takes its exit code and deletes it."""
    k = kubectl_on(version, docker_node, tmp_path)
    name = f"run-{version.replace('.', '')}"
    res = k("run", "-i", "--rm", "--restart=Never", name, "--image=busybox",
            "--image-pull-policy=Never", "--", "sh", "-c", "read x; echo got $x; exit 3",
            input="hello\n", check=False, timeout=90)
    assert res.code == 3, res
    assert "got hello" in res.out, res
    assert f'pod "{name}" deleted' in res.out, res
    wait_for(lambda: k("get", "pod", name, check=False).code != 0, within=30,
             what=f"pod {name} gone")


def test_run_it_with_a_terminal(docker_node: NodeNamespace,  # noqa: F811
                                tmp_path: Path) -> None:
    """``kubectl run -it --rm ... -- sh`` on a pseudo-terminal: the container's tty, its
    size from kubectl's resize, ``exit`` ends the pod and kubectl removes it."""
    k = kubectl_on("1.33", docker_node, tmp_path)
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    proc = subprocess.Popen(
        k.argv("run", "-it", "--rm", "--restart=Never", "shell", "--image=busybox",
               "--image-pull-policy=Never", "--", "sh"),
        stdin=slave, stdout=slave, stderr=slave, env={**k.env(), "TERM": "dumb"},
        start_new_session=True)
    os.close(slave)
    seen = b""

    def read_until(token: bytes, within: float = 60) -> None:
        nonlocal seen
        deadline = time.monotonic() + within
        while token not in seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {token!r} in {seen[-2000:]!r}")
            ready, _, _ = select.select([master], [], [], left)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:  # the terminal's other side is gone
                    raise AssertionError(f"no {token!r} in {seen[-2000:]!r}") from None

    try:
        read_until(b"If you don't see a command prompt")
        time.sleep(1.0)  # attached, kubectl's resize applied
        # The shell may have printed its prompt before the attach: ask for a computed value.
        os.write(master, b"echo $((6*7))-$(stty size | tr ' ' x)\n")
        read_until(b"42-")
        read_until(b"\n", within=10)
        os.write(master, b"exit\n")
        code = proc.wait(timeout=60)
        while True:  # the rest (kubectl's "deleted" line)
            ready, _, _ = select.select([master], [], [], 1)
            if not ready:
                break
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert code == 0, seen
    text = seen.decode(errors="replace")
    size = text.split("42-", 1)[1].split()[0]
    assert size == "30x100", text  # kubectl's terminal size reached the container's tty
    assert 'pod "shell" deleted' in text, text
    logs = docker_node.node_logs()
    assert "Traceback" not in logs and "exception was never retrieved" not in logs
