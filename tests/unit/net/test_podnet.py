"""Pod network logic without a kernel: which routes a node wants, the diff against the kernel's
routes of our protocol, the nft script, and PodNetwork.sync over fake routes and firewall."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from minikube8s.net.podnet import (
    NFT_TABLE,
    PodNetError,
    PodNetwork,
    desired_routes,
    forward_rules,
    nft_ruleset,
    plan_routes,
)

Object = dict[str, Any]
CLUSTER = "172.16.0.0/16"


def node(name: str, cidr: str = "", ip: str = "") -> Object:
    addresses = [{"type": "Hostname", "address": name}]
    if ip:
        addresses.insert(0, {"type": "InternalIP", "address": ip})
    return {"metadata": {"name": name}, "spec": {"podCIDR": cidr} if cidr else {},
            "status": {"addresses": addresses}}


SEED = [node("n1", "172.16.0.0/24", "192.168.0.10"), node("n2", "172.16.1.0/24", "192.168.0.11"),
        node("n3", "172.16.2.0/24", "192.168.0.12")]


def test_every_other_node_via_its_internal_ip() -> None:
    assert desired_routes(SEED, self_name="n1", cluster_cidr=CLUSTER) == {
        "172.16.1.0/24": "192.168.0.11", "172.16.2.0/24": "192.168.0.12"}


def test_nodes_without_cidr_or_ip_or_outside_the_cluster_are_skipped() -> None:
    nodes = [*SEED, node("new"), node("noip", "172.16.5.0/24"),
             node("far", "10.0.0.0/24", "192.168.0.20"), node("bad", "x/24", "192.168.0.21")]
    assert desired_routes(nodes, self_name="n1", cluster_cidr=CLUSTER) == {
        "172.16.1.0/24": "192.168.0.11", "172.16.2.0/24": "192.168.0.12"}


def test_a_subnet_claimed_twice_is_routed_nowhere() -> None:
    nodes = [*SEED, node("twin", "172.16.2.0/24", "192.168.0.13")]
    assert desired_routes(nodes, self_name="n1", cluster_cidr=CLUSTER) == {
        "172.16.1.0/24": "192.168.0.11"}


def test_plan_replaces_changed_deletes_gone_and_leaves_foreign_routes() -> None:
    wanted = {"172.16.1.0/24": "192.168.0.11", "172.16.2.0/24": "192.168.0.12",
              "172.16.3.0/24": "192.168.0.13"}
    ours = {"172.16.1.0/24": "192.168.0.11", "172.16.2.0/24": "192.168.0.99",
            "172.16.9.0/24": "192.168.0.19"}
    plan = plan_routes(wanted, ours, others={"172.16.3.0/24", "192.168.0.0/24"})
    assert plan.replace == {"172.16.2.0/24": "192.168.0.12"}
    assert plan.delete == {"172.16.9.0/24": "192.168.0.19"}
    assert plan.foreign == ["172.16.3.0/24"]
    assert not plan_routes(ours, ours)


def test_nft_script_replaces_our_table_and_masquerades_only_outside_the_cluster() -> None:
    script = nft_ruleset(pod_cidr="172.16.1.0/24", cluster_cidr=CLUSTER, bridge="mk8s0")
    lines = [ln.strip() for ln in script.splitlines()]
    assert lines[:2] == [f"table ip {NFT_TABLE}", f"delete table ip {NFT_TABLE}"]
    assert "type nat hook postrouting priority srcnat; policy accept;" in lines
    assert ('ip saddr 172.16.1.0/24 ip daddr != 172.16.0.0/16 oifname != "mk8s0" masquerade'
            in lines)
    assert "masquerade" not in nft_ruleset(pod_cidr="", cluster_cidr=CLUSTER)
    assert forward_rules(CLUSTER) == [["-s", CLUSTER, "-j", "ACCEPT"],
                                      ["-d", CLUSTER, "-j", "ACCEPT"]]


class FakeNodes:
    def __init__(self, nodes: list[Object]) -> None:
        self.items = {n["metadata"]["name"]: n for n in nodes}
        self.handlers: list[dict[str, Any]] = []

    def add_handler(self, **handlers: Any) -> None:
        self.handlers.append(handlers)

    def list(self) -> list[Object]:
        return list(self.items.values())

    def get(self, key: str) -> Object | None:
        return self.items.get(key)

    async def wait_synced(self) -> None:
        return None


class FakeRoutes:
    def __init__(self) -> None:
        self.ours: dict[str, str] = {}
        self.others = {"192.168.0.0/24"}
        self.refuse: set[str] = set()

    async def dump(self) -> tuple[dict[str, str], set[str]]:
        return dict(self.ours), set(self.others)

    async def replace(self, dst: str, gateway: str) -> None:
        if gateway in self.refuse:
            raise PodNetError(f"route {dst} via {gateway}: (101, 'Network is unreachable')")
        self.ours[dst] = gateway

    async def delete(self, dst: str, gateway: str) -> None:
        self.ours.pop(dst, None)


class FakeFirewall:
    def __init__(self) -> None:
        self.scripts: list[str] = []
        self.forward: list[list[str]] = []

    async def apply_nat(self, script: str) -> None:
        self.scripts.append(script)

    async def ensure_forward(self, rules: list[list[str]]) -> bool:
        self.forward = rules
        return True


def read(path: Path) -> str:
    return path.read_text().strip()


@pytest.fixture
def ip_forward(tmp_path: Path) -> Path:
    p = tmp_path / "ip_forward"
    p.write_text("0\n")
    return p


async def test_sync_follows_node_changes(ip_forward: Path) -> None:
    nodes, routes, fw = FakeNodes(SEED), FakeRoutes(), FakeFirewall()
    net = PodNetwork(node_name="n2", cluster_cidr=CLUSTER, nodes=nodes,  # type: ignore[arg-type]
                     routes=routes, firewall=fw, ip_forward=ip_forward)
    await net.sync()
    assert routes.ours == {"172.16.0.0/24": "192.168.0.10", "172.16.2.0/24": "192.168.0.12"}
    assert read(ip_forward) == "1"
    assert "ip saddr 172.16.1.0/24" in fw.scripts[-1]
    assert fw.forward == forward_rules(CLUSTER)

    # n3 removed, n4 added: the kernel follows on the next sync, kicked by the informer.
    del nodes.items["n3"]
    nodes.items["n4"] = node("n4", "172.16.3.0/24", "192.168.0.13")
    nodes.handlers[0]["on_delete"](SEED[2])
    assert net._kick.is_set()
    await net.sync()
    assert routes.ours == {"172.16.0.0/24": "192.168.0.10", "172.16.3.0/24": "192.168.0.13"}


async def test_heartbeat_updates_do_not_kick(ip_forward: Path) -> None:
    nodes = FakeNodes(SEED)
    net = PodNetwork(node_name="n1", cluster_cidr=CLUSTER, nodes=nodes,  # type: ignore[arg-type]
                     routes=FakeRoutes(), firewall=FakeFirewall(), ip_forward=ip_forward)
    on_update = nodes.handlers[0]["on_update"]
    beat = {**SEED[1], "status": {**SEED[1]["status"], "conditions": [{"type": "Ready"}]}}
    on_update(SEED[1], beat)
    assert not net._kick.is_set()
    on_update(SEED[1], node("n2", "172.16.1.0/24", "192.168.0.21"))
    assert net._kick.is_set()


async def test_an_unreachable_gateway_fails_the_sync_but_not_the_others(
        ip_forward: Path) -> None:
    routes = FakeRoutes()
    routes.refuse = {"192.168.0.11"}
    net = PodNetwork(node_name="n1", cluster_cidr=CLUSTER, nodes=FakeNodes(SEED),  # type: ignore[arg-type]
                     routes=routes, firewall=FakeFirewall(), ip_forward=ip_forward)
    with pytest.raises(PodNetError, match=r"192\.168\.0\.11"):
        await net.sync()
    assert routes.ours == {"172.16.2.0/24": "192.168.0.12"}


def test_a_bad_cluster_cidr_is_refused_at_construction() -> None:
    with pytest.raises(ValueError):
        PodNetwork(node_name="n1", cluster_cidr="nonsense", nodes=FakeNodes([]),  # type: ignore[arg-type]
                   routes=FakeRoutes(), firewall=FakeFirewall(), ip_forward=None)


async def until(pred: Callable[[], bool], *, within: float = 3.0) -> None:
    for _ in range(int(within / 0.01)):
        if pred():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not true within {within}s")


async def test_run_syncs_on_a_kick_and_looks_again_soon_for_a_missing_docker_chain(
        ip_forward: Path) -> None:
    nodes, routes = FakeNodes(SEED), FakeRoutes()

    class LateDocker(FakeFirewall):
        calls = 0

        async def ensure_forward(self, rules: list[list[str]]) -> bool:
            self.calls += 1
            return self.calls >= 2  # DOCKER-USER appears after the first look

    fw = LateDocker()
    net = PodNetwork(node_name="n1", cluster_cidr=CLUSTER, nodes=nodes,  # type: ignore[arg-type]
                     routes=routes, firewall=fw, ip_forward=ip_forward, resync=60.0)
    task = asyncio.create_task(net.run())
    try:
        await until(lambda: fw.calls >= 2)  # after 1 s, not at the 60 s resync
        del nodes.items["n3"]
        nodes.handlers[0]["on_delete"](SEED[2])
        await until(lambda: "172.16.2.0/24" not in routes.ours, within=0.5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert routes.ours == {"172.16.1.0/24": "192.168.0.11"}
