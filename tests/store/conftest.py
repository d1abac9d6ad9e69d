"""The ``backend`` fixture: every conformance test runs on memory://, sqlite:// and etcd://.

etcd is one session-wide server (tests/fixtures/etcd.py) shared by every test, so tests must
keep to their own key prefix (the ``pfx`` fixture) and must not assume the revision starts at 0.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minikube8s.store import Backend, open_store

BACKENDS = ["memory", "sqlite", "etcd"]


def store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite://{tmp_path / 'store' / 'state.db'}"
    if kind == "etcd":
        etcd = request.getfixturevalue("etcd_server")
        return str(etcd.url)
    raise AssertionError(kind)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "etcd":
        request.applymarker(pytest.mark.etcd)
    store = await open_store(store_url(request.param, request, tmp_path))
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def pfx() -> str:
    """A key prefix no other test uses (all etcd tests share one server)."""
    return f"/t/{uuid.uuid4().hex}/"
