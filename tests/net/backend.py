"""Stand-in pods for the proxy tests, run inside a test namespace as a process:

    python tests/net/backend.py HOST NTCP NUDP

starts NTCP tiny HTTP servers (each answers any request with ``backend-<i> <client ip>``, the
way a busybox httpd serving its hostname would) and NUDP UDP echo servers (``echo-<i>:`` +
datagram) on HOST, port 0, prints one JSON line ``{"tcp": [ports], "udp": [ports]}`` and
serves until killed.
"""

from __future__ import annotations

import asyncio
import json
import sys


class Echo(asyncio.DatagramProtocol):
    def __init__(self, tag: bytes) -> None:
        self.tag = tag
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.tag + data, addr)


async def main(host: str, ntcp: int, nudp: int) -> None:
    loop = asyncio.get_running_loop()
    tcp_ports: list[int] = []
    udp_ports: list[int] = []
    for i in range(ntcp):
        def handler(i: int = i) -> object:
            async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                try:
                    await r.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    pass
                peer = w.get_extra_info("peername")[0]
                body = f"backend-{i} {peer}\n".encode()
                w.write(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                        % len(body) + body)
                await w.drain()
                w.close()
            return handle
        srv = await asyncio.start_server(handler(), host, 0, backlog=1024)  # type: ignore[arg-type]
        tcp_ports.append(srv.sockets[0].getsockname()[1])
    for i in range(nudp):
        tr, _ = await loop.create_datagram_endpoint(lambda i=i: Echo(b"echo-%d:" % i),  # type: ignore[misc]
                                                    local_addr=(host, 0))
        udp_ports.append(tr.get_extra_info("sockname")[1])
    print(json.dumps({"tcp": tcp_ports, "udp": udp_ports}), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
