"""Restart policy and crash backoff: the runtime-independent decisions of the kubelet core.

For every container of a live pod, ``decide`` looks at the newest instance the runtime has
(runtime.py) and the pod's restartPolicy and answers: start it (with which attempt number),
leave it, or wait (CrashLoopBackOff / an image or create error backing off). This is the part
of Kubernetes' computePodActions that does not depend on Docker, so the Docker runtime of
issue 5 only ever gets "start attempt n of container c".

``CrashBackoff`` follows kubelet's flowcontrol.Backoff as used for containers: the first
restart after a crash is immediate, each further one waits twice as long as the one before
(10 s doubling to 5 min by default), and an entry untouched for twice the cap is forgotten,
so a container that ran fine for ten minutes starts over at 10 s. Neighbours: pod_workers.py
calls ``decide`` and ``CrashBackoff.record``; status.py shows the waiting reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .runtime import ContainerState, PodRuntimeStatus

Object = dict[str, Any]

CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
CONTAINER_CREATING = "ContainerCreating"


def should_restart(restart_policy: str, exit_code: int | None) -> bool:
    """Whether an exited container runs again under ``restart_policy``."""
    if restart_policy == "Never":
        return False
    if restart_policy == "OnFailure":
        return exit_code != 0
    return True  # Always, and the API's default


class CrashBackoff:
    """Per-container restart delays keyed ``uid/container`` (times are a Clock's seconds)."""

    def __init__(self, *, base: float = 10.0, cap: float = 300.0) -> None:
        self.base = base
        self.cap = cap
        self._entries: dict[str, tuple[float, float]] = {}
        """key -> (current delay, when the delay was last taken)."""

    def _live(self, key: str, now: float) -> tuple[float, float] | None:
        entry = self._entries.get(key)
        if entry is not None and now - entry[1] > 2 * self.cap:
            del self._entries[key]
            return None
        return entry

    def remaining(self, key: str, now: float) -> float:
        """Seconds until ``key`` may start again (0: now)."""
        entry = self._live(key, now)
        if entry is None:
            return 0.0
        delay, since = entry
        return max(0.0, since + delay - now)

    def delay(self, key: str, now: float) -> float:
        """The current delay of ``key`` (what the CrashLoopBackOff message shows)."""
        entry = self._live(key, now)
        return entry[0] if entry is not None else 0.0

    def record(self, key: str, now: float) -> None:
        """A restart is happening now: the next one waits base, then twice as long."""
        entry = self._live(key, now)
        delay = self.base if entry is None else min(self.cap, entry[0] * 2)
        self._entries[key] = (delay, now)

    def forget_prefix(self, prefix: str) -> None:
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


class Action(StrEnum):
    KEEP = "keep"
    """Running, starting, or exited for good: nothing to do."""
    START = "start"
    WAIT = "wait"
    """Should run but is backing off; ``delay`` says for how long."""


@dataclass(slots=True, frozen=True)
class Decision:
    name: str
    action: Action
    attempt: int = 0
    delay: float = 0.0
    reason: str = ""
    """For WAIT: the waiting reason to show (CrashLoopBackOff, ImagePullBackOff...)."""
    message: str = ""


def backoff_key(uid: str, name: str) -> str:
    return f"{uid}/{name}"


def _backoff_reason(start_error: str) -> str:
    return "ImagePullBackOff" if start_error in ("ErrImagePull", "ImagePullBackOff") \
        else start_error


def decide(pod: Object, container: Object, rs: PodRuntimeStatus, backoff: CrashBackoff, *,
           now: float, start_error: tuple[str, str] | None = None) -> Decision:
    """What to do about ``container`` (a spec.containers item) of ``pod`` right now.

    ``start_error`` is the (reason, message) of the last failed start of this container, if
    its newest start attempt failed before the runtime made an instance."""
    md = pod.get("metadata") or {}
    uid = str(md.get("uid") or "")
    name = str(container.get("name") or "")
    policy = str((pod.get("spec") or {}).get("restartPolicy") or "Always")
    key = backoff_key(uid, name)
    latest = rs.latest(name)
    if start_error is not None:
        wait = backoff.remaining(key, now)
        if wait > 0:
            return Decision(name, Action.WAIT, delay=wait, reason=_backoff_reason(start_error[0]),
                            message=start_error[1])
        return Decision(name, Action.START, attempt=latest.attempt + 1 if latest else 0)
    if latest is None:
        return Decision(name, Action.START, attempt=0)
    if latest.state in (ContainerState.CREATED, ContainerState.RUNNING):
        return Decision(name, Action.KEEP)
    if not should_restart(policy, latest.exit_code):
        return Decision(name, Action.KEEP)
    wait = backoff.remaining(key, now)
    if wait > 0:
        shown = int(backoff.delay(key, now)) or backoff.delay(key, now)
        msg = (f"back-off {shown}s restarting failed container={name} "
               f"pod={md.get('name')}_{md.get('namespace')}({uid})")
        return Decision(name, Action.WAIT, delay=wait, reason=CRASH_LOOP_BACK_OFF, message=msg)
    return Decision(name, Action.START, attempt=latest.attempt + 1)
