"""Pod volumes on a Docker node: emptyDir directories and hostPath bind mounts.

An emptyDir lives at ``<data-dir>/pods/<uid>/volumes/kubernetes.io~empty-dir/<name>`` (the
kubelet's layout), made on the first container start that mounts it, shared by every
container of the pod through its bind mount, and removed with the pod (``remove_pod_dir``).
A hostPath is bound as it is (made first for type DirectoryOrCreate). Other volume types are
a CreateContainerConfigError: this node has no secrets or config maps to project. Called by
runtime.py's ``start_container``; nothing here talks to Docker.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from ..runtime import StartError

Object = dict[str, Any]


def pod_dir(data_dir: Path, uid: str) -> Path:
    return data_dir / "pods" / uid


def _source(vol: Object, *, data_dir: Path, uid: str) -> Path:
    name = str(vol.get("name") or "")
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
                     "this node (emptyDir and hostPath are)")


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
        dst = str(m.get("mountPath") or "")
        if not dst.startswith("/"):
            raise StartError("CreateContainerConfigError",
                             f"volumeMount {name}: mountPath must be absolute")
        out.append(f"{src}:{dst}{':ro' if m.get('readOnly') else ''}")
    return out


def remove_pod_dir(data_dir: Path, uid: str) -> None:
    """Remove the pod's directory (its emptyDirs). hostPaths are binds, never deleted."""
    if uid:
        shutil.rmtree(pod_dir(data_dir, uid), ignore_errors=True)
