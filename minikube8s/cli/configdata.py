"""ConfigMaps and Secrets in the CLI: ``create configmap|secret generic`` and their describers.

``create configmap NAME`` and ``create secret generic NAME`` build the object from
``--from-file=[key=]path`` (a file, or every regular file of a directory), ``--from-literal=
key=value`` and ``--from-env-file=path`` exactly as kubectl's generators do (create_configmap.go,
create_secret.go): the same order of sources, the same key checks and error texts, a ConfigMap
file that is not UTF-8 going to ``binaryData``, Secret values base64 in ``data`` (kubectl never
sends stringData). write.py's ``create`` hands its positional arguments here.

``describe_configmap`` and ``describe_secret`` lay out what kubectl's describers print: a
ConfigMap's values in full, a Secret's only as sizes (``password:  6 bytes``). Neighbours:
describe.py (fetches and adds events), api/configdata.py (the key rule, shared with the
server's validation).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from ..api import configdata, names
from .errors import CLIError

Object = dict[str, Any]
Lines = list[list[str]]


# ----------------------------------------------------------------------------- sources


def parse_literal(source: str) -> tuple[str, str]:
    """util.ParseLiteralSource: split at the first ``=`` (quotes stay part of the value)."""
    key, sep, value = source.partition("=")
    if not sep or not key:
        raise CLIError(f"invalid literal source {source}, expected key=value")
    return key, value


def parse_file_source(source: str) -> tuple[str, str]:
    """util.ParseFileSource: ``path`` (key: its base name) or ``key=path``."""
    n = source.count("=")
    if n == 0:
        return os.path.basename(source.rstrip("/")) or source, source
    if n == 1 and source.startswith("="):
        raise CLIError(f"key name for file path {source[1:]} missing")
    if n == 1 and source.endswith("="):
        raise CLIError(f"file path for key name {source[:-1]} missing")
    if n > 1:
        raise CLIError("key names or file paths cannot contain '='")
    key, _, path = source.partition("=")
    return key, path


def _files(source: str) -> list[tuple[str, Path]]:
    """(key, path) for one ``--from-file``: the file, or a directory's regular files."""
    key, raw = parse_file_source(source)
    path = Path(raw)
    try:
        is_dir = path.is_dir()
        path.stat()
    except OSError as e:
        raise CLIError(f"error reading {raw}: {(e.strerror or str(e)).lower()}") from None
    if not is_dir:
        return [(key, path)]
    if "=" in source:
        raise CLIError("cannot give a key name for a directory path")
    return [(p.name, p) for p in sorted(path.iterdir()) if p.is_file() and not p.is_symlink()]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise CLIError(f"error reading {path}: {(e.strerror or str(e)).lower()}") from None


def env_file_pairs(source: str) -> list[tuple[str, str]]:
    """cmdutil.AddFromEnvFile: ``KEY=VALUE`` lines, ``#`` comments and blank lines skipped,
    a bare ``KEY`` taking its value from the environment ("" when unset)."""
    path = Path(source)
    if path.is_dir():
        raise CLIError("env config file cannot be a directory")
    text = _read(path).decode("utf-8", "replace").removeprefix("\ufeff")
    out: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        problems = names.is_env_var_name(key)
        if problems:
            raise CLIError(f"{_quoted(key)} is not a valid key name: {';'.join(problems)}")
        out.append((key, value if sep else os.environ.get(key, "")))
    return out


# ----------------------------------------------------------------------------- builders


