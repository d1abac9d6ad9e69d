"""StatusManager's pending_delay under FakeClock: a Pending status waits, a Running one that
follows within the delay replaces it (one write, not two), a pod still Pending after the
delay gets its Pending status written, and a Running status is never held back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from minikube8s.client.clock import FakeClock, settle
from minikube8s.client.informer import Cache, key_of
from minikube8s.roles.kubelet.status import StatusManager
from minikube8s.tasks import Supervisor

from .test_pod_workers import FakeClient, Object, make_pod


class Rig:
    def __init__(self, sup: Supervisor) -> None:
        self.clock = FakeClock()
        self.cache = Cache()
        self.client = FakeClient(self.cache)
        self.status = StatusManager(self.client, supervisor=sup,  # type: ignore[arg-type]
                                    pending_delay=0.5, clock=self.clock)
        self.pod = make_pod()
        self.cache.put(key_of(self.pod), self.pod)

    def shown(self) -> Object:
        obj = self.cache.get("default/p")
        assert obj is not None
        return dict(obj["status"])


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    sup = Supervisor()
    yield Rig(sup)
    await sup.stop()


PENDING = {"phase": "Pending", "podIP": "10.0.0.2"}
RUNNING = {"phase": "Running", "podIP": "10.0.0.2"}


async def test_running_within_the_delay_replaces_pending(rig: Rig) -> None:
    rig.status.set(rig.pod, PENDING)
    await settle()
    assert rig.client.status_writes == 0
    await rig.clock.advance(0.3)
    rig.status.set(rig.pod, RUNNING)
    await settle()
    assert rig.client.status_writes == 1
    assert rig.shown() == RUNNING
    await rig.clock.advance(1.0)  # the cancelled timer writes nothing
    assert rig.client.status_writes == 1
    await rig.status.wait_idle()


async def test_pending_is_written_after_the_delay(rig: Rig) -> None:
    rig.status.set(rig.pod, PENDING)
    await settle()
    assert not rig.status._idle.is_set()
    await rig.clock.advance(0.4)
    assert rig.client.status_writes == 0
    await rig.clock.advance(0.2)
    await settle()
    assert rig.client.status_writes == 1
    assert rig.shown() == PENDING
    await rig.status.wait_idle()


async def test_forget_drops_a_delayed_status(rig: Rig) -> None:
    rig.status.set(rig.pod, PENDING)
    rig.status.forget("uid-p")
    await rig.clock.advance(1.0)
    await settle()
    assert rig.client.status_writes == 0
    await rig.status.wait_idle()
