"""A pod's volumes that the kubelet fills with files, set up and kept current on every sync.

Four volume types hold files the kubelet writes rather than storage it binds: ``secret`` and
``configMap`` (configvolumes.py), ``downwardAPI`` and ``projected`` (projected.py, over
downwardapi.py). ``PodVolumes.sync(pod)`` builds each one's files and hands them to the runtime
(``Runtime.project_volume``: the Docker runtime writes them with atomic_writer.py under
``<data-dir>/pods/<uid>/volumes/<plugin>/<name>``; hollow forgets them). It runs on every sync
of a live pod, before its sandbox, which is what makes a downwardAPI file follow the pod's
labels (every update of the pod syncs it) and a secret file follow the secret (pods with such
volumes are resynced every sync period):

- a volume never set up keeps the pod's containers from starting (``ready`` False);
- each failure is one ``FailedMount`` message in Kubernetes' words (``MountVolume.SetUp
  failed for volume "creds" : secret "db" not found``);
- a volume set up before keeps its files when a refresh fails (the secret deleted under a
  running pod), as Kubernetes does.

Neighbours: pod_workers.py calls ``sync`` and ``forget`` and emits the events; the node's
allocatable resources (for resourceFieldRef limits left unset) come from the kubelet.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .atomic_writer import FileProjection, PayloadError
from .configcache import ConfigError, ConfigGetter
from .configvolumes import ConfigVolume, config_volumes, failed_mount, payload
from .downwardapi import Allocatable
from .projected import DownwardAPIVolume, ProjectedVolume
from .runtime import RuntimeFailure

Object = dict[str, Any]
Volume = ConfigVolume | DownwardAPIVolume | ProjectedVolume

ProjectFunc = Callable[..., Awaitable[None]]
"""``Runtime.project_volume(pod, volume, plugin=..., files=...)``."""


def pod_volumes(pod: Object) -> list[Volume]:
    """The pod's secret, configMap, downwardAPI and projected volumes, in spec order."""
    configs = {v.name: v for v in config_volumes(pod)}
    out: list[Volume] = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        name = str(v.get("name") or "")
        if name in configs:
            out.append(configs[name])
        elif isinstance(v.get("downwardAPI"), dict):
            out.append(DownwardAPIVolume.of(name, v["downwardAPI"]))
        elif isinstance(v.get("projected"), dict):
            out.append(ProjectedVolume.of(name, v["projected"]))
    return out


async def volume_files(vol: Volume, pod: Object, *, getter: ConfigGetter,
                       allocatable: Allocatable) -> dict[str, FileProjection]:
    """The files of ``vol`` now; ConfigError when they cannot be had."""
    if isinstance(vol, ConfigVolume):
        namespace = str((pod.get("metadata") or {}).get("namespace") or "")
        return await payload(vol, namespace, getter)
    return await vol.files(pod, getter=getter, allocatable=allocatable)


@dataclass(slots=True)
class MountResult:
    ready: bool = True
    """Every volume has been set up (now or before): containers may start."""
    errors: list[str] = field(default_factory=list)
    """FailedMount messages of this sync."""
    volumes: int = 0
    refreshed: int = 0
    """Volumes whose files follow objects in the API (secret, configMap, projected): the
    pod is resynced every sync period for them."""


class PodVolumes:
    """Sets up and refreshes the file-backed volumes of one node's pods."""

    def __init__(self, getter: ConfigGetter, project: ProjectFunc, *,
                 allocatable: Callable[[], Allocatable] = dict) -> None:
        self.getter = getter
        self.project = project
        self.allocatable = allocatable
        self._set_up: dict[str, set[str]] = {}
        """uid -> names of the volumes written at least once."""

    async def sync(self, pod: Object) -> MountResult:
        uid = str((pod.get("metadata") or {}).get("uid") or "")
        vols = pod_volumes(pod)
        result = MountResult(volumes=len(vols), refreshed=sum(
            1 for v in vols if not isinstance(v, DownwardAPIVolume)))
        done = self._set_up.setdefault(uid, set()) if vols else set()
        for vol in vols:
            try:
                files = await volume_files(vol, pod, getter=self.getter,
                                           allocatable=self.allocatable())
                await self.project(pod, vol.name, plugin=vol.plugin, files=files)
            except (ConfigError, PayloadError, RuntimeFailure, OSError) as e:
                result.errors.append(failed_mount(vol.name, str(e)))
                if vol.name not in done:
                    result.ready = False
                continue
            done.add(vol.name)
        return result

    def forget(self, uid: str) -> None:
        self._set_up.pop(uid, None)
