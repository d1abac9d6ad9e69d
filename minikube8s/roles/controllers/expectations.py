"""Controller expectations: what a controller is waiting to see in its cache before it acts again.

After the replication controller creates 3 pods, its pod informer may take a while to show
them; a reconcile in between would count too few pods and create 3 more. client-go's
``ControllerExpectations`` (pkg/controller/controller_utils.go) prevents that: before creating
N pods the controller records "expect N adds", the pod informer's add handler lowers the count
as each one arrives, and the controller does not create or delete again for that key until
the count is back to zero or the record is older than a TTL (5 minutes), after which a lost
event can no longer wedge it. Deletions are tracked by pod key (client-go's
``UIDTrackingControllerExpectations``) so the update that sets a pod's deletionTimestamp and
the later DELETED event for the same pod count once.

Time comes from a client/clock.Clock so tests run under FakeClock. Used by replication.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ...client.clock import Clock

EXPECTATIONS_TTL = 300.0
"""client-go's ExpectationsTimeout: 5 minutes."""


@dataclass(slots=True)
class Expectation:
    adds: int
    deletes: int
    timestamp: float
    deleting: set[str] = field(default_factory=set)

    def fulfilled(self) -> bool:
        return self.adds <= 0 and self.deletes <= 0


class Expectations:
    def __init__(self, clock: Clock, *, ttl: float = EXPECTATIONS_TTL) -> None:
        self.clock = clock
        self.ttl = ttl
        self._records: dict[str, Expectation] = {}

    def get(self, key: str) -> Expectation | None:
        return self._records.get(key)

    def satisfied(self, key: str) -> bool:
        """True when the controller may act on ``key``: nothing expected, everything expected
        observed, or the record expired (a lost watch event must not block forever)."""
        rec = self._records.get(key)
        if rec is None or rec.fulfilled():
            return True
        return self.clock.now() - rec.timestamp > self.ttl

    def expires_in(self, key: str) -> float | None:
        """Seconds until an unfulfilled record expires (None if there is none)."""
        rec = self._records.get(key)
        if rec is None or rec.fulfilled():
            return None
        return max(0.0, rec.timestamp + self.ttl - self.clock.now())

    def expect_creations(self, key: str, n: int) -> None:
        self._records[key] = Expectation(adds=n, deletes=0, timestamp=self.clock.now())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        keys = set(pod_keys)
        self._records[key] = Expectation(adds=0, deletes=len(keys), timestamp=self.clock.now(),
                                         deleting=keys)

    def creation_observed(self, key: str) -> None:
        """A pod this controller created showed up in the cache (or its create failed)."""
        rec = self._records.get(key)
        if rec is not None and rec.adds > 0:
            rec.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """``pod_key`` was seen terminating or gone; counts once per expected pod."""
        rec = self._records.get(key)
        if rec is not None and pod_key in rec.deleting:
            rec.deleting.discard(pod_key)
            rec.deletes -= 1

    def delete(self, key: str) -> None:
        self._records.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._records

    def __len__(self) -> int:
        return len(self._records)
