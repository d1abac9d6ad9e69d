"""A proxier with nftables portals as a process, driven line by line (tests/net/test_portals.py).

Run inside the node namespace: ``python -m tests.net.proxy_driver [--host-ip IP] [--table T]
[--portal-net CIDR]`` (the last also manages net/portals.py PortalRoutes).
Each stdin line is JSON:

- ``{"services": [Service...], "endpoints": [Endpoints...]}``: one sync, exactly what
  roles/proxy.py does with its caches; answers ``{"ports": {"ns/name:port": listener}}``;
- ``{"quit": true}``: clean shutdown (connections reset, listeners closed, table removed);
  answers ``{"closed": true}``.

Killing it with SIGKILL is the "crashed proxy" case: its table stays behind, stale.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from minikube8s.net.portals import PortalRoutes, Portals
from minikube8s.net.proxier import Proxier, endpoints_by_port, service_ports


async def main(host_ip: str, table: str, portal_net: str) -> None:
    portals = Portals(table=table, host_ip=host_ip)
    portals.open()
    routes = PortalRoutes(src=host_ip) if portal_net else None
    proxier = Proxier(portals=portals, routes=routes, portal_net=portal_net)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    while line := await reader.readline():
        msg = json.loads(line)
        if msg.get("quit"):
            await proxier.close()
            print(json.dumps({"closed": True}), flush=True)
            return
        await proxier.sync(service_ports(msg.get("services") or []),
                           endpoints_by_port(msg.get("endpoints") or []))
        ports = {str(name): e.listener.port for name, e in proxier.entries.items()}
        print(json.dumps({"ports": ports}), flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host-ip", default="")
    p.add_argument("--table", default="minikube8s")
    p.add_argument("--portal-net", default="", help="also manage PortalRoutes")
    a = p.parse_args()
    asyncio.run(main(a.host_ip, a.table, a.portal_net))
