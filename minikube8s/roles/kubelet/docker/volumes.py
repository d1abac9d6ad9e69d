"""Pod volumes on a Docker node: emptyDir, hostPath, and the file volumes as bind mounts.

An emptyDir lives at ``<data-dir>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>`` (the
kubelet's layout), made on the first container start that mounts it, shared by every
container of the pod through its bind mount, and removed with the pod (``remove_pod_dir``).
A hostPath is bound as it is (made first for type DirectoryOrCreate). A secret, configMap,
downwardAPI or projected volume is ``volumes/kubernetes.io~secret/<name>``
(``kubernetes.io~configmap``, ``kubernetes.io~downward-api``, ``kubernetes.io~projected``),
written by ``project`` with atomic_writer.py (the kubelet core has built the files:
podvolumes.py) before any container mounts it, and always bound read-only, as Kubernetes
does; an update swaps its ``..data`` link, which running containers see through the bind. A
``subPath`` of one binds the file as it is then (Kubernetes: such mounts get no updates).
Other volume types are a CreateContainerConfigError. Called by runtime.py's
``start_container`` and ``project_volume``; nothing here talks to Docker.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..atomic_writer import FileProjection, write_atomically
from ..configvolumes import CONFIGMAP_PLUGIN, SECRET_PLUGIN
from ..projected import DOWNWARD_API_PLUGIN, PROJECTED_PLUGIN
from ..runtime import StartError

Object = dict[str, Any]


def pod_dir(data_dir: Path, uid: str) -> Path:
    return data_dir / "pods" / uid


PROJECTED = {"secret": SECRET_PLUGIN, "configMap": CONFIGMAP_PLUGIN,
             "downwardAPI": DOWNWARD_API_PLUGIN, "projected": PROJECTED_PLUGIN}
"""Volume types whose files the kubelet writes, by the plugin directory they live in."""


def projected_dir(data_dir: Path, uid: str, *, plugin: str, name: str) -> Path:
    return pod_dir(data_dir, uid) / "volumes" / plugin / name


def project(data_dir: Path, uid: str, *, plugin: str, name: str,
            files: Mapping[str, FileProjection]) -> bool:
    """Write a file volume (False: it already showed ``files``). The plugin
    directory is 0700: only the node reads secrets on the host; containers see the volume
    through their bind."""
    base = pod_dir(data_dir, uid) / "volumes" / plugin
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o700)
    target = base / name
    target.mkdir(exist_ok=True)
    target.chmod(0o755)
    return write_atomically(target, files)


def _projected_kind(vol: Object) -> str:
    return next((k for k in PROJECTED if isinstance(vol.get(k), dict)), "")


def _source(vol: Object, *, data_dir: Path, uid: str) -> Path:
    name = str(vol.get("name") or "")
    kind = _projected_kind(vol)
    if kind:
        path = projected_dir(data_dir, uid, plugin=PROJECTED[kind], name=name)
        if not path.is_dir():
            raise StartError("CreateContainerConfigError",
                             f"volume {name}: the {kind} volume is not set up yet")
        return path
    if "emptyDir" in vol:
        path = pod_dir(data_dir, uid) / "volumes" / "kubernetes.io~empty-dir" / name
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # any container user may write, as Kubernetes does
        return path
    if "hostPath" in vol:
        hp = vol.get("hostPath") or {}
        path = Path(str(hp.get("path") or ""))
        if not path.is_absolute():
            raise StartError("CreateContainerConfigError",
                             f"volume {name}: hostPath.path must be absolute")
        kind = str(hp.get("type") or "")
        if kind == "DirectoryOrCreate":
            path.mkdir(parents=True, exist_ok=True)
        elif kind in ("Directory", "File", "Socket") and not path.exists():
            raise StartError("CreateContainerConfigError",
                             f"volume {name}: hostPath {path} does not exist")
        return path
    kinds = [k for k in vol if k != "name"]
    raise StartError("CreateContainerConfigError",
                     f"volume {name}: type {', '.join(kinds) or '?'} is not supported on "
                     "this node (emptyDir, hostPath, secret, configMap, downwardAPI and "
                     "projected are)")


def binds(pod: Object, container: Object, *, data_dir: Path) -> list[str]:
    """Docker ``Binds`` (``src:dst[:ro]``) for the container's volumeMounts."""
    uid = str((pod.get("metadata") or {}).get("uid") or "")
    volumes = {str(v.get("name")): v for v in (pod.get("spec") or {}).get("volumes") or []}
    out: list[str] = []
    for m in container.get("volumeMounts") or []:
        name = str(m.get("name") or "")
        vol = volumes.get(name)
        if vol is None:
            raise StartError("CreateContainerConfigError",
                             f"volumeMount {name}: the pod has no volume of that name")
        src = _source(vol, data_dir=data_dir, uid=uid)
        sub = str(m.get("subPath") or "")
        if sub:
            if os.path.isabs(sub) or ".." in Path(sub).parts:
                raise StartError("CreateContainerConfigError",
                                 f"volumeMount {name}: bad subPath {sub!r}")
            src = src / sub
            if "emptyDir" in vol:
                src.mkdir(parents=True, exist_ok=True)
            elif _projected_kind(vol) and not src.exists():
                # Docker would make the missing source a directory inside the volume.
                raise StartError("CreateContainerConfigError",
                                 f'failed to prepare subPath for volumeMount "{name}" of '
                                 f'container "{container.get("name")}"')
        dst = str(m.get("mountPath") or "")
        if not dst.startswith("/"):
            raise StartError("CreateContainerConfigError",
                             f"volumeMount {name}: mountPath must be absolute")
        read_only = bool(m.get("readOnly")) or bool(_projected_kind(vol))
        out.append(f"{src}:{dst}{':ro' if read_only else ''}")
    return out


def remove_pod_dir(data_dir: Path, uid: str) -> None:
    """Remove the pod's directory (its emptyDirs). hostPaths are binds, never deleted."""
    if uid:
        shutil.rmtree(pod_dir(data_dir, uid), ignore_errors=True)
