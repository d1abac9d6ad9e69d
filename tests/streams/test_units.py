"""The pure parts of logs/exec and the kubelet server in-process over the hollow runtime.

No API server here: the kubelet server (roles/kubelet/server.py) is given the pods directly,
so its HTTP and WebSocket answers are checked one by one (limitBytes, 404/501, the v5 close
signal, a client leaving mid-command).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from minikube8s.api import errors
from minikube8s.auth import authn, authz
from minikube8s.roles.apiserver.proxy import container_of
from minikube8s.roles.kubelet.docker.streams import _frames
from minikube8s.roles.kubelet.hollow import HollowRuntime
from minikube8s.roles.kubelet.runtime import ContainerInstance, ContainerState, PodRuntimeStatus
from minikube8s.roles.kubelet.server import KubeletServer, exit_status
from minikube8s.roles.kubelet.streams import (
    HollowStreams,
    PipeExec,
    StreamError,
    attach_instance,
    pick_instance,
    rfc3339_nano,
    tail,
)

Object = dict[str, Any]


def pod(name: str = "p", *containers: str, uid: str = "u1", **status: Any) -> Object:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid},
            "spec": {"containers": [{"name": c, "image": "nginx"}
                                    for c in containers or ("web",)]},
            "status": status}


def inst(attempt: int, state: ContainerState, name: str = "web") -> ContainerInstance:
    return ContainerInstance(name=name, container_id=f"hollow://{attempt}", image="nginx",
                             state=state, attempt=attempt, created_at=float(attempt))


# -- pure -------------------------------------------------------------------------------------


def test_pick_instance() -> None:
    p = pod()
    running = PodRuntimeStatus(uid="u1", containers=[inst(0, ContainerState.EXITED),
                                                     inst(1, ContainerState.RUNNING)])
    assert pick_instance(p, running, "web", previous=False).attempt == 1
    assert pick_instance(p, running, "web", previous=True).attempt == 0
    # A new instance still being created: its logs are the previous one's (lastState).
    creating = PodRuntimeStatus(uid="u1", containers=[inst(0, ContainerState.EXITED),
                                                      inst(1, ContainerState.CREATED)])
    assert pick_instance(p, creating, "web", previous=False).attempt == 0
    with pytest.raises(StreamError, match='previous terminated container "web" in pod "p" '
                                          "not found"):
        pick_instance(p, PodRuntimeStatus(uid="u1", containers=[
            inst(0, ContainerState.RUNNING)]), "web", previous=True)
    waiting = pod(containerStatuses=[{"name": "web", "state": {
        "waiting": {"reason": "ImagePullBackOff"}}}])
    with pytest.raises(StreamError, match="is waiting to start: trying and failing to pull"):
        pick_instance(waiting, PodRuntimeStatus(uid="u1"), "web", previous=False)
    with pytest.raises(StreamError, match="is waiting to start: ContainerCreating"):
        pick_instance(p, PodRuntimeStatus(uid="u1"), "web", previous=False)
    with pytest.raises(StreamError, match="container x is not valid for pod p"):
        pick_instance(p, running, "x", previous=False)


def test_tail_and_timestamps() -> None:
    lines = [b"a\n", b"b\n", b"c\n"]
    assert tail(lines, None) == lines and tail(lines, -1) == lines
    assert tail(lines, 0) == [] and tail(lines, 2) == [b"b\n", b"c\n"]
    assert tail(lines, 10) == lines
    assert rfc3339_nano(0.5) == "1970-01-01T00:00:00.500000000Z"


async def test_docker_frames_across_chunks() -> None:
    data = (b"\x01\x00\x00\x00\x00\x00\x00\x06hello\n" b"\x02\x00\x00\x00\x00\x00\x00\x04err\n")

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 5):  # headers and payloads split anywhere
            yield data[i:i + 5]

    assert [f async for f in _frames(chunks())] == [b"hello\n", b"err\n"]


def test_container_choice_in_kubernetes_words() -> None:
    assert container_of(pod("p", "a"), "") == "a"
    with pytest.raises(errors.BadRequest) as e:
        container_of(pod("p", "a", "b"), "")
    assert e.value.message == "a container name must be specified for pod p, choose one of: " \
                              "[a b]"
    with pytest.raises(errors.BadRequest, match="container c is not valid for pod p"):
        container_of(pod("p", "a", "b"), "c")


def test_exit_status_shape() -> None:
    assert exit_status(0, ["true"]) == {"metadata": {}, "status": "Success"}
    failed = exit_status(3, ["false"])
    assert failed["status"] == "Failure" and failed["reason"] == "NonZeroExitCode"
    assert failed["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}


async def test_pipe_exec_stdin_and_close() -> None:
    async def cat(p: PipeExec) -> int:
        while chunk := await p.read_stdin():
            p.write(chunk)
        return 0

    proc = PipeExec(cat)
    await proc.write_stdin(b"one")
    await proc.close_stdin()
    await proc.write_stdin(b"ignored after close")
    assert [c async for c in proc.stdout()] == [b"one"]
    assert await proc.wait() == 0

    async def forever(p: PipeExec) -> int:
        await asyncio.Event().wait()
        return 0

    stuck = PipeExec(forever)
    await stuck.close()  # cancels the command's task; the outputs end
    assert [c async for c in stuck.stdout()] == []


# -- the kubelet server in-process --------------------------------------------------------------


class Node:
    def __init__(self) -> None:
        self.runtime = HollowRuntime(node_name="n", start_delay=(0.0, 0.0))
        self.pods: dict[tuple[str, str], Object] = {}
        self.server = KubeletServer(streams=HollowStreams(self.runtime),
                                    pods=lambda ns, n: self.pods.get((ns, n)),
                                    host="127.0.0.1", port=0, node_name="n")

    async def add(self, p: Object) -> None:
        md = p["metadata"]
        self.pods[(md["namespace"], md["name"])] = p
        await self.runtime.ensure_sandbox(p)
        for c in p["spec"]["containers"]:
            await self.runtime.start_container(p, c, attempt=0)
        await asyncio.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    n = Node()
    await n.server.start()
    await n.add(pod("p", "web"))
    yield n
    await n.server.stop()
    await n.runtime.close()


async def test_server_logs_limit_and_errors(node: Node) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{node.url}/containerLogs/default/p/web",
                            params={"limitBytes": "6"}) as r:
            assert r.status == 200 and await r.text() == "hollow"
        async with http.get(f"{node.url}/containerLogs/default/nope/web") as r:
            assert r.status == 404 and (await r.json())["reason"] == "NotFound"
        async with http.get(f"{node.url}/containerLogs/default/p/web",
                            params={"tailLines": "many"}) as r:
            assert r.status == 400
        async with http.get(f"{node.url}/healthz") as r:
            assert await r.text() == "ok"
    bare = KubeletServer(streams=None, pods=lambda ns, n: None, host="127.0.0.1", port=0)
    await bare.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{bare.port}/containerLogs/a/b/c") as r:
                assert r.status == 501
    finally:
        await bare.stop()


async def test_server_exec_v5_close_signal(node: Node) -> None:
    url = f"{node.url}/exec/default/p/web"
    params = [("command", "cat"), ("stdin", "true"), ("stdout", "true")]
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url, params=params, protocols=("v5.channel.k8s.io",)) as ws:
            await ws.send_bytes(b"\x00abc")
            await ws.send_bytes(b"\xff\x00")  # v5: stdin is done
            frames = [m.data async for m in ws if m.type == aiohttp.WSMsgType.BINARY]
    assert frames == [b"\x01abc", b"\x03" + json.dumps(exit_status(0, ["cat"])).encode()]


async def test_server_exec_client_leaving_closes_the_command(node: Node) -> None:
    url = f"{node.url}/exec/default/p/web"
    params = [("command", "cat"), ("stdin", "true"), ("stdout", "true")]
    closed = asyncio.Event()
    real_exec = HollowStreams.exec

    async def spy(self: HollowStreams, *args: Any, **kw: Any) -> Any:
        proc = await real_exec(self, *args, **kw)
        real_close = proc.close

        async def close() -> None:
            await real_close()
            closed.set()

        proc.close = close  # type: ignore[method-assign]
        return proc

    HollowStreams.exec = spy  # type: ignore[method-assign]
    try:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(url, params=params, protocols=("v4.channel.k8s.io",))
            await ws.send_bytes(b"\x00hi")
            msg = await ws.receive()
            assert msg.data == b"\x01hi"
            await ws.close()
        await asyncio.wait_for(closed.wait(), 5)
    finally:
        HollowStreams.exec = real_exec  # type: ignore[method-assign]


# -- attach -----------------------------------------------------------------------------------


class AttachingStreams(HollowStreams):
    """Hollow streams plus an attach whose "main process" is ``cat`` (what it is given back,
    then Success once its stdin ends), recording the tty it was asked for."""

    ttys: list[bool] = []

    async def check_attach(self, pod: Object, container: str) -> None:
        attach_instance(pod, await self.runtime.pod_status(pod), container)

    async def attach(self, pod: Object, container: str, *, stdin: bool,
                     tty: bool) -> PipeExec:
        await self.check_attach(pod, container)
        self.ttys.append(tty)

        async def cat(p: PipeExec) -> int:
            while chunk := await p.read_stdin():
                p.write(chunk)
            return 9  # an attach's Status says Success whatever the process's code

        return PipeExec(cat, tty=tty)


def test_attach_is_authorized_as_create_like_exec() -> None:
    info = authz.request_info("GET", "/api/v1/namespaces/d/pods/p/attach", False)
    assert (info.verb, info.resource, info.subresource) == ("create", "pods", "attach")
    assert not authz.authorize(authn.READONLY, info).allowed
    assert not authz.authorize(authn.READONLY, authz.request_info(
        "POST", "/api/v1/namespaces/d/pods/p/attach", False)).allowed


async def test_server_attach(node: Node) -> None:
    # A hollow node cannot attach: 501, before anything else is looked at.
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{node.url}/attach/default/p/web",
                            params={"stdout": "true"}) as r:
            assert r.status == 501 and "cannot attach" in (await r.json())["message"]
    streams = AttachingStreams(node.runtime)
    server = KubeletServer(streams=streams, pods=lambda ns, n: node.pods.get((ns, n)),
                           host="127.0.0.1", port=0, node_name="n")
    await server.start()
    tty_pod = pod("t", uid="u2")
    tty_pod["spec"]["containers"][0].update(stdin=True, tty=True)
    await node.add(tty_pod)
    url = f"http://127.0.0.1:{server.port}/attach/default"
    try:
        async with aiohttp.ClientSession() as http:
            params = {"stdin": "true", "stdout": "true", "stderr": "true"}
            async with http.ws_connect(f"{url}/p/web", params=params,
                                       protocols=("v5.channel.k8s.io",)) as ws:
                await ws.send_bytes(b"\x00abc")
                await ws.send_bytes(b"\xff\x00")
                frames = [m.data async for m in ws if m.type == aiohttp.WSMsgType.BINARY]
            assert frames == [b"\x01abc", b'\x03{"metadata": {}, "status": "Success"}']
            # The tty is the container spec's, not the request's.
            async with http.ws_connect(f"{url}/t/web", params=params,
                                       protocols=("v4.channel.k8s.io",)) as ws:
                await ws.send_bytes(b"\x00x")
                assert (await ws.receive()).data == b"\x01x"
            assert streams.ttys == [False, True]
            async with http.get(f"{url}/p/web") as r:
                assert r.status == 400
                assert (await r.json())["message"] == ("you must specify at least 1 of "
                                                       "stdin, stdout, stderr")
            async with http.get(f"{url}/p/web", params=params) as r:
                assert r.status == 400 and "attach needs the WebSocket" in await r.text()
            async with http.get(f"{url}/p/nope", params=params) as r:
                assert r.status == 500
                assert (await r.json())["message"] == ("container nope not found in pod "
                                                       "p_default")
            async with http.get(f"{url}/gone/web", params=params) as r:
                assert r.status == 404
    finally:
        await server.stop()
