"""``minikube8s hollow-nodes --count N --server URL``: N hollow kubelets in one process.

Kubernetes' kubemark runs one hollow node per pod; here one asyncio process holds them all, so
100 nodes fit on 2 cores. Every kubelet is the real kubelet core (kubelet.py) over its own
HollowRuntime; over ``http://`` they share ONE Client (one connection pool) and one
InformerFactory, but each has its own pod informer (fieldSelector spec.nodeName=<its name>),
as N kubelets would. What keeps an idle node cheap: no per-pod polling (runtime timers and
watch events wake the pod workers), no task per idle pod, heartbeats every 10 s with their
phases spread evenly over the interval and jittered, and only Warning events (no
Started/Killing events per pod).

Against a secure control plane (``--server https://H:6443 --token K10...``) every hollow node
joins as a real node does (auth/join.py's ``node_credentials``: pin the CA from the token, get
``node:<name>:<hmac>``), keeping its token and CA under ``DATA_DIR/<node name>/`` for the next
start, and talks through a Client of its own (https, that CA, its own token), so the Node
authorizer and NodeRestriction see N distinct nodes. The first join runs alone (it waits,
with one warning, while the server is unreachable), the others ``join_concurrency`` at a
time. Hollow nodes serve no kubelet port, so they ask for no kubelet certificate. Over
``http://`` (the insecure port) they share one Client and one InformerFactory, as before.

The process waits for the API server, starts the nodes, and runs until SIGINT/SIGTERM (exit 0)
or a crashed task (exit 1); a join refused for good (wrong token, another cluster's CA) exits
1 with one line. The node names are ``<prefix><index>`` (``hollow-0``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from ...auth import join
from ...client import Client, InformerFactory, RealClock
from ...tasks import Supervisor
from .hollow import HollowRuntime
from .kubelet import Kubelet, KubeletOptions

log = logging.getLogger("minikube8s.hollow-nodes")
T = TypeVar("T")


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
    token: str = ""
    """The cluster join token (https only); not needed once every node has joined."""
    data_dir: Path = Path("/var/lib/minikube8s/hollow-nodes")
    """Each node's credentials live in ``data_dir/<node name>/`` (https only)."""
    join_concurrency: int = 10

    def names(self) -> list[str]:
        return [f"{self.name_prefix}{self.first_index + i}" for i in range(self.count)]

    @property
    def secure(self) -> bool:
        return self.server.lower().startswith("https://")


@dataclass(slots=True)
class Link:
    """What one hollow node talks through: its Client and the informer factory on it."""

    client: Client
    informers: InformerFactory


def parse_delay(text: str) -> tuple[float, float]:
    """``"0.3"`` -> (0.3, 0.3); ``"0.1-0.5"`` -> (0.1, 0.5)."""
    lo, sep, hi = text.partition("-")
    a = float(lo)
    b = float(hi) if sep else a
    if a < 0 or b < a:
        raise ValueError(f"bad delay range {text!r}")
    return a, b


def build(cfg: HollowNodesConfig, *, links: list[Link],
          supervisor: Supervisor) -> list[Kubelet]:
    """One kubelet per node name over ``links[i]`` (one Link shared by all: the http path)."""
    clock = RealClock()
    rng = random.Random()
    kubelets = []
    for i, name in enumerate(cfg.names()):
        link = links[i] if len(links) > 1 else links[0]
        opts = KubeletOptions(
            node_name=name, node_ip=cfg.node_ip, cpu=cfg.cpu, memory=cfg.memory,
            max_pods=cfg.pods, labels=dict(cfg.labels),
            heartbeat_interval=cfg.heartbeat_interval,
            # Spread the nodes' heartbeats evenly over one interval.
            heartbeat_first_delay=cfg.heartbeat_interval * (i + 1) / max(1, cfg.count),
            status_writers=2, normal_events=False, event_workers=1, wait_for_api=False)
        runtime = HollowRuntime(node_name=name, clock=clock, start_delay=cfg.start_delay,
                                rng=rng)
        kubelets.append(Kubelet(opts, client=link.client, informers=link.informers,
                                runtime=runtime, supervisor=supervisor, clock=clock, rng=rng))
    return kubelets


async def join_all(cfg: HollowNodesConfig) -> list[join.NodeCredentials]:
    """Every node's credentials (stored or newly joined), in ``cfg.names()`` order: the first
    alone, so an unreachable server costs one wait and one warning, then the rest
    ``cfg.join_concurrency`` at a time. JoinError as soon as one join is refused for good."""
    names = cfg.names()
    gate = asyncio.Semaphore(max(1, cfg.join_concurrency))

    async def one(name: str) -> join.NodeCredentials:
        async with gate:
            creds = await join.node_credentials(cfg.server, token=cfg.token, node_name=name,
                                                data_dir=cfg.data_dir / name)
        if creds is None:  # only for http://, which does not come here
            raise join.JoinError(f"{cfg.server}: no credentials for node {name!r}")
        return creds

    first = await one(names[0])
    async with asyncio.TaskGroup() as tg:
        rest = [tg.create_task(one(n), name=f"join {n}") for n in names[1:]]
    return [first, *(t.result() for t in rest)]


def connect(cfg: HollowNodesConfig, creds: list[join.NodeCredentials]) -> list[Link]:
    """One shared Link over http, else one per node with its own token and the CA."""
    agent = f"minikube8s/hollow-nodes/{cfg.name_prefix}"
    if not cfg.secure:
        client = Client(cfg.server, user_agent=agent, timeout=60.0)
        return [Link(client, InformerFactory(client))]
    links = []
    for name, c in zip(cfg.names(), creds, strict=True):
        client = Client(cfg.server, user_agent=f"{agent}{name}", timeout=60.0,
                        **c.client_options())
        links.append(Link(client, InformerFactory(client)))
    return links


async def _until(stop: asyncio.Event, work: Awaitable[T]) -> tuple[bool, T | None]:
    """``work``'s result, or (False, None) when ``stop`` fired first (``work`` cancelled)."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, stopping], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return False, None
    return True, task.result()


def _refusal(e: BaseException) -> join.JoinError | None:
    """The first JoinError in ``e`` (a TaskGroup wraps them in an ExceptionGroup)."""
    if isinstance(e, join.JoinError):
        return e
    if isinstance(e, BaseExceptionGroup):
        for inner in e.exceptions:
            found = _refusal(inner)
            if found is not None:
                return found
    return None


async def run(cfg: HollowNodesConfig) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sup = Supervisor()
    links: list[Link] = []
    try:
        creds: list[join.NodeCredentials] = []
        if cfg.secure:
            try:
                joined, got = await _until(stop, join_all(cfg))
            except Exception as e:
                refused = _refusal(e)
                if refused is None:
                    raise
                log.error("%s", refused)
                return 1
            if not joined or got is None:
                return 0
            creds = got
            log.info("%d hollow nodes hold credentials for %s (in %s)", len(creds),
                     cfg.server, cfg.data_dir)
        elif cfg.token:
            log.warning("--token is ignored with an http:// --server")
        links = connect(cfg, creds)
        ready, _ = await _until(stop, links[0].client.wait_ready())
        if not ready:
            return 0
        kubelets = build(cfg, links=links, supervisor=sup)
        for k in kubelets:
            k.start()
        for link in links:
            await link.informers.start(sup)
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
        for link in links:
            await link.client.close()
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
