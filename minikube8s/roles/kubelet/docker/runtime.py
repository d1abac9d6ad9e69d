"""The Docker runtime: the runtime Protocol (../runtime.py) over a real dockerd, via aiodocker.

A pod is one sandbox container (the ``minikube8s/pause`` image) on the node's bridge network
(network.py: subnet = spec.podCIDR) that owns the pod's network and IPC namespaces, plus one
container per instance of each app container, started with network and IPC mode
``container:<sandbox id>``: the containers of a pod share its IP and talk over localhost.
Every container carries dockershim's labels (containers.py: pod uid, namespace, name,
container name, restart count) and ``minikube8s.io/node``; they are the runtime's only state,
so a restarted kubelet finds (adopts) what runs and the core kills what the API forgot.

What the runtime knows lives in ``_known``: ``docker inspect`` of every container of this
node, filled at start by one list and then kept current by our own operations (each one
inspects what it touched) and by Docker's event stream (start/kill/die/oom/destroy of containers
labelled for this node, filtered by the daemon). ``pod_status`` reads that cache: no call to
Docker per pod sync, and no polling at all. The stream's task reconnects while dockerd is
away (``healthy`` then says why, and the node goes NotReady), resyncs the cache when it is
back and wakes every pod, since their containers died with the daemon. A container stopped
by someone else (which is also how dockerd stops them all when it shuts down) wakes its pod
a moment later rather than at once (EXTERNAL_STOP_SETTLE), so the kubelet does not start
containers in a daemon on its way out; tests/faults/test_dockerd_restart.py restarts dockerd
under a node.

Images are never pulled from a registry that is not named in the image reference unless the
image is missing: ``nginx`` with the default policy Always uses the ``make images`` build when
present (this project runs offline); imagePullPolicy Never and IfNotPresent are honoured as is.
Stopping is ``docker stop -t <grace>`` (SIGTERM, SIGKILL after the grace period). Dead
instances are garbage-collected when a new one starts, keeping the one before it (lastState,
``logs --previous``). ``exec_probe`` runs a probe command (prober.py); the streams module
(docker/streams.py) finds containers with ``container_id``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiodocker
import aiohttp

from ....tasks import Supervisor
from ..atomic_writer import FileProjection
from ..runtime import (
    ChangeCallback,
    ContainerState,
    PodRuntimeStatus,
    RunningPod,
    RuntimeFailure,
    StartError,
)
from . import containers as spec
from . import volumes
from .network import NETWORK, ensure_network

log = logging.getLogger(__name__)

Object = dict[str, Any]
PAUSE_IMAGE = "minikube8s/pause:latest"
LOG_CONFIG = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "2"}}
EVENTS = ("start", "kill", "die", "oom", "destroy")
# A container that someone else signalled (``docker stop``/``kill``, or dockerd stopping every
# container as it shuts down: the same kill-die-stop events) is restarted this much later,
# not at once: a start sent to a daemon on its way out fails half-way and leaves a container
# whose root filesystem stays mounted, which the next dockerd can never remove.
EXTERNAL_STOP_SETTLE = 2.0
DOCKER_ERRORS = (aiodocker.DockerError, aiohttp.ClientError, OSError, TimeoutError)


@dataclass(slots=True)
class _Known:
    info: Object

    @property
    def id(self) -> str:
        return str(self.info["Id"])

    @property
    def labels(self) -> dict[str, str]:
        return (self.info.get("Config") or {}).get("Labels") or {}

    @property
    def uid(self) -> str:
        return self.labels.get(spec.POD_UID, "")

    @property
    def name(self) -> str:
        return self.labels.get(spec.CONTAINER_NAME, "")

    @property
    def sandbox(self) -> bool:
        return self.labels.get(spec.CONTAINER_TYPE) == spec.SANDBOX

    @property
    def attempt(self) -> int:
        try:
            return int(self.labels.get(spec.RESTART_COUNT) or 0)
        except ValueError:
            return 0

    @property
    def running(self) -> bool:
        return bool((self.info.get("State") or {}).get("Running"))

    @property
    def created(self) -> float:
        return spec.parse_time(self.info.get("Created")) or 0.0

    @property
    def never_started(self) -> bool:
        """Created, then its start failed: no logs, no state worth keeping."""
        return (self.info.get("State") or {}).get("Status") == "created"


class DockerRuntime:
    def __init__(self, *, docker_host: str, node_name: str, data_dir: Path,
                 host_ip: str = "", supervisor: Supervisor | None = None,
                 allow_privileged: bool = False, pause_image: str = PAUSE_IMAGE,
                 network: str = NETWORK, reconnect_cap: float = 5.0) -> None:
        self.docker_host = docker_host
        self.node_name = node_name
        self.data_dir = data_dir
        self.host_ip = host_ip
        self.supervisor = supervisor
        self.allow_privileged = allow_privileged
        self.pause_image = pause_image
        self.network = network
        self.reconnect_cap = reconnect_cap
        self.docker: aiodocker.Docker | None = None
        self._version = "unknown"
        self._known: dict[str, _Known] = {}
        self._subscribers: list[ChangeCallback] = []
        self._network_cidr = ""
        self._network_lock = asyncio.Lock()
        self._watch: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self._synced = False
        self.events_seen = 0
        self._stopping: set[str] = set()  # containers the kubelet itself is stopping
        self._killed: dict[str, float] = {}  # signalled by someone else: when
        self._settling: dict[str, asyncio.TimerHandle] = {}

    # -- Protocol: identity, connection, health --------------------------------------------

    def version(self) -> str:
        return f"docker://{self._version}"

    @property
    def client(self) -> aiodocker.Docker:
        if self.docker is None:
            raise RuntimeFailure("the docker runtime is not started")
        return self.docker

    async def start(self) -> None:
        self.docker = aiodocker.Docker(url=self.docker_host)
        try:
            async with asyncio.timeout(5):
                self._version = str((await self.docker.version()).get("Version") or "unknown")
        except DOCKER_ERRORS as e:
            log.warning("docker runtime: cannot reach Docker at %s yet (%s); retrying in the "
                        "background", self.docker_host, e)
        coro = self._watch_events()
        name = f"kubelet {self.node_name} docker events"
        self._watch = (self.supervisor.start(coro, name=name) if self.supervisor
                       else asyncio.create_task(coro, name=name))

    async def close(self) -> None:
        for handle in self._settling.values():
            handle.cancel()
        self._settling.clear()
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        elif self.docker is not None:
            await self.docker.close()

    def subscribe(self, callback: ChangeCallback) -> None:
        self._subscribers.append(callback)

    def _notify(self, uids: Iterable[str]) -> None:
        for uid in set(uids):
            if not uid:
                continue
            for cb in self._subscribers:
                try:
                    cb(uid)
                except Exception:
                    log.exception("docker runtime: a change subscriber failed")

    async def healthy(self) -> tuple[bool, str]:
        try:
            async with asyncio.timeout(3):
                v = await self.client.version()
        except (*DOCKER_ERRORS, RuntimeFailure) as e:
            return False, (f"container runtime is down: cannot connect to Docker at "
                           f"{self.docker_host}: {e or type(e).__name__}")
        self._version = str(v.get("Version") or self._version)
        return True, ""

    # -- the cache and the event stream --------------------------------------------------------

    def _filters(self, **extra: list[str]) -> str:
        return json.dumps({"label": [f"{spec.NODE}={self.node_name}"], **extra})

    async def _inspect(self, cid: str) -> _Known | None:
        """Refresh the cache entry of ``cid`` (dropped if Docker no longer has it)."""
        try:
            info = await self.client.containers.container(cid).show()
        except aiodocker.DockerError as e:
            if e.status == 404:
                self._known.pop(cid, None)
                return None
            raise
        k = _Known(info)
        self._known[k.id] = k
        return k

    async def _resync(self) -> None:
        listed = await self.client.containers.list(all=True, filters=self._filters())
        sem = asyncio.Semaphore(16)

        async def show(c: Any) -> Object | None:
            async with sem:
                try:
                    return dict(await c.show())
                except aiodocker.DockerError as e:
                    if e.status == 404:
                        return None
                    raise

        infos = await asyncio.gather(*(show(c) for c in listed))
        before = {k.uid for k in self._known.values()}
        self._known = {str(i["Id"]): _Known(i) for i in infos if i is not None}
        if self._synced:
            # Back after an outage: every pod may have changed (containers die with dockerd).
            # The first list needs no wake-up: the kubelet syncs each pod the API has and
            # its orphan scan finds the rest.
            self._notify(before | {k.uid for k in self._known.values()})
        self._synced = True

    async def _watch_events(self) -> None:
        """Follow Docker's events for this node's containers, reconnecting forever. The
        task lives as long as the kubelet: when it is cancelled the process is stopping, so
        the Docker client goes with it."""
        try:
            await self._follow_events()
        finally:
            if self.docker is not None:
                await self.docker.close()

    async def _follow_events(self) -> None:
        delay = 0.5
        down_since: float | None = None
        while True:
            try:
                since = int(time.time()) - 1
                await self._resync()  # events from `since` on are replayed below
                async with self.client._query(
                        "events", params={"since": str(since), "filters": self._filters(
                            type=["container"], event=list(EVENTS))},
                        timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
                    if down_since is not None:
                        log.info("docker runtime: Docker at %s is back", self.docker_host)
                    down_since = None
                    delay = 0.5
                    self.connected.set()
                    async for line in resp.content:
                        if line.strip():
                            await self._on_event(json.loads(line))
                raise ConnectionError("the event stream ended")
            except asyncio.CancelledError:
                raise
            except (*DOCKER_ERRORS, ValueError) as e:
                self.connected.clear()
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("docker runtime: lost Docker at %s (%s); reconnecting",
                                self.docker_host, e or type(e).__name__)
            await asyncio.sleep(delay)
            delay = min(self.reconnect_cap, delay * 2)

    async def _on_event(self, event: Object) -> None:
        self.events_seen += 1
        actor = event.get("Actor") or {}
        cid = str(actor.get("ID") or event.get("id") or "")
        uid = str((actor.get("Attributes") or {}).get(spec.POD_UID) or "")
        if not cid:
            return
        action = event.get("Action")
        if action == "kill":
            now = time.monotonic()
            for old in [c for c, t in self._killed.items() if now - t > EXTERNAL_STOP_SETTLE]:
                del self._killed[old]  # signals that killed nothing (SIGHUP...)
            if cid not in self._stopping:
                self._killed[cid] = now
            return
        if action == "destroy":
            self._known.pop(cid, None)
            self._killed.pop(cid, None)
        else:
            try:
                await self._inspect(cid)
            except aiodocker.DockerError as e:
                log.debug("docker runtime: inspect of %s after an event failed: %s", cid, e)
        killed = self._killed.pop(cid, None) if action == "die" else None
        if killed is not None and time.monotonic() - killed < EXTERNAL_STOP_SETTLE:
            self._notify_later(uid, EXTERNAL_STOP_SETTLE)
        else:
            self._notify([uid])

    def _notify_later(self, uid: str, delay: float) -> None:
        """Wake the pod after ``delay`` (see EXTERNAL_STOP_SETTLE); one timer per pod."""
        if not uid or uid in self._settling:
            return

        def fire() -> None:
            self._settling.pop(uid, None)
            self._notify([uid])

        self._settling[uid] = asyncio.get_running_loop().call_later(delay, fire)

    # -- Protocol: reading ----------------------------------------------------------------

    def _of(self, uid: str) -> list[_Known]:
        return [k for k in self._known.values() if k.uid == uid]

    def _sandbox(self, uid: str) -> _Known | None:
        boxes = sorted((k for k in self._of(uid) if k.sandbox),
                       key=lambda k: (k.attempt, k.created), reverse=True)
        return boxes[0] if boxes else None

    def _ip(self, k: _Known) -> str:
        nets = (k.info.get("NetworkSettings") or {}).get("Networks") or {}
        return str((nets.get(self.network) or {}).get("IPAddress") or "")

    async def list_pods(self) -> list[RunningPod]:
        pods: dict[str, RunningPod] = {}
        for k in self._known.values():
            labels = k.labels
            rp = pods.setdefault(k.uid, RunningPod(
                uid=k.uid, namespace=labels.get(spec.POD_NAMESPACE, ""),
                name=labels.get(spec.POD_NAME, "")))
            rp.container_ids.append(f"docker://{k.id}")
            rp.running = rp.running or k.running
        return list(pods.values())

    async def pod_status(self, pod: Object) -> PodRuntimeStatus:
        md = pod.get("metadata") or {}
        uid = str(md.get("uid") or "")
        mine = self._of(uid)
        if not mine:
            return PodRuntimeStatus(uid=uid)
        box = self._sandbox(uid)
        return PodRuntimeStatus(
            uid=uid, namespace=str(md.get("namespace") or ""), name=str(md.get("name") or ""),
            sandbox_ready=box is not None and box.running,
            ip=self._ip(box) if box is not None else "",
            containers=[spec.instance(k.info) for k in mine if not k.sandbox])

    async def sandbox_pid(self, pod_uid: str) -> int | None:
        """The process id of the pod's running pause container, freshly inspected (a
        restarted sandbox has a new one), or None: whose network namespace is the pod's."""
        box = self._sandbox(pod_uid)
        fresh = await self._inspect(box.id) if box is not None else None
        pid = (fresh.info.get("State") or {}).get("Pid") if fresh is not None else None
        return pid if isinstance(pid, int) and pid > 0 and fresh is not None and fresh.running \
            else None

    def container_id(self, pod_uid: str, name: str, *, previous: bool = False) -> str | None:
        """The Docker id of the newest (or, with ``previous``, the one before) instance of
        container ``name`` of the pod; for logs and exec."""
        found = sorted((k for k in self._of(pod_uid) if k.name == name and not k.sandbox),
                       key=lambda k: (k.attempt, k.created), reverse=True)
        idx = 1 if previous else 0
        return found[idx].id if len(found) > idx else None

    # -- Protocol: sandbox and containers ----------------------------------------------------

    async def _remove(self, cid: str) -> None:
        try:
            await self.client.containers.container(cid).delete(force=True)
        except aiodocker.DockerError as e:
            if e.status != 404:
                raise
        self._known.pop(cid, None)

    async def _remove_named(self, name: str) -> None:
        """Remove a leftover container called ``name`` (a start that failed half-way)."""
        for k in list(self._known.values()):
            if k.info.get("Name", "").lstrip("/") == name:
                await self._remove(k.id)
        try:
            await self.client.containers.container(name).delete(force=True)
        except aiodocker.DockerError as e:
            if e.status != 404:
                raise

    async def _image_present(self, ref: str) -> bool:
        try:
            await self.client.images.inspect(ref)
            return True
        except aiodocker.DockerError as e:
            if e.status == 404:
                return False
            raise

    async def _ensure_image(self, ref: str, policy: str) -> None:
        present = await self._image_present(ref)
        if policy == "Never":
            if not present:
                raise spec.never_pull_error(ref)
            return
        if present and (policy == "IfNotPresent" or not spec.names_registry(ref)):
            return
        try:
            async with asyncio.timeout(120):
                await self.client.images.pull(ref)
        except (TimeoutError, aiodocker.DockerError) as e:
            if present:
                log.info("docker runtime: pulling %s failed (%s); using the local image", ref,
                         e)
                return
            raise spec.pull_error(ref, str(e) or "timed out") from e

    async def _create_start(self, config: Object, *, name: str, reason: str) -> _Known:
        await self._remove_named(name)
        try:
            created = await self.client.containers.create(config, name=name)
        except aiodocker.DockerError as e:
            raise StartError(reason, f"creating container {name}: {e.message}") from e
        try:
            await created.start()
        except aiodocker.DockerError as e:
            await self._remove(created.id)
            run_reason = "CreatePodSandboxError" if reason == "CreatePodSandboxError" \
                else "RunContainerError"
            raise StartError(run_reason, f"starting container {name}: {e.message}") from e
        k = await self._inspect(created.id)
        if k is None:
            raise RuntimeFailure(f"container {name} vanished right after it started")
        return k

    async def ensure_sandbox(self, pod: Object, *, pod_cidr: str = "") -> str:
        md = pod.get("metadata") or {}
        uid = str(md.get("uid") or "")
        box = self._sandbox(uid)
        if box is not None and box.running:
            return self._ip(box)
        if not pod_cidr:
            raise RuntimeFailure("the node has no spec.podCIDR yet; waiting for one")
        async with self._network_lock:
            if pod_cidr != self._network_cidr:
                await ensure_network(self.client, pod_cidr, node=self.node_name,
                                     name=self.network)
                self._network_cidr = pod_cidr
        if not await self._image_present(self.pause_image):
            raise StartError("CreatePodSandboxError",
                             f'pod infrastructure image "{self.pause_image}" is not present: '
                             f"{spec.HINT}")
        attempt = box.attempt + 1 if box is not None else 0
        exposed, bindings = spec.port_bindings(pod)
        hostname = str((pod.get("spec") or {}).get("hostname") or md.get("name") or "")[:63]
        config: Object = {
            "Image": self.pause_image, "Hostname": hostname, "ExposedPorts": exposed,
            "Labels": {**spec.pod_labels(pod, node=self.node_name),
                       spec.CONTAINER_NAME: spec.POD_CONTAINER,
                       spec.CONTAINER_TYPE: spec.SANDBOX, spec.RESTART_COUNT: str(attempt)},
            "HostConfig": {"NetworkMode": self.network, "PortBindings": bindings,
                           "IpcMode": "shareable", "RestartPolicy": {"Name": "no"},
                           "LogConfig": LOG_CONFIG},
            "NetworkingConfig": {"EndpointsConfig": {self.network: {}}},
        }
        new = await self._create_start(config, name=spec.container_name(
            pod, spec.POD_CONTAINER, attempt), reason="CreatePodSandboxError")
        # Keep the sandbox before this one (its dead containers point at it), not older ones
        # nor any that never started (a start that failed half-way, as on a dying daemon).
        for k in self._of(uid):
            if (k.sandbox and k.id != new.id and not k.running
                    and (k.attempt < attempt - 1 or k.never_started)):
                await self._remove(k.id)
        return self._ip(new)

    async def start_container(self, pod: Object, container: Object, *, attempt: int) -> str:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        name = str(container.get("name") or "")
        box = self._sandbox(uid)
        if box is None or not box.running:
            raise StartError("CreateContainerError", "the pod has no running sandbox")
        ref = spec.image_ref(str(container.get("image") or ""))
        await self._ensure_image(ref, spec.pull_policy(container))
        sc = container.get("securityContext") or {}
        if sc.get("privileged") and not self.allow_privileged:
            raise StartError("CreateContainerConfigError",
                             f"container {name} is privileged, and this node does not allow "
                             "privileged containers (start it with --allow-privileged)")
        binds = volumes.binds(pod, container, data_dir=self.data_dir)
        env = spec.container_env(pod, container, pod_ip=self._ip(box), host_ip=self.host_ip)
        host: Object = {"NetworkMode": f"container:{box.id}", "IpcMode": f"container:{box.id}",
                        "Binds": binds, "Privileged": bool(sc.get("privileged")),
                        "RestartPolicy": {"Name": "no"}, "LogConfig": LOG_CONFIG,
                        **spec.resources_config(container)}
        config: Object = {
            "Image": ref, "Env": [f"{k}={v}" for k, v in env.items()],
            "Labels": {**spec.pod_labels(pod, node=self.node_name),
                       spec.CONTAINER_NAME: name, spec.CONTAINER_TYPE: spec.APP,
                       spec.RESTART_COUNT: str(attempt), spec.SANDBOX_ID: box.id},
            "Tty": bool(container.get("tty")), "OpenStdin": bool(container.get("stdin")),
            "StdinOnce": bool(container.get("stdinOnce")),
            "HostConfig": host, **spec.command_config(container, env)}
        if container.get("workingDir"):
            config["WorkingDir"] = str(container["workingDir"])
        k = await self._create_start(config, name=spec.container_name(pod, name, attempt),
                                     reason="CreateContainerError")
        # Garbage: dead instances older than the one before this (that one is lastState),
        # and those that never started.
        for old in self._of(uid):
            if (not old.sandbox and old.name == name and old.id != k.id and not old.running
                    and (old.attempt < attempt - 1 or old.never_started)):
                await self._remove(old.id)
        return f"docker://{k.id}"

    async def _stop(self, cid: str, grace: float) -> None:
        self._stopping.add(cid)
        try:
            await self.client.containers.container(cid).stop(t=max(0, math.ceil(grace)))
        except aiodocker.DockerError as e:
            if e.status not in (304, 404):
                raise RuntimeFailure(f"stopping container {cid[:12]}: {e}") from e
        finally:
            self._stopping.discard(cid)
        try:
            await self._inspect(cid)
        except aiodocker.DockerError as e:
            raise RuntimeFailure(f"inspecting container {cid[:12]}: {e}") from e

    async def kill_container(self, pod_uid: str, name: str, *, grace_period: float) -> None:
        await asyncio.gather(*(self._stop(k.id, grace_period) for k in self._of(pod_uid)
                               if not k.sandbox and k.name == name and k.running))

    async def kill_pod(self, pod_uid: str, *, grace_period: float) -> None:
        try:
            await asyncio.gather(*(self._stop(k.id, grace_period) for k in self._of(pod_uid)
                                   if not k.sandbox and k.running))
            await asyncio.gather(*(self._stop(k.id, min(grace_period, 2.0))
                                   for k in self._of(pod_uid) if k.sandbox and k.running))
        except DOCKER_ERRORS as e:
            raise RuntimeFailure(f"docker: {e}") from e

    async def project_volume(self, pod: Object, volume: str, *, plugin: str,
                             files: Mapping[str, FileProjection]) -> None:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        if not uid:
            raise RuntimeFailure("a pod without metadata.uid")
        if await asyncio.to_thread(volumes.project, self.data_dir, uid, plugin=plugin,
                                   name=volume, files=files):
            log.debug("docker runtime: volume %s of pod %s updated", volume, uid)

    async def remove_pod(self, pod_uid: str) -> None:
        mine = self._of(pod_uid)
        try:
            for k in sorted(mine, key=lambda k: k.sandbox):  # app containers first
                await self._remove(k.id)
        except DOCKER_ERRORS as e:
            raise RuntimeFailure(f"docker: {e}") from e
        volumes.remove_pod_dir(self.data_dir, pod_uid)

    # -- probes -------------------------------------------------------------------------------

    async def exec_probe(self, pod_uid: str, name: str, command: list[str]) -> tuple[int, str]:
        """Run ``command`` in the running instance of container ``name``: (exit code,
        output); RuntimeFailure if none runs. The caller bounds it with asyncio.timeout."""
        running = [k for k in self._of(pod_uid)
                   if not k.sandbox and k.name == name and k.running]
        if not running:
            raise RuntimeFailure(f"container {name} is not running")
        out: list[bytes] = []
        try:
            ex = await self.client.containers.container(running[0].id).exec(command)
            async with ex.start(detach=False) as stream:
                while (msg := await stream.read_out()) is not None:
                    if sum(map(len, out)) < 10_000:
                        out.append(msg.data)
            code = (await ex.inspect()).get("ExitCode")
        except aiodocker.DockerError as e:
            raise RuntimeFailure(f"exec in {name}: {e}") from e
        return (int(code) if code is not None else -1,
                b"".join(out).decode("utf-8", "replace"))

    def __len__(self) -> int:
        return len({k.uid for k in self._known.values()})


__all__ = ["PAUSE_IMAGE", "ContainerState", "DockerRuntime"]
