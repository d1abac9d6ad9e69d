"""Kubernetes' AtomicWriter: the files of a secret or configMap volume, swapped in one rename.

A container reading ``/etc/secret/key`` while the kubelet refreshes the volume must see the
old set of files or the new one, never half of each. So, as pkg/volume/util/atomic_writer.go
lays a volume out::

    <target>/..2024_05_01_12_00_00.k3j2h1/   the data of one version (a fresh directory)
    <target>/..data -> ..2024_05_01_12_00_00.k3j2h1
    <target>/key -> ..data/key                  one link per top-level name of the payload
    <target>/conf -> ..data/conf                (``conf/app.yaml`` is reached through it)

``write_atomically`` writes a new timestamped directory, points a ``..data_tmp`` link at it and
renames that over ``..data`` (rename(2) is atomic), adds the links of new top-level names,
then removes the old directory and the links of names that went away. Links are relative,
so they resolve the same inside a container that has only ``<target>`` bound in. A payload
equal to what ``..data`` already shows (contents and modes) writes nothing, so refreshing a
volume on every pod sync costs a few reads.

Pure filesystem code, no asyncio: the Docker runtime's volumes.py calls it (in a thread);
configvolumes.py builds the payloads. ``FileProjection`` is the payload's value type.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

DATA_DIR = "..data"
DATA_DIR_TMP = "..data_tmp"
MAX_PATH_LENGTH = 4096
MAX_FILE_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class FileProjection:
    """One file of a volume: its bytes and its permission bits (0644 unless told)."""

    data: bytes
    mode: int = 0o644


class PayloadError(ValueError):
    """A payload path the writer refuses (absolute, ``..``, too long, colliding)."""


def validate_path(path: str) -> None:
    """Kubernetes' validatePath, with its messages."""
    if not path:
        raise PayloadError(f"invalid path: must not be empty: {path!r}")
    if path.startswith("/"):
        raise PayloadError(f"invalid path: must be relative path: {path}")
    if len(path) > MAX_PATH_LENGTH:
        raise PayloadError(
            f"invalid path: must be less than or equal to {MAX_PATH_LENGTH} characters")
    items = path.split("/")
    for item in items:
        if item == "..":
            raise PayloadError(f"invalid path: must not contain '..': {path}")
        if len(item) > MAX_FILE_NAME_LENGTH:
            raise PayloadError("invalid path: filenames must be less than or equal to "
                               f"{MAX_FILE_NAME_LENGTH} characters")
    if items[0].startswith("..") and len(items[0]) > 2:
        raise PayloadError(f"invalid path: must not start with '..': {path}")


def clean_payload(payload: Mapping[str, FileProjection]) -> dict[str, FileProjection]:
    """Validated paths, cleaned (``a//b/./c`` -> ``a/b/c``); a path that is also another
    path's directory is refused (``a`` and ``a/b`` cannot both be files)."""
    out: dict[str, FileProjection] = {}
    for path, projection in payload.items():
        validate_path(path)
        clean = posixpath.normpath(path)
        if clean == ".":
            raise PayloadError(f"invalid path: must name a file: {path}")
        out[clean] = projection
    for path in out:
        parts = path.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in out:
                raise PayloadError(f"invalid path: {path} is below the file "
                                   f"{'/'.join(parts[:i])}")
    return out


def _listing(root: Path) -> set[str]:
    """The files under ``root``, as payload paths."""
    out: set[str] = set()
    for dirpath, _, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for name in files:
            out.add(name if rel == "." else f"{rel}/{name}")
    return out


def _same(path: Path, projection: FileProjection) -> bool:
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != projection.mode & 0o7777:
            return False
        return path.read_bytes() == projection.data
    except OSError:
        return False


def current_version(target: Path) -> str:
    """The name of the directory ``..data`` points at ("" before the first write)."""
    try:
        return os.readlink(target / DATA_DIR)
    except OSError:
        return ""


def write_atomically(target: Path, payload: Mapping[str, FileProjection], *,
                     now: datetime | None = None) -> bool:
    """Make ``target`` show exactly ``payload``; False when it already did (nothing written).
    Raises PayloadError for a bad payload, OSError when the disk says no."""
    files = clean_payload(payload)
    target.mkdir(parents=True, exist_ok=True)
    old = current_version(target)
    old_files = _listing(target / old) if old else set()
    if old and old_files == set(files) and all(
            _same(target / old / p, f) for p, f in files.items()):
        return False
    stamp = (now or datetime.now(UTC)).strftime("..%Y_%m_%d_%H_%M_%S.")
    version = Path(tempfile.mkdtemp(prefix=stamp, dir=target))
    try:
        version.chmod(0o755)
        for path, projection in files.items():
            dst = version / path
            dst.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(projection.data)
            os.chmod(dst, projection.mode & 0o7777)  # not subject to the umask
        tmp_link = target / DATA_DIR_TMP
        if os.path.lexists(tmp_link):
            tmp_link.unlink()  # a write that died before its rename
        os.symlink(version.name, tmp_link)
        os.rename(tmp_link, target / DATA_DIR)
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    top = {p.split("/", 1)[0] for p in files}
    for name in sorted(top):
        link = target / name
        if not os.path.lexists(link):
            os.symlink(f"{DATA_DIR}/{name}", link)
    if old and old != version.name:
        shutil.rmtree(target / old, ignore_errors=True)
    for name in {p.split("/", 1)[0] for p in old_files} - top:
        link = target / name
        if link.is_symlink():
            link.unlink()
    return True


def read_payload(target: Path) -> dict[str, bytes]:
    """What a reader of ``target`` sees, by payload path (tests, debugging)."""
    old = current_version(target)
    if not old:
        return {}
    return {p: (target / p).read_bytes() for p in sorted(_listing(target / old))}
