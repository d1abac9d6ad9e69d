"""DownwardAPI and projected volumes: which files each should hold.

The runtime-independent half of Kubernetes' downwardAPI and projected volume plugins, beside
configvolumes.py's secret and configMap ones. A ``downwardAPI`` volume is downwardapi.py's
``collect`` over its items. A ``projected`` volume merges its ``sources`` into one directory
(pkg/volume/projected collectData), in order, a later source's path replacing an earlier one:

- ``secret`` / ``configMap`` ``{name, items, optional}``: the secret or configMap volume's
  payload (configvolumes.py) with the projected volume's ``defaultMode``; a missing object is
  nothing when optional, an error otherwise;
- ``downwardAPI {items}``: as a downwardAPI volume;
- ``serviceAccountToken``: refused. This cluster has no service accounts and no TokenRequest,
  so the pod waits with a FailedMount event that says so, as a Kubernetes kubelet reports a
  token it cannot fetch (``failed to fetch token: ...``); ``clusterTrustBundle`` and
  ``podCertificate`` likewise.

Every source is tried and the failures are reported together (Go's aggregate), as Kubernetes
does. podvolumes.py lists a pod's volumes and syncs them; the runtime writes the files under
``kubernetes.io~downward-api/<name>`` and ``kubernetes.io~projected/<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .atomic_writer import FileProjection
from .configcache import ConfigError, ConfigGetter, Kind
from .configvolumes import DEFAULT_MODE, ConfigVolume, payload
from .downwardapi import Allocatable, aggregate, collect

Object = dict[str, Any]
DOWNWARD_API_PLUGIN = "kubernetes.io~downward-api"
PROJECTED_PLUGIN = "kubernetes.io~projected"
NO_SERVICE_ACCOUNTS = ("failed to fetch token: serviceAccountToken sources are not supported: "
                       "this cluster has no service accounts")


def _mode(value: Any) -> int:
    return value & 0o777 if isinstance(value, int) and not isinstance(value, bool) \
        else DEFAULT_MODE


@dataclass(frozen=True, slots=True)
class DownwardAPIVolume:
    name: str
    items: tuple[Object, ...] = ()
    default_mode: int = DEFAULT_MODE
    plugin: str = DOWNWARD_API_PLUGIN

    @classmethod
    def of(cls, name: str, src: Object) -> DownwardAPIVolume:
        return cls(name=name, items=tuple(i for i in src.get("items") or []
                                          if isinstance(i, dict)),
                   default_mode=_mode(src.get("defaultMode")))

    async def files(self, pod: Object, *, getter: ConfigGetter,
                    allocatable: Allocatable) -> dict[str, FileProjection]:
        return collect(list(self.items), pod, default_mode=self.default_mode,
                       allocatable=allocatable)


@dataclass(frozen=True, slots=True)
class ProjectedVolume:
    name: str
    sources: tuple[Object, ...] = ()
    default_mode: int = DEFAULT_MODE
    plugin: str = PROJECTED_PLUGIN

    @classmethod
    def of(cls, name: str, src: Object) -> ProjectedVolume:
        return cls(name=name, sources=tuple(s for s in src.get("sources") or []
                                            if isinstance(s, dict)),
                   default_mode=_mode(src.get("defaultMode")))

    def config_source(self, source: Object) -> ConfigVolume | None:
        """A secret or configMap source as the volume it would be on its own."""
        for key, kind in (("secret", Kind.SECRET), ("configMap", Kind.CONFIGMAP)):
            ref = source.get(key)
            if isinstance(ref, dict):
                items = ref.get("items")
                return ConfigVolume(
                    name=self.name, kind=kind, source=str(ref.get("name") or ""),
                    items=tuple(i for i in items if isinstance(i, dict)) if items else None,
                    default_mode=self.default_mode, optional=bool(ref.get("optional")))
        return None

    async def files(self, pod: Object, *, getter: ConfigGetter,
                    allocatable: Allocatable) -> dict[str, FileProjection]:
        namespace = str((pod.get("metadata") or {}).get("namespace") or "")
        out: dict[str, FileProjection] = {}
        errors: list[str] = []
        for source in self.sources:
            try:
                config = self.config_source(source)
                if config is not None:
                    out.update(await payload(config, namespace, getter))
                elif isinstance(source.get("downwardAPI"), dict):
                    out.update(collect(source["downwardAPI"].get("items"), pod,
                                       default_mode=self.default_mode,
                                       allocatable=allocatable))
                elif source.get("serviceAccountToken") is not None:
                    errors.append(NO_SERVICE_ACCOUNTS)
                else:
                    kinds = ", ".join(sorted(source)) or "empty"
                    errors.append(f"projected source {kinds} is not supported on this node")
            except ConfigError as e:
                errors.append(e.message)
        if errors:
            raise ConfigError(aggregate(errors))
        return out
