"""Logs and exec: the optional second Protocol of a runtime, so runtime.py's stays small.

The kubelet server (server.py) serves ``GET /containerLogs/...`` and the ``/exec/...``
WebSocket from a ``StreamingRuntime``; ``streams_for(runtime)`` finds the one that goes with a
runtime: the runtime itself if it implements the Protocol, ``HollowStreams`` for the hollow
runtime (below), ``DockerStreams`` (docker/streams.py) for the Docker one. A runtime without
streams gives ``None`` and the server answers 501.

What a streaming runtime offers:

- ``await logs(pod, container, follow=, tail_lines=, previous=, timestamps=, since_seconds=)``
  checks the request (which instance: ``pick_instance`` below, with the kubelet's own error
  words) and raises ``StreamError`` *before* anything is sent, then returns an async iterator
  of raw bytes; with ``follow`` it ends when the container instance ends;
- ``await check_exec(pod, container)`` raises StreamError if exec cannot start there (the
  container is not running), starting nothing;
- ``await exec(pod, container, command, stdin=, tty=)`` starts the command in the running
  container and returns an ``ExecProcess``: ``write_stdin``/``close_stdin``, the ``stdout()``
  and ``stderr()`` iterators (``stderr`` is empty with a tty, whose output is all stdout),
  ``resize``, ``wait()`` for the exit code and ``close()`` to give everything back.

Two more sides are optional, each its own Protocol: ``PortForwarding`` and ``Attaching``
(``attach(pod, container, stdin=, tty=)``: the container's main process as an
``ExecProcess``). Docker has both, hollow neither (its pods have no network and no process),
so the kubelet answers 501 there.

``PipeExec`` is an ``ExecProcess`` made of queues, for runtimes that produce the output
themselves (hollow's scripted commands, unit tests).

The hollow runtime runs nothing, so its streams are scripted and say so:

- logs: per instance, one line when it started and one when it exited, stamped with the
  instance's own times (``hollow: container "web" started (image nginx, restart 0)``);
- exec: a tiny shell of its own. ``echo ARGS``, ``hostname`` and ``cat /etc/hostname`` (the
  pod name, as a real pod's hostname), ``cat`` (stdin back to stdout), ``true``, ``false``,
  ``exit N``, ``sleep S``, and ``sh -c "a; b >&2; exit 3"`` (``;``-separated commands, a
  trailing ``>&2`` sends that command's output to stderr). Anything else prints
  ``hollow: exec: "X": executable file not found in $PATH`` on stderr and exits 127, as a
  missing binary does in a real container.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import shlex
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

from .hollow import HollowRuntime
from .runtime import ContainerInstance, ContainerState, PodRuntimeStatus, Runtime

log = logging.getLogger(__name__)

Object = dict[str, Any]


class StreamError(Exception):
    """A logs or exec request the runtime cannot serve. ``code`` is the HTTP status the
    kubelet answers with: 400 (no such container instance, not running), 404 (unknown pod),
    500 (the runtime failed)."""

    def __init__(self, message: str, *, code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class ExecProcess(Protocol):
    """One command running in a container, as exec sees it."""

    async def write_stdin(self, data: bytes) -> None: ...

    async def close_stdin(self) -> None:
        """End of input (the command reading stdin sees EOF)."""
        ...

    def stdout(self) -> AsyncIterator[bytes]: ...

    def stderr(self) -> AsyncIterator[bytes]: ...

    async def resize(self, *, width: int, height: int) -> None:
        """The terminal's new size (only meaningful with a tty)."""
        ...

    async def wait(self) -> int:
        """The exit code, once the command has ended."""
        ...

    async def close(self) -> None:
        """Give everything back (idempotent); a command still running is left to end."""
        ...


@runtime_checkable
class StreamingRuntime(Protocol):
    async def logs(self, pod: Object, container: str, *, follow: bool = False,
                   tail_lines: int | None = None, previous: bool = False,
                   timestamps: bool = False,
                   since_seconds: int | None = None) -> AsyncIterator[bytes]: ...

    async def check_exec(self, pod: Object, container: str) -> None:
        """Raise StreamError if exec into ``container`` cannot start now (not running),
        without starting anything: the answer to a request that is not a WebSocket yet."""
        ...

    async def exec(self, pod: Object, container: str, command: list[str], *,
                   stdin: bool = False, tty: bool = False) -> ExecProcess: ...


