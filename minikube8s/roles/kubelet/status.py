"""Pod status: computed from what the runtime reports, written back through pods/status.

``compute_pod_status`` is a pure function (tested under fake time in tests/unit/kubelet): the
pod from the API, the runtime's ``PodRuntimeStatus`` (runtime.py) and the waiting reasons the
core decided (policy.py: CrashLoopBackOff, ImagePullBackOff) give phase (Kubernetes' getPhase),
the conditions PodScheduled/Initialized/ContainersReady/Ready (lastTransitionTime kept while a
condition's status does not change, so an unchanged pod computes an identical status),
containerStatuses with state and lastState, podIP(s), hostIP(s), startTime and qosClass.

``StatusManager`` writes them: one pending status per pod (a newer one replaces an unwritten
older one, so a burst of container changes costs one write), a few short-lived writer tasks
only while something is pending (an idle kubelet has none), and nothing at all when the status
equals what the API already shows. A status that leaves the pod Pending (containers being
created) waits ``pending_delay`` first: a container that starts within it makes that write
the Running one, so a typical pod costs one status write instead of two. Writes are merge
patches of the whole status with explicit nulls for fields that went away (lists are replaced
whole by a merge patch).
Neighbours: pod_workers.py calls both; the API's status subresource only changes status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...api import quantity
from ...client import Client, ClientError, NotFound, resource
from ...client.clock import Clock, RealClock, Timer
from ...tasks import Supervisor
from .runtime import ContainerInstance, ContainerState, PodRuntimeStatus

log = logging.getLogger(__name__)

Object = dict[str, Any]
PODS = resource("pods")
TERMINAL_PHASES = ("Succeeded", "Failed")
CONDITION_TYPES = ("Initialized", "Ready", "ContainersReady", "PodScheduled")


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def microtime(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ----------------------------------------------------------------------------- containers


def _terminated(inst: ContainerInstance) -> Object:
    code = inst.exit_code if inst.exit_code is not None else 0
    out: Object = {"exitCode": code,
                   "reason": inst.reason or ("Completed" if code == 0 else "Error")}
    if inst.message:
        out["message"] = inst.message
    out["startedAt"] = rfc3339(inst.started_at) if inst.started_at else None
    out["finishedAt"] = rfc3339(inst.finished_at) if inst.finished_at else None
    out["containerID"] = inst.container_id
    return out


def _state_of(inst: ContainerInstance) -> Object:
    if inst.state == ContainerState.RUNNING:
        return {"running": {"startedAt": rfc3339(inst.started_at or inst.created_at)}}
    if inst.state == ContainerState.EXITED:
        return {"terminated": _terminated(inst)}
    if inst.state == ContainerState.CREATED:
        return {"waiting": {"reason": "ContainerCreating"}}
    return {"waiting": {"reason": "ContainerStatusUnknown",
                        "message": "The container could not be located"}}


def container_status(container: Object, rs: PodRuntimeStatus, *,
                     waiting: tuple[str, str] | None = None, ready: bool = True) -> Object:
    """One containerStatuses item. ``waiting`` overrides the state (backoff reasons);
    ``ready`` is the readiness probe's verdict for a running container (issue 5)."""
    name = str(container.get("name") or "")
    latest = rs.latest(name)
    prev = rs.previous(name)
    out: Object = {"name": name, "image": str(container.get("image") or ""),
                   "imageID": "", "ready": False, "started": False, "restartCount": 0,
                   "state": {"waiting": {"reason": "ContainerCreating"}}, "lastState": {}}
    if latest is not None:
        out["imageID"] = latest.image_id
        out["containerID"] = latest.container_id
        out["restartCount"] = latest.attempt
        out["state"] = _state_of(latest)
        if prev is not None and prev.state == ContainerState.EXITED:
            out["lastState"] = {"terminated": _terminated(prev)}
        running = latest.state == ContainerState.RUNNING
        out["started"] = running
        out["ready"] = running and ready
    if waiting is not None:
        reason, message = waiting
        w: Object = {"reason": reason}
        if message:
            w["message"] = message
        if latest is not None and latest.state == ContainerState.EXITED:
            # The dead instance moves to lastState while the next one waits to start.
            out["lastState"] = {"terminated": _terminated(latest)}
        out["state"] = {"waiting": w}
        out["ready"] = out["started"] = False
    return out


# ----------------------------------------------------------------------------- pod


