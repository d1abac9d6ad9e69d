"""prober.run_probe against real sockets on 127.0.0.1 (httpGet, tcpSocket) and a fake
runtime for exec; the Prober's kill/readiness loop is covered on real Docker in tests/docker."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiohttp import web

from minikube8s.roles.kubelet.prober import ProbeSpec, run_probe
from minikube8s.roles.kubelet.runtime import Runtime
from tests.fixtures.etcd import free_port


class ExecRuntime:
    def __init__(self, code: int) -> None:
        self.code = code
        self.calls: list[list[str]] = []

    async def exec_probe(self, pod_uid: str, name: str, command: list[str]) -> tuple[int, str]:
        self.calls.append(command)
        return self.code, "no such file\n"


async def serve() -> tuple[web.AppRunner, int]:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/healthz", ok)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def test_http_and_tcp_probes() -> None:
    runner, port = await serve()
    container: dict[str, Any] = {"name": "c", "ports": [{"name": "web", "containerPort": port}]}
    rt = cast(Runtime, ExecRuntime(0))
    try:
        async def probe(p: dict[str, Any], limit: float = 1.0) -> tuple[bool, str]:
            return await run_probe(p, container=container, pod_ip="127.0.0.1", runtime=rt,
                                   pod_uid="u", limit=limit)

        assert await probe({"httpGet": {"path": "/healthz", "port": "web"}}) == (True, "")
        assert await probe({"httpGet": {"path": "/missing", "port": port}}) == \
            (False, "HTTP probe failed with statuscode: 404")
        ok, msg = await probe({"httpGet": {"path": "/slow", "port": port}}, limit=0.3)
        assert not ok and "timed out" in msg
        assert await probe({"tcpSocket": {"port": port}}) == (True, "")
    finally:
        await runner.cleanup()
    ok, msg = await probe({"tcpSocket": {"port": port}})
    assert not ok and msg
    ok, msg = await probe({"httpGet": {"path": "/", "port": port}})
    assert not ok and "connect" in msg.lower()
    ok, msg = await probe({"httpGet": {"path": "/", "port": "nope"}})
    assert not ok and "named port" in msg


async def test_exec_probe_goes_through_the_runtime() -> None:
    fake = ExecRuntime(1)
    ok, msg = await run_probe({"exec": {"command": ["cat", "/x"]}}, container={"name": "c"},
                              pod_ip="", runtime=cast(Runtime, fake), pod_uid="u", limit=1)
    assert not ok and "exited with 1" in msg and fake.calls == [["cat", "/x"]]
    fake.code = 0
    assert await run_probe({"exec": {"command": ["true"]}}, container={"name": "c"},
                           pod_ip="", runtime=cast(Runtime, fake), pod_uid="u",
                           limit=1) == (True, "")


def test_probe_spec_defaults() -> None:
    assert ProbeSpec.of({}) == ProbeSpec(0, 1, 10, 1, 3)
    assert ProbeSpec.of({"initialDelaySeconds": 30, "timeoutSeconds": 5, "periodSeconds": 2,
                         "successThreshold": 2, "failureThreshold": 1}) == \
        ProbeSpec(30, 5, 2, 2, 1)
