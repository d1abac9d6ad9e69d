"""Zero-copy TCP relaying: two sockets joined by ``os.splice`` through a pipe each way.

The proxy's data path (tcp.py accepts and dials, then hands both sockets to a ``Relay``). Bytes
never enter Python: ``splice(src socket -> pipe)`` moves page references into the pipe and
``splice(pipe -> dst socket)`` hands them to the other socket, so a relayed byte costs what the
kernel pays, plus one event-loop callback per pipe-full.

Each direction is a ``_Pump`` driven by the event loop's readiness callbacks (``add_reader`` on
the source, ``add_writer`` on the destination), never by polling:

- it reads only when its pipe is empty. ``splice`` says EAGAIN both for "socket empty" and for
  "pipe full", and a socket that is readable while the pipe is full would make a level-
  triggered epoll spin; with an empty pipe EAGAIN can only mean the socket is empty;
- when the destination cannot take the whole pipe, it stops reading the source and waits for
  the destination to become writable: backpressure reaches the sender through TCP's window;
- EOF from the source (after the pipe is drained) becomes ``shutdown(SHUT_WR)`` on the
  destination, and the other direction keeps flowing: half-close is relayed as such;
- a reset or error on either side aborts both, the surviving side with an RST (SO_LINGER 0),
  so a peer that vanished is seen as vanished, not as a clean end.

Pipes come from a small pool (two pipe2 and an fcntl per connection are a noticeable share of
a short request's cost); a pipe goes back only when empty.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import socket
import struct
from collections.abc import Callable

log = logging.getLogger(__name__)

PIPE_SIZE = 1 << 20
"""Bytes per pipe (F_SETPIPE_SZ); the kernel may give less (fs.pipe-max-size)."""
_SPLICE_FLAGS = os.SPLICE_F_MOVE | os.SPLICE_F_NONBLOCK
_ROUNDS = 16
"""Pipe-fulls one readiness callback may move before yielding to other connections."""
_FATAL = (errno.ECONNRESET, errno.EPIPE, errno.ETIMEDOUT, errno.EHOSTUNREACH,
          errno.ENETUNREACH, errno.ENOTCONN)
_LINGER_RST = struct.pack("ii", 1, 0)
_DRAINED, _BLOCKED, _ABORTED = object(), object(), object()


def reset_close(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN: the peer gets ECONNRESET at once."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except OSError:
        pass
    sock.close()


class PipePool:
    """Reusable non-blocking pipes of ``size`` bytes (bounded; extras are closed)."""

    def __init__(self, *, size: int = PIPE_SIZE, keep: int = 64) -> None:
        self.size = size
        self.keep = keep
        self._free: list[tuple[int, int, int]] = []

    def get(self) -> tuple[int, int, int]:
        """``(read fd, write fd, capacity)``."""
        if self._free:
            return self._free.pop()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        cap = 65536
        try:
            cap = fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, self.size)
        except OSError:
            try:
                cap = fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
            except OSError:
                pass
        return r, w, cap

    def put(self, pipe: tuple[int, int, int], *, empty: bool) -> None:
        if empty and len(self._free) < self.keep:
            self._free.append(pipe)
        else:
            os.close(pipe[0])
            os.close(pipe[1])

    def close(self) -> None:
        for r, w, _ in self._free:
            os.close(r)
            os.close(w)
        self._free.clear()


class _Pump:
    """One direction: src socket -> pipe -> dst socket."""

    __slots__ = ("_fill", "_loop", "_relay", "cap", "done", "dst", "eof", "pipe", "src",
                 "total")

    def __init__(self, relay: Relay, src: socket.socket, dst: socket.socket,
                 pipe: tuple[int, int, int]) -> None:
        self._relay = relay
        self._loop = relay.loop
        self.src = src
        self.dst = dst
        self.pipe = pipe
        self.cap = pipe[2]
        self._fill = 0
        self.eof = False
        self.done = False
        self.total = 0

    def start(self) -> None:
        self._loop.add_reader(self.src.fileno(), self._readable)

    def stop(self) -> None:
        if self.src.fileno() >= 0:
            self._loop.remove_reader(self.src.fileno())
        if self.dst.fileno() >= 0:
            self._loop.remove_writer(self.dst.fileno())

    @property
    def empty(self) -> bool:
        return self._fill == 0

    def _readable(self) -> None:
        src, pw = self.src.fileno(), self.pipe[1]
        for _ in range(_ROUNDS):
            try:
                n = os.splice(src, pw, self.cap, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                return
            except OSError as e:
                self._relay.abort(e)
                return
            if n == 0:
                self._loop.remove_reader(src)
                self.eof = True
                self._finish()
                return
            self._fill = n
            self.total += n
            state = self._drain()
            if state is _BLOCKED:
                # The destination is full: stop reading until it drains (backpressure).
                self._loop.remove_reader(src)
                self._loop.add_writer(self.dst.fileno(), self._writable)
                return
            if state is _ABORTED or n < self.cap:
                # A short read most likely emptied the socket; epoll is level-triggered, so
                # returning costs nothing if it did not, and saves an EAGAIN splice if it did.
                return

    def _drain(self) -> object:
        """Move the pipe into dst: _DRAINED, _BLOCKED (dst full, bytes left) or _ABORTED."""
        pr, dst = self.pipe[0], self.dst.fileno()
        while self._fill:
            try:
                m = os.splice(pr, dst, self._fill, flags=_SPLICE_FLAGS)
            except BlockingIOError:
                return _BLOCKED
            except OSError as e:
                self._relay.abort(e)
                return _ABORTED
            self._fill -= m
        return _DRAINED

    def _writable(self) -> None:
        if self._drain() is not _DRAINED:
            return
        self._loop.remove_writer(self.dst.fileno())
        if self.eof:
            self._finish()
        else:
            self._loop.add_reader(self.src.fileno(), self._readable)

    def _finish(self) -> None:
        """Source said EOF and the pipe is empty: pass the half-close on."""
        if self._fill:
            return
        try:
            self.dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the peer is already gone; the other pump will see it
        self.done = True
        self._relay.pump_done()


class Relay:
    """Both directions between a client and a backend socket (both connected, non-blocking)."""

    __slots__ = ("_on_close", "a", "b", "backend", "client", "closed", "loop", "pool")

    def __init__(self, loop: asyncio.AbstractEventLoop, client: socket.socket,
                 backend: socket.socket, *, pool: PipePool,
                 on_close: Callable[[Relay], None] | None = None) -> None:
        self.loop = loop
        self.client = client
        self.backend = backend
        self.pool = pool
        self.closed = False
        self._on_close = on_close
        self.a = _Pump(self, client, backend, pool.get())
        self.b = _Pump(self, backend, client, pool.get())

    def start(self) -> None:
        self.a.start()
        self.b.start()

    @property
    def bytes_up(self) -> int:
        return self.a.total

    @property
    def bytes_down(self) -> int:
        return self.b.total

    def pump_done(self) -> None:
        if self.a.done and self.b.done:
            self.close()

    def abort(self, err: OSError) -> None:
        """An error on one side: reset both, so the failure travels on to the survivor."""
        if err.errno not in _FATAL:
            log.warning("relay %s: %s", self.describe(), err)
        self.reset()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.a.stop()
        self.b.stop()
        self.pool.put(self.a.pipe, empty=self.a.empty)
        self.pool.put(self.b.pipe, empty=self.b.empty)
        self.client.close()
        self.backend.close()
        if self._on_close is not None:
            self._on_close(self)

    def reset(self) -> None:
        """Close both sides with RST (proxy shutdown, service gone)."""
        for s in (self.client, self.backend):
            if s.fileno() >= 0:
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
                except OSError:
                    pass
        self.close()

    def describe(self) -> str:
        try:
            return f"{self.client.getpeername()} <-> {self.backend.getpeername()}"
        except OSError:
            return "closed connection"
