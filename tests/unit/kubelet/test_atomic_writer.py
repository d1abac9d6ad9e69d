"""The atomic writer of secret and configMap volumes: Kubernetes' layout, swaps, no-op writes.

Pure filesystem (a tmp_path per test); the Docker test (tests/docker/test_config_objects.py)
reads the same layout from inside a container.
"""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from minikube8s.roles.kubelet.atomic_writer import (
    DATA_DIR,
    FileProjection,
    PayloadError,
    current_version,
    read_payload,
    write_atomically,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_write_lays_out_a_version_dir_the_data_link_and_one_link_per_top_name(
        tmp_path: Path) -> None:
    target = tmp_path / "vol"
    changed = write_atomically(target, {
        "user": FileProjection(b"admin"),
        "conf/app.yaml": FileProjection(b"a: 1\n", 0o400)}, now=T0)
    assert changed
    version = current_version(target)
    assert version.startswith("..2024_05_01_12_00_00.")
    assert (target / version).is_dir() and not (target / version).is_symlink()
    # Every link is relative, so it resolves the same inside a container bound to `target`.
    assert os.readlink(target / DATA_DIR) == version
    assert os.readlink(target / "user") == "..data/user"
    assert os.readlink(target / "conf") == "..data/conf"
    assert sorted(os.listdir(target)) == sorted([version, DATA_DIR, "user", "conf"])
    assert (target / "user").read_bytes() == b"admin"
    assert (target / "conf" / "app.yaml").read_text() == "a: 1\n"
    assert mode_of(target / "user") == 0o644
    assert mode_of(target / "conf" / "app.yaml") == 0o400
    assert read_payload(target) == {"conf/app.yaml": b"a: 1\n", "user": b"admin"}


def test_an_update_swaps_versions_and_drops_what_went_away(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    write_atomically(target, {"a": FileProjection(b"1"), "b": FileProjection(b"2")}, now=T0)
    first = current_version(target)
    held = open(target / "a", "rb")  # a reader holding the old file keeps its contents
    try:
        assert write_atomically(target, {"a": FileProjection(b"one"),
                                         "c": FileProjection(b"3")})
        second = current_version(target)
        assert second != first
        assert not (target / first).exists()  # the old version is removed
        assert (target / "a").read_bytes() == b"one"
        assert (target / "c").read_bytes() == b"3"
        assert not os.path.lexists(target / "b")  # its link went with it
        assert held.read() == b"1"
    finally:
        held.close()
    assert sorted(os.listdir(target)) == sorted([second, DATA_DIR, "a", "c"])


def test_an_equal_payload_writes_nothing_but_a_mode_change_does(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    payload = {"k": FileProjection(b"v", 0o600)}
    write_atomically(target, payload)
    version = current_version(target)
    assert write_atomically(target, dict(payload)) is False
    assert current_version(target) == version
    assert write_atomically(target, {"k": FileProjection(b"v", 0o640)})
    assert current_version(target) != version
    assert mode_of(target / "k") == 0o640


def test_an_empty_payload_is_an_empty_volume(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    write_atomically(target, {"k": FileProjection(b"v")})
    assert write_atomically(target, {})
    assert sorted(os.listdir(target)) == sorted([current_version(target), DATA_DIR])
    assert read_payload(target) == {}


def test_a_write_that_died_before_its_rename_is_cleaned_up_by_the_next(tmp_path: Path) -> None:
    target = tmp_path / "vol"
    target.mkdir()
    os.symlink("..gone", target / "..data_tmp")
    write_atomically(target, {"k": FileProjection(b"v")})
    assert not os.path.lexists(target / "..data_tmp")
    assert (target / "k").read_bytes() == b"v"


@pytest.mark.parametrize(("path", "message"), [
    ("/etc/passwd", "must be relative path"),
    ("../escape", "must not contain '..'"),
    ("a/../../b", "must not contain '..'"),
    ("..data", "must not start with '..'"),
    ("", "must not be empty"),
    ("x" * 256, "filenames must be less than or equal to 255 characters"),
])
def test_bad_paths_are_refused_and_nothing_is_written(tmp_path: Path, path: str,
                                                      message: str) -> None:
    target = tmp_path / "vol"
    with pytest.raises(PayloadError, match=message.replace("(", r"\(")):
        write_atomically(target, {path: FileProjection(b"x")})
    assert not target.exists() or os.listdir(target) == []


def test_a_file_cannot_also_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(PayloadError, match="below the file a"):
        write_atomically(tmp_path / "vol", {"a": FileProjection(b"1"),
                                            "a/b": FileProjection(b"2")})
