"""The ``hollow`` runtime: the runtime Protocol (runtime.py) in memory, for scale and tests.

Like Kubernetes' kubemark, a hollow kubelet is a real kubelet core over a runtime that only
pretends: a sandbox is an IP taken from the node's spec.podCIDR (or, before the node has one,
from a fake 10.x.0.0/16 derived from the node name; these IPs are never routed), a container
"starts" after a short delay and then runs until told otherwise. Every state change is a
timer on the injected Clock plus a call to the subscriber (the kubelet's PLEG), so an idle
hollow node costs no tasks and no polling, and 100 of them fit in one process.

Scripting, through pod annotations (so tests and benchmarks need nothing but a pod spec):

======================================================  ===================================
``hollow.minikube8s.io/exit-code: "1"``                 containers exit with this code ...
``hollow.minikube8s.io/run-seconds: "2"``               ... after running this long (default
                                                        0 when an exit code is given; with
                                                        neither, containers run forever;
                                                        run-seconds alone exits 0)
``hollow.minikube8s.io/start-delay: "0.5"``             seconds from start to running
                                                        (default: the runtime's, 0.1-0.5 s)
``hollow.minikube8s.io/start-error: "ErrImageNeverPull"``  starts fail with this reason
``hollow.minikube8s.io/ignore-sigterm: "true"``         kills wait the whole grace period,
                                                        then "SIGKILL" (exit code 137)
======================================================  ===================================

Each of them can be aimed at one container with a ``.NAME`` suffix
(``hollow.minikube8s.io/exit-code.sidecar: "3"``), which wins over the pod-wide one. A
container stopped by the kubelet exits 0 ("Completed"), as a well-behaved server does on
SIGTERM. Only the two newest instances of each container are kept (state and lastState).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import itertools
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ...client.clock import Clock, RealClock, Timer
from .atomic_writer import FileProjection
from .runtime import (
    ChangeCallback,
    ContainerInstance,
    ContainerState,
    PodRuntimeStatus,
    RunningPod,
    StartError,
)

log = logging.getLogger(__name__)

Object = dict[str, Any]
VERSION = "0.1"
PREFIX = "hollow.minikube8s.io/"


@dataclass(slots=True)
class _Container:
    inst: ContainerInstance
    timer: Timer | None = None
    ignore_sigterm: bool = False


@dataclass(slots=True)
class _Pod:
    uid: str
    namespace: str
    name: str
    ip: str = ""
    sandbox_ready: bool = False
    containers: list[_Container] = field(default_factory=list)


def _annotation(pod: Object, key: str, container: str) -> str | None:
    ann = (pod.get("metadata") or {}).get("annotations") or {}
    value = ann.get(f"{PREFIX}{key}.{container}")
    if value is None:
        value = ann.get(f"{PREFIX}{key}")
    return None if value is None else str(value)


def _float(value: str | None, default: float | None) -> float | None:
    if value is None:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        return default


class HollowRuntime:
    """In-memory runtime. ``wall`` gives the timestamps shown in pod status."""

    def __init__(self, *, node_name: str = "", clock: Clock | None = None,
                 start_delay: tuple[float, float] = (0.1, 0.5),
                 rng: random.Random | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.node_name = node_name
        self.clock: Clock = clock or RealClock()
        self.start_delay = start_delay
        self.rng = rng or random.Random()
        self.wall = wall
        self.health: tuple[bool, str] = (True, "")
        """Switch it to (False, "why") to make the node NotReady."""
        self._pods: dict[str, _Pod] = {}
        self._subscribers: list[ChangeCallback] = []
        self._used_ips: set[str] = set()
        self._cidr: str = ""
        self._hosts: itertools.count[int] = itertools.count(2)
        self.started = 0
        """Containers started so far (a benchmark's sanity check)."""

    # -- Protocol: identity and health -----------------------------------------------------

    def version(self) -> str:
        return f"hollow://{VERSION}"

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for pod in self._pods.values():
            for c in pod.containers:
                if c.timer is not None:
                    c.timer.cancel()
        self._pods.clear()

    def subscribe(self, callback: ChangeCallback) -> None:
        self._subscribers.append(callback)

    async def healthy(self) -> tuple[bool, str]:
        return self.health

    def _notify(self, uid: str) -> None:
        for cb in self._subscribers:
            try:
                cb(uid)
            except Exception:
                log.exception("hollow runtime subscriber failed")

    # -- Protocol: reading -----------------------------------------------------------------

    async def list_pods(self) -> list[RunningPod]:
        return [RunningPod(uid=p.uid, namespace=p.namespace, name=p.name,
                           container_ids=[c.inst.container_id for c in p.containers],
                           running=p.sandbox_ready or any(
                               c.inst.state in (ContainerState.CREATED, ContainerState.RUNNING)
                               for c in p.containers))
                for p in self._pods.values()]

    async def pod_status(self, pod: Object) -> PodRuntimeStatus:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        p = self._pods.get(uid)
        if p is None:
            return PodRuntimeStatus(uid=uid)
        return PodRuntimeStatus(uid=uid, namespace=p.namespace, name=p.name,
                                sandbox_ready=p.sandbox_ready, ip=p.ip,
                                containers=[replace(c.inst) for c in p.containers])

    # -- Protocol: sandbox and containers ----------------------------------------------------

    def _allocate_ip(self, pod_cidr: str) -> str:
        if pod_cidr and pod_cidr != self._cidr:
            self._cidr = pod_cidr
            self._hosts = itertools.count(2)  # .1 is the bridge's, as on a real node
        if self._cidr:
            net = ipaddress.ip_network(self._cidr, strict=False)
        else:
            octet = hashlib.sha256(self.node_name.encode()).digest()[0]
            net = ipaddress.ip_network(f"10.{octet}.0.0/16")
        size = net.num_addresses
        for _ in range(size):
            n = next(self._hosts)
            if n >= size - 1:
                self._hosts = itertools.count(2)
                n = next(self._hosts)
            ip = str(net.network_address + n)
            if ip not in self._used_ips:
                self._used_ips.add(ip)
                return ip
        raise StartError("CreatePodSandboxError", f"no free IP left in {net}")

    async def ensure_sandbox(self, pod: Object, *, pod_cidr: str = "") -> str:
        md = pod.get("metadata") or {}
        uid = str(md.get("uid") or "")
        p = self._pods.get(uid)
        if p is None:
            p = self._pods[uid] = _Pod(uid, str(md.get("namespace") or ""), str(md.get("name")))
        if not p.sandbox_ready:
            if not p.ip:
                p.ip = self._allocate_ip(pod_cidr)
            p.sandbox_ready = True
        return p.ip

    async def start_container(self, pod: Object, container: Object, *, attempt: int) -> str:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        p = self._pods.get(uid)
        if p is None or not p.sandbox_ready:
            raise StartError("CreateContainerError", "the pod has no sandbox")
        name = str(container.get("name") or "")
        error = _annotation(pod, "start-error", name)
        if error:
            raise StartError(error, f"hollow: scripted start error for container {name}")
        delay = _float(_annotation(pod, "start-delay", name), None)
        if delay is None:
            lo, hi = self.start_delay
            delay = self.rng.uniform(lo, hi) if hi > lo else lo
        code_s = _annotation(pod, "exit-code", name)
        exit_code = int(code_s) if code_s is not None and code_s.lstrip("-").isdigit() else None
        run = _float(_annotation(pod, "run-seconds", name), 0.0 if exit_code is not None
                     else None)
        if run is not None and exit_code is None:
            exit_code = 0
        image = str(container.get("image") or "")
        inst = ContainerInstance(
            name=name, container_id=f"hollow://{uuid.uuid4().hex}", image=image,
            image_id=f"hollow://sha256:{hashlib.sha256(image.encode()).hexdigest()}",
            state=ContainerState.CREATED, attempt=attempt, created_at=self.wall())
        c = _Container(inst, ignore_sigterm=_annotation(pod, "ignore-sigterm", name) == "true")
        # Keep this instance and the one before it: state and lastState.
        older = [o for o in p.containers if o.inst.name == name]
        older.sort(key=lambda o: o.inst.attempt, reverse=True)
        for dead in older[1:]:
            p.containers.remove(dead)
        p.containers.append(c)
        self.started += 1

        def running() -> None:
            inst.state = ContainerState.RUNNING
            inst.started_at = self.wall()
            c.timer = None
            if run is not None:
                c.timer = self.clock.call_later(run, exited)
            self._notify(uid)

        def exited() -> None:
            self._exit(c, exit_code or 0)
            self._notify(uid)

        c.timer = self.clock.call_later(delay, running)
        return inst.container_id

    def _exit(self, c: _Container, code: int, reason: str = "") -> None:
        if c.timer is not None:
            c.timer.cancel()
            c.timer = None
        inst = c.inst
        if inst.state == ContainerState.EXITED:
            return
        inst.state = ContainerState.EXITED
        inst.exit_code = code
        inst.finished_at = self.wall()
        inst.reason = reason or ("Completed" if code == 0 else "Error")

    async def _kill(self, c: _Container, grace: float) -> None:
        if c.inst.state == ContainerState.EXITED:
            return
        if c.ignore_sigterm and c.inst.state == ContainerState.RUNNING and grace > 0:
            await self.clock.sleep(grace)
            self._exit(c, 137)
        else:
            self._exit(c, 0)

    async def kill_container(self, pod_uid: str, name: str, *, grace_period: float) -> None:
        p = self._pods.get(pod_uid)
        if p is None:
            return
        await asyncio.gather(*(self._kill(c, grace_period) for c in p.containers
                               if c.inst.name == name))

    async def kill_pod(self, pod_uid: str, *, grace_period: float) -> None:
        p = self._pods.get(pod_uid)
        if p is None:
            return
        await asyncio.gather(*(self._kill(c, grace_period) for c in p.containers))
        p.sandbox_ready = False

    async def project_volume(self, pod: Object, volume: str, *, plugin: str,
                             files: Mapping[str, FileProjection]) -> None:
        """Secret, configMap, downwardAPI and projected volumes: the core has built the
        files (so a missing object still keeps the pod waiting, as on a real node); a hollow
        pod has no files."""

    async def remove_pod(self, pod_uid: str) -> None:
        p = self._pods.pop(pod_uid, None)
        if p is None:
            return
        for c in p.containers:
            if c.timer is not None:
                c.timer.cancel()
        self._used_ips.discard(p.ip)

    # -- test helpers ----------------------------------------------------------------------

    def crash(self, pod_uid: str, name: str, exit_code: int = 137) -> None:
        """Make a running container die now (what ``docker kill`` does to a real one)."""
        p = self._pods.get(pod_uid)
        if p is None:
            return
        for c in p.containers:
            if c.inst.name == name and c.inst.state != ContainerState.EXITED:
                self._exit(c, exit_code)
        self._notify(pod_uid)

    def kill_sandbox(self, pod_uid: str) -> None:
        """Make the pod's sandbox die under its containers (``docker kill`` of a pause
        container)."""
        p = self._pods.get(pod_uid)
        if p is not None:
            p.sandbox_ready = False
            self._notify(pod_uid)

    def __len__(self) -> int:
        return len(self._pods)
