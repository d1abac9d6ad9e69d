"""Hostile bodies against a real ``minikube8s --role a`` process: each is refused with a 4xx
Status, the process's peak RSS (VmHWM in /proc/PID/status) stays bounded, and the server
serves normally afterwards.

Without api/decoding.py the billion laughs alone would take the process to gigabytes (the
aliases load as shared references, then expand in json.dumps) and the 3 MiB flow sequence to
about 1 GiB and minutes of pure-Python parsing.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.apiserver import ApiServerProcess

PODS = "/api/v1/namespaces/default/pods"
GROWTH_LIMIT = 64 * 1024 * 1024
"""Peak RSS growth allowed over the whole run (about 20 MiB measured): a 3 MiB body decoded,
not the gigabytes an expanded alias bomb or a Node per scalar would take."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    with ApiServerProcess(tmp_path_factory.mktemp("hostile") / "data",
                          "--disable", "scheduler,controllers").serving() as s:
        yield s


def vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def send(s: ApiServerProcess, body: bytes, ctype: str = "application/json") -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    try:
        conn.request("POST", PODS, body=body, headers={"Content-Type": ctype})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


def laughs(levels: int) -> bytes:
    out = 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        out += f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]\n"
    return ("apiVersion: v1\nkind: Pod\nmetadata: {name: lol}\n" + out).encode()


def pod(name: str) -> bytes:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [{"name": "c", "image": "nginx"}]}}).encode()


def test_hostile_bodies_bounded(server: ApiServerProcess) -> None:
    pid = server.proc.pid if server.proc else 0
    assert send(server, pod("warm"))[0] == 201
    base = vm_hwm(pid)
    yaml = "application/yaml"
    cases: list[tuple[bytes, str, int, str]] = [
        (laughs(10), yaml, 400, "excessive aliasing"),
        (b"[" + b"1," * 1_400_000 + b"1]", yaml, 400, "too large"),
        (b"[" * 10_000 + b"]" * 10_000, "application/json", 400, "max depth"),
        (b"[" * 10_000 + b"]" * 10_000, yaml, 400, "nesting depth"),
        (b"a:\n" + b"".join(b" " * i + b"b:\n" for i in range(1, 2000)), yaml, 400, "depth"),
        (b'{"n": ' + b"1" * 10_000 + b"}", "application/json", 400, "too many digits"),
        (b'{"n": 1e999999}', "application/json", 400, "float64"),
        (b'{"n": NaN}', "application/json", 400, "invalid character 'N'"),
        (b'{"n": "\xc3\x28"}', "application/json", 400, "utf-8"),
        (b"[" + b"1," * 1_400_000 + b"1]", "application/json", 400, "must be a JSON object"),
    ]
    for body, ctype, code, text in cases:
        started = time.monotonic()
        got, status = send(server, body, ctype)
        assert got == code, (text, status)
        assert status["kind"] == "Status" and text in status["message"], (text, status)
        assert time.monotonic() - started < 5, text

    # 100 MB declared: refused on the header, before any of it is read
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST {PODS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {100 * 1024 * 1024}\r\n\r\n".encode() + b"{" * 65536)
        head = sock.recv(65536).decode(errors="replace")
    assert head.startswith("HTTP/1.1 413 "), head[:200]
    assert "Request entity too large: limit is 3145728" in head

    # 100 MB chunked: no length to refuse on; the reader stops at 3 MiB
    def chunks() -> Iterator[bytes]:
        block = b" " * (1024 * 1024)
        for _ in range(100):
            yield block

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    started = time.monotonic()
    try:
        conn.request("POST", PODS, body=chunks(), encode_chunked=True,
                     headers={"Content-Type": "application/json"})
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server may answer and close before the client has sent it all
    r = conn.getresponse()
    status = json.loads(r.read())
    conn.close()
    assert r.status == 413, status
    assert status["reason"] == "RequestEntityTooLarge"
    assert time.monotonic() - started < 15

    growth = vm_hwm(pid) - base
    print(f"peak RSS {base / 2**20:.0f} MiB before, grew by {growth / 2**20:.0f} MiB")
    assert growth < GROWTH_LIMIT, f"peak RSS grew by {growth / 2**20:.0f} MiB"
    # and the server is fine
    c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    c.request("GET", "/readyz")
    assert c.getresponse().read() == b"ok"
    c.close()
    assert send(server, pod("after"))[0] == 201
    assert "Traceback" not in server.logs()
