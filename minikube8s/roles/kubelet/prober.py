"""Liveness and readiness probes: runtime-independent, one owned task per probe.

The kubelet core asks ``Prober.readiness(pod)`` on every sync of a pod (it is the
``PodSyncer.readiness`` hook, pod_workers.py); that call also makes sure a worker task runs
for each probe of the pod's containers. A worker finds the container's running instance in
the runtime (runtime.py ``pod_status``), waits initialDelaySeconds from its start, then probes
every periodSeconds with timeoutSeconds:

- httpGet: a GET to podIP:port/path (scheme HTTP or HTTPS, certificate not checked, named
  ports resolved against the container's ports); 200-399 succeeds;
- tcpSocket: a TCP connect;
- exec: the command through the runtime's ``exec_probe`` (docker/runtime.py); exit 0
  succeeds.

Each failure records an Unhealthy Warning event ("Liveness probe failed: HTTP probe failed
with statuscode: 404"). failureThreshold liveness failures in a row kill the container (a
Killing event, then ``Runtime.kill_container`` with the pod's grace period); the core restarts
it per restartPolicy. Readiness becomes True after successThreshold successes and False after
failureThreshold failures (False until the first success of each new instance); a change
wakes the pod's worker (``update(uid)``) so the Ready condition, and through it the service
endpoints, follow. A worker ends when its pod is gone or terminating; a new container
instance resets its counters. Neighbours: kubelet/__init__.py installs it for runtimes that
run real containers (hollow pods have nothing to probe).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import aiohttp

from ...client import EventRecorder
from ...client.clock import Clock, RealClock
from ...client.informer import Cache
from ...tasks import Supervisor
from .pod_workers import grace_of, uid_of
from .runtime import ContainerState, Runtime, RuntimeFailure

log = logging.getLogger(__name__)

Object = dict[str, Any]
KINDS = ("liveness", "readiness")
_NO_VERIFY = ssl.create_default_context()
_NO_VERIFY.check_hostname = False
_NO_VERIFY.verify_mode = ssl.CERT_NONE


@runtime_checkable
class ExecProbeRuntime(Protocol):
    async def exec_probe(self, pod_uid: str, name: str,
                         command: list[str]) -> tuple[int, str]: ...


@dataclass(slots=True, frozen=True)
class ProbeSpec:
    initial_delay: float = 0.0
    timeout: float = 1.0
    period: float = 10.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, probe: Object) -> ProbeSpec:
        def num(key: str, default: float, low: float) -> float:
            try:
                return max(low, float(probe.get(key) or default))
            except (TypeError, ValueError):
                return default
        return cls(initial_delay=num("initialDelaySeconds", 0, 0),
                   timeout=num("timeoutSeconds", 1, 1), period=num("periodSeconds", 10, 1),
                   success_threshold=int(num("successThreshold", 1, 1)),
                   failure_threshold=int(num("failureThreshold", 3, 1)))


def _port(container: Object, port: Any) -> int:
    if isinstance(port, int):
        return port
    text = str(port)
    if text.isdigit():
        return int(text)
    for p in container.get("ports") or []:
        if p.get("name") == text:
            return int(p.get("containerPort") or 0)
    raise ValueError(f"port {text!r} is not a named port of the container")


async def run_probe(probe: Object, *, container: Object, pod_ip: str, runtime: Runtime,
                    pod_uid: str, limit: float) -> tuple[bool, str]:
    """One probe attempt: (success, the failure message)."""
    try:
        async with asyncio.timeout(limit):
            if "httpGet" in probe:
                return await _http(probe["httpGet"] or {}, container, pod_ip)
            if "tcpSocket" in probe:
                ts = probe["tcpSocket"] or {}
                host = str(ts.get("host") or pod_ip)
                port = _port(container, ts.get("port"))
                _, writer = await asyncio.open_connection(host, port)
                writer.close()
                return True, ""
            if "exec" in probe:
                command = [str(a) for a in (probe["exec"] or {}).get("command") or []]
                if not isinstance(runtime, ExecProbeRuntime):
                    return False, "exec probes are not supported by this container runtime"
                code, out = await runtime.exec_probe(pod_uid, str(container.get("name")),
                                                     command)
                return code == 0, (f"command {command} exited with {code}: {out.strip()}"
                                   if code else "")
    except TimeoutError:
        return False, f"probe timed out after {limit:g}s"
    except (OSError, ValueError, RuntimeFailure, aiohttp.ClientError) as e:
        return False, str(e) or type(e).__name__
    return False, "the probe has no handler (httpGet, tcpSocket or exec)"


async def _http(get: Object, container: Object, pod_ip: str) -> tuple[bool, str]:
    scheme = str(get.get("scheme") or "HTTP").lower()
    host = str(get.get("host") or pod_ip)
    path = str(get.get("path") or "/")
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{_port(container, get.get('port'))}{path}"
    headers = {"User-Agent": "kube-probe/1.30", "Connection": "close"}
    for h in get.get("httpHeaders") or []:
        headers[str(h.get("name"))] = str(h.get("value") or "")
    try:
        async with aiohttp.request("GET", url, headers=headers, allow_redirects=False,
                                   connector=aiohttp.TCPConnector(ssl=_NO_VERIFY,
                                                                  force_close=True)) as r:
            if 200 <= r.status < 400:
                return True, ""
            return False, f"HTTP probe failed with statuscode: {r.status}"
    except aiohttp.ClientConnectorError as e:
        return False, f'Get "{url}": dial tcp {host}: {e.os_error or e}'


class Prober:
    def __init__(self, *, runtime: Runtime, pods: Cache, update: Callable[[str], None],
                 supervisor: Supervisor, recorder: EventRecorder | None = None,
                 clock: Clock | None = None, wall: Callable[[], float] = time.time,
                 name: str = "kubelet") -> None:
        self.runtime = runtime
        self.pods = pods
        self.update = update
        self.supervisor = supervisor
        self.recorder = recorder
        self.clock = clock or RealClock()
        self.wall = wall
        self.name = name
        self._tasks: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._ready: dict[tuple[str, str], bool] = {}
        self.probes = 0

    # -- the core's hook ------------------------------------------------------------------

    def readiness(self, pod: Object) -> Mapping[str, bool]:
        uid = uid_of(pod)
        md = pod.get("metadata") or {}
        key = f"{md.get('namespace')}/{md.get('name')}" if md.get("namespace") \
            else str(md.get("name"))
        out: dict[str, bool] = {}
        for c in (pod.get("spec") or {}).get("containers") or []:
            name = str(c.get("name") or "")
            for kind in KINDS:
                probe = c.get(f"{kind}Probe")
                if not isinstance(probe, dict):
                    continue
                if kind == "readiness":
                    out[name] = self._ready.get((uid, name), False)
                tkey = (uid, name, kind)
                if tkey not in self._tasks and not md.get("deletionTimestamp"):
                    self._tasks[tkey] = self.supervisor.start(
                        self._worker(key, uid, name, kind),
                        name=f"{self.name} {kind} probe {key}/{name}")
        return out

    def forget(self, uid: str) -> None:
        for tkey in [k for k in self._tasks if k[0] == uid]:
            self._tasks.pop(tkey).cancel()
        for rkey in [k for k in self._ready if k[0] == uid]:
            del self._ready[rkey]

    def _event(self, pod: Object, type_: str, reason: str, message: str) -> None:
        if self.recorder is not None:
            self.recorder.event(pod, type_, reason, message)

    def _set_ready(self, uid: str, name: str, ready: bool) -> None:
        if self._ready.get((uid, name), False) != ready:
            self._ready[(uid, name)] = ready
            self.update(uid)

    # -- one probe ------------------------------------------------------------------------

    def _current(self, key: str, uid: str) -> Object | None:
        pod = self.pods.get(key)
        if pod is None or uid_of(pod) != uid or (pod.get("metadata") or {}).get(
                "deletionTimestamp"):
            return None
        return pod

    async def _worker(self, key: str, uid: str, name: str, kind: str) -> None:
        instance = ""
        successes = failures = 0
        try:
            while (pod := self._current(key, uid)) is not None:
                container = next((c for c in (pod.get("spec") or {}).get("containers") or []
                                  if c.get("name") == name), None)
                probe = container.get(f"{kind}Probe") if container else None
                if container is None or not isinstance(probe, dict):
                    return
                spec = ProbeSpec.of(probe)
                rs = await self.runtime.pod_status(pod)
                inst = rs.latest(name)
                if inst is None or inst.state != ContainerState.RUNNING:
                    instance = ""
                    if kind == "readiness":
                        self._set_ready(uid, name, False)
                    await self.clock.sleep(min(spec.period, 1.0))
                    continue
                if inst.container_id != instance:
                    instance = inst.container_id
                    successes = failures = 0
                    if kind == "readiness":
                        self._set_ready(uid, name, False)
                wait = (inst.started_at or 0.0) + spec.initial_delay - self.wall()
                if wait > 0:
                    await self.clock.sleep(wait)
                    continue
                ok, msg = await run_probe(probe, container=container, pod_ip=rs.ip,
                                          runtime=self.runtime, pod_uid=uid,
                                          limit=spec.timeout)
                self.probes += 1
                if ok:
                    successes, failures = successes + 1, 0
                else:
                    successes, failures = 0, failures + 1
                    self._event(pod, "Warning", "Unhealthy",
                                f"{kind.capitalize()} probe failed: {msg}")
                if kind == "readiness":
                    if successes >= spec.success_threshold:
                        self._set_ready(uid, name, True)
                    elif failures >= spec.failure_threshold:
                        self._set_ready(uid, name, False)
                elif failures >= spec.failure_threshold:
                    self._event(pod, "Normal", "Killing",
                                f"Container {name} failed liveness probe, will be restarted")
                    log.info("%s: %s/%s failed its liveness probe (%s); killing it",
                             self.name, key, name, msg)
                    try:
                        await self.runtime.kill_container(uid, name,
                                                          grace_period=grace_of(pod))
                    except RuntimeFailure as e:
                        log.warning("%s: killing %s/%s failed: %s", self.name, key, name, e)
                    successes = failures = 0
                    self.update(uid)
                await self.clock.sleep(spec.period)
        finally:
            self._tasks.pop((uid, name, kind), None)
            if kind == "readiness" and self._current(key, uid) is None:
                self._ready.pop((uid, name), None)
