"""Logs, exec, attach and port-forward on Docker: the streaming side of the Docker runtime.

``DockerStreams`` wraps a DockerRuntime (runtime.py, whose cache of inspected containers says
which Docker container is which instance) and speaks to the same dockerd through its aiodocker
client:

- logs: ``GET /containers/{id}/logs?stdout&stderr&follow&timestamps&tail&since``. Without a
  tty Docker frames the stream (8-byte headers: stream byte, 3 zero bytes, big-endian length;
  ``_frames`` takes them off); stdout and stderr come out interleaved as written, which is
  what ``kubectl logs`` shows. ``previous`` is the dead instance before the newest one, which
  the runtime's garbage collection keeps; which instance, and the errors when there is none,
  are ../streams.py's ``pick_instance``, shared with the hollow runtime. Docker's timestamps
  are already RFC 3339 with nanoseconds, as Kubernetes prints them;
- exec: ``POST /containers/{id}/exec`` then ``/exec/{id}/start`` attached (aiodocker's
  Stream: a hijacked connection, demultiplexed into stdout and stderr), stdin written to it
  and ended by a half-close (write EOF) of that connection, resize through
  ``/exec/{id}/resize``, the exit code from ``/exec/{id}/json`` once the output has ended;
- attach: ``POST /containers/{id}/attach`` hijacked the same way (``_Hijacked``, shared with
  exec), resize through ``/containers/{id}/resize``; it ends when Docker ends the stream;
- port-forward: a TCP connection to localhost inside the pod's network namespace (the
  pause container's; net/nsdial.py), not through Docker.

Docker failures become StreamError 500 (404 when the container vanished) with Docker's words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import aiodocker
import aiohttp
from aiodocker.containers import DockerContainer
from aiodocker.execs import Exec
from aiodocker.stream import Stream

from ....net import nsdial
from ..runtime import ContainerState
from ..streams import (
    ExecProcess,
    Pipe,
    StreamError,
    attach_instance,
    container_spec,
    forward_error,
    pick_instance,
    running_instance,
)
from .runtime import DockerRuntime

log = logging.getLogger(__name__)

Object = dict[str, Any]
HEADER = struct.Struct(">BxxxL")
EXIT_CODE_WAIT = 5.0
"""How long inspect may still say Running after the output ended (Docker reaps async)."""
DIAL_TIMEOUT = 5.0
"""port-forward's connect to the pod (a pod IP on the node's own bridge answers at once)."""


def _docker_error(e: Exception) -> StreamError:
    if isinstance(e, aiodocker.DockerError):
        return StreamError(f"docker: {e.message}", code=404 if e.status == 404 else 500)
    return StreamError(f"docker: {e}", code=500)


def _id(container_id: str) -> str:
    return container_id.removeprefix("docker://")


async def _frames(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Docker's multiplexed stream without its 8-byte frame headers."""
    buf = bytearray()
    async for chunk in chunks:
        buf += chunk
        while len(buf) >= HEADER.size:
            _, size = HEADER.unpack_from(buf)
            if len(buf) < HEADER.size + size:
                break
            yield bytes(buf[HEADER.size:HEADER.size + size])
            del buf[:HEADER.size + size]


