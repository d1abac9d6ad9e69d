"""The controller manager inside a real ``minikube8s --role a`` process (SQLite store): an RC
gets its pods, and restarting the process creates no extra pods."""

from __future__ import annotations

import asyncio
from pathlib import Path

from minikube8s.client import Client
from tests.controllers.conftest import PODS, RCS, rc_manifest
from tests.fixtures.apiserver import ApiServerProcess


async def pod_names(client: Client) -> set[str]:
    items = (await client.list(PODS, namespace="default", label_selector="app=web"))["items"]
    return {p["metadata"]["name"] for p in items}


async def wait_for(client: Client, n: int, within: float = 15.0) -> set[str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        names = await pod_names(client)
        if len(names) == n:
            return names
        assert loop.time() < deadline, f"{len(names)} pods, wanted {n}"
        await asyncio.sleep(0.1)


async def test_restarting_the_control_plane_creates_no_extra_pods(tmp_path: Path) -> None:
    server = ApiServerProcess(tmp_path / "data")
    await asyncio.to_thread(server.start)
    try:
        async with Client(server.url) as client:
            await client.create(RCS, rc_manifest("web", 4), namespace="default")
            before = await wait_for(client, 4)
        assert await asyncio.to_thread(server.stop) == 0, server.logs()[-3000:]

        await asyncio.to_thread(server.start)
        async with Client(server.url) as client:
            await client.patch(RCS, "web", {"metadata": {"annotations": {"poke": "1"}}},
                               namespace="default")
            await asyncio.sleep(2.0)  # time for the new controller manager to sync and act
            assert await pod_names(client) == before
            rc = await client.get(RCS, "web", namespace="default")
            assert rc["status"]["replicas"] == 4
            # And it still works: scale up by two.
            await client.update_scale(RCS, "web", 6, namespace="default")
            after = await wait_for(client, 6)
            assert before < after
    finally:
        code = await asyncio.to_thread(server.stop)
        assert code == 0, server.logs()[-3000:]
