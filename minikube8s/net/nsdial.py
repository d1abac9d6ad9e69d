"""Open a TCP connection from inside another process's network namespace.

Why: ``kubectl port-forward`` reaches a pod's port as the pod itself would, on its
``localhost`` (Kubernetes' runtimes run ``socat`` under ``nsenter -n`` in the sandbox's
namespace), so a server bound to 127.0.0.1 in the container is reachable too. Dialing the pod
IP from the node cannot do that. A socket belongs to the network namespace it was created in
and keeps it for life, so it is enough to create and connect the socket on a thread that has
entered the namespace; the event loop then uses it like any other.

The tricky part: ``setns(2)`` moves only the calling thread. The dial therefore runs on a
thread of its own (never the loop's, never a pooled executor thread that would later run
other work in the wrong namespace), which enters the target namespace, connects, and ends.

Neighbours: roles/kubelet/docker/streams.py (the Docker runtime's port-forward; the pid is the
pause container's), net/podnet.py (links and routes through pyroute2).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import errno
import os
import socket
import threading

__all__ = ["DialError", "open_connection_in"]

CLONE_NEWNET = 0x40000000
_libc: ctypes.CDLL | None = None


class DialError(OSError):
    """The dial failed; ``strerror`` is the system's words (``connection refused``)."""


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise DialError(err, f"setns: {os.strerror(err)}")


def _dial(pid: int, host: str, port: int, timeout: float) -> socket.socket:
    """On a fresh thread: enter ``pid``'s network namespace, connect, return the socket."""
    result: list[socket.socket | BaseException] = []

    def run() -> None:
        try:
            target = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            result.append(DialError(e.errno or errno.ESRCH,
                                    f"no network namespace for pid {pid}: {e.strerror}"))
            return
        try:
            _setns(target)
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect((host, port))
            except BaseException:
                sock.close()
                raise
            result.append(sock)
        except BaseException as e:  # handed to the caller's thread
            result.append(e)
        finally:
            os.close(target)
            # The thread ends here, and with it its namespace: nothing else runs on it.

    t = threading.Thread(target=run, name=f"nsdial {pid}", daemon=True)
    t.start()
    t.join()
    out = result[0] if result else DialError(errno.EIO, "the dial thread ended silently")
    if isinstance(out, BaseException):
        raise out
    return out


async def open_connection_in(pid: int, host: str, port: int, *,
                             connect_timeout: float = 10.0
                             ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream connected to ``host:port`` as seen from ``pid``'s network namespace.
    ``TimeoutError`` after ``connect_timeout``; ``OSError`` (``ConnectionRefusedError`` and
    the like) as ``connect`` raises it."""
    sock = await asyncio.to_thread(_dial, pid, host, port, connect_timeout)
    sock.setblocking(False)
    return await asyncio.open_connection(sock=sock)