class _Hijacked:
    """A hijacked Docker connection (exec start or container attach, aiodocker's Stream) as
    the parts of an ExecProcess (../streams.py) both share: output demultiplexed into the
    two pipes, stdin written to it and ended by a half-close (write EOF)."""

    def __init__(self, stream: Stream, *, tty: bool, name: str) -> None:
        self.stream = stream
        self.tty = tty
        self.name = name
        self.out = Pipe()
        self.err = Pipe()
        self._stdin_closed = False
        self._reader = asyncio.create_task(self._read(), name=name)

    async def _read(self) -> None:
        try:
            while (msg := await self.stream.read_out()) is not None:
                (self.err if msg.stream == 2 and not self.tty else self.out).feed(msg.data)
        except (aiohttp.ClientError, OSError) as e:
            log.info("%s: output ended: %s", self.name, e)
        finally:
            self.out.end()
            self.err.end()

    async def write_stdin(self, data: bytes) -> None:
        if self._stdin_closed or not data:
            return
        try:
            await self.stream.write_in(data)
        except (RuntimeError, aiohttp.ClientError, OSError) as e:
            log.debug("%s: stdin write failed: %s", self.name, e)

    async def close_stdin(self) -> None:
        if self._stdin_closed:
            return
        self._stdin_closed = True
        # Half-close the hijacked connection: the process sees EOF, its output still flows.
        resp: Any = getattr(self.stream, "_resp", None)
        transport = resp.connection.transport if resp is not None and resp.connection else None
        if transport is not None and transport.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                transport.write_eof()

    def stdout(self) -> AsyncIterator[bytes]:
        return self.out.__aiter__()

    def stderr(self) -> AsyncIterator[bytes]:
        return self.err.__aiter__()

    async def close(self) -> None:
        if not self._reader.done():
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        self.out.end()  # a reader cancelled before its first step never ended them
        self.err.end()
        with contextlib.suppress(aiohttp.ClientError, OSError, RuntimeError):
            await self.stream.close()


class DockerExec(_Hijacked):
    """One ``docker exec`` session as an ExecProcess."""

    def __init__(self, ex: Exec, stream: Stream, *, tty: bool, name: str) -> None:
        super().__init__(stream, tty=tty, name=name)
        self.ex = ex

    async def resize(self, *, width: int, height: int) -> None:
        if not self.tty or width <= 0 or height <= 0:
            return
        try:
            await self.ex.resize(w=width, h=height)
        except aiodocker.DockerError as e:
            log.debug("docker exec %s: resize failed: %s", self.ex.id, e)

    async def wait(self) -> int:
        await asyncio.shield(self._reader)
        deadline = time.monotonic() + EXIT_CODE_WAIT
        try:
            while True:
                info = await self.ex.inspect()
                code = info.get("ExitCode")
                if not info.get("Running") and code is not None:
                    return int(code)
                if time.monotonic() > deadline:
                    raise StreamError(f"docker exec {self.ex.id}: no exit code after its "
                                      "output ended", code=500)
                await asyncio.sleep(0.05)
        except aiodocker.DockerError as e:
            raise _docker_error(e) from e


class DockerAttach(_Hijacked):
    """``docker attach`` to a container's main process as an ExecProcess: ends when Docker
    ends the stream (the process exited; or this attach's stdin ended and the container
    does not close its stdin on that, ``StdinOnce`` unset, so Docker detaches it)."""

    def __init__(self, container: DockerContainer, stream: Stream, *, tty: bool,
                 name: str) -> None:
        super().__init__(stream, tty=tty, name=name)
        self.container = container

    async def resize(self, *, width: int, height: int) -> None:
        if not self.tty or width <= 0 or height <= 0:
            return
        try:
            await self.container.resize(w=width, h=height)
        except aiodocker.DockerError as e:
            log.debug("docker attach %s: resize failed: %s", self.container.id, e)

    async def wait(self) -> int:
        await asyncio.shield(self._reader)
        return 0


