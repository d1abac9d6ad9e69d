"""Leader election through a coordination.k8s.io/v1 Lease, after client-go's leaderelection.

Several ``--role a`` processes on one etcd serve the same API, but only one scheduler and one
controller manager may act at a time. Each candidate runs a ``LeaderElector`` on a Lease
(``kube-system/kube-scheduler``, ``kube-system/kube-controller-manager``):

- acquire: create the Lease, or take it over once its holder has not renewed it for
  ``leaseDurationSeconds`` (measured on *our* clock from when we last saw the record change,
  as client-go does, so clock skew between machines does not matter) or once it is released
  (empty holder). Every write is an update carrying the read ``resourceVersion``: a
  compare-and-swap, so two candidates racing for one expired Lease cannot both win (the loser
  gets 409 Conflict and stays a candidate);
- renew every ``retry_period``; a leader that has not managed to renew within
  ``renew_deadline`` steps down (``on_stopped``) and goes back to being a candidate;
- release on clean shutdown: empty holder and ``leaseDurationSeconds: 1`` so another candidate
  takes over at once instead of waiting out the lease.

``leaseTransitions`` counts changes of holder; ``acquireTime``/``renewTime`` are MicroTime
strings. Time comes from a ``Clock`` (clock.py), so unit tests run under ``FakeClock``.
Neighbours: rest.py (the verbs), roles/__init__.py (runs one elector per leader-elected role).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from ..api.resources import Resource, lookup
from . import errors
from .clock import Clock, RealClock
from .rest import Client, Object

log = logging.getLogger(__name__)

Callback = Callable[[], Awaitable[None]]


def _leases() -> Resource:
    res = lookup("leases")
    assert res is not None, "leases are in the resource table"
    return res


def micro_time(when: datetime | None = None) -> str:
    """metav1.MicroTime: ``2026-11-29T07:00:00.000000Z``."""
    return (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def default_identity() -> str:
    """client-go's ``hostname_uuid``: unique per process, readable in ``kubectl get lease``."""
    return f"{socket.gethostname()}_{uuid.uuid4()}"


