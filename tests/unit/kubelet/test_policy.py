"""Restart policy decisions and CrashLoopBackOff timing (policy.py), pure and fake-timed."""

from __future__ import annotations

from typing import Any

import pytest

from minikube8s.roles.kubelet.policy import (
    Action,
    CrashBackoff,
    backoff_key,
    decide,
    should_restart,
)
from minikube8s.roles.kubelet.runtime import ContainerInstance, ContainerState, PodRuntimeStatus

UID = "u-1"


def pod(policy: str = "Always") -> dict[str, Any]:
    return {"metadata": {"name": "p", "namespace": "default", "uid": UID},
            "spec": {"restartPolicy": policy, "containers": [{"name": "c", "image": "i"}]}}


def rs(*instances: ContainerInstance) -> PodRuntimeStatus:
    return PodRuntimeStatus(uid=UID, sandbox_ready=True, ip="10.0.0.2",
                            containers=list(instances))


def inst(attempt: int, state: ContainerState, exit_code: int | None = None) -> ContainerInstance:
    return ContainerInstance(name="c", container_id=f"hollow://{attempt}", image="i",
                             state=state, attempt=attempt, exit_code=exit_code)


@pytest.mark.parametrize(("policy", "code", "expected"), [
    ("Always", 0, True), ("Always", 1, True), ("OnFailure", 0, False),
    ("OnFailure", 2, True), ("Never", 0, False), ("Never", 1, False), ("", 0, True),
])
def test_should_restart(policy: str, code: int, expected: bool) -> None:
    assert should_restart(policy, code) is expected


def test_backoff_first_restart_is_immediate_then_doubles_to_the_cap() -> None:
    b = CrashBackoff(base=10, cap=40)
    k = backoff_key(UID, "c")
    now = 1000.0
    assert b.remaining(k, now) == 0
    b.record(k, now)               # restart 1 at t=0
    assert b.remaining(k, now + 1) == pytest.approx(9)
    assert b.remaining(k, now + 10) == 0
    b.record(k, now + 10)          # restart 2: the next waits 20
    assert b.delay(k, now + 10) == 20
    b.record(k, now + 30)
    assert b.delay(k, now + 30) == 40
    b.record(k, now + 70)
    assert b.delay(k, now + 70) == 40  # capped


def test_backoff_forgets_after_twice_the_cap() -> None:
    b = CrashBackoff(base=10, cap=40)
    k = backoff_key(UID, "c")
    b.record(k, 0)
    b.record(k, 10)
    assert b.delay(k, 10) == 20
    assert b.remaining(k, 10 + 81) == 0
    b.record(k, 10 + 81)
    assert b.delay(k, 10 + 81) == 10  # started over
    b.forget_prefix(f"{UID}/")
    assert len(b) == 0


def test_decide_starts_a_missing_container_with_attempt_zero() -> None:
    d = decide(pod(), {"name": "c"}, rs(), CrashBackoff(), now=0)
    assert (d.action, d.attempt) == (Action.START, 0)


@pytest.mark.parametrize("state", [ContainerState.CREATED, ContainerState.RUNNING])
def test_decide_keeps_live_containers(state: ContainerState) -> None:
    d = decide(pod(), {"name": "c"}, rs(inst(3, state)), CrashBackoff(), now=0)
    assert d.action == Action.KEEP


@pytest.mark.parametrize(("policy", "code", "action"), [
    ("Always", 0, Action.START), ("Always", 1, Action.START),
    ("OnFailure", 0, Action.KEEP), ("OnFailure", 1, Action.START),
    ("Never", 0, Action.KEEP), ("Never", 1, Action.KEEP),
])
def test_decide_follows_the_restart_policy(policy: str, code: int, action: Action) -> None:
    d = decide(pod(policy), {"name": "c"}, rs(inst(0, ContainerState.EXITED, code)),
               CrashBackoff(), now=0)
    assert d.action == action
    if action == Action.START:
        assert d.attempt == 1


def test_decide_waits_in_crash_loop_back_off() -> None:
    b = CrashBackoff(base=10, cap=300)
    b.record(backoff_key(UID, "c"), 100)  # restarted at 100, crashed again
    d = decide(pod(), {"name": "c"}, rs(inst(1, ContainerState.EXITED, 1)), b, now=103)
    assert d.action == Action.WAIT
    assert d.reason == "CrashLoopBackOff"
    assert d.delay == pytest.approx(7)
    assert d.message.startswith("back-off 10s restarting failed container=c pod=p_default(")
    d = decide(pod(), {"name": "c"}, rs(inst(1, ContainerState.EXITED, 1)), b, now=110)
    assert (d.action, d.attempt) == (Action.START, 2)


def test_decide_backs_off_start_errors() -> None:
    b = CrashBackoff(base=10, cap=300)
    b.record(backoff_key(UID, "c"), 0)
    err = ("ErrImagePull", "no such image")
    d = decide(pod(), {"name": "c"}, rs(), b, now=5, start_error=err)
    assert (d.action, d.reason, d.message) == (Action.WAIT, "ImagePullBackOff", "no such image")
    d = decide(pod(), {"name": "c"}, rs(), b, now=10, start_error=err)
    assert (d.action, d.attempt) == (Action.START, 0)
    d = decide(pod(), {"name": "c"}, rs(), b, now=5,
               start_error=("ErrImageNeverPull", "build it"))
    assert d.reason == "ErrImageNeverPull"
