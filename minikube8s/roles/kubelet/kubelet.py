"""One kubelet: registration, heartbeats, the watch on its pods, and the pod workers.

``Kubelet`` wires the pieces of this package for one node over a runtime (runtime.py):

    pods informer (fieldSelector spec.nodeName=<node>) --handlers--> PodWorkers.update(uid)
    runtime change callback (a container started/died) ------------> PodWorkers.update(uid)
    PodWorkers --> PodSyncer.sync(uid) --> runtime + StatusManager --> pods/status, DELETE
    Heartbeat: register, then node conditions + Lease every ~10 s

``start()`` returns at once; the kubelet's own task waits for the API server
(``Client.wait_ready``, for a ``--role i`` node started before its control plane), starts the
runtime, registers the node, starts the heartbeat, and once the pod informer has synced kills
what the runtime holds for pods the API no longer has (orphans of a previous run). Pods the
runtime still runs for pods that do exist are adopted: their sync finds the instances and
starts nothing. hollow_nodes.py runs many of these in one process (one Client over http,
one per node over https).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...client import Client, ClientError, EventRecorder, InformerFactory, resource
from ...client.clock import Backoff, Clock
from ...config import NodeConfig
from ...tasks import Supervisor
from .heartbeat import Heartbeat
from .pod_workers import PodSyncer, PodWorkers, uid_of
from .policy import CrashBackoff
from .registration import machine_facts
from .runtime import Runtime
from .status import StatusManager

log = logging.getLogger(__name__)

Object = dict[str, Any]
PODS = resource("pods")
NODES = resource("nodes")


@dataclass(slots=True)
class KubeletOptions:
    node_name: str
    node_ip: str = ""
    cpu: str = ""
    """Capacity overrides (quantities); empty reads the machine."""
    memory: str = ""
    max_pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    heartbeat_interval: float = 10.0
    heartbeat_jitter: float = 0.1
    heartbeat_first_delay: float | None = None
    """Delay between the first and second beat (hollow-nodes staggers its nodes with it)."""
    lease_duration: int = 40
    backoff_base: float = 10.0
    """CrashLoopBackOff: 10 s doubling to 5 min, as Kubernetes."""
    backoff_cap: float = 300.0
    status_writers: int = 4
    status_pending_delay: float = 0.5
    """How long a still-Pending status waits to be replaced by the Running one (status.py)."""
    events: bool = True
    normal_events: bool = True
    """Started/Killing events; hollow-nodes turns them off to keep 3,000 pods cheap."""
    event_workers: int = 2
    wait_for_api: bool = True
    orphan_grace: float = 2.0
    sync_frequency: float = 60.0
    """Resync period of pods with secret/configMap volumes (their files follow updates)."""

    @classmethod
    def from_config(cls, cfg: NodeConfig) -> KubeletOptions:
        return cls(node_name=cfg.node_name, node_ip=cfg.node_ip, cpu=cfg.node_cpu,
                   memory=cfg.node_memory, max_pods=cfg.max_pods,
                   heartbeat_interval=cfg.node_status_update_frequency,
                   sync_frequency=cfg.sync_frequency)


class Kubelet:
    def __init__(self, options: KubeletOptions, *, client: Client,
                 informers: InformerFactory, runtime: Runtime, supervisor: Supervisor,
                 clock: Clock, rng: random.Random | None = None,
                 wall: Callable[[], float] = time.time) -> None:
        self.options = options
        self.name = options.node_name
        self.client = client
        self.runtime = runtime
        self.supervisor = supervisor
        self.clock = clock
        self.wall = wall
        self.pods = informers.informer(PODS, field_selector=f"spec.nodeName={self.name}")
        self.facts = machine_facts(
            name=self.name, runtime_version=runtime.version(), ip=options.node_ip,
            cpu=options.cpu, memory=options.memory, pods=options.max_pods,
            labels=options.labels)
        self.recorder = (EventRecorder(client, component="kubelet", host=self.name,
                                       workers=options.event_workers)
                         if options.events else None)
        self.status = StatusManager(client, supervisor=supervisor,
                                    writers=options.status_writers, name=f"kubelet {self.name}",
                                    pending_delay=options.status_pending_delay, clock=clock)
        self.pod_cidr = ""
        self._cidr_checked = float("-inf")
        self.heartbeat = Heartbeat(
            client, self.facts, runtime, clock=clock, interval=options.heartbeat_interval,
            jitter=options.heartbeat_jitter, lease_duration=options.lease_duration,
            first_delay=options.heartbeat_first_delay, rng=rng, on_node=self._node_seen,
            wall=wall)
        self.syncer = PodSyncer(
            client=client, runtime=runtime, pods=self.pods, status=self.status, clock=clock,
            backoff=CrashBackoff(base=options.backoff_base, cap=options.backoff_cap),
            host_ip=lambda: self.facts.ip, pod_cidr=self._current_pod_cidr,
            recorder=self.recorder, normal_events=options.normal_events,
            orphan_grace=options.orphan_grace, wall=wall,
            sync_frequency=options.sync_frequency,
            allocatable=lambda: {"cpu": self.facts.cpu, "memory": self.facts.memory})
        self.workers = PodWorkers(self.syncer.sync, supervisor=supervisor, clock=clock,
                                  name=f"kubelet {self.name}")
        self.registered = asyncio.Event()
        self.orphans_killed = 0
        self.task: asyncio.Task[None] | None = None
        self.pods.add_handler(on_add=self._on_pod, on_update=self._on_pod_update,
                              on_delete=self._on_pod_delete)

    # -- informer handlers: remember the key, enqueue the uid ----------------------------------

    def _on_pod(self, pod: Object) -> None:
        self.workers.update(self.syncer.seen(pod))

    def _on_pod_update(self, old: Object, new: Object) -> None:
        if uid_of(old) != uid_of(new):
            self.workers.update(uid_of(old))  # replaced by a namesake between two lists
        self.workers.update(self.syncer.seen(new))

    def _on_pod_delete(self, pod: Object) -> None:
        # The sync finds it gone from the cache and kills with its last grace period.
        self.workers.update(self.syncer.seen(pod))

    def _node_seen(self, node: Object) -> None:
        cidr = str((node.get("spec") or {}).get("podCIDR") or "")
        if cidr and cidr != self.pod_cidr:
            log.info("node %s: podCIDR %s", self.name, cidr)
            self.pod_cidr = cidr

    async def _current_pod_cidr(self) -> str:
        """spec.podCIDR as the heartbeats last saw it; until the node controller has given
        one, ask the API (at most once a second) so the first pods need not wait a beat."""
        if not self.pod_cidr and self.clock.now() - self._cidr_checked >= 1.0:
            self._cidr_checked = self.clock.now()
            try:
                self._node_seen(await self.client.get(NODES, self.name))
            except ClientError as e:
                log.debug("node %s: reading spec.podCIDR failed: %s", self.name, e)
        return self.pod_cidr

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the kubelet's task and return (the informer is started by its factory)."""
        if self.recorder is not None:
            self.recorder.start(self.supervisor)
        self.task = self.supervisor.start(self.run(), name=f"kubelet {self.name}")

    async def run(self) -> None:
        if self.options.wait_for_api:
            await self.client.wait_ready()
        await self.runtime.start()
        self.facts.runtime_version = self.runtime.version()  # Docker's is known once started
        self.runtime.subscribe(self.workers.update)
        backoff = Backoff(base=0.5, cap=10.0, clock=self.clock)
        while True:
            try:
                await self.heartbeat.register()
                break
            except ClientError as e:
                delay = backoff.next_delay()
                log.warning("node %s: registration failed (retry in %.1fs): %s",
                            self.name, delay, e)
                await self.clock.sleep(delay)
        self.registered.set()
        self.supervisor.start(self.heartbeat.run(), name=f"kubelet {self.name} heartbeat")
        await self.pods.wait_synced()
        # Only now is a uid the cache does not know an orphan: a runtime that reports its
        # adopted containers at start (Docker) must not have them killed before the list.
        self.syncer.ready.set()
        for uid in await self.syncer.list_orphans():
            log.info("node %s: killing the containers of pod %s, gone from the API",
                     self.name, uid)
            self.orphans_killed += 1
            self.workers.update(uid)

    async def stop(self) -> None:
        """Stop syncing (containers keep running, as when a kubelet process exits)."""
        self.workers.stop()
        if self.task is not None:
            self.task.cancel()
        if self.recorder is not None:
            await self.recorder.stop()
