"""One UDP service port on the node: datagrams relayed through one upstream socket per client.

proxier.py owns one ``UdpListener`` per UDP service port. UDP has no connection to splice, so
the relay copies datagrams, keeping the flow shape a backend expects:

- each client address (ip, port) gets its own upstream socket, connected to the endpoint the
  load balancer picked for it, so replies find their way back and a backend sees one stable
  peer per client (kube-proxy's userspace UDP proxy did the same);
- a reply is sent from the address the client wrote to (IP_PKTINFO on receive and send), so
  conntrack can undo the portal's REDIRECT/DNAT and the client sees portalIP:port answer;
- an upstream socket idle for ``idle_timeout`` seconds (no datagram either way) is closed,
  checked by one timer per listener that only runs while there are clients;
- an ICMP port unreachable from the backend (ECONNREFUSED on the connected socket) drops that
  client's upstream socket, so its next datagram goes to another endpoint;
- no endpoint: the datagram is dropped (there is no RST in UDP).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
import time

from .loadbalancer import Endpoint, LoadBalancer, NoEndpoints, ServicePortName

log = logging.getLogger(__name__)

UDP_IDLE_TIMEOUT = 10.0
"""Seconds an upstream socket lives without traffic. kube-proxy's 250 ms default loses replies
from any backend slower than that; 10 s keeps request/response protocols whole while a client
that uses a fresh source port per query (DNS resolvers) still holds few sockets."""
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
_PKTINFO = struct.Struct("=i4s4s")  # struct in_pktinfo: ifindex, spec_dst, addr
_BUF = 65535
_ROUNDS = 64


class _Client:
    __slots__ = ("addr", "endpoint", "last", "listener", "local", "up")

    def __init__(self, listener: UdpListener, addr: tuple[str, int], endpoint: Endpoint,
                 up: socket.socket, local: bytes | None) -> None:
        self.listener = listener
        self.addr = addr
        self.endpoint = endpoint
        self.up = up
        self.local = local
        self.last = time.monotonic()

    def reply(self) -> None:
        lst = self.listener
        for _ in range(_ROUNDS):
            try:
                data = self.up.recv(_BUF)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                # ECONNREFUSED: the backend's port is closed; pick another next time.
                log.debug("proxy %s: %s from %s", lst.service, e, self.endpoint)
                lst.drop(self.addr)
                return
            self.last = time.monotonic()
            lst.send_back(data, self.addr, self.local)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.up.fileno() >= 0:
            loop.remove_reader(self.up.fileno())
        self.up.close()


class UdpListener:
    def __init__(self, service: ServicePortName, *, lb: LoadBalancer, host: str = "0.0.0.0",
                 port: int = 0, idle_timeout: float = UDP_IDLE_TIMEOUT) -> None:
        self.service = service
        self.lb = lb
        self.idle_timeout = idle_timeout
        self.clients: dict[tuple[str, int], _Client] = {}
        self.dropped = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.bind((host, port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self._anc = socket.CMSG_SPACE(_PKTINFO.size)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._readable)

    def _readable(self) -> None:
        for _ in range(_ROUNDS):
            try:
                data, anc, _flags, addr = self.sock.recvmsg(_BUF, self._anc)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.debug("proxy %s: recv: %s", self.service, e)
                continue
            client = self.clients.get(addr)
            if client is None:
                client = self._new_client(addr, _local_addr(anc))
                if client is None:
                    self.dropped += 1
                    continue
            client.last = time.monotonic()
            try:
                client.up.send(data)
            except (BlockingIOError, InterruptedError):
                self.dropped += 1  # upstream buffer full: UDP may drop, so we do
            except OSError as e:
                log.debug("proxy %s: send to %s: %s", self.service, client.endpoint, e)
                self.dropped += 1
                self.drop(addr)

    def _new_client(self, addr: tuple[str, int], local: bytes | None) -> _Client | None:
        assert self._loop is not None
        try:
            ep = self.lb.next_endpoint(self.service, addr[0])
        except NoEndpoints:
            return None
        up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            up.setblocking(False)
            up.connect((ep.ip, ep.port))
        except OSError as e:
            log.debug("proxy %s: connect %s: %s", self.service, ep, e)
            up.close()
            return None
        client = _Client(self, addr, ep, up, local)
        self.clients[addr] = client
        self._loop.add_reader(up.fileno(), client.reply)
        if self._sweeper is None:
            self._schedule_sweep()
        return client

    def send_back(self, data: bytes, addr: tuple[str, int], local: bytes | None) -> None:
        anc = []
        if local is not None:
            anc.append((socket.IPPROTO_IP, IP_PKTINFO, _PKTINFO.pack(0, local, b"\0" * 4)))
        try:
            self.sock.sendmsg([data], anc, 0, addr)
        except OSError as e:
            log.debug("proxy %s: reply to %s: %s", self.service, addr, e)

    def drop(self, addr: tuple[str, int]) -> None:
        client = self.clients.pop(addr, None)
        if client is not None and self._loop is not None:
            client.close(self._loop)

    def _schedule_sweep(self) -> None:
        assert self._loop is not None
        self._sweeper = self._loop.call_later(max(self.idle_timeout / 2, 0.05), self._sweep)

    def _sweep(self) -> None:
        self._sweeper = None
        cutoff = time.monotonic() - self.idle_timeout
        for addr in [a for a, c in self.clients.items() if c.last <= cutoff]:
            self.drop(addr)
        if self.clients:
            self._schedule_sweep()

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for addr in list(self.clients):
            self.drop(addr)
        if self._loop is not None and self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()


def _local_addr(anc: list[tuple[int, int, bytes]]) -> bytes | None:
    """The destination address of a received datagram (in_pktinfo.ipi_addr)."""
    for level, kind, data in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _PKTINFO.size:
            return _PKTINFO.unpack_from(data)[2]
    return None