def _quoted(text: str) -> str:
    """Go's %q for the plain keys these messages name."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_map(name: str, *, files: list[str], literals: list[str],
               env_files: list[str]) -> Object:
    """The ConfigMap ``kubectl create configmap`` sends."""
    data: dict[str, str] = {}
    binary: dict[str, str] = {}

    def check(key: str) -> None:
        problems = configdata.is_config_map_key(key)
        if problems:
            raise CLIError(f"{_quoted(key)} is not a valid key name for a ConfigMap: "
                           f"{','.join(problems)}")
        for where, bag in (("Data", data), ("BinaryData", binary)):
            if key in bag:
                raise CLIError(f"cannot add key {_quoted(key)}, another key by that name "
                               f"already exists in {where} for ConfigMap {_quoted(name)}")

    for source in files:
        for key, path in _files(source):
            content = _read(path)
            check(key)
            try:
                data[key] = content.decode("utf-8")
            except UnicodeDecodeError:
                binary[key] = base64.b64encode(content).decode("ascii")
    for source in literals:
        key, value = parse_literal(source)
        check(key)
        data[key] = value
    for source in env_files:
        for key, value in env_file_pairs(source):
            check(key)
            data[key] = value
    obj: Object = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
    if data:
        obj["data"] = data
    if binary:
        obj["binaryData"] = binary
    return obj


def secret(name: str, *, secret_type: str, files: list[str], literals: list[str],
           env_files: list[str]) -> Object:
    """The Secret ``kubectl create secret generic`` sends."""
    data: dict[str, str] = {}

    def add(key: str, value: bytes) -> None:
        problems = configdata.is_config_map_key(key)
        if problems:
            raise CLIError(f"{_quoted(key)} is not valid key name for a Secret "
                           f"{';'.join(problems)}")
        if key in data:
            raise CLIError(f"cannot add key {key}, another key by that name already exists")
        data[key] = base64.b64encode(value).decode("ascii")

    for source in literals:
        key, value = parse_literal(source)
        add(key, value.encode())
    for source in files:
        for key, path in _files(source):
            add(key, _read(path))
    for source in env_files:
        for key, value in env_file_pairs(source):
            add(key, value.encode())
    obj: Object = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}}
    if data:
        obj["data"] = data
    if secret_type:
        obj["type"] = secret_type
    return obj


def generated(args: list[str], *, files: list[str], literals: list[str],
              env_files: list[str], secret_type: str) -> tuple[str, Object]:
    """``configmap NAME`` / ``cm NAME`` / ``secret generic NAME`` -> (resource, object)."""
    what = args[0]
    if what in ("configmap", "configmaps", "cm"):
        rest, resource = args[1:], "configmaps"
    elif what in ("secret", "secrets"):
        if len(args) < 2 or args[1] != "generic":
            sub = args[1] if len(args) > 1 else ""
            raise CLIError(f'unknown command "{sub}" for "create secret": this CLI creates '
                           "generic secrets (create secret generic NAME ...)" if sub else
                           "create secret needs a type: generic")
        rest, resource = args[2:], "secrets"
    else:
        raise CLIError(f'unknown command "{what}" for "create": use -f FILE, configmap or '
                       "secret generic")
    if len(rest) != 1:
        raise CLIError(f"exactly one NAME is required, got {len(rest)}")
    if env_files and (files or literals):
        raise CLIError("from-env-file cannot be combined with from-file or from-literal")
    name = rest[0]
    if resource == "configmaps":
        if secret_type:
            raise CLIError("unknown flag: --type")
        return resource, config_map(name, files=files, literals=literals,
                                    env_files=env_files)
    return resource, secret(name, secret_type=secret_type, files=files, literals=literals,
                            env_files=env_files)


# ----------------------------------------------------------------------------- describers


def _decoded_size(value: Any) -> int:
    try:
        return len(base64.b64decode(str(value), validate=False))
    except ValueError:
        return 0


def describe_configmap(obj: Object, header: Lines) -> Lines:
    """kubectl's describeConfigMap: every data value in full, binary values as sizes."""
    lines = [*header, [""], ["Data"], ["===="]]
    data = obj.get("data") or {}
    for key in sorted(data):
        lines += [[f"{key}:"], ["----"], *([line] for line in str(data[key]).split("\n"))]
        lines.append([""])
    lines += [[""], ["BinaryData"], ["===="]]
    binary = obj.get("binaryData") or {}
    for key in sorted(binary):
        lines.append([f"{key}: {_decoded_size(binary[key])} bytes"])
    lines.append([""])
    return lines


def describe_secret(obj: Object, header: Lines) -> Lines:
    """kubectl's describeSecret: the type, then each key's size (never the value, except a
    service account token's)."""
    stype = str(obj.get("type") or "")
    lines = [*header, [""], ["Type:", stype], [""], ["Data"], ["===="]]
    data = obj.get("data") or {}
    for key in sorted(data):
        if key == "token" and stype == "kubernetes.io/service-account-token":
            text = base64.b64decode(str(data[key])).decode("utf-8", "replace")
            lines.append([f"{key}:", text])
        else:
            lines.append([f"{key}:", f"{_decoded_size(data[key])} bytes"])
    return lines
