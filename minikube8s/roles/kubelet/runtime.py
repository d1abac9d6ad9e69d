"""The container runtime plug point: what the kubelet core asks of hollow.py and (issue 5) docker.

The kubelet core (pod_workers.py, policy.py, status.py) decides *what* should run: which
containers to start, which attempt number, when a crashed one may restart (CrashLoopBackOff),
what the pod's phase and conditions are. A runtime only does containers, CRI-style:

- a pod **sandbox** (Docker: the pause/infra container owning the network namespace; hollow:
  an allocated IP) made by ``ensure_sandbox`` and reported in ``pod_status``;
- app **containers** started one instance at a time by ``start_container(pod, spec,
  attempt=n)``; the runtime remembers ``attempt`` with the instance (Docker: a container label)
  so a restarted kubelet recovers restart counts from the runtime, not from memory;
- ``kill_container`` / ``kill_pod`` stop with a grace period (SIGTERM, then SIGKILL);
  ``remove_pod`` forgets everything of a pod (dead containers, sandbox, volumes);
- ``pod_status`` reports every instance the runtime still has (newest first per name), so the
  core can fill ``state`` from the newest and ``lastState`` from the one before;
- ``subscribe(callback)``: the runtime calls ``callback(pod_uid)`` whenever a container of that
  pod changes state by itself (started, exited, died). This is the PLEG of Kubernetes without
  the polling: hollow calls it from its timers, Docker from its event stream. The core never
  polls a runtime per pod;
- ``project_volume`` makes a secret, configMap, downwardAPI or projected volume of a pod
  show a set of files (the core reads the objects and builds the files: podvolumes.py;
  Docker writes them with atomic_writer.py under the pod's directory and binds them
  read-only; hollow keeps nothing);
- ``healthy()`` feeds the node's Ready condition; ``version()`` the node's
  ``containerRuntimeVersion`` (``hollow://0.1``, ``docker://24.0.7``).

Start failures raise ``StartError`` with a Kubernetes waiting reason (``ErrImageNeverPull``,
``CreateContainerError``...) that the core shows on the container and backs off
(ImagePullBackOff for pull errors); every other failure is a ``RuntimeFailure`` and the pod
worker retries the sync with backoff. A sandbox that dies under running containers is
handled by the core (kill_pod, then ensure_sandbox again, containers restart per policy).

Left for issue 5, outside this Protocol: probes (a prober calls ``kill_container`` on a
liveness failure and feeds ``PodSyncer.readiness``, then ``PodWorkers.update(uid)``), and
logs/exec, which can be a second, optional Protocol (``StreamingRuntime``) so this one stays
small. A new runtime is chosen in ``kubelet.make_runtime`` (``--runtime docker``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from .atomic_writer import FileProjection

Object = dict[str, Any]


class ContainerState(StrEnum):
    CREATED = "created"
    """Made but not running yet (hollow: inside its start delay; Docker: created)."""
    RUNNING = "running"
    EXITED = "exited"
    UNKNOWN = "unknown"


@dataclass(slots=True)
class ContainerInstance:
    """One run of one container of a pod, as the runtime knows it."""

    name: str
    container_id: str
    """With its scheme: ``hollow://3f2a...``, ``docker://...``."""
    image: str
    image_id: str = ""
    state: ContainerState = ContainerState.CREATED
    attempt: int = 0
    """Restart count this instance was started with (0 for the first run)."""
    created_at: float = 0.0
    """Wall-clock epoch seconds, like every timestamp here."""
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    """For an exited instance: Completed, Error, OOMKilled, ContainerCannotRun..."""
    message: str = ""


@dataclass(slots=True)
class PodRuntimeStatus:
    uid: str
    namespace: str = ""
    name: str = ""
    sandbox_ready: bool = False
    ip: str = ""
    containers: list[ContainerInstance] = field(default_factory=list)

    def instances(self, name: str) -> list[ContainerInstance]:
        """The instances of container ``name``, newest (highest attempt) first."""
        return sorted((c for c in self.containers if c.name == name),
                      key=lambda c: (c.attempt, c.created_at), reverse=True)

    def latest(self, name: str) -> ContainerInstance | None:
        found = self.instances(name)
        return found[0] if found else None

    def previous(self, name: str) -> ContainerInstance | None:
        found = self.instances(name)
        return found[1] if len(found) > 1 else None


@dataclass(slots=True)
class RunningPod:
    """A pod the runtime holds something for (running or dead), from ``list_pods``."""

    uid: str
    namespace: str
    name: str
    container_ids: list[str] = field(default_factory=list)
    running: bool = False
    """Any container or the sandbox still running."""


class RuntimeFailure(Exception):
    """A runtime operation failed (daemon unreachable, bad state). The pod worker retries."""


class StartError(RuntimeFailure):
    """A container could not be started. ``reason`` is the waiting reason the pod shows
    (ErrImageNeverPull, ImagePullBackOff, CreateContainerError, RunContainerError)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


ChangeCallback = Callable[[str], None]


class Runtime(Protocol):
    def version(self) -> str:
        """``scheme://version`` for nodeInfo.containerRuntimeVersion."""
        ...

    async def start(self) -> None:
        """Connect (Docker: the daemon, the events stream). Called once before anything."""
        ...

    async def close(self) -> None: ...

    def subscribe(self, callback: ChangeCallback) -> None:
        """``callback(pod_uid)`` on every container state change the runtime sees by itself.
        Must not block; the kubelet only enqueues the pod."""
        ...

    async def healthy(self) -> tuple[bool, str]:
        """(ok, message); the message explains a False (``docker daemon unreachable: ...``)."""
        ...

    async def list_pods(self) -> list[RunningPod]: ...

    async def pod_status(self, pod: Object) -> PodRuntimeStatus:
        """What the runtime has for ``pod`` (by metadata.uid); empty if nothing."""
        ...

    async def ensure_sandbox(self, pod: Object, *, pod_cidr: str = "") -> str:
        """Make the pod's sandbox if it has none (idempotent); returns the pod IP."""
        ...

    async def start_container(self, pod: Object, container: Object, *, attempt: int) -> str:
        """Create and start one instance of ``container`` (a spec.containers item) in the
        pod's sandbox; returns its container id. Raises StartError."""
        ...

    async def kill_container(self, pod_uid: str, name: str, *, grace_period: float) -> None:
        """Stop the running instance of container ``name`` (no-op if none runs)."""
        ...

    async def kill_pod(self, pod_uid: str, *, grace_period: float) -> None:
        """Stop every container, then the sandbox; dead instances stay for status and logs."""
        ...

    async def project_volume(self, pod: Object, volume: str, *, plugin: str,
                             files: Mapping[str, FileProjection]) -> None:
        """Make volume ``volume`` of ``pod`` show exactly ``files``, atomically for readers
        (``plugin``: ``kubernetes.io~secret``, ``~configmap``, ``~downward-api`` or
        ``~projected``). Called before
        the pod's containers start, then on every sync of the pod; raises OSError or
        RuntimeFailure when it cannot."""
        ...

    async def remove_pod(self, pod_uid: str) -> None:
        """Forget the pod entirely (containers, sandbox, IP, volumes). Stops nothing: call
        ``kill_pod`` first."""
        ...
