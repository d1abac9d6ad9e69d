"""Pod workers: one serialised, level-triggered sync per pod, driving the runtime Protocol.

``PodWorkers`` is Kubernetes' podWorkers in asyncio: ``update(uid)`` marks a pod dirty and
makes sure a task runs for it; that task syncs until the pod is clean again and then ends, so
a node with 30 quiet pods has no task at all. Two syncs of one pod never overlap, syncs of
different pods run side by side (a 30 s graceful kill blocks only its own pod). A sync may
ask to run again after a delay (a backoff expiring); a failed sync retries with exponential
backoff. Wake-ups come from the pod informer (spec changes, deletion), the runtime's change
callback (a container started or died) and those timers: nothing polls.

``PodSyncer.sync(uid)`` is the level-triggered part: it reads the pod from the informer cache
(by the key the kubelet's handlers recorded for that uid) and the runtime's state, then

- pod gone from the API (force-deleted, or a runtime pod the API never had: an orphan) ->
  kill its containers, forget it;
- deletionTimestamp set -> kill with deletionGracePeriodSeconds, post the final status, then
  the final DELETE with gracePeriodSeconds=0 and a uid precondition;
- phase Succeeded/Failed -> make sure nothing runs, never restart;
- otherwise -> secret, configMap, downwardAPI and projected volumes (podvolumes.py: written,
  or refreshed, on every sync, so a label change reaches a downwardAPI file on the sync that
  update causes; one never set up keeps the containers from starting, with a FailedMount
  event), then
  the sandbox, then policy.decide per container (start, attempt n, or back off; a start first
  resolves the env read from secrets and config maps, configenv.py), then
  status.compute_pod_status -> StatusManager.

A pod with secret, configMap or projected volumes is synced again every ``sync_frequency``
seconds (Kubernetes' --sync-frequency) so that their files follow updates of the objects; the
objects are read through one ConfigCache per node whose TTL is half that period. A missing
object or key is retried sooner, from 0.5 s doubling to 10 s, reading the objects afresh, and
not through CrashBackoff: nothing crashed, the pod waits for the API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ...client import ClientError, Conflict, EventRecorder, NotFound, resource
from ...client.clock import Clock, Timer
from ...client.informer import Cache
from ...client.rest import Client
from ...tasks import Supervisor
from .configcache import ConfigCache, ConfigError, references
from .configenv import resolve_env
from .downwardapi import Allocatable
from .podvolumes import PodVolumes
from .policy import Action, CrashBackoff, backoff_key, decide
from .runtime import ContainerState, Runtime, StartError
from .status import TERMINAL_PHASES, StatusManager, compute_pod_status

log = logging.getLogger(__name__)

Object = dict[str, Any]
PODS = resource("pods")
SyncFunc = Callable[[str], Awaitable[float | None]]


class PodWorkers:
    def __init__(self, sync: SyncFunc, *, supervisor: Supervisor, clock: Clock,
                 name: str = "kubelet", error_base: float = 0.5,
                 error_cap: float = 30.0) -> None:
        self._sync = sync
        self.supervisor = supervisor
        self.clock = clock
        self.name = name
        self.error_base = error_base
        self.error_cap = error_cap
        self._dirty: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._timers: dict[str, Timer] = {}
        self._failures: dict[str, int] = {}
        self._stopped = False
        self.syncs = 0

    def update(self, uid: str) -> None:
        """Sync ``uid`` soon (now, or right after the sync in progress)."""
        if self._stopped or not uid:
            return
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        self._dirty.add(uid)
        if uid not in self._tasks:
            self._tasks[uid] = self.supervisor.start(self._run(uid),
                                                     name=f"{self.name} pod {uid}")

    def update_after(self, uid: str, delay: float) -> None:
        """Sync ``uid`` in ``delay`` seconds (an earlier ``update`` supersedes it)."""
        if self._stopped:
            return
        old = self._timers.pop(uid, None)
        if old is not None:
            old.cancel()
        self._timers[uid] = self.clock.call_later(delay, lambda: self._fire(uid))

    def _fire(self, uid: str) -> None:
        self._timers.pop(uid, None)
        self.update(uid)

    async def _run(self, uid: str) -> None:
        try:
            while uid in self._dirty and not self._stopped:
                self._dirty.discard(uid)
                self.syncs += 1
                try:
                    again = await self._sync(uid)
                    self._failures.pop(uid, None)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    n = self._failures.get(uid, 0)
                    self._failures[uid] = n + 1
                    again = min(self.error_cap, self.error_base * 2 ** n)
                    level = logging.WARNING if n < 3 else logging.DEBUG
                    log.log(level, "%s: sync of pod %s failed (retry in %.1fs): %s",
                            self.name, uid, again, e, exc_info=not isinstance(e, ClientError))
                if again is not None and uid not in self._dirty:
                    self.update_after(uid, again)
        finally:
            self._tasks.pop(uid, None)

    def forget(self, uid: str) -> None:
        timer = self._timers.pop(uid, None)
        if timer is not None:
            timer.cancel()
        self._failures.pop(uid, None)

    @property
    def busy(self) -> int:
        return len(self._tasks)

    def stop(self) -> None:
        self._stopped = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        for task in list(self._tasks.values()):
            task.cancel()


def uid_of(obj: Object) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def grace_of(pod: Object) -> float:
    md = pod.get("metadata") or {}
    if md.get("deletionGracePeriodSeconds") is not None:
        return float(md["deletionGracePeriodSeconds"])
    return float((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30) or 0)


class PodSyncer:
    """The sync of one pod of one node; shared state is per node."""

    def __init__(self, *, client: Client, runtime: Runtime, pods: Cache,
                 status: StatusManager, clock: Clock, backoff: CrashBackoff,
                 host_ip: Callable[[], str], pod_cidr: Callable[[], Awaitable[str]],
                 recorder: EventRecorder | None = None, normal_events: bool = True,
                 orphan_grace: float = 2.0, wall: Callable[[], float] = time.time,
                 sync_frequency: float = 60.0, config: ConfigCache | None = None,
                 allocatable: Callable[[], Allocatable] = dict) -> None:
        self.client = client
        self.runtime = runtime
        self.pods = pods
        self.status = status
        self.clock = clock
        self.backoff = backoff
        self.host_ip = host_ip
        self.pod_cidr = pod_cidr
        self.recorder = recorder
        self.normal_events = normal_events
        self.orphan_grace = orphan_grace
        self.wall = wall
        self.keys: dict[str, str] = {}
        """uid -> informer key, recorded by the kubelet's handlers."""
        self.last_grace: dict[str, float] = {}
        """uid -> grace period of the last version seen (for pods that vanish)."""
        self.start_errors: dict[str, dict[str, tuple[str, str]]] = {}
        self._finished: set[str] = set()
        self.readiness: Callable[[Object], Mapping[str, bool]] | None = None
        """Readiness probe verdicts by container name (issue 5's prober plugs in here and
        calls the workers' ``update(uid)`` when one changes); missing means ready."""
        self.ready = asyncio.Event()
        """Set once the runtime is up; syncs wait for it."""
        self.sync_frequency = sync_frequency
        self.config = config or ConfigCache(client, clock=clock, ttl=sync_frequency / 2)
        self.volumes = PodVolumes(self.config, runtime.project_volume, allocatable=allocatable)
        """``allocatable``: the node's, for downwardAPI limits a container leaves unset."""
        self._config_failures: dict[str, int] = {}

    # -- what the kubelet's handlers call (no awaits) ----------------------------------------

    def seen(self, pod: Object) -> str:
        uid = uid_of(pod)
        if uid not in self.keys:
            # A new pod starts on its objects as they are now, not as cached (RegisterPod).
            self.config.invalidate(references(pod))
        md = pod.get("metadata") or {}
        ns = md.get("namespace") or ""
        self.keys[uid] = f"{ns}/{md.get('name')}" if ns else str(md.get("name"))
        self.last_grace[uid] = grace_of(pod)
        return uid

    def _event(self, pod: Object, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None and (type_ != "Normal" or self.normal_events):
            self.recorder.event(pod, type_, reason, message)

    # -- the sync ----------------------------------------------------------------------------

    async def sync(self, uid: str) -> float | None:
        await self.ready.wait()
        key = self.keys.get(uid)
        pod = self.pods.get(key) if key else None
        if pod is not None and uid_of(pod) != uid:
            pod = None  # a namesake replaced it
        if pod is None:
            await self._forget(uid, grace=self.last_grace.get(uid, self.orphan_grace))
            return None
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            await self._terminate(pod)
            return None
        if (pod.get("status") or {}).get("phase") in TERMINAL_PHASES:
            if uid not in self._finished:
                await self.runtime.kill_pod(uid, grace_period=grace_of(pod))
                self._finished.add(uid)
            return None
        return await self._sync_live(pod)

    async def _forget(self, uid: str, *, grace: float) -> None:
        await self.runtime.kill_pod(uid, grace_period=grace)
        await self.runtime.remove_pod(uid)
        self.status.forget(uid)
        self.backoff.forget_prefix(f"{uid}/")
        self.start_errors.pop(uid, None)
        self.volumes.forget(uid)
        self._config_failures.pop(uid, None)
        self.keys.pop(uid, None)
        self.last_grace.pop(uid, None)
        self._finished.discard(uid)

    async def _terminate(self, pod: Object) -> None:
        md = pod["metadata"]
        uid = uid_of(pod)
        rs = await self.runtime.pod_status(pod)
        if any(c.state in (ContainerState.CREATED, ContainerState.RUNNING)
               for c in rs.containers):
            self._event(pod, "Normal", "Killing", "Stopping pod containers")
        await self.runtime.kill_pod(uid, grace_period=grace_of(pod))
        rs = await self.runtime.pod_status(pod)
        status = compute_pod_status(pod, rs, host_ip=self.host_ip(), now=self.wall())
        await self.status.write_now(pod, status)
        try:
            await self.client.delete(PODS, str(md["name"]), namespace=str(md["namespace"]),
                                     grace_period_seconds=0, preconditions={"uid": uid})
        except (NotFound, Conflict):
            pass  # already gone, or a namesake that is not ours to delete
        await self._forget(uid, grace=0)

    def _config_retry(self, uid: str) -> float:
        """When to look again for a missing secret or config map (0.5 s doubling to 10 s)."""
        n = self._config_failures.get(uid, 0)
        self._config_failures[uid] = min(n + 1, 30)
        return min(10.0, self.sync_frequency, 0.5 * 2 ** n)

    async def _sync_live(self, pod: Object) -> float | None:
        uid = uid_of(pod)
        mount = await self.volumes.sync(pod)
        for message in mount.errors:
            self._event(pod, "Warning", "FailedMount", message)
        config_failed = bool(mount.errors)
        rs = await self.runtime.pod_status(pod)
        waiting: dict[str, tuple[str, str]] = {}
        delays: list[float] = [self.sync_frequency] if mount.refreshed else []
        if not mount.ready:
            # Kubernetes mounts before it makes the sandbox: the pod stays Pending, its
            # containers ContainerCreating, until the object appears.
            self.status.set(pod, compute_pod_status(
                pod, rs, host_ip=self.host_ip(), now=self.wall(),
                readiness=self.readiness(pod) if self.readiness else None))
            self.config.invalidate(references(pod))  # the retry reads them afresh
            return min([*delays, self._config_retry(uid)])
        if not rs.sandbox_ready:
            if any(c.state in (ContainerState.CREATED, ContainerState.RUNNING)
                   for c in rs.containers):
                # The sandbox died under its containers (Docker: the pause container was
                # killed): they lost their network, so they go too and restart in a new one.
                self._event(pod, "Normal", "SandboxChanged",
                            "Pod sandbox changed, it will be killed and re-created.")
                await self.runtime.kill_pod(uid, grace_period=grace_of(pod))
            try:
                await self.runtime.ensure_sandbox(pod, pod_cidr=await self.pod_cidr())
            except StartError as e:
                self._event(pod, "Warning", "FailedCreatePodSandBox", e.message)
                # Publish what the runtime shows (its containers dead, the pod not ready)
                # before the retry: through a long outage (dockerd restarting) the API would
                # otherwise go on showing the pod Running and ready.
                rs = await self.runtime.pod_status(pod)
                self.status.set(pod, compute_pod_status(pod, rs, host_ip=self.host_ip(),
                                                        now=self.wall(), readiness=None))
                raise
            rs = await self.runtime.pod_status(pod)
        errors = self.start_errors.setdefault(uid, {})
        changed = False
        for container in (pod.get("spec") or {}).get("containers") or []:
            name = str(container.get("name") or "")
            now = self.clock.now()
            key = backoff_key(uid, name)
            d = decide(pod, container, rs, self.backoff, now=now, start_error=errors.get(name))
            if d.action == Action.WAIT:
                waiting[name] = (d.reason, d.message)
                delays.append(d.delay)
                if d.reason == "CrashLoopBackOff":
                    self._event(pod, "Warning", "BackOff",
                                f"Back-off restarting failed container {name}")
                continue
            if d.action != Action.START:
                continue
            try:
                env = await resolve_env(pod, container, self.config)
            except ConfigError as e:
                waiting[name] = ("CreateContainerConfigError", e.message)
                self._event(pod, "Warning", "Failed", f"Error: {e.message}")
                config_failed = True
                continue
            for warning in env.warnings:
                self._event(pod, "Warning", "InvalidEnvironmentVariableNames", warning)
            recorded = d.attempt > 0 or name in errors
            if recorded:
                self.backoff.record(key, now)
            changed = True
            try:
                await self.runtime.start_container(pod, env.container, attempt=d.attempt)
            except StartError as e:
                errors[name] = (e.reason, e.message)
                if not recorded:
                    self.backoff.record(key, now)
                waiting[name] = (e.reason, e.message)
                delays.append(self.backoff.remaining(key, self.clock.now()))
                self._event(pod, "Warning", "Failed", e.message)
                continue
            errors.pop(name, None)
            self._event(pod, "Normal", "Started", f"Started container {name}")
        if not errors:
            self.start_errors.pop(uid, None)
        if config_failed:
            self.config.invalidate(references(pod))  # the retry reads them afresh
            delays.append(self._config_retry(uid))
        else:
            self._config_failures.pop(uid, None)
        if changed:
            rs = await self.runtime.pod_status(pod)
        status = compute_pod_status(pod, rs, host_ip=self.host_ip(), now=self.wall(),
                                    waiting=waiting,
                                    readiness=self.readiness(pod) if self.readiness else None)
        self.status.set(pod, status)
        return min(delays) if delays else None

    async def list_orphans(self) -> list[str]:
        """Runtime pods whose uid the API does not have (after the informer synced)."""
        live = {uid_of(p) for p in self.pods.list()}
        return [rp.uid for rp in await self.runtime.list_pods() if rp.uid not in live]

