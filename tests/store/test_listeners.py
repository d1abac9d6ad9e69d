"""CommitListeners (base.py) on the in-process backends: every commit, in order, with the
store's revision, before the writer's own call returns (what the API server's watch cache
relies on for read-your-writes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from minikube8s.store import Event, EventType, open_store
from minikube8s.store.base import CommitListeners


@pytest.fixture(params=["memory", "sqlite"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    url = "memory://" if request.param == "memory" else f"sqlite://{tmp_path / 'state.db'}"
    store = await open_store(url)
    assert isinstance(store, CommitListeners)
    try:
        yield store
    finally:
        await store.close()


async def test_listener_sees_each_commit_before_the_writer(backend: Any) -> None:
    store = backend
    seen: list[tuple[int, str, EventType]] = []
    revisions: list[int] = []

    def listener(events: Sequence[Event], revision: int) -> None:
        seen.extend((ev.revision, ev.kv.key, ev.type) for ev in events)
        revisions.append(revision)

    start = store.add_listener(listener)
    assert start == await store.current_revision()
    kv = await store.create("/l/a", b"1")
    assert seen[-1] == (kv.mod_revision, "/l/a", EventType.CREATE)
    assert revisions[-1] == kv.mod_revision == await store.current_revision()
    kv = await store.update("/l/a", b"2", expected_revision=kv.mod_revision)
    assert seen[-1] == (kv.mod_revision, "/l/a", EventType.UPDATE)
    ev = await store.delete("/l/a")
    assert seen[-1] == (ev.revision, "/l/a", EventType.DELETE)

    # concurrent writers (grouped into one commit by sqlite): every revision once, in order
    await asyncio.gather(*(store.create(f"/l/c{i}", b"x") for i in range(50)))
    revs = [r for r, _, _ in seen]
    assert revs == list(range(start + 1, start + 1 + len(revs)))
    assert revisions[-1] == revs[-1]

    store.remove_listener(listener)
    await store.create("/l/after", b"x")
    assert seen[-1][1] != "/l/after"


async def test_a_failing_listener_does_not_fail_writes(backend: Any) -> None:
    def broken(events: Sequence[Event], revision: int) -> None:
        raise RuntimeError("listener bug")

    backend.add_listener(broken)
    kv = await backend.create("/l/b", b"1")
    assert (await backend.get("/l/b")).mod_revision == kv.mod_revision
