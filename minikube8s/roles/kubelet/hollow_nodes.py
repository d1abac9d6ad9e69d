"""``minikube8s hollow-nodes --count N --server URL``: N hollow kubelets in one process.

Kubernetes' kubemark runs one hollow node per pod; here one asyncio process holds them all, so
100 nodes fit on 2 cores. Every kubelet is the real kubelet core (kubelet.py) over its own
HollowRuntime; they share ONE Client (one connection pool) and one InformerFactory, but each
has its own pod informer (fieldSelector spec.nodeName=<its name>), as N kubelets would. What
keeps an idle node cheap: no per-pod polling (runtime timers and watch events wake the pod
workers), no task per idle pod, heartbeats every 10 s with their phases spread evenly over the
interval and jittered, and only Warning events (no Started/Killing events per pod).

The process waits for the API server, starts the nodes, and runs until SIGINT/SIGTERM (exit 0)
or a crashed task (exit 1). The node names are ``<prefix><index>`` (``hollow-0``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from dataclasses import dataclass, field

from ...client import Client, InformerFactory, RealClock
from ...tasks import Supervisor
from .hollow import HollowRuntime
from .kubelet import Kubelet, KubeletOptions

log = logging.getLogger("minikube8s.hollow-nodes")


@dataclass(slots=True)
class HollowNodesConfig:
    server: str
    count: int = 1
    name_prefix: str = "hollow-"
    first_index: int = 0
    cpu: str = "4"
    memory: str = "8Gi"
    pods: int = 110
    node_ip: str = ""
    start_delay: tuple[float, float] = (0.1, 0.5)
    heartbeat_interval: float = 10.0
    labels: dict[str, str] = field(default_factory=dict)


def parse_delay(text: str) -> tuple[float, float]:
    """``"0.3"`` -> (0.3, 0.3); ``"0.1-0.5"`` -> (0.1, 0.5)."""
    lo, sep, hi = text.partition("-")
    a = float(lo)
    b = float(hi) if sep else a
    if a < 0 or b < a:
        raise ValueError(f"bad delay range {text!r}")
    return a, b


def build(cfg: HollowNodesConfig, *, client: Client, informers: InformerFactory,
          supervisor: Supervisor) -> list[Kubelet]:
    clock = RealClock()
    rng = random.Random()
    kubelets = []
    for i in range(cfg.count):
        name = f"{cfg.name_prefix}{cfg.first_index + i}"
        opts = KubeletOptions(
            node_name=name, node_ip=cfg.node_ip, cpu=cfg.cpu, memory=cfg.memory,
            max_pods=cfg.pods, labels=dict(cfg.labels),
            heartbeat_interval=cfg.heartbeat_interval,
            # Spread the nodes' heartbeats evenly over one interval.
            heartbeat_first_delay=cfg.heartbeat_interval * (i + 1) / max(1, cfg.count),
            status_writers=2, normal_events=False, event_workers=1, wait_for_api=False)
        runtime = HollowRuntime(node_name=name, clock=clock, start_delay=cfg.start_delay,
                                rng=rng)
        kubelets.append(Kubelet(opts, client=client, informers=informers, runtime=runtime,
                                supervisor=supervisor, clock=clock, rng=rng))
    return kubelets


async def run(cfg: HollowNodesConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sup = Supervisor()
    client = Client(cfg.server, user_agent=f"minikube8s/hollow-nodes/{cfg.name_prefix}",
                    timeout=60.0)
    try:
        ready = asyncio.create_task(client.wait_ready())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([ready, stopping], return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            return 0
        stopping.cancel()
        informers = InformerFactory(client)
        kubelets = build(cfg, client=client, informers=informers, supervisor=sup)
        for k in kubelets:
            k.start()
        await informers.start(sup)
        log.info("%d hollow nodes starting against %s", len(kubelets), cfg.server)
        waiters = [asyncio.create_task(stop.wait()), asyncio.create_task(sup.failed.wait())]
        registered = asyncio.create_task(_log_registered(kubelets))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        registered.cancel()
        for w in waiters:
            w.cancel()
        log.info("stopping")
        for k in kubelets:
            with contextlib.suppress(Exception):
                await k.stop()
    finally:
        await sup.stop()
        await client.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if sup.failure is not None:
        log.error("stopped after a failure: %r", sup.failure)
        return 1
    return 0


async def _log_registered(kubelets: list[Kubelet]) -> None:
    for k in kubelets:
        await k.registered.wait()
    log.info("%d hollow nodes registered", len(kubelets))


def main(cfg: HollowNodesConfig) -> int:
    return asyncio.run(run(cfg))
