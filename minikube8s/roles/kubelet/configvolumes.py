"""Secret and configMap volumes: which files each should hold.

Kubernetes' secret and configMap volume plugins, runtime-independent half. For a volume

    {"name": "creds", "secret": {"secretName": "db", "items": [{"key": "pw", "path": "p"}],
                                 "defaultMode": 0o400, "optional": false}}

``payload`` reads the object through a ``ConfigGetter`` (configcache.py) and builds the files
(MakePayload): every key of ``data`` (a configMap's ``binaryData`` too) as a file of that name
with ``defaultMode`` (0644 when absent), or only the listed ``items`` at their ``path`` with
their own ``mode``. A missing object is an empty volume when ``optional`` is true and an error
otherwise; so is a listed key the object lacks (``references non-existent secret key: pw``).

A projected volume's secret and configMap sources are such volumes too (projected.py).
podvolumes.py sets them up on every pod sync and hands the files to the runtime, which writes
them under ``<data-dir>/pods/<uid>/volumes/kubernetes.io~secret/<name>``; ``failed_mount``
words its FailedMount events (``MountVolume.SetUp failed for volume "creds" : secret "db"
not found``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .atomic_writer import FileProjection
from .configcache import ConfigError, ConfigGetter, Kind, configmap_data, secret_data

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
