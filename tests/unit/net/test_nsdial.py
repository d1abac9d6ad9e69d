"""net/nsdial.py: a connection opened from inside another process's network namespace.

The namespace is a fresh one (``unshare --net``) holding only its loopback and a tiny server
bound to 127.0.0.1 there; nothing is sent anywhere else. The same port on this namespace's
loopback is refused, so the answer can only have come from inside."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from minikube8s.net import nsdial
from tests.fixtures.etcd import free_port

SERVER = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b"inside"); c.close()
"""


@pytest.fixture
def namespaced_server() -> Iterator[tuple[int, int]]:
    """(pid, port): a server on 127.0.0.1:port in a new network namespace."""
    if os.geteuid() != 0:
        pytest.skip("needs root for unshare --net")
    port = free_port()
    proc = subprocess.Popen(
        ["unshare", "--net", "sh", "-c",
         f'ip link set lo up && exec "{sys.executable}" -c \'{SERVER}\' {port}'],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield proc.pid, port
    finally:
        proc.kill()
        proc.wait(timeout=10)


async def connect_when_up(pid: int, port: int
                          ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """The server may still be starting (its loopback down: unreachable; up: refused)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return await nsdial.open_connection_in(pid, "127.0.0.1", port)
        except OSError:
            assert time.monotonic() < deadline, "the namespaced server never listened"
            await asyncio.sleep(0.05)


async def test_connects_inside_the_namespace(namespaced_server: tuple[int, int]) -> None:
    pid, port = namespaced_server
    mine = os.readlink("/proc/thread-self/ns/net")
    reader, writer = await connect_when_up(pid, port)
    assert await reader.read() == b"inside"
    writer.close()
    # Nothing of this thread (the loop's) moved; here the port is closed.
    assert os.readlink("/proc/thread-self/ns/net") == mine
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


async def test_refused_and_missing_pid(namespaced_server: tuple[int, int]) -> None:
    pid, port = namespaced_server
    (await connect_when_up(pid, port))[1].close()
    with pytest.raises(ConnectionRefusedError):
        await nsdial.open_connection_in(pid, "127.0.0.1", free_port())
    with pytest.raises(nsdial.DialError, match="no network namespace for pid"):
        await nsdial.open_connection_in(2**22 + 7, "127.0.0.1", port)