@runtime_checkable
class PortForwarding(Protocol):
    """The third, optional side of a streaming runtime: a TCP connection to a port of a pod,
    from the node (the kubelet server's ``/portForward``). A runtime without it (hollow: its
    pods have no network to dial) makes the kubelet answer 501."""

    async def port_forward(self, pod: Object,
                           port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connected to ``port`` of the pod, or StreamError with the kubelet's words
        (``error forwarding port N to pod ID, uid : WHY``)."""
        ...


@runtime_checkable
class Attaching(Protocol):
    """The fourth, optional side: attach to the running container's main process (the
    kubelet server's ``/attach``). Without it (hollow: no process to attach to) the kubelet
    answers 501. ``tty`` is the container spec's, never the request's: whether the process
    runs on a terminal was settled when it started."""

    async def check_attach(self, pod: Object, container: str) -> None:
        """Raise StreamError if ``container`` has no running instance (``attach_instance``)."""
        ...

    async def attach(self, pod: Object, container: str, *, stdin: bool,
                     tty: bool) -> ExecProcess:
        """Attached: the process's output from now on, ``stdin`` to it if asked and the
        container keeps one open (``stdin: true`` in its spec); ``wait()`` returns when the
        output ends (the process exited, or the runtime ended the attach) and its code means
        nothing."""
        ...


def forward_error(pod: Object, port: int, why: object) -> StreamError:
    """The error the kubelet writes on kubectl's error stream (its httpstream handler's words;
    Kubernetes names the sandbox and leaves the uid empty, the pod's uid stands for both)."""
    uid = str((pod.get("metadata") or {}).get("uid") or _pod_names(pod)[1])
    return StreamError(f"error forwarding port {port} to pod {uid}, uid : {why}", code=500)


def streams_for(runtime: Runtime) -> StreamingRuntime | None:
    """The streaming side of ``runtime``, or None if it has none."""
    if isinstance(runtime, StreamingRuntime):
        return runtime
    if isinstance(runtime, HollowRuntime):
        return HollowStreams(runtime)
    try:
        from .docker.runtime import DockerRuntime
        from .docker.streams import DockerStreams
    except ImportError:  # the Docker runtime is not in this build
        return None
    if isinstance(runtime, DockerRuntime):
        return DockerStreams(runtime)
    return None


# -- choosing the instance, as the kubelet does ---------------------------------------------


def _pod_names(pod: Object) -> tuple[str, str]:
    md = pod.get("metadata") or {}
    return str(md.get("namespace") or ""), str(md.get("name") or "")


def _waiting_reason(pod: Object, container: str) -> str:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            if reason:
                return str(reason)
    return "ContainerCreating"


def check_container(pod: Object, container: str) -> None:
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]
    if container not in names:
        raise StreamError(f"container {container} is not valid for pod {_pod_names(pod)[1]}")


def pick_instance(pod: Object, status: PodRuntimeStatus, container: str, *,
                  previous: bool) -> ContainerInstance:
    """The instance whose logs ``kubectl logs [-p]`` means, or the kubelet's error for why
    there is none (its words, from validateContainerLogStatus)."""
    check_container(pod, container)
    name = _pod_names(pod)[1]
    instances = status.instances(container)
    if previous:
        if len(instances) < 2 or instances[1].state != ContainerState.EXITED:
            raise StreamError(
                f'previous terminated container "{container}" in pod "{name}" not found')
        return instances[1]
    for inst in instances:
        # The newest that has run; one still being created shows the one before it.
        if inst.state in (ContainerState.RUNNING, ContainerState.EXITED):
            return inst
    reason = _waiting_reason(pod, container)
    if reason == "ErrImagePull":
        detail = "image can't be pulled"
    elif reason == "ImagePullBackOff":
        detail = "trying and failing to pull image"
    else:
        detail = reason
    raise StreamError(f'container "{container}" in pod "{name}" is waiting to start: {detail}')


def running_instance(pod: Object, status: PodRuntimeStatus,
                     container: str) -> ContainerInstance:
    """The running instance exec goes into."""
    check_container(pod, container)
    inst = status.latest(container)
    if inst is None or inst.state != ContainerState.RUNNING:
        raise StreamError(f'container "{container}" in pod "{_pod_names(pod)[1]}" is not '
                          "running")
    return inst


