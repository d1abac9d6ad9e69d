"""Environment variables from secrets and config maps, resolved before a container starts.

The part of Kubernetes' makeEnvironmentVariables that reads the API: ``envFrom[]``
(``{prefix, secretRef|configMapRef: {name, optional}}``) and ``env[].valueFrom.secretKeyRef``
/ ``configMapKeyRef`` (``{name, key, optional}``). ``resolve_env`` returns a copy of the
container whose env the runtime can finish by itself (docker/containers.py knows the pod IP
for ``fieldRef`` and does the ``$(VAR)`` expansion):

- every key of each envFrom object becomes a literal env item, first, in order (a later
  ``env`` item of the same name wins, as in Kubernetes); a configMap gives its ``data`` only.
  Keys that are not valid variable names after the prefix are skipped and reported
  (``warnings``: the InvalidEnvironmentVariableNames event text);
- each key ref becomes a literal item with the value read; ``fieldRef`` items stay;
- values read from objects have ``$`` doubled, so the runtime's expansion gives them back
  unchanged: Kubernetes expands only literal ``value`` fields, never data from the API.

A missing object or key raises ConfigError with Kubernetes' message (``secret "db" not
found``, ``couldn't find key pw in Secret default/db``), which pod_workers.py shows as the
container's CreateContainerConfigError and retries; ``optional: true`` leaves the variable
(or the whole envFrom source) out instead. Reads go through configcache.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...api import names
from .configcache import ConfigError, ConfigGetter, Kind, configmap_data, secret_data

Object = dict[str, Any]


@dataclass(slots=True)
class ResolvedEnv:
    container: Object
    """The container to start: ``envFrom`` gone, key refs replaced by literal values."""
    warnings: list[str] = field(default_factory=list)
    """InvalidEnvironmentVariableNames messages."""


def uses_config(container: Object) -> bool:
    """Whether the container's env reads any secret or configMap."""
    if container.get("envFrom"):
        return True
    for item in container.get("env") or []:
        source = item.get("valueFrom") or {}
        if source.get("secretKeyRef") or source.get("configMapKeyRef"):
            return True
    return False


def _literal(name: str, value: str) -> Object:
    return {"name": name, "value": value.replace("$", "$$")}


class _Reader:
    """One resolution's reads: each object fetched once, decoded once."""

    def __init__(self, getter: ConfigGetter, namespace: str) -> None:
        self.getter = getter
        self.namespace = namespace
        self._data: dict[tuple[Kind, str], dict[str, str] | None] = {}

    async def data(self, kind: Kind, name: str, *, optional: bool) -> dict[str, str] | None:
        """The object's string data (None: missing and optional)."""
        if (kind, name) not in self._data:
            try:
                obj = await self.getter.get(kind, self.namespace, name)
            except ConfigError as e:
                if e.missing and optional:
                    return None
                raise
            if kind is Kind.SECRET:
                self._data[kind, name] = {k: v.decode("utf-8", "replace")
                                          for k, v in secret_data(obj).items()}
            else:
                self._data[kind, name] = configmap_data(obj)[0]
        return self._data[kind, name]


async def _from_sources(container: Object, reader: _Reader) -> tuple[list[Object], list[str]]:
    items: list[Object] = []
    warnings: list[str] = []
    for source in container.get("envFrom") or []:
        prefix = str(source.get("prefix") or "")
        for key, kind in (("configMapRef", Kind.CONFIGMAP), ("secretRef", Kind.SECRET)):
            ref = source.get(key)
            if not isinstance(ref, dict):
                continue
            name = str(ref.get("name") or "")
            data = await reader.data(kind, name, optional=bool(ref.get("optional")))
            invalid: list[str] = []
            for k, v in (data or {}).items():
                var = prefix + k
                if names.is_env_var_name(var):
                    invalid.append(var)
                    continue
                items.append(_literal(var, v))
            if invalid:
                label = "configMap" if kind is Kind.CONFIGMAP else "secret"
                warnings.append(
                    f"Keys [{', '.join(sorted(invalid))}] from the EnvFrom {label} "
                    f"{reader.namespace}/{name} were skipped since they are considered "
                    "invalid environment variable names.")
    return items, warnings


async def _key_ref(item: Object, reader: _Reader) -> Object | None:
    """``item`` with its key ref resolved (None: optional and missing); others as they are."""
    source = item.get("valueFrom") or {}
    for key, kind in (("secretKeyRef", Kind.SECRET), ("configMapKeyRef", Kind.CONFIGMAP)):
        ref = source.get(key)
        if not isinstance(ref, dict):
            continue
        name, wanted = str(ref.get("name") or ""), str(ref.get("key") or "")
        optional = bool(ref.get("optional"))
        data = await reader.data(kind, name, optional=optional)
        if data is None:
            return None
        if wanted not in data:
            if optional:
                return None
            raise ConfigError(f"couldn't find key {wanted} in {kind.kind} "
                              f"{reader.namespace}/{name}")
        return _literal(str(item.get("name") or ""), data[wanted])
    return item


async def resolve_env(pod: Object, container: Object, getter: ConfigGetter) -> ResolvedEnv:
    """The container with its secret and configMap env resolved (ConfigError if it cannot
    be); the container itself when its env reads neither."""
    if not uses_config(container):
        return ResolvedEnv(container)
    reader = _Reader(getter, str((pod.get("metadata") or {}).get("namespace") or ""))
    env, warnings = await _from_sources(container, reader)
    for item in container.get("env") or []:
        resolved = await _key_ref(item, reader)
        if resolved is not None:
            env.append(resolved)
    out = {k: v for k, v in container.items() if k not in ("env", "envFrom")}
    out["env"] = env
    return ResolvedEnv(out, warnings)
