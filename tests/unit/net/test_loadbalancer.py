"""The proxy's load balancer (net/loadbalancer.py): round robin over a shuffled list that resets
when endpoints change, ClientIP affinity under fake time, the retry order after failed dials."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from minikube8s.net.loadbalancer import (
    DEFAULT_AFFINITY_TIMEOUT,
    Endpoint,
    NoEndpoints,
    RoundRobin,
    ServicePortName,
)

SVC = ServicePortName("default", "nginx", "http")
EPS = [Endpoint(f"172.16.0.{i}", 80) for i in range(1, 7)]


class FakeTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def lb_with(eps: list[Endpoint], *, affinity: str = "None", timeout: float = 10800.0,
            now: FakeTime | None = None, seed: int = 1) -> RoundRobin:
    lb = RoundRobin(now=now or FakeTime(), rng=random.Random(seed))
    lb.new_service(SVC, affinity=affinity, timeout=timeout)
    lb.on_endpoints_update({SVC: eps})
    return lb


def test_round_robin_visits_every_endpoint_once_per_round() -> None:
    lb = lb_with(EPS)
    first = [lb.next_endpoint(SVC, "10.0.0.1") for _ in range(6)]
    assert sorted(first) == sorted(EPS)
    second = [lb.next_endpoint(SVC, "10.0.0.1") for _ in range(6)]
    assert second == first  # the same order, round after round
    counts = Counter(lb.next_endpoint(SVC, f"10.0.0.{i}") for i in range(60))
    assert set(counts.values()) == {10}


def test_the_list_is_shuffled_so_nodes_do_not_all_start_at_the_same_pod() -> None:
    orders = {tuple(lb_with(EPS, seed=s).endpoints(SVC)) for s in range(20)}
    assert len(orders) > 1
    assert all(sorted(o) == sorted(EPS) for o in orders)


def test_changed_endpoints_reset_the_rotation_and_unchanged_ones_do_not() -> None:
    lb = lb_with(EPS)
    order = lb.endpoints(SVC)
    lb.next_endpoint(SVC, "a")
    lb.next_endpoint(SVC, "a")
    # The same set in another order is no change: the rotation continues.
    lb.on_endpoints_update({SVC: list(reversed(EPS))})
    assert lb.endpoints(SVC) == order
    assert lb.next_endpoint(SVC, "a") == order[2]
    # A real change: a new shuffled list, served from its head.
    fewer = EPS[:3]
    lb.on_endpoints_update({SVC: fewer})
    new_order = lb.endpoints(SVC)
    assert sorted(new_order) == sorted(fewer)
    assert [lb.next_endpoint(SVC, "a") for _ in range(3)] == new_order


def test_no_endpoints_and_unknown_services_raise() -> None:
    lb = lb_with([])
    with pytest.raises(NoEndpoints):
        lb.next_endpoint(SVC, "a")
    with pytest.raises(NoEndpoints):
        lb.next_endpoint(ServicePortName("default", "other", ""), "a")
    assert not lb.has_endpoints(SVC)
    # A port missing from a later full update has lost its endpoints.
    lb.on_endpoints_update({SVC: EPS})
    assert lb.has_endpoints(SVC)
    lb.on_endpoints_update({})
    assert not lb.has_endpoints(SVC)


def test_endpoints_before_the_service_are_kept_for_it() -> None:
    lb = RoundRobin(rng=random.Random(3))
    lb.on_endpoints_update({SVC: EPS})
    lb.new_service(SVC)
    assert sorted(lb.endpoints(SVC)) == sorted(EPS)


def test_delete_service_forgets_it() -> None:
    lb = lb_with(EPS)
    lb.delete_service(SVC)
    with pytest.raises(NoEndpoints):
        lb.next_endpoint(SVC, "a")


def test_client_ip_affinity_sticks_then_expires_with_fake_time() -> None:
    now = FakeTime()
    lb = lb_with(EPS, affinity="ClientIP", timeout=60, now=now)
    a = lb.next_endpoint(SVC, "10.0.0.1")
    b = lb.next_endpoint(SVC, "10.0.0.2")
    assert a != b
    for _ in range(20):
        now.t += 59  # each use refreshes the entry
        assert lb.next_endpoint(SVC, "10.0.0.1") == a
    now.t += 61  # idle past the timeout: back to round robin
    after = lb.next_endpoint(SVC, "10.0.0.1")
    assert after == lb.endpoints(SVC)[2]


def test_affinity_default_timeout_is_three_hours() -> None:
    assert DEFAULT_AFFINITY_TIMEOUT == 10800
    now = FakeTime()
    lb = RoundRobin(now=now, rng=random.Random(1))
    lb.new_service(SVC, affinity="ClientIP", timeout=0)  # unset -> default
    lb.on_endpoints_update({SVC: EPS})
    a = lb.next_endpoint(SVC, "c")
    now.t += 10799
    assert lb.next_endpoint(SVC, "c") == a
    now.t += 10801
    assert lb.next_endpoint(SVC, "c") != a or len(EPS) == 1


def test_affinity_entry_of_a_vanished_endpoint_is_dropped() -> None:
    lb = lb_with(EPS, affinity="ClientIP")
    a = lb.next_endpoint(SVC, "c")
    lb.on_endpoints_update({SVC: [e for e in EPS if e != a]})
    assert lb.next_endpoint(SVC, "c") != a


def test_unchanged_affinity_survives_a_redeclared_service_and_a_changed_policy_does_not() -> None:
    lb = lb_with(EPS, affinity="ClientIP")
    a = lb.next_endpoint(SVC, "c")
    lb.new_service(SVC, affinity="ClientIP", timeout=10800)
    assert lb.next_endpoint(SVC, "c") == a
    lb.new_service(SVC, affinity="None")
    picks = {lb.next_endpoint(SVC, "c") for _ in range(6)}
    assert len(picks) == 6


def test_retry_order_moves_on_and_resets_affinity() -> None:
    """What tcp.py does after a failed connect: ask again with reset_affinity=True; each retry
    gets the next endpoint, and the client sticks to the one that worked."""
    lb = lb_with(EPS, affinity="ClientIP")
    order = lb.endpoints(SVC)
    first = lb.next_endpoint(SVC, "c")
    assert first == order[0]
    retries = [lb.next_endpoint(SVC, "c", reset_affinity=True) for _ in range(3)]
    assert retries == order[1:4]
    assert lb.next_endpoint(SVC, "c") == retries[-1]


def test_without_affinity_retries_are_plain_round_robin() -> None:
    lb = lb_with(EPS)
    order = lb.endpoints(SVC)
    got = [lb.next_endpoint(SVC, "c", reset_affinity=i > 0) for i in range(4)]
    assert got == order[:4]