def pod_phase(pod: Object, statuses: list[Object]) -> str:
    """Kubernetes' getPhase over the spec's containers and their statuses."""
    policy = str((pod.get("spec") or {}).get("restartPolicy") or "Always")
    running = waiting = stopped = succeeded = 0
    for cs in statuses:
        state = cs.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif (cs.get("lastState") or {}).get("terminated") is not None:
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if policy == "Always":
        return "Running"  # restarting
    if stopped == succeeded:
        return "Succeeded"
    return "Running" if policy == "OnFailure" else "Failed"


def qos_class(pod: Object) -> str:
    requests: dict[str, int] = {}
    limits: dict[str, int] = {}
    guaranteed = True
    for c in (pod.get("spec") or {}).get("containers") or []:
        res = c.get("resources") or {}
        req = dict(res.get("requests") or {})
        lim = dict(res.get("limits") or {})
        for k, v in lim.items():
            req.setdefault(k, v)  # requests default to limits
        for name in ("cpu", "memory"):
            try:
                r = int(quantity.parse_quantity(req[name]) * 1000) if name in req else None
                lm = int(quantity.parse_quantity(lim[name]) * 1000) if name in lim else None
            except (ValueError, TypeError):
                r = lm = None
            if r:
                requests[name] = requests.get(name, 0) + r
            if lm:
                limits[name] = limits.get(name, 0) + lm
            if r is None or lm is None or r != lm:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _condition(old: Mapping[str, Object], type_: str, status: bool, now: str, *,
               reason: str = "", message: str = "") -> Object:
    value = "True" if status else "False"
    prev = old.get(type_)
    since = prev.get("lastTransitionTime") if prev and prev.get("status") == value else None
    out: Object = {"type": type_, "status": value, "lastProbeTime": None,
                   "lastTransitionTime": since or now}
    if reason:
        out["reason"] = reason
    if message:
        out["message"] = message
    return out


def compute_pod_status(pod: Object, rs: PodRuntimeStatus, *, host_ip: str, now: float,
                       waiting: Mapping[str, tuple[str, str]] | None = None,
                       readiness: Mapping[str, bool] | None = None) -> Object:
    """The status the kubelet wants the API to show for ``pod`` (``now`` is epoch seconds)."""
    spec = pod.get("spec") or {}
    old: Object = dict(pod.get("status") or {})
    stamp = rfc3339(now)
    waiting = waiting or {}
    readiness = readiness or {}
    statuses = [container_status(c, rs, waiting=waiting.get(str(c.get("name"))),
                                 ready=readiness.get(str(c.get("name")), True))
                for c in spec.get("containers") or []]
    phase = pod_phase(pod, statuses)
    if old.get("phase") in TERMINAL_PHASES:
        phase = str(old["phase"])  # terminal is forever
    unready = [cs["name"] for cs in statuses if not cs["ready"]]
    old_conds = {str(c.get("type")): c for c in old.get("conditions") or []
                 if isinstance(c, dict)}
    if phase in TERMINAL_PHASES:
        ready_kw = {"reason": "PodCompleted"}
    elif unready:
        ready_kw = {"reason": "ContainersNotReady",
                    "message": f"containers with unready status: [{' '.join(unready)}]"}
    else:
        ready_kw = {}
    conditions = [
        _condition(old_conds, "Initialized", True, stamp),
        _condition(old_conds, "Ready", not unready and phase not in TERMINAL_PHASES, stamp,
                   **ready_kw),
        _condition(old_conds, "ContainersReady", not unready and phase not in TERMINAL_PHASES,
                   stamp, **ready_kw),
        _condition(old_conds, "PodScheduled", True, stamp),
    ]
    # Conditions of other owners (readiness gates, DisruptionTarget...) stay.
    conditions += [c for t, c in old_conds.items() if t not in CONDITION_TYPES]
    out: Object = {k: v for k, v in old.items()
                   if k not in ("phase", "conditions", "containerStatuses", "podIP", "podIPs",
                                "hostIP", "hostIPs", "startTime", "qosClass")}
    out["phase"] = phase
    out["conditions"] = conditions
    if host_ip:
        out["hostIP"] = host_ip
        out["hostIPs"] = [{"ip": host_ip}]
    ip = rs.ip or old.get("podIP") or ""
    if ip:
        out["podIP"] = ip
        out["podIPs"] = [{"ip": ip}]
    out["startTime"] = old.get("startTime") or stamp
    out["containerStatuses"] = statuses
    out["qosClass"] = old.get("qosClass") or qos_class(pod)
    return out


def status_patch(old: Object, new: Object) -> Object:
    """A merge patch turning status ``old`` into ``new``: the new status, nulls for keys
    that went away."""
    patch: Object = dict(new)
    for k in old:
        if k not in new:
            patch[k] = None
    return patch


