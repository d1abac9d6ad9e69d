"""The pod network of a Docker node: one bridge network whose subnet is the node's podCIDR.

Every sandbox (pause container) joins the Docker network ``minikube8s`` (bridge ``mk8s0``,
gateway .1 of spec.podCIDR, addresses handed out by Docker's IPAM from .2); app containers
then share the sandbox's namespace. ``ensure_network`` creates the network or adopts the one a
previous run left; a network with another subnet is re-created when nothing is attached to it
(the node got a new podCIDR), and is an error otherwise. Docker's masquerade is off for it:
minikube8s/net/podnet.py masquerades only traffic leaving the cluster network, so pods on
other nodes see real pod IPs. Called by runtime.py before the first sandbox of a process.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Any

import aiodocker

from ..runtime import RuntimeFailure

log = logging.getLogger(__name__)

NETWORK = "minikube8s"
BRIDGE = "mk8s0"
MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"


async def ensure_network(docker: aiodocker.Docker, pod_cidr: str, *, node: str,
                         name: str = NETWORK) -> str:
    """Make sure network ``name`` exists with subnet ``pod_cidr``; returns its id."""
    try:
        net = ipaddress.ip_network(pod_cidr, strict=False)
    except ValueError as e:
        raise RuntimeFailure(f"node podCIDR {pod_cidr!r} is not a network") from e
    subnet, gateway = str(net), str(net.network_address + 1)
    try:
        existing: Any = await docker.networks.get(name)
        info = await existing.show()
        configs = (info.get("IPAM") or {}).get("Config") or []
        masq = (info.get("Options") or {}).get(MASQUERADE, "true") != "false"
        if any(c.get("Subnet") == subnet for c in configs) and (
                not masq or info.get("Containers")):
            return str(info["Id"])
        if info.get("Containers"):
            raise RuntimeFailure(
                f"docker network {name} has subnet {configs} but the node's podCIDR is "
                f"{subnet}, and containers still use it")
        log.info("docker network %s: subnet %s -> %s (masquerade %s), re-creating it", name,
                 configs, subnet, masq)
        await existing.delete()
    except aiodocker.DockerError as e:
        if e.status != 404:
            raise RuntimeFailure(f"inspecting docker network {name}: {e}") from e
    config = {"Name": name, "Driver": "bridge", "CheckDuplicate": True,
              "IPAM": {"Driver": "default",
                       "Config": [{"Subnet": subnet, "Gateway": gateway}]},
              "Options": {"com.docker.network.bridge.name": BRIDGE, MASQUERADE: "false"},
              "Labels": {"minikube8s.io/node": node}}
    try:
        created = await docker.networks.create(config)
    except aiodocker.DockerError as e:
        if e.status == 409:  # a twin sync made it first
            return str((await (await docker.networks.get(name)).show())["Id"])
        raise RuntimeFailure(f"creating docker network {name} ({subnet}): {e}") from e
    log.info("docker network %s created: %s, gateway %s", name, subnet, gateway)
    return str(created.id)