class LeaderElector:
    """One candidate for one Lease. ``run(on_started, on_stopped)`` loops for ever: candidate ->
    leader (``on_started`` awaited) -> lost (``on_stopped`` awaited) -> candidate... Cancel the
    task to stop; a leader then calls ``on_stopped`` and releases the Lease."""

    def __init__(self, client: Client, *, namespace: str = "kube-system",
                 name: str, identity: str = "", lease_duration: float = 15.0,
                 renew_deadline: float = 10.0, retry_period: float = 2.0,
                 clock: Clock | None = None,
                 wall: Callable[[], datetime] | None = None) -> None:
        if not lease_duration > renew_deadline > retry_period > 0:
            raise ValueError("need lease_duration > renew_deadline > retry_period > 0")
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.clock: Clock = clock or RealClock()
        self.wall = wall or (lambda: datetime.now(UTC))
        self._leader = False
        # What we last saw of the Lease and when (our clock): expiry is judged from these.
        self._observed: tuple[str, str, str] | None = None
        self._observed_at = 0.0
        self._observed_duration = lease_duration
        self.became_leader = asyncio.Event()

    @property
    def is_leader(self) -> bool:
        return self._leader

    @property
    def observed_holder(self) -> str:
        return self._observed[0] if self._observed else ""

    # -- one attempt ----------------------------------------------------------------------------

    def _spec(self, *, acquire_time: str, transitions: int) -> dict[str, Any]:
        now = micro_time(self.wall())
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.lease_duration)),
            "acquireTime": acquire_time or now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }

    def _observe(self, spec: dict[str, Any]) -> None:
        rec = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""),
               str(spec.get("acquireTime") or ""))
        if rec != self._observed:
            self._observed = rec
            self._observed_at = self.clock.now()
        self._observed_duration = float(spec.get("leaseDurationSeconds") or self.lease_duration)

    async def try_acquire_or_renew(self) -> bool:
        """One round: True when we hold the Lease after it. API failures count as False."""
        res = _leases()
        try:
            lease = await self.client.get(res, self.name, namespace=self.namespace)
        except errors.NotFound:
            body: Object = {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(acquire_time="", transitions=0),
            }
            try:
                created = await self.client.create(res, body, namespace=self.namespace)
            except errors.ClientError as e:
                log.info("lease %s/%s: create failed: %s", self.namespace, self.name, e)
                return False
            self._observe(created.get("spec") or {})
            return True
        except errors.ClientError as e:
            log.warning("lease %s/%s: get failed: %s", self.namespace, self.name, e)
            return False

        spec: dict[str, Any] = lease.get("spec") or {}
        self._observe(spec)
        holder = str(spec.get("holderIdentity") or "")
        mine = holder == self.identity
        expired = self._observed_at + self._observed_duration <= self.clock.now()
        if holder and not mine and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0)
        new_spec = self._spec(
            acquire_time=str(spec.get("acquireTime") or "") if mine else "",
            transitions=transitions if mine else transitions + 1)
        lease["spec"] = new_spec
        try:
            updated = await self.client.update(res, lease, namespace=self.namespace)
        except errors.Conflict:
            # Someone else wrote first (a rival's takeover or renewal): not ours this round.
            return False
        except errors.ClientError as e:
            log.warning("lease %s/%s: update failed: %s", self.namespace, self.name, e)
            return False
        self._observe(updated.get("spec") or {})
        if not mine:
            log.info("lease %s/%s: acquired by %s (was %r)", self.namespace, self.name,
                     self.identity, holder)
        return True

    async def release(self) -> bool:
        """Give the Lease up if we hold it: empty holder, 1 s duration."""
        res = _leases()
        try:
            lease = await self.client.get(res, self.name, namespace=self.namespace)
            spec: dict[str, Any] = lease.get("spec") or {}
            if spec.get("holderIdentity") != self.identity:
                return False
            now = micro_time(self.wall())
            lease["spec"] = {**spec, "holderIdentity": "", "leaseDurationSeconds": 1,
                             "renewTime": now, "acquireTime": now}
            await self.client.update(res, lease, namespace=self.namespace)
        except errors.ClientError as e:
            log.warning("lease %s/%s: release failed: %s", self.namespace, self.name, e)
            return False
        log.info("lease %s/%s: released by %s", self.namespace, self.name, self.identity)
        return True

    # -- the loop -------------------------------------------------------------------------------

    async def _acquire(self) -> None:
        while not await self.try_acquire_or_renew():
            await self.clock.sleep(self.retry_period)

    async def _renew_until_lost(self) -> None:
        last_renew = self.clock.now()
        while True:
            await self.clock.sleep(self.retry_period)
            if await self.try_acquire_or_renew():
                last_renew = self.clock.now()
            elif self.observed_holder not in ("", self.identity):
                log.warning("lease %s/%s: taken over by %s; stepping down", self.namespace,
                            self.name, self.observed_holder)
                return
            elif self.clock.now() - last_renew >= self.renew_deadline:
                log.warning("lease %s/%s: not renewed within %.1fs; stepping down",
                            self.namespace, self.name, self.renew_deadline)
                return

    async def run(self, on_started: Callback, on_stopped: Callback) -> None:
        try:
            while True:
                await self._acquire()
                self._leader = True
                self.became_leader.set()
                log.info("lease %s/%s: %s is the leader", self.namespace, self.name,
                         self.identity)
                await on_started()
                await self._renew_until_lost()
                self._leader = False
                self.became_leader.clear()
                await on_stopped()
        finally:
            if self._leader:
                self._leader = False
                self.became_leader.clear()
                # Cancelled while leading: stop the work first, then let the others in at once.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(on_stopped(), 10.0)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.release(), max(1.0, self.retry_period))
