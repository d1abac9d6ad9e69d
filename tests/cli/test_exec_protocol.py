"""The exec client's side of the ``v5.channel.k8s.io`` WebSocket protocol, against a scripted
aiohttp server (a unit test: no kubelet serves exec yet, so the real path is covered only up to
the API server's refusal, in test_errors.py)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer

from minikube8s.cli.config import Target
from minikube8s.cli.info import _exec_ws
from minikube8s.cli.session import Session
from minikube8s.client import errors as client_errors

PATH = "/api/v1/namespaces/default/pods/p/exec"


def _status(code: int) -> bytes:
    if code == 0:
        return json.dumps({"status": "Success"}).encode()
    return json.dumps({"status": "Failure", "reason": "NonZeroExitCode", "details": {
        "causes": [{"reason": "ExitCode", "message": str(code)}]}}).encode()


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.match_info["name"] != "p" or \
                request.headers.get("Upgrade", "").lower() != "websocket":
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"kind": "Status", "status": "Failure", "code": 503,
                                 "reason": "ServiceUnavailable", "message": "no kubelet"}),
                content_type="application/json")
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
        await ws.prepare(request)
        assert ws.ws_protocol == "v5.channel.k8s.io"
        command = request.query.getall("command")
        if command == ["cat"]:
            received = b""
            async for msg in ws:
                assert msg.type == WSMsgType.BINARY
                if msg.data == b"\xff\x00":  # v5: stdin closed
                    break
                assert msg.data[0] == 0
                received += msg.data[1:]
            await ws.send_bytes(b"\x01" + received)
            await ws.send_bytes(b"\x03" + _status(0))
        else:
            await ws.send_bytes(b"\x01hello\n")
            await ws.send_bytes(b"\x02oops\n")
            await ws.send_bytes(b"\x03" + _status(int(command[-1])))
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/api/v1/namespaces/default/pods/{name}/exec", handler)
    ts = TestServer(app, host="127.0.0.1")
    await ts.start_server()
    yield ts
    await ts.close()


async def test_exec_streams_and_exit_code(server: TestServer,
                                          capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    session = Session.open(Target(str(server.make_url("")).rstrip("/"), "default", "test"))
    try:
        code = await _exec_ws(session, PATH, [("command", "sh"), ("command", "3")], False)
    finally:
        await session.close()
    out, err = capfdbinary.readouterr()
    assert (code, out, err) == (3, b"hello\n", b"oops\n")


async def test_exec_refused_prints_server_status(server: TestServer) -> None:
    session = Session.open(Target(str(server.make_url("")).rstrip("/"), "default", "test"))
    try:
        with pytest.raises(client_errors.ServiceUnavailable, match="no kubelet"):
            await _exec_ws(session, PATH.replace("/p/", "/q/"), [("command", "ls")], False)
    finally:
        await session.close()


async def test_exec_passes_stdin_and_closes_it(server: TestServer,
                                               capfdbinary: pytest.CaptureFixture[bytes],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    chunks = [b"line 1\n", b"line 2\n", b""]
    monkeypatch.setattr("minikube8s.cli.info._read_stdin", lambda: chunks.pop(0))
    session = Session.open(Target(str(server.make_url("")).rstrip("/"), "default", "test"))
    try:
        code = await _exec_ws(session, PATH, [("command", "cat"), ("stdin", "true")], True)
    finally:
        await session.close()
    assert code == 0
    assert capfdbinary.readouterr().out == b"line 1\nline 2\n"
