"""One TCP service port on the node: a listener that accepts, dials a backend, then splices.

proxier.py owns one ``TcpListener`` per TCP service port; the nftables portals (portals.py)
send portalIP:port and externalIP:port to its kernel-chosen port. For each accepted client:

- no ready endpoint: the client is reset at once (RST through SO_LINGER 0), never left waiting
  for a backend that will not come;
- otherwise a backend is dialled without blocking the loop (non-blocking ``connect`` plus
  ``add_writer``, no task per connection). A failed or slow connect moves on to the next
  endpoint with growing timeouts (``DIAL_TIMEOUTS``, as kube-proxy's EndpointDialTimeouts),
  asking the load balancer to forget the client's affinity, since its pod may be the dead one;
- then a splice.py ``Relay`` carries the bytes both ways.

Everything runs in event-loop callbacks; the listener keeps its live relays so the proxier can
reset them on shutdown.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket

from .loadbalancer import LoadBalancer, NoEndpoints, ServicePortName
from .splice import PipePool, Relay, reset_close

log = logging.getLogger(__name__)

DIAL_TIMEOUTS = (0.25, 0.5, 1.0, 2.0)
"""Seconds allowed for each successive connect attempt (one endpoint per attempt)."""
_ACCEPTS = 64
"""Connections one readiness callback may accept before yielding."""


class TcpListener:
    def __init__(self, service: ServicePortName, *, lb: LoadBalancer, pool: PipePool,
                 host: str = "0.0.0.0", port: int = 0, backlog: int = 1024,
                 dial_timeouts: tuple[float, ...] = DIAL_TIMEOUTS) -> None:
        self.service = service
        self.lb = lb
        self.pool = pool
        self.dial_timeouts = dial_timeouts
        self.relays: set[Relay] = set()
        self._dials: set[_Dial] = set()
        self.accepted = 0
        self.refused = 0
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted sockets inherit TCP_NODELAY: one setsockopt here, none per connection.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.bind((host, port))
            sock.listen(backlog)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.sock.fileno(), self._accept)

    def _accept(self) -> None:
        assert self._loop is not None
        for _ in range(_ACCEPTS):
            try:
                conn, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                # EMFILE and friends: log, and let the next readiness try again.
                log.warning("proxy %s: accept: %s", self.service, e)
                return
            self.accepted += 1
            conn.setblocking(False)
            _Dial(self, conn, addr[0]).next()

    def _relay(self, client: socket.socket, backend: socket.socket) -> None:
        assert self._loop is not None
        relay = Relay(self._loop, client, backend, pool=self.pool, on_close=self.relays.discard)
        self.relays.add(relay)
        relay.start()

    def close(self, *, reset_connections: bool = False) -> None:
        """Stop accepting; live connections go on unless ``reset_connections``."""
        if self._loop is not None and self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()
        if reset_connections:
            for d in list(self._dials):
                d.cancel()
            for r in list(self.relays):
                r.reset()


class _Dial:
    """Connect attempts for one accepted client, each to the next endpoint."""

    __slots__ = ("attempt", "client", "listener", "sock", "src", "timer")

    def __init__(self, listener: TcpListener, client: socket.socket, src: str) -> None:
        self.listener = listener
        self.client = client
        self.src = src
        self.attempt = 0
        self.sock: socket.socket | None = None
        self.timer: asyncio.TimerHandle | None = None

    def next(self) -> None:
        lst = self.listener
        loop = lst._loop
        assert loop is not None
        while self.attempt < len(lst.dial_timeouts):
            try:
                ep = lst.lb.next_endpoint(lst.service, self.src,
                                          reset_affinity=self.attempt > 0)
            except NoEndpoints:
                break
            timeout = lst.dial_timeouts[self.attempt]
            self.attempt += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = s.connect_ex((ep.ip, ep.port))
            if err == 0:
                lst._relay(self.client, s)
                return
            if err == errno.EINPROGRESS:
                self.sock = s
                lst._dials.add(self)
                loop.add_writer(s.fileno(), self._connected)
                self.timer = loop.call_later(timeout, self._timed_out)
                return
            log.debug("proxy %s: connect %s: %s", lst.service, ep, errno.errorcode.get(err))
            s.close()
        self._refuse()

    def _refuse(self) -> None:
        self.listener.refused += 1
        self.listener._dials.discard(self)
        reset_close(self.client)

    def _clear(self) -> socket.socket:
        loop = self.listener._loop
        s = self.sock
        assert s is not None and loop is not None
        self.sock = None
        loop.remove_writer(s.fileno())
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.listener._dials.discard(self)
        return s

    def _connected(self) -> None:
        s = self._clear()
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err == 0:
            self.listener._relay(self.client, s)
            return
        log.debug("proxy %s: connect: %s", self.listener.service, errno.errorcode.get(err))
        s.close()
        self.next()

    def _timed_out(self) -> None:
        self.timer = None
        s = self._clear()
        log.debug("proxy %s: connect timed out", self.listener.service)
        s.close()
        self.next()

    def cancel(self) -> None:
        if self.sock is not None:
            self._clear().close()
        reset_close(self.client)

