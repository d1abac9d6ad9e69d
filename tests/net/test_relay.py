"""The proxy's data path on loopback (net/splice.py, tcp.py, udp.py through net/proxier.py):
bytes intact both ways, half-close, many connections, backpressure, no busy loop, UDP relaying
with its idle timeout, refusal at once without endpoints, retries on the next endpoint.

The proxier listens on 127.0.0.1 here and no portal rules are involved (tests/net/
test_portals.py does those inside network namespaces). Clients and backends that must block
run in threads, the proxy on the test's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import resource
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from minikube8s.net.loadbalancer import Endpoint, ServicePortName
from minikube8s.net.proxier import Proxier, ServicePortSpec

SVC = ServicePortName("default", "svc", "")
UDP_SVC = ServicePortName("default", "dns", "")
MiB = 1 << 20


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@pytest.fixture
async def proxier() -> AsyncIterator[Proxier]:
    px = Proxier(bind_host="127.0.0.1", udp_idle_timeout=0.3)
    yield px
    await px.close()


async def serve(px: Proxier, endpoints: list[tuple[str, int]], *, affinity: str = "None",
                protocol: str = "TCP", name: ServicePortName = SVC) -> int:
    spec = ServicePortSpec(name=name, protocol=protocol, cluster_ip="192.168.3.1", port=80,
                           affinity=affinity)
    await px.sync({name: spec}, {name: [Endpoint(h, p) for h, p in endpoints]})
    port = px.listener_port(name)
    assert port
    return port


class Backend:
    """A threaded TCP server running ``handler(conn)`` per connection."""

    def __init__(self, handler: object) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.sock.getsockname()[1]
        self.handler = handler
        self.peers: list[tuple[str, int]] = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            self.peers.append(addr)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            try:
                self.handler(conn)  # type: ignore[operator]
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def backends() -> Iterator[list[Backend]]:
    made: list[Backend] = []
    yield made
    for b in made:
        b.close()


def recv_all(s: socket.socket) -> bytes:
    chunks = []
    while True:
        d = s.recv(MiB)
        if not d:
            return b"".join(chunks)
        chunks.append(d)


def echo(conn: socket.socket) -> None:
    while True:
        d = conn.recv(65536)
        if not d:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(d)


# -- TCP --------------------------------------------------------------------------------------


async def test_bulk_64_mib_both_ways_at_once_arrives_intact(proxier: Proxier,
                                                            backends: list[Backend]) -> None:
    up = os.urandom(64 * MiB)
    down = os.urandom(64 * MiB)
    got_up: dict[str, str] = {}

    def handler(conn: socket.socket) -> None:
        # Send and receive concurrently: neither side waits for the other to finish.
        t = threading.Thread(target=lambda: (conn.sendall(down), conn.shutdown(socket.SHUT_WR)))
        t.start()
        got_up["sha"] = hashlib.sha256(recv_all(conn)).hexdigest()
        t.join()

    b = Backend(handler)
    backends.append(b)
    port = await serve(proxier, [("127.0.0.1", b.port)])

    def client() -> str:
        with socket.create_connection(("127.0.0.1", port)) as s:
            t = threading.Thread(target=lambda: (s.sendall(up), s.shutdown(socket.SHUT_WR)))
            t.start()
            data = recv_all(s)
            t.join()
            return hashlib.sha256(data).hexdigest()

    down_sha = await asyncio.wait_for(asyncio.to_thread(client), 60)
    assert down_sha == hashlib.sha256(down).hexdigest()
    for _ in range(100):
        if "sha" in got_up:
            break
        await asyncio.sleep(0.05)
    assert got_up["sha"] == hashlib.sha256(up).hexdigest()
    await asyncio.sleep(0.1)
    entry = proxier.entries[SVC]
    assert not entry.listener.relays  # type: ignore[union-attr]  # closed when both ended


async def test_half_close_is_relayed_both_ways(proxier: Proxier,
                                               backends: list[Backend]) -> None:
    def handler(conn: socket.socket) -> None:
        # Answers only after the client's EOF, then keeps reading until the client is done.
        data = recv_all(conn)
        conn.sendall(b"got %d bytes" % len(data))
        conn.shutdown(socket.SHUT_WR)

    b = Backend(handler)
    backends.append(b)
    port = await serve(proxier, [("127.0.0.1", b.port)])

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"x" * 100_000)
            s.shutdown(socket.SHUT_WR)  # the backend only answers after this
            return recv_all(s)

    assert await asyncio.wait_for(asyncio.to_thread(client), 10) == b"got 100000 bytes"

    # The other way: the backend half-closes first, the client keeps talking.
    def first_word(conn: socket.socket) -> None:
        conn.sendall(b"hello")
        conn.shutdown(socket.SHUT_WR)
        rest = recv_all(conn)
        assert rest == b"after your EOF"

    b2 = Backend(first_word)
    backends.append(b2)
    port2 = await serve(proxier, [("127.0.0.1", b2.port)], name=ServicePortName("d", "s2", ""))

    def client2() -> tuple[bytes, bytes]:
        with socket.create_connection(("127.0.0.1", port2)) as s:
            hello = recv_all(s)  # EOF reaches us while our side stays open
            s.sendall(b"after your EOF")
            s.shutdown(socket.SHUT_WR)
            return hello, recv_all(s)

    assert await asyncio.wait_for(asyncio.to_thread(client2), 10) == (b"hello", b"")


async def test_many_concurrent_connections(proxier: Proxier) -> None:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    bport = srv.sockets[0].getsockname()[1]
    port = await serve(proxier, [("127.0.0.1", bport)])

    async def one(i: int) -> bool:
        payload = os.urandom(64 * 1024) + str(i).encode()
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(payload)
        await w.drain()
        w.write_eof()
        back = await r.read()
        w.close()
        return back == payload

    try:
        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(300))), 60)
        assert all(results)
        assert proxier.entries[SVC].listener.accepted == 300  # type: ignore[union-attr]
    finally:
        srv.close()


async def test_a_slow_reader_holds_the_sender_back_without_spinning(
        proxier: Proxier, backends: list[Backend]) -> None:
    sent = [0]
    total = 256 * MiB

    def handler(conn: socket.socket) -> None:
        chunk = b"z" * MiB
        while sent[0] < total:
            conn.sendall(chunk)
            sent[0] += len(chunk)
        conn.shutdown(socket.SHUT_WR)

    b = Backend(handler)
    backends.append(b)
    port = await serve(proxier, [("127.0.0.1", b.port)])
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    try:
        await asyncio.sleep(0.5)  # let the buffers fill
        before_sent, cpu0 = sent[0], cpu_seconds()
        await asyncio.sleep(1.0)
        cpu = cpu_seconds() - cpu0
        # Nothing more moved while nobody read: the sender is held back, not buffered for.
        assert sent[0] == before_sent
        assert sent[0] < 64 * MiB, sent[0]
        assert cpu < 0.2, f"{cpu:.3f}s of CPU while blocked: a busy loop?"

        def read_rest() -> int:
            s.settimeout(30)
            n = 0
            while d := s.recv(MiB):
                n += len(d)
            return n

        assert await asyncio.wait_for(asyncio.to_thread(read_rest), 60) == total
    finally:
        s.close()


async def test_idle_connections_cost_no_cpu(proxier: Proxier, backends: list[Backend]) -> None:
    release = threading.Event()
    b = Backend(lambda conn: release.wait(30))
    backends.append(b)
    port = await serve(proxier, [("127.0.0.1", b.port)])
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(100)]
    try:
        for _ in range(100):
            if len(proxier.entries[SVC].listener.relays) == 100:  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.02)
        assert len(proxier.entries[SVC].listener.relays) == 100  # type: ignore[union-attr]
        cpu0 = cpu_seconds()
        await asyncio.sleep(1.0)
        cpu = cpu_seconds() - cpu0
        assert cpu < 0.05, f"{cpu:.3f}s of CPU in 1s with 100 idle connections"
    finally:
        release.set()
        for c in clients:
            c.close()


async def test_no_endpoints_is_refused_at_once(proxier: Proxier) -> None:
    port = await serve(proxier, [])

    def client() -> tuple[str, float]:
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                s.recv(100)
                return "answered", time.monotonic() - t0
        except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError) as e:
            return type(e).__name__, time.monotonic() - t0

    outcome, took = await asyncio.to_thread(client)
    assert outcome in ("ConnectionResetError", "ConnectionRefusedError", "BrokenPipeError")
    assert took < 0.5
    assert proxier.entries[SVC].listener.refused == 1  # type: ignore[union-attr]


def dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


async def test_a_refused_connect_moves_on_to_the_next_endpoint(
        proxier: Proxier, backends: list[Backend]) -> None:
    b = Backend(lambda conn: conn.sendall(b"alive"))
    backends.append(b)
    port = await serve(proxier, [("127.0.0.1", dead_port()), ("127.0.0.1", dead_port()),
                                 ("127.0.0.1", b.port)])

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            return recv_all(s)

    for _ in range(6):  # whatever the rotation's position, every client gets through
        assert await asyncio.to_thread(client) == b"alive"


async def test_all_endpoints_dead_is_refused_quickly(proxier: Proxier) -> None:
    port = await serve(proxier, [("127.0.0.1", dead_port()) for _ in range(3)])

    def client() -> tuple[bool, float]:
        t0 = time.monotonic()
        try:
            # The RST may even beat connect() back to this thread on loopback.
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                got = s.recv(10)
                return got != b"", time.monotonic() - t0
        except ConnectionResetError:
            return False, time.monotonic() - t0

    answered, took = await asyncio.to_thread(client)
    assert not answered and took < 1.0


async def test_a_backend_that_drops_syns_times_out_and_the_next_one_answers(
        proxier: Proxier, backends: list[Backend]) -> None:
    # A listener whose accept queue is full drops further SYNs: a hanging connect.
    stuck = socket.socket()
    stuck.bind(("127.0.0.1", 0))
    stuck.listen(0)
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(stuck.getsockname())
        fillers.append(f)
    good = Backend(lambda conn: conn.sendall(b"ok"))
    backends.append(good)
    proxier_dial = [("127.0.0.1", stuck.getsockname()[1]), ("127.0.0.1", good.port)]
    port = await serve(proxier, proxier_dial)
    try:
        def client() -> tuple[bytes, float]:
            t0 = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                return recv_all(s), time.monotonic() - t0

        results = [await asyncio.to_thread(client) for _ in range(2)]
        assert all(r[0] == b"ok" for r in results)
        # One of the two went to the stuck backend first: 0.25 s, then the next endpoint.
        assert max(r[1] for r in results) >= 0.2
        assert max(r[1] for r in results) < 2.0
    finally:
        stuck.close()
        for f in fillers:
            f.close()


async def test_affinity_keeps_a_client_on_one_backend(proxier: Proxier,
                                                      backends: list[Backend]) -> None:
    names = []
    for i in range(3):
        tag = b"b%d" % i
        b = Backend(lambda conn, tag=tag: conn.sendall(tag))  # type: ignore[misc]
        backends.append(b)
        names.append(("127.0.0.1", b.port))
    port = await serve(proxier, names, affinity="ClientIP")

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            return recv_all(s)

    assert len({await asyncio.to_thread(client) for _ in range(9)}) == 1
    proxier.lb.new_service(SVC, affinity="None")
    assert len({await asyncio.to_thread(client) for _ in range(9)}) == 3


async def test_listeners_are_reconciled(proxier: Proxier, backends: list[Backend]) -> None:
    b = Backend(lambda conn: conn.sendall(b"x"))
    backends.append(b)
    port = await serve(proxier, [("127.0.0.1", b.port)])
    assert await serve(proxier, [("127.0.0.1", b.port)]) == port  # stable across syncs
    await proxier.sync({}, {})
    assert proxier.entries == {}
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    # A protocol change replaces the listener.
    await serve(proxier, [("127.0.0.1", b.port)])
    udp_port = await serve(proxier, [("127.0.0.1", b.port)], protocol="UDP")
    assert proxier.entries[SVC].spec.protocol == "UDP" and udp_port


# -- UDP --------------------------------------------------------------------------------------


class UdpEcho:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.peers: set[tuple[str, int]] = set()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except OSError:
                return
            self.peers.add(addr)
            self.sock.sendto(b"echo:" + data, addr)


async def test_udp_echo_through_the_relay_with_an_idle_timeout(proxier: Proxier) -> None:
    echo_srv = UdpEcho()
    try:
        port = await serve(proxier, [("127.0.0.1", echo_srv.port)], protocol="UDP",
                           name=UDP_SVC)
        listener = proxier.entries[UDP_SVC].listener

        def ask(s: socket.socket, msg: bytes) -> tuple[bytes, tuple[str, int]]:
            s.sendto(msg, ("127.0.0.1", port))
            data, addr = s.recvfrom(65535)
            return data, addr

        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        a.settimeout(2)
        b.settimeout(2)
        try:
            for i in range(3):
                data, src = await asyncio.to_thread(ask, a, b"a%d" % i)
                assert data == b"echo:a%d" % i
                assert src == ("127.0.0.1", port)  # the answer comes from where we wrote
            data, _ = await asyncio.to_thread(ask, b, b"b")
            assert data == b"echo:b"
            big = os.urandom(60000)
            data, _ = await asyncio.to_thread(ask, a, big)
            assert data == b"echo:" + big
            # One upstream socket per client address: the backend saw two peers.
            assert len(listener.clients) == 2  # type: ignore[union-attr]
            assert len(echo_srv.peers) == 2
            await asyncio.sleep(0.8)  # idle timeout 0.3 s in this fixture
            assert listener.clients == {}  # type: ignore[union-attr]
            data, _ = await asyncio.to_thread(ask, a, b"again")
            assert data == b"echo:again" and len(echo_srv.peers) == 3
        finally:
            a.close()
            b.close()
    finally:
        echo_srv.sock.close()


async def test_udp_without_endpoints_drops(proxier: Proxier) -> None:
    port = await serve(proxier, [], protocol="UDP", name=UDP_SVC)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(0.3)
    try:
        s.sendto(b"x", ("127.0.0.1", port))
        with pytest.raises(TimeoutError):
            await asyncio.to_thread(s.recvfrom, 100)
        assert proxier.entries[UDP_SVC].listener.dropped == 1  # type: ignore[union-attr]
    finally:
        s.close()
