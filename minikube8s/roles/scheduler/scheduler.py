"""The scheduling loop: pending pods in, bindings out.

Data flow (kube-scheduler's, simplified):

- informer handlers keep cache.SchedulerCache current (nodes, bound pods, Services) and put
  the key of every pod that wants scheduling on a WorkQueue;
- ONE worker takes a key, re-reads the pod from the informer (level-triggered: whatever the
  event was, the pod's state now decides), filters and scores the nodes (plugins.py), *assumes*
  the pod on the winner in the cache and hands the binding to a pool of bind workers. Decisions
  are serial, so each sees every earlier one; binds are HTTP calls, so several run at once
  (48: a bind waits tens of ms for the shared loop and the store, and with 16 in flight
  bench/scale.py's 3,000-pod burst was capped near 260 binds/s by that latency alone);
- a bind that succeeds gets a ``Scheduled`` event and starts the assumption's expiry clock (the
  informer's bound copy of the pod confirms it); a bind that fails forgets the assumption and
  requeues the pod with backoff;
- a pod that fits nowhere gets a ``FailedScheduling`` Warning (kube-scheduler's message), a
  PodScheduled=False/Unschedulable condition, and waits in the unschedulable set, which is
  flushed back into the queue when a node appears or changes in a way that matters, when a
  bound pod goes away (resources freed), and every ``retry_interval`` seconds. A pod that
  failed recently comes back after a per-pod backoff (1 s doubling to 10 s), not at once, so
  a storm of deletions does not spin the loop.

Neighbours: ``__init__.start`` builds one from a RoleContext; client/EventRecorder writes the
events; client/Controller runs the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...client import Client, Controller, EventRecorder, Informer, WorkQueue, errors, key_of
from ...client.clock import Clock, RealClock, Timer
from ...client.informer import split_key
from ...client.rest import resource
from ...tasks import Supervisor
from . import plugins
from .cache import SchedulerCache, is_terminal

log = logging.getLogger(__name__)

Object = dict[str, Any]
PODS = resource("pods")
COMPONENT = "default-scheduler"
FLUSH_DELAY = 0.05


@dataclass(slots=True)
class _Failure:
    attempts: int
    at: float


@dataclass(slots=True)
class _Job:
    """Work for the bind pool: a binding, or a PodScheduled=False condition to write."""

    pod: Object
    node: str = ""
    message: str = ""


class Scheduler:
    def __init__(self, client: Client, *, pods: Informer, nodes: Informer,
                 services: Informer | None = None, recorder: EventRecorder | None = None,
                 clock: Clock | None = None, scheduler_name: str = COMPONENT,
                 bind_workers: int = 48, retry_interval: float = 60.0,
                 assume_ttl: float = 30.0, max_backoff: float = 10.0,
                 rng: random.Random | None = None) -> None:
        self.client = client
        self.pods = pods
        self.nodes = nodes
        self.services = services
        self.clock = clock or RealClock()
        self.recorder = recorder or EventRecorder(client, component=COMPONENT,
                                                  queue_size=20000, workers=4)
        self._own_recorder = recorder is None
        self.scheduler_name = scheduler_name
        self.bind_workers = bind_workers
        self.retry_interval = retry_interval
        self.max_backoff = max_backoff
        self.rng = rng or random.Random()
        self.cache = SchedulerCache(assume_ttl=assume_ttl)
        self.queue = WorkQueue("scheduler", clock=self.clock)
        self.controller = Controller("scheduler", self.queue, self.schedule_one, workers=1)
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self.unschedulable: dict[str, _Failure] = {}
        self.bound = 0
        self.bind_failures = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._flush_timer: Timer | None = None
        self._bind_retries: dict[str, int] = {}
        pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated,
                         on_delete=self._pod_deleted)
        nodes.add_handler(on_add=self._node_changed, on_update=self._node_updated,
                          on_delete=self._node_deleted)
        if services is not None:
            services.add_handler(on_add=self.cache.set_service,
                                 on_update=lambda _old, new: self.cache.set_service(new),
                                 on_delete=self.cache.remove_service)

    # -- informer handlers: keep the cache current, enqueue keys --------------------------------

    def responsible_for(self, pod: Object) -> bool:
        """A pod this scheduler should place: unbound, ours, not terminating nor finished."""
        spec = pod.get("spec") or {}
        if spec.get("nodeName"):
            return False
        if (spec.get("schedulerName") or COMPONENT) != self.scheduler_name:
            return False
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            return False
        return not is_terminal(pod)

    def _pod_added(self, pod: Object) -> None:
        self._pod_seen(pod)

    def _pod_updated(self, old: Object, new: Object) -> None:
        self._pod_seen(new)

    def _pod_seen(self, pod: Object) -> None:
        key = key_of(pod)
        if (pod.get("spec") or {}).get("nodeName"):
            self.unschedulable.pop(key, None)
            self._bind_retries.pop(key, None)
            if is_terminal(pod):
                if self.cache.remove_pod(key, str(pod["metadata"].get("uid") or "")):
                    self.flush("pod finished")
            else:
                self.cache.set_pod(pod)
        elif self.responsible_for(pod):
            if key not in self.unschedulable:
                self.queue.add(key)
        else:
            self.unschedulable.pop(key, None)

    def _pod_deleted(self, pod: Object) -> None:
        key = key_of(pod)
        self.unschedulable.pop(key, None)
        self._bind_retries.pop(key, None)
        if self.cache.remove_pod(key, str((pod.get("metadata") or {}).get("uid") or "")):
            self.flush("pod deleted")

    def _node_changed(self, node: Object) -> None:
        if self.cache.set_node(node):
            self.flush("node changed")

    def _node_updated(self, old: Object, new: Object) -> None:
        self._node_changed(new)

    def _node_deleted(self, node: Object) -> None:
        self.cache.remove_node(str((node.get("metadata") or {}).get("name") or ""))

    def flush(self, why: str = "") -> None:
        """Move the unschedulable pods back to the queue soon, each after its own backoff.

        Requests within ``FLUSH_DELAY`` are coalesced: deleting 3,000 pods must not walk the
        unschedulable set 3,000 times."""
        if not self.unschedulable or self._flush_timer is not None:
            return
        log.debug("scheduler: retrying %d unschedulable pods (%s)", len(self.unschedulable), why)
        self._flush_timer = self.clock.call_later(FLUSH_DELAY, self._flush_now)

    def _flush_now(self) -> None:
        self._flush_timer = None
        now = self.clock.now()
        for key, f in self.unschedulable.items():
            wait = f.at + self._backoff(f.attempts) - now
            if wait > 0:
                self.queue.add_after(key, wait)
            else:
                self.queue.add(key)

    def _backoff(self, attempts: int) -> float:
        return float(min(self.max_backoff, 2 ** max(0, attempts - 1)))

    # -- the decision ---------------------------------------------------------------------------

    async def schedule_one(self, key: str) -> float | None:
        """Place the pod ``key`` if it still needs a node (reads the informer cache)."""
        # Nothing below awaits, and the queue hands out queued keys without suspending: yield
        # once per pod so a burst does not starve the bind workers and the informers.
        await asyncio.sleep(0)
        pod = self.pods.get(key)
        if pod is None or not self.responsible_for(pod):
            self.unschedulable.pop(key, None)
            return None
        if self.cache.is_assumed(key):
            return None  # our binding is in flight
        self.cache.refresh_groups()
        p = self.cache.info(pod)
        node, message = plugins.find_node(p, self.cache.candidates(), self.rng)
        if node is None:
            prev = self.unschedulable.get(key)
            self.unschedulable[key] = _Failure((prev.attempts if prev else 0) + 1,
                                               self.clock.now())
            log.info("scheduler: %s: %s", key, message)
            self.recorder.event(pod, "Warning", "FailedScheduling", message)
            self._jobs.put_nowait(_Job(pod, message=message))
            return None
        self.unschedulable.pop(key, None)
        self.cache.assume(p, node.name)
        self._jobs.put_nowait(_Job(pod, node=node.name))
        return None

    # -- the bind pool --------------------------------------------------------------------------

    async def _bind_worker(self) -> None:
        while True:
            job = await self._jobs.get()
            try:
                if job.node:
                    await self._bind(job.pod, job.node)
                else:
                    await self._mark_unschedulable(job.pod, job.message)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler: job for %s failed", key_of(job.pod))
            finally:
                self._jobs.task_done()

    async def _bind(self, pod: Object, node: str) -> None:
        key = key_of(pod)
        ns, name = split_key(key)
        try:
            await self.client.bind(ns, name, node, uid=str(pod["metadata"].get("uid") or ""))
        except (errors.NotFound, errors.Conflict) as e:
            # Deleted, bound by someone else, or recreated: the informer will tell. Look again
            # after a short backoff, by which time it probably has.
            log.debug("scheduler: binding %s to %s: %s", key, node, e)
            self.bind_failures += 1
            if self.cache.forget(key):
                self.flush("assumption forgotten")
            self._retry_later(key)
        except errors.ClientError as e:
            log.warning("scheduler: binding %s to %s failed: %s", key, node, e)
            self.bind_failures += 1
            if self.cache.forget(key):
                self.flush("assumption forgotten")
            self.recorder.event(pod, "Warning", "FailedScheduling", f"Binding rejected: {e}")
            self._retry_later(key)
        else:
            self.bound += 1
            self.cache.finish_binding(key, self.clock.now())
            self._bind_retries.pop(key, None)
            self.recorder.event(pod, "Normal", "Scheduled",
                                f"Successfully assigned {ns}/{name} to {node}")

    def _retry_later(self, key: str) -> None:
        """Requeue after a failed bind: 0.1 s doubling to ``max_backoff`` per pod. (The
        queue's own rate limiter is reset by every successful reconcile, and the reconcile
        that chose the node did succeed.)"""
        attempts = self._bind_retries.get(key, 0) + 1
        self._bind_retries[key] = attempts
        self.queue.add_after(key, min(self.max_backoff, 0.1 * 2 ** min(attempts - 1, 16)))

    async def _mark_unschedulable(self, pod: Object, message: str) -> None:
        """PodScheduled=False/Unschedulable with the FitError message, unless already so."""
        current = next((c for c in (pod.get("status") or {}).get("conditions") or ()
                        if isinstance(c, dict) and c.get("type") == "PodScheduled"), None)
        if current is not None and current.get("status") == "False" \
                and current.get("reason") == "Unschedulable" \
                and current.get("message") == message:
            return
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        cond = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": message, "lastProbeTime": None,
                "lastTransitionTime": (current.get("lastTransitionTime") or now
                                       if current and current.get("status") == "False"
                                       else now)}
        ns, name = split_key(key_of(pod))
        try:
            await self.client.patch_status(PODS, name, {"status": {"conditions": [cond]}},
                                           namespace=ns, patch_type="strategic")
        except errors.NotFound:
            pass
        except errors.ClientError as e:
            log.warning("scheduler: marking %s/%s unschedulable: %s", ns, name, e)

    # -- running --------------------------------------------------------------------------------

    def start(self, supervisor: Supervisor) -> None:
        """Start at once; scheduling begins when the pod and node informers have synced."""
        self._tasks.append(supervisor.start(self.run(supervisor), name="scheduler"))

    async def run(self, supervisor: Supervisor) -> None:
        await self.pods.wait_synced()
        await self.nodes.wait_synced()
        if self.services is not None:
            await self.services.wait_synced()
        if self._own_recorder:
            self.recorder.start(supervisor)
        for i in range(self.bind_workers):
            self._tasks.append(supervisor.start(self._bind_worker(), name=f"scheduler-bind-{i}"))
        self.controller.start(supervisor)
        log.info("scheduler: synced (%d nodes, %d pods), scheduling", len(self.nodes),
                 len(self.pods))
        await self._housekeeping()

    async def _housekeeping(self) -> None:
        """Expire stale assumptions every second; retry every unschedulable pod regularly."""
        last_retry = self.clock.now()
        while True:
            await self.clock.sleep(1.0)
            now = self.clock.now()
            expired = self.cache.expire(now)
            if expired:
                log.warning("scheduler: %d assumed pods never confirmed; forgotten", len(expired))
                for key in expired:
                    self.queue.add(key)
                self.flush("assumptions expired")
            if now - last_retry >= self.retry_interval:
                last_retry = now
                self.flush("periodic retry")

    async def stop(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        await self.controller.stop(grace=2.0)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self._own_recorder:
            await self.recorder.stop()

    async def idle(self) -> None:
        """Wait until the queue is empty and every bind/condition job is done (tests, bench)."""
        # Polls state that has no event to wait on (the queue's and the job queue's).
        while len(self.queue) or self.queue.processing or self._jobs.qsize():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await self._jobs.join()
