"""auth/nodepasswords.py on the memory store: the first join under a name records its
password, the same one is accepted later, another one only while no Node has the name, and
joins racing for one name settle through the store's compare-and-swap."""

from __future__ import annotations

import asyncio
import json

import pytest

from minikube8s.auth import nodepasswords
from minikube8s.store import open_store
from minikube8s.store.base import Backend

A, B = "a" * 64, "b" * 64


async def exists() -> bool:
    return True


async def missing() -> bool:
    return False


@pytest.fixture
async def backend() -> Backend:
    return await open_store("memory://")


async def test_first_join_records_and_the_same_password_passes(backend: Backend) -> None:
    await nodepasswords.verify(backend, "n1", A, node_exists=exists)
    kv = await backend.get(nodepasswords.KEY_PREFIX + "n1")
    record = json.loads(kv.value)
    assert set(record) == {"salt", "sha256"} and A not in kv.value.decode()
    await nodepasswords.verify(backend, "n1", A, node_exists=exists)
    with pytest.raises(nodepasswords.PasswordRejected):
        await nodepasswords.verify(backend, "n1", B, node_exists=exists)
    # Another name is another record.
    await nodepasswords.verify(backend, "n2", B, node_exists=exists)


async def test_a_name_without_a_node_takes_the_new_password(backend: Backend) -> None:
    await nodepasswords.verify(backend, "n1", A, node_exists=missing)
    await nodepasswords.verify(backend, "n1", B, node_exists=missing)
    with pytest.raises(nodepasswords.PasswordRejected):
        await nodepasswords.verify(backend, "n1", A, node_exists=exists)
    await nodepasswords.verify(backend, "n1", B, node_exists=exists)


async def test_a_damaged_record_is_another_password(backend: Backend) -> None:
    await backend.create(nodepasswords.KEY_PREFIX + "n1", b"{not json")
    with pytest.raises(nodepasswords.PasswordRejected):
        await nodepasswords.verify(backend, "n1", A, node_exists=exists)
    await nodepasswords.verify(backend, "n1", A, node_exists=missing)  # replaced
    await nodepasswords.verify(backend, "n1", A, node_exists=exists)


async def test_racing_first_joins_have_one_winner(backend: Backend) -> None:
    results = await asyncio.gather(
        *(nodepasswords.verify(backend, "n1", p, node_exists=exists) for p in (A, B)),
        return_exceptions=True)
    rejected = [r for r in results if isinstance(r, nodepasswords.PasswordRejected)]
    assert len(rejected) == 1 and results.count(None) == 1
    winner = A if results[0] is None else B
    await nodepasswords.verify(backend, "n1", winner, node_exists=exists)


def test_new_passwords_are_random_and_long() -> None:
    assert len({nodepasswords.new_password() for _ in range(10)}) == 10
    assert len(nodepasswords.new_password()) == 64
