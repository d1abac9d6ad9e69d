"""Secret and configMap volumes: which files each should hold, and keeping them so.

Kubernetes' secret and configMap volume plugins, runtime-independent half. For a volume

    {"name": "creds", "secret": {"secretName": "db", "items": [{"key": "pw", "path": "p"}],
                                 "defaultMode": 0o400, "optional": false}}

``payload`` reads the object through a ``ConfigGetter`` (configcache.py) and builds the files
(MakePayload): every key of ``data`` (a configMap's ``binaryData`` too) as a file of that name
with ``defaultMode`` (0644 when absent), or only the listed ``items`` at their ``path`` with
their own ``mode``. A missing object is an empty volume when ``optional`` is true and an error
otherwise; so is a listed key the object lacks (``references non-existent secret key: pw``).

``ConfigVolumes.sync(pod)`` does that for each such volume of a pod and hands the files to
the runtime (``Runtime.project_volume``: the Docker runtime writes them with
atomic_writer.py under ``<data-dir>/pods/<uid>/volumes/kubernetes.io~secret/<name>``; hollow
forgets them). It runs on every sync of a live pod, before its sandbox: a volume that has
never been set up keeps the pod's containers from starting (``ready`` False) and each failure
is one ``FailedMount`` message in Kubernetes' words (``MountVolume.SetUp failed for volume
"creds" : secret "db" not found``); a volume set up before keeps its files when a refresh
fails (the secret deleted under a running pod), as Kubernetes does.
Neighbours: pod_workers.py calls ``sync`` and ``forget`` and emits the events.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .atomic_writer import FileProjection, PayloadError
from .configcache import ConfigError, ConfigGetter, Kind, configmap_data, secret_data
from .runtime import RuntimeFailure

Object = dict[str, Any]
DEFAULT_MODE = 0o644
SECRET_PLUGIN = "kubernetes.io~secret"
CONFIGMAP_PLUGIN = "kubernetes.io~configmap"
PLUGINS = {Kind.SECRET: SECRET_PLUGIN, Kind.CONFIGMAP: CONFIGMAP_PLUGIN}


@dataclass(frozen=True, slots=True)
class ConfigVolume:
    """One secret or configMap volume of a pod spec."""

    name: str
    kind: Kind
    source: str
    """The secret's or config map's name."""
    items: tuple[Object, ...] | None = None
    default_mode: int = DEFAULT_MODE
    optional: bool = False

    @property
    def plugin(self) -> str:
        """The directory name of its kind under the pod's ``volumes/``."""
        return PLUGINS[self.kind]


def _mode(value: Any, default: int) -> int:
    try:
        return int(value) & 0o777 if value is not None else default
    except (TypeError, ValueError):
        return default


def config_volumes(pod: Object) -> list[ConfigVolume]:
    out: list[ConfigVolume] = []
    for v in (pod.get("spec") or {}).get("volumes") or []:
        for key, kind, name_key in (("secret", Kind.SECRET, "secretName"),
                                    ("configMap", Kind.CONFIGMAP, "name")):
            src = v.get(key)
            if not isinstance(src, dict):
                continue
            items = src.get("items")
            out.append(ConfigVolume(
                name=str(v.get("name") or ""), kind=kind, source=str(src.get(name_key) or ""),
                items=tuple(i for i in items if isinstance(i, dict)) if items else None,
                default_mode=_mode(src.get("defaultMode"), DEFAULT_MODE),
                optional=bool(src.get("optional"))))
    return out


def make_payload(vol: ConfigVolume, obj: Object | None) -> dict[str, FileProjection]:
    """MakePayload of the secret and configMap volume plugins (``obj`` None: an optional
    object that does not exist, an empty volume)."""
    if obj is None:
        return {}
    if vol.kind is Kind.SECRET:
        data = secret_data(obj)
    else:
        text, binary = configmap_data(obj)
        data = {**{k: v.encode() for k, v in text.items()}, **binary}
    if vol.items is None:
        return {k: FileProjection(v, vol.default_mode) for k, v in data.items()}
    out: dict[str, FileProjection] = {}
    for item in vol.items:
        key = str(item.get("key") or "")
        if key not in data:
            if vol.optional:
                continue
            raise ConfigError(f"references non-existent secret key: {key}"
                              if vol.kind is Kind.SECRET
                              else f"configmap references non-existent config key: {key}")
        out[str(item.get("path") or key)] = FileProjection(
            data[key], _mode(item.get("mode"), vol.default_mode))
    return out


async def payload(vol: ConfigVolume, namespace: str,
                  getter: ConfigGetter) -> dict[str, FileProjection]:
    """The files of ``vol`` now; ConfigError when they cannot be had."""
    try:
        obj: Object | None = await getter.get(vol.kind, namespace, vol.source)
    except ConfigError as e:
        if not (e.missing and vol.optional):
            raise
        obj = None
    return make_payload(vol, obj)


def failed_mount(volume: str, message: str) -> str:
    """The FailedMount event message, in Kubernetes' words."""
    return f'MountVolume.SetUp failed for volume "{volume}" : {message}'


ProjectFunc = Callable[..., Awaitable[None]]
"""``Runtime.project_volume(pod, volume, plugin=..., files=...)``."""


@dataclass(slots=True)
class MountResult:
    ready: bool = True
    """Every volume has been set up (now or before): containers may start."""
    errors: list[str] = field(default_factory=list)
    """FailedMount messages of this sync."""
    volumes: int = 0


class ConfigVolumes:
    """Sets up and refreshes the secret and configMap volumes of one node's pods."""

    def __init__(self, getter: ConfigGetter, project: ProjectFunc) -> None:
        self.getter = getter
        self.project = project
        self._set_up: dict[str, set[str]] = {}
        """uid -> names of the volumes written at least once."""

    async def sync(self, pod: Object) -> MountResult:
        md = pod.get("metadata") or {}
        uid = str(md.get("uid") or "")
        namespace = str(md.get("namespace") or "")
        vols = config_volumes(pod)
        result = MountResult(volumes=len(vols))
        done = self._set_up.setdefault(uid, set()) if vols else set()
        for vol in vols:
            try:
                files = await payload(vol, namespace, self.getter)
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