def attach_instance(pod: Object, status: PodRuntimeStatus,
                    container: str) -> ContainerInstance:
    """The running instance attach goes to, or the kubelet's error (its GetAttach's words,
    the pod's full name being ``NAME_NAMESPACE``; 500, as Kubernetes' streaming error)."""
    ns, name = _pod_names(pod)
    inst = status.latest(container)
    if inst is None or inst.state != ContainerState.RUNNING:
        raise StreamError(f"container {container} not found in pod {name}_{ns}", code=500)
    return inst


def container_spec(pod: Object, container: str) -> Object:
    for c in (pod.get("spec") or {}).get("containers") or []:
        if c.get("name") == container:
            return dict(c)
    return {}


def rfc3339_nano(epoch: float) -> str:
    """``2024-05-01T10:00:00.123456789Z``, the timestamp ``kubectl logs --timestamps`` shows."""
    t = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond * 1000:09d}Z"


def tail(lines: list[bytes], tail_lines: int | None) -> list[bytes]:
    if tail_lines is None or tail_lines < 0:
        return lines
    return lines[len(lines) - tail_lines:] if tail_lines else []


# -- PipeExec: an ExecProcess made of queues ---------------------------------------------------


class Pipe:
    """One output stream: bytes in order, then an end (None)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.closed = False

    def feed(self, data: bytes) -> None:
        if data and not self.closed:
            self.queue.put_nowait(data)

    def end(self) -> None:
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.queue.get()) is not None:
            yield chunk


class PipeExec:
    """An ExecProcess whose command is a coroutine ``run(pipe) -> exit code``: it reads
    ``pipe.read_stdin()`` and writes ``pipe.out``/``pipe.err``. The task running it is named
    and owned here; ``close`` cancels it."""

    def __init__(self, run: Callable[[PipeExec], Awaitable[int]], *, tty: bool = False,
                 name: str = "exec") -> None:
        self.tty = tty
        self.out = Pipe()
        self.err = Pipe()
        self._stdin: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._stdin_closed = False
        self.size: tuple[int, int] | None = None
        self._task = asyncio.create_task(self._main(run), name=name)

    async def _main(self, run: Callable[[PipeExec], Awaitable[int]]) -> int:
        try:
            return await run(self)
        finally:
            self.out.end()
            self.err.end()

    async def read_stdin(self) -> bytes:
        """The next chunk of stdin; b"" at its end."""
        chunk = await self._stdin.get()
        if chunk is None:
            self._stdin.put_nowait(None)  # later reads see the end too
            return b""
        return chunk

    def write(self, data: bytes, *, to_stderr: bool = False) -> None:
        (self.out if self.tty or not to_stderr else self.err).feed(data)

    # ExecProcess
    async def write_stdin(self, data: bytes) -> None:
        if not self._stdin_closed and data:
            self._stdin.put_nowait(data)

    async def close_stdin(self) -> None:
        if not self._stdin_closed:
            self._stdin_closed = True
            self._stdin.put_nowait(None)

    def stdout(self) -> AsyncIterator[bytes]:
        return self.out.__aiter__()

    def stderr(self) -> AsyncIterator[bytes]:
        return self.err.__aiter__()

    async def resize(self, *, width: int, height: int) -> None:
        self.size = (width, height)

    async def wait(self) -> int:
        return await asyncio.shield(self._task)

    async def close(self) -> None:
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # A task cancelled before its first step never runs _main's finally.
        self.out.end()
        self.err.end()


# -- the hollow runtime's streams --------------------------------------------------------------


class HollowStreams:
    """Scripted logs and exec over a HollowRuntime (see the module docstring)."""

    def __init__(self, runtime: HollowRuntime) -> None:
        self.runtime = runtime
        self._waiters: dict[str, set[asyncio.Event]] = {}
        runtime.subscribe(self._changed)

    def _changed(self, uid: str) -> None:
        for ev in self._waiters.get(uid, ()):
            ev.set()

    @staticmethod
    def _lines(inst: ContainerInstance) -> list[tuple[float, bytes]]:
        out: list[tuple[float, bytes]] = []
        if inst.started_at is not None:
            out.append((inst.started_at, (
                f'hollow: container "{inst.name}" started (image {inst.image}, '
                f"restart {inst.attempt})\n").encode()))
        if inst.state == ContainerState.EXITED and inst.finished_at is not None:
            out.append((inst.finished_at, (
                f'hollow: container "{inst.name}" exited with code {inst.exit_code} '
                f"({inst.reason})\n").encode()))
        return out

    async def logs(self, pod: Object, container: str, *, follow: bool = False,
                   tail_lines: int | None = None, previous: bool = False,
                   timestamps: bool = False,
                   since_seconds: int | None = None) -> AsyncIterator[bytes]:
        status = await self.runtime.pod_status(pod)
        inst = pick_instance(pod, status, container, previous=previous)
        uid = status.uid
        since = self.runtime.wall() - since_seconds if since_seconds else None

        def render(lines: list[tuple[float, bytes]]) -> list[bytes]:
            return [(rfc3339_nano(t).encode() + b" " + text) if timestamps else text
                    for t, text in lines if since is None or t >= since]

        async def stream() -> AsyncIterator[bytes]:
            shown = self._lines(inst)
            for chunk in tail(render(shown), tail_lines):
                yield chunk
            if not follow:
                return
            ev = asyncio.Event()
            self._waiters.setdefault(uid, set()).add(ev)
            try:
                while inst.state != ContainerState.EXITED:
                    await ev.wait()
                    ev.clear()
                    current = (await self.runtime.pod_status(pod)).containers
                    found = next((c for c in current
                                  if c.container_id == inst.container_id), None)
                    if found is None:
                        return  # removed with its pod
                    inst.state, inst.finished_at = found.state, found.finished_at
                    inst.exit_code, inst.reason = found.exit_code, found.reason
                for chunk in render(self._lines(inst)[len(shown):]):
                    yield chunk
            finally:
                waiters = self._waiters.get(uid)
                if waiters is not None:
                    waiters.discard(ev)
                    if not waiters:
                        del self._waiters[uid]

        return stream()

    async def check_exec(self, pod: Object, container: str) -> None:
        running_instance(pod, await self.runtime.pod_status(pod), container)

    async def exec(self, pod: Object, container: str, command: list[str], *,
                   stdin: bool = False, tty: bool = False) -> ExecProcess:
        await self.check_exec(pod, container)
        if not command:
            raise StreamError("you must specify at least one command for the container")
        hostname = _pod_names(pod)[1]

        async def run(p: PipeExec) -> int:
            return await _hollow_command(p, command, hostname=hostname)

        return PipeExec(run, tty=tty, name=f"hollow exec {hostname}/{container}")


async def _hollow_command(p: PipeExec, argv: list[str], *, hostname: str) -> int:
    if len(argv) == 3 and argv[0] in ("sh", "/bin/sh", "bash") and argv[1] == "-c":
        code = 0
        for part in argv[2].split(";"):
            words = shlex.split(part)
            if not words:
                continue
            to_err = words[-1] == ">&2"
            if to_err:
                words = words[:-1]
            if words[0] == "exit":
                return _int(words[1] if len(words) > 1 else "0")
            code = await _hollow_builtin(p, words, hostname=hostname, to_err=to_err)
        return code
    return await _hollow_builtin(p, argv, hostname=hostname, to_err=False)


def _int(text: str) -> int:
    try:
        return int(text) & 0xFF
    except ValueError:
        return 2


async def _hollow_builtin(p: PipeExec, argv: list[str], *, hostname: str,
                          to_err: bool) -> int:
    cmd, args = argv[0].rsplit("/", 1)[-1], argv[1:]
    if cmd == "echo":
        p.write((" ".join(args) + "\n").encode(), to_stderr=to_err)
        return 0
    if cmd == "hostname" or (cmd == "cat" and args == ["/etc/hostname"]):
        p.write(f"{hostname}\n".encode(), to_stderr=to_err)
        return 0
    if cmd == "cat" and not args:
        while chunk := await p.read_stdin():
            p.write(chunk, to_stderr=to_err)
        return 0
    if cmd == "true":
        return 0
    if cmd == "false":
        return 1
    if cmd == "exit":
        return _int(args[0] if args else "0")
    if cmd == "sleep" and args:
        try:
            await asyncio.sleep(float(args[0]))
        except ValueError:
            return 1
        return 0
    p.write(f'hollow: exec: "{argv[0]}": executable file not found in $PATH\n'.encode(),
            to_stderr=True)
    return 127
