"""LeaderElector against the in-process API server (memory store), under FakeClock.

Two candidates on one Lease: exactly one leads; a leader that stops renewing is replaced once
its lease duration has passed on the other's clock; a released lease is taken at once; a
compare-and-swap conflict leaves the loser a candidate.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from minikube8s.client.clock import FakeClock, settle
from minikube8s.client.leaderelection import LeaderElector
from minikube8s.client.rest import Client, resource
from tests.fixtures.apiserver import InProcessApi

LEASES = resource("leases")
MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
async def client(api: InProcessApi) -> AsyncIterator[Client]:
    async with Client(api.url) as c:
        yield c


def elector(client: Client, clock: FakeClock, identity: str) -> LeaderElector:
    return LeaderElector(client, name="kube-scheduler", identity=identity, lease_duration=15,
                         renew_deadline=10, retry_period=2, clock=clock)


async def lease_spec(client: Client) -> dict[str, object]:
    lease = await client.get(LEASES, "kube-scheduler", namespace="kube-system")
    spec: dict[str, object] = lease["spec"]
    return spec


async def test_two_candidates_one_leader(client: Client) -> None:
    clock = FakeClock()
    a, b = elector(client, clock, "a"), elector(client, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert await a.try_acquire_or_renew()  # renewal
    spec = await lease_spec(client)
    assert spec["holderIdentity"] == "a"
    assert spec["leaseTransitions"] == 0
    assert spec["leaseDurationSeconds"] == 15
    assert MICRO.match(str(spec["renewTime"])) and MICRO.match(str(spec["acquireTime"]))


async def test_expired_lease_taken_over_after_duration(client: Client) -> None:
    clock = FakeClock()
    a, b = elector(client, clock, "a"), elector(client, clock, "b")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()  # b observes the record now
    await clock.advance(14)
    assert not await b.try_acquire_or_renew()  # not yet expired on b's clock
    await clock.advance(1.5)
    assert await b.try_acquire_or_renew()
    spec = await lease_spec(client)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    # a comes back: it is not the holder and b's lease is fresh.
    assert not await a.try_acquire_or_renew()


async def test_run_loop_failover_and_release(client: Client) -> None:
    clock = FakeClock()
    a, b = elector(client, clock, "a"), elector(client, clock, "b")
    events: list[str] = []

    def cbs(who: str) -> tuple[object, object]:
        async def started() -> None:
            events.append(f"{who}+")

        async def stopped() -> None:
            events.append(f"{who}-")
        return started, stopped

    sa, xa = cbs("a")
    ta = asyncio.create_task(a.run(sa, xa))  # type: ignore[arg-type]
    await settle(50)
    await asyncio.wait_for(a.became_leader.wait(), 5)
    sb, xb = cbs("b")
    tb = asyncio.create_task(b.run(sb, xb))  # type: ignore[arg-type]
    # Let several retry periods pass with real requests in between: a renews, b waits.
    for _ in range(10):
        await clock.advance(2)
        await asyncio.sleep(0.02)
    assert a.is_leader and not b.is_leader
    assert events == ["a+"]

    # Clean stop of a: released, b takes over on its next retry (not after 15 s).
    ta.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ta
    assert events == ["a+", "a-"]
    spec = await lease_spec(client)
    assert spec["holderIdentity"] in ("", None)
    assert spec["leaseDurationSeconds"] == 1
    await clock.advance(2)
    for _ in range(50):
        if b.is_leader:
            break
        await asyncio.sleep(0.02)
    assert b.is_leader
    assert events == ["a+", "a-", "b+"]
    tb.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tb


async def test_leader_that_stops_renewing_is_replaced(client: Client) -> None:
    clock = FakeClock()
    a, b = elector(client, clock, "a"), elector(client, clock, "b")
    assert await a.try_acquire_or_renew()  # a leads, then goes silent (a dead process)
    started = asyncio.Event()

    async def on_started() -> None:
        started.set()

    async def on_stopped() -> None:
        pass

    tb = asyncio.create_task(b.run(on_started, on_stopped))
    waited = 0
    while not started.is_set() and waited < 40:
        await clock.advance(2)
        await asyncio.sleep(0.02)
        waited += 2
    assert started.is_set()
    assert 14 <= waited <= 20, waited
    assert (await lease_spec(client))["holderIdentity"] == "b"
    tb.cancel()
    with pytest.raises(asyncio.CancelledError):
        await tb


async def test_cas_conflict_loses(client: Client) -> None:
    """Two candidates read the same expired lease; only the first write wins."""
    clock = FakeClock()
    a, b, c = (elector(client, clock, n) for n in "abc")
    assert await a.try_acquire_or_renew()
    assert not await b.try_acquire_or_renew()
    assert not await c.try_acquire_or_renew()
    await clock.advance(16)
    results = await asyncio.gather(b.try_acquire_or_renew(), c.try_acquire_or_renew())
    assert sorted(results) == [False, True]
    holder = (await lease_spec(client))["holderIdentity"]
    assert holder == ("b" if results[0] else "c")
    assert (await lease_spec(client))["leaseTransitions"] == 1


async def test_leader_steps_down_when_taken_over(client: Client) -> None:
    """A leader whose lease was taken (it was partitioned) steps down at its next renewal."""
    clock = FakeClock()
    a = elector(client, clock, "a")
    stopped = asyncio.Event()

    async def on_started() -> None:
        pass

    async def on_stopped() -> None:
        stopped.set()

    ta = asyncio.create_task(a.run(on_started, on_stopped))
    await asyncio.wait_for(a.became_leader.wait(), 5)
    lease = await client.get(LEASES, "kube-scheduler", namespace="kube-system")
    lease["spec"]["holderIdentity"] = "intruder"
    await client.update(LEASES, lease, namespace="kube-system")
    await clock.advance(2)
    for _ in range(50):
        if stopped.is_set():
            break
        await asyncio.sleep(0.02)
    assert stopped.is_set() and not a.is_leader
    ta.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ta
    # Not the holder any more: it must not have released the intruder's lease.
    assert (await lease_spec(client))["holderIdentity"] == "intruder"


def test_timings_validated() -> None:
    with pytest.raises(ValueError):
        LeaderElector(None, name="x", lease_duration=5, renew_deadline=10,  # type: ignore[arg-type]
                      retry_period=2)