class DockerStreams:
    """Logs, exec, attach and port-forward of a DockerRuntime's containers."""

    def __init__(self, runtime: DockerRuntime) -> None:
        self.runtime = runtime

    async def logs(self, pod: Object, container: str, *, follow: bool = False,
                   tail_lines: int | None = None, previous: bool = False,
                   timestamps: bool = False,
                   since_seconds: int | None = None) -> AsyncIterator[bytes]:
        status = await self.runtime.pod_status(pod)
        inst = pick_instance(pod, status, container, previous=previous)
        cid = _id(inst.container_id)
        params: dict[str, str] = {
            "stdout": "1", "stderr": "1", "timestamps": "1" if timestamps else "0",
            "follow": "1" if follow and inst.state == ContainerState.RUNNING else "0",
            "tail": str(tail_lines) if tail_lines is not None and tail_lines >= 0 else "all"}
        if since_seconds:
            params["since"] = str(int(time.time()) - since_seconds)
        client = self.runtime.client
        try:
            tty = bool(((await client.containers.container(cid).show()).get("Config")
                        or {}).get("Tty"))
            # Opened here, not in the generator: a Docker error is still a clean 4xx/5xx.
            resp = await client._do_query(f"containers/{cid}/logs", method="GET",
                                          params=params, timeout=None)
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            raise _docker_error(e) from e

        async def stream() -> AsyncIterator[bytes]:
            try:
                raw = resp.content.iter_any()
                chunks = raw if tty else _frames(raw)
                async for chunk in chunks:
                    yield chunk
            except (aiohttp.ClientError, OSError) as e:
                log.info("docker logs of %s ended: %s", cid, e)
            finally:
                resp.close()

        return stream()

    async def _running_id(self, pod: Object, container: str) -> str:
        status = await self.runtime.pod_status(pod)
        return _id(running_instance(pod, status, container).container_id)

    async def check_exec(self, pod: Object, container: str) -> None:
        await self._running_id(pod, container)

    async def exec(self, pod: Object, container: str, command: list[str], *,
                   stdin: bool = False, tty: bool = False) -> ExecProcess:
        cid = await self._running_id(pod, container)
        try:
            ex = await self.runtime.client.containers.container(cid).exec(
                command, stdout=True, stderr=True, stdin=stdin, tty=tty)
            stream = ex.start(detach=False)
            await stream._init()  # attach now: a failure is still a plain HTTP error
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            raise _docker_error(e) from e
        return DockerExec(ex, stream, tty=tty, name=f"docker exec {cid[:12]}")

    async def check_attach(self, pod: Object, container: str) -> None:
        await self._attach_id(pod, container)

    async def _attach_id(self, pod: Object, container: str) -> str:
        status = await self.runtime.pod_status(pod)
        return _id(attach_instance(pod, status, container).container_id)

    async def attach(self, pod: Object, container: str, *, stdin: bool,
                     tty: bool) -> ExecProcess:
        """``POST /containers/{id}/attach?stream=1&stdin&stdout=1&stderr=1`` (new output
        only, as Kubernetes' attach: no logs replayed). stdin is attached only if the
        container keeps one open (runtime.py creates it with ``OpenStdin`` from the spec's
        ``stdin``; Docker ignores stdin otherwise, as Kubernetes' runtimes do)."""
        cid = await self._attach_id(pod, container)
        use_stdin = stdin and bool(container_spec(pod, container).get("stdin"))
        target = self.runtime.client.containers.container(cid)
        try:
            stream = target.attach(stdout=True, stderr=True, stdin=use_stdin)
            await stream._init()  # attached now: a failure is still a plain HTTP error
        except (aiodocker.DockerError, aiohttp.ClientError, OSError) as e:
            raise _docker_error(e) from e
        return DockerAttach(target, stream, tty=tty, name=f"docker attach {cid[:12]}")

    async def port_forward(self, pod: Object,
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A TCP connection to ``localhost:port`` inside the pod's network namespace (the
        pause container's), as Kubernetes' runtimes dial: a server bound to the container's
        127.0.0.1 only is reachable too (net/nsdial.py). A hostNetwork pod's ports are the
        node's own, on its loopback."""
        status = await self.runtime.pod_status(pod)
        if not status.sandbox_ready:
            raise forward_error(pod, port, "the pod's sandbox is not running")
        ip = "127.0.0.1"
        try:
            if (pod.get("spec") or {}).get("hostNetwork"):
                return await asyncio.wait_for(asyncio.open_connection(ip, port), DIAL_TIMEOUT)
            uid = str((pod.get("metadata") or {}).get("uid") or "")
            pid = await self.runtime.sandbox_pid(uid)
            if pid is None:
                raise forward_error(pod, port, "the pod's sandbox is not running")
            return await nsdial.open_connection_in(pid, ip, port, connect_timeout=DIAL_TIMEOUT)
        except TimeoutError:
            raise forward_error(pod, port, f"dial tcp {ip}:{port}: i/o timeout") from None
        except OSError as e:
            # asyncio words a refusal "Connect call failed (...)": say it as Go's dialer does.
            why = (os.strerror(e.errno) if e.errno else str(e)).lower()
            raise forward_error(pod, port, f"dial tcp {ip}:{port}: connect: {why}") from None