# ----------------------------------------------------------------------------- writing


def _rv(obj: Object) -> int:
    try:
        return int((obj.get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


@dataclass(slots=True)
class _Pending:
    namespace: str
    name: str
    old: Object
    status: Object


class StatusManager:
    """Coalescing pod status writer for one kubelet."""

    def __init__(self, client: Client, *, supervisor: Supervisor, writers: int = 4,
                 name: str = "kubelet", pending_delay: float = 0.0,
                 clock: Clock | None = None) -> None:
        self.client = client
        self.pending_delay = pending_delay
        self.clock: Clock = clock or RealClock()
        self._delayed: dict[str, Timer] = {}
        """uid -> the timer releasing its (Pending-phase) status for writing."""
        self.supervisor = supervisor
        self.writers = writers
        self.name = name
        self._pending: dict[str, _Pending] = {}
        self._written: dict[str, tuple[Object, int]] = {}
        """uid -> (the status we last wrote, the resourceVersion the write produced)."""
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.writes = 0

    def set(self, pod: Object, status: Object) -> None:
        """Ask for ``status`` to be shown on ``pod`` (the object as last seen from the API)."""
        md = pod.get("metadata") or {}
        uid = str(md.get("uid") or "")
        current = pod.get("status") or {}
        last = self._written.get(uid)
        if uid not in self._pending:
            if status == current:
                return
            # Our own write not yet seen through the watch: the cache is just behind.
            if last is not None and last[0] == status and _rv(pod) < last[1]:
                return
        self._pending[uid] = _Pending(str(md.get("namespace") or ""), str(md.get("name")),
                                      current, status)
        if status.get("phase") == "Pending" and self.pending_delay > 0:
            if uid not in self._delayed:
                self._idle.clear()
                self._delayed[uid] = self.clock.call_later(
                    self.pending_delay, lambda: self._release(uid))
            return
        self._undelay(uid)
        self._kick()

    def _undelay(self, uid: str) -> None:
        timer = self._delayed.pop(uid, None)
        if timer is not None:
            timer.cancel()
            if self._active == 0 and not self._delayed:
                self._idle.set()

    def _release(self, uid: str) -> None:
        self._delayed.pop(uid, None)
        self._kick()

    def _kick(self) -> None:
        if self._active < self.writers and self._ready():
            self._active += 1
            self._idle.clear()
            self.supervisor.start(self._drain(), name=f"{self.name} status writer")
        elif self._active == 0 and not self._delayed:
            self._idle.set()

    def _ready(self) -> bool:
        return any(uid not in self._delayed for uid in self._pending)

    def _next_ready(self) -> str | None:
        for uid in self._pending:
            if uid not in self._delayed:
                return uid
        return None

    def forget(self, uid: str) -> None:
        self._undelay(uid)
        self._pending.pop(uid, None)
        self._written.pop(uid, None)

    async def write_now(self, pod: Object, status: Object) -> None:
        """Write at once (before the final delete of a terminated pod); errors are logged."""
        md = pod.get("metadata") or {}
        uid = str(md.get("uid") or "")
        self._undelay(uid)
        self._pending.pop(uid, None)
        if status == (pod.get("status") or {}):
            return
        await self._write(uid, _Pending(str(md.get("namespace") or ""), str(md.get("name")),
                                        pod.get("status") or {}, status))

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def _drain(self) -> None:
        try:
            while (uid := self._next_ready()) is not None:
                item = self._pending.pop(uid)
                try:
                    await self._write(uid, item)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A bug here must not stop the node; the pod's next sync sets it again.
                    log.exception("%s: writing the status of %s/%s failed", self.name,
                                  item.namespace, item.name)
        finally:
            self._active -= 1
            if self._active == 0 and not self._delayed:
                self._idle.set()

    async def _write(self, uid: str, item: _Pending) -> None:
        patch = status_patch(item.old, item.status)
        try:
            out = await self.client.patch_status(PODS, item.name, {"status": patch},
                                                 namespace=item.namespace)
        except NotFound:
            self._written.pop(uid, None)
            return
        except ClientError as e:
            log.warning("%s: status of %s/%s not written: %s", self.name, item.namespace,
                        item.name, e)
            # Left to the next sync of this pod, which recomputes and sets again.
            return
        self.writes += 1
        if str((out.get("metadata") or {}).get("uid") or "") != uid:
            return  # a namesake replaced the pod; its own worker will fix its status
        self._written[uid] = (item.status, _rv(out))


def now() -> float:
    return time.time()
