"""``--config FILE``: node settings from the seed's config-default.sh or from YAML.

The seed configures its cluster in a shell file (``export nodes="core@192.168.0.10 ..."``,
``export roles=("ai" "i" "i")``, PORTAL_NET, FLANNEL_NET, ADMISSION_CONTROL, DOCKER_OPTS); kube-up
sources it on each machine. We read the same file, but never execute it: ``parse_shell``
understands the subset such files use (comments, ``export``, assignments, quoted strings, bash
arrays, ``$VAR``, ``${VAR}`` and ``${VAR:-default}``) and rejects anything else with a line number.
YAML files use the flag names as keys (``portal-net: 192.168.3.0/24``).

``load`` turns either into ``{flag_name: value}`` (names as in ``config.NodeConfig``), and
``place`` finds this machine in ``nodes`` to give it its role, its address and the master's URL.
``__main__`` merges the result below flags and environment variables and above the defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "MINIKUBE8S_"

SEED_KEYS = {
    "PORTAL_NET": "portal_net",
    "FLANNEL_NET": "flannel_net",
    "ADMISSION_CONTROL": "admission_control",
    "DOCKER_OPTS": "docker_opts",
    "NUM_MINIONS": "num_minions",
}
"""The seed's own variable names and the settings they mean."""

CLUSTER_KEYS = ("nodes", "roles", "num_minions", "docker_opts")
"""Settings about the whole cluster rather than one flag of this node."""

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=")
_EXPANSION = re.compile(
    r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


class ConfigError(ValueError):
    """The config file cannot be read, or says something this node cannot act on."""


ShellValue = str | list[str]


def parse_shell(text: str, *, env: Mapping[str, str] | None = None) -> dict[str, ShellValue]:
    """The variables a config-default.sh-style file assigns, without running it.

    ``env`` is what ``${VAR:-default}`` sees besides the file's own earlier assignments (the
    environment kube-up would have run it in); by default the process environment."""
    environ = dict(os.environ if env is None else env)
    out: dict[str, ShellValue] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        lineno = i + 1
        line = lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        m = _ASSIGN.match(line)
        if m is None:
            if line.startswith("export ") and all(_NAME.fullmatch(w) for w in line.split()[1:]):
                continue  # `export NAME` of a name assigned before: nothing to do
            raise ConfigError(f"line {lineno}: not an assignment: {line!r}")
        name, rest = m.group(1), line[m.end():]
        scope = {**environ, **{k: v for k, v in out.items() if isinstance(v, str)}}
        if rest.startswith("("):
            body = rest[1:]
            # Arrays may span lines; the closing parenthesis is outside any quotes.
            while _array_end(body) < 0:
                if i >= len(lines):
                    raise ConfigError(f"line {lineno}: array {name} is never closed")
                body += "\n" + lines[i]
                i += 1
            end = _array_end(body)
            trailing = body[end + 1:].strip()
            if trailing and not trailing.startswith("#"):
                raise ConfigError(f"line {lineno}: unexpected text after array: {trailing!r}")
            out[name] = _words(body[:end], scope, lineno=lineno)
        else:
            words = _words(rest, scope, lineno=lineno)
            if len(words) > 1:
                raise ConfigError(f"line {lineno}: {name}= takes one word (quote it)")
            out[name] = words[0] if words else ""
    return out


def _array_end(body: str) -> int:
    quote, comment, prev = "", False, " "
    for pos, ch in enumerate(body):
        if comment:
            comment = ch != "\n"
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and prev.isspace():
            comment = True
        elif ch == ")":
            return pos
        prev = ch
    return -1


def _words(src: str, scope: Mapping[str, str], *, lineno: int) -> list[str]:
    """Split shell words: quotes, comments and expansions; no globbing, no command
    substitution (a backquote or ``$(`` is refused, since running it is what we avoid)."""
    words: list[str] = []
    cur: list[str] = []
    in_word = False
    pos = 0
    while pos < len(src):
        ch = src[pos]
        if ch.isspace():
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
            pos += 1
        elif ch == "#" and not in_word:
            nl = src.find("\n", pos)
            pos = len(src) if nl < 0 else nl
        elif ch == "'":
            end = src.find("'", pos + 1)
            if end < 0:
                raise ConfigError(f"line {lineno}: unterminated single quote")
            cur.append(src[pos + 1:end])
            in_word, pos = True, end + 1
        elif ch == '"':
            end = pos + 1
            while end < len(src) and src[end] != '"':
                end += 2 if src[end] == "\\" else 1
            if end >= len(src):
                raise ConfigError(f"line {lineno}: unterminated double quote")
            inner = re.sub(r'\\([$`"\\])', r"\1", src[pos + 1:end])
            cur.append(_expand(inner, scope, lineno=lineno))
            in_word, pos = True, end + 1
        elif ch == "`" or src.startswith("$(", pos):
            raise ConfigError(f"line {lineno}: command substitution is not supported "
                              "(the file is read, not executed)")
        elif ch in ";|&<>":
            raise ConfigError(f"line {lineno}: unsupported shell syntax {ch!r} (not executed)")
        else:
            end = pos
            while end < len(src) and not src[end].isspace() and src[end] not in "'\"`;|&<>":
                if src[end] == "$" and src.startswith("${", end):
                    close = src.find("}", end)
                    end = close + 1 if close > 0 else len(src)
                else:
                    end += 1
            cur.append(_expand(src[pos:end], scope, lineno=lineno))
            in_word, pos = True, end
    if in_word:
        words.append("".join(cur))
    return words


def _expand(s: str, scope: Mapping[str, str], *, lineno: int) -> str:
    if "$(" in s or "`" in s:
        raise ConfigError(f"line {lineno}: command substitution is not supported (not executed)")

    def sub(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        value = scope.get(name, "")
        if m.group(2) is not None and not value:
            return _expand(m.group(2), scope, lineno=lineno)
        return value

    return _EXPANSION.sub(sub, s)


def _flag_name(key: str) -> str:
    if key in SEED_KEYS:
        return SEED_KEYS[key]
    if key.upper().startswith(ENV_PREFIX):
        key = key[len(ENV_PREFIX):]
    return key.lower().replace("-", "_")


def load(path: Path, *, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{setting: value}`` from a shell (config-default.sh) or YAML file; keys are
    ``NodeConfig`` field names. Shell files may also use ``MINIKUBE8S_*`` names, so one file
    can serve as ``--config`` and as a systemd ``EnvironmentFile=``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from e
    raw: Mapping[str, Any]
    if path.suffix in (".yaml", ".yml", ".json"):
        import yaml

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: expected a mapping of flag names to values")
        raw = doc
    else:
        try:
            raw = parse_shell(text, env=env)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from e
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _flag_name(str(key))
        if name == "nodes" and isinstance(value, str):
            value = value.split()
        if name == "roles" and isinstance(value, str):
            value = value.split()
        out[name] = value
    return out


@dataclass(frozen=True, slots=True)
class Placement:
    """Where this machine stands in the file's ``nodes``/``roles``."""

    index: int
    ip: str
    role: str
    master_ip: str


def node_ip(entry: str) -> str:
    """``core@192.168.0.10`` -> ``192.168.0.10``."""
    return entry.rsplit("@", 1)[-1]


def place(nodes: Iterable[str], roles: Iterable[str], my_ips: Iterable[str]) -> Placement:
    """This machine's role and the master's address: the first entry of ``nodes`` whose address
    is one of ``my_ips`` picks its role from ``roles``; the master is the first node whose role
    contains ``a`` (the seed lists it first)."""
    node_list, role_list = list(nodes), list(roles)
    if len(node_list) != len(role_list):
        raise ConfigError(f"nodes has {len(node_list)} entries but roles has {len(role_list)}")
    for r in role_list:
        if r not in ("a", "i", "ai"):
            raise ConfigError(f"roles: {r!r} is not one of a, i, ai")
    masters = [node_ip(n) for n, r in zip(node_list, role_list, strict=True) if "a" in r]
    if not masters:
        raise ConfigError("roles: no node has role a (a master)")
    mine = set(my_ips)
    for idx, (entry, role) in enumerate(zip(node_list, role_list, strict=True)):
        ip = node_ip(entry)
        if ip in mine:
            return Placement(index=idx, ip=ip, role=role, master_ip=masters[0])
    raise ConfigError(
        f"none of this machine's addresses ({', '.join(sorted(mine)) or 'none'}) is in nodes "
        f"({' '.join(node_list)}); pass --node-ip or --role")


def host_addresses() -> list[str]:
    """This machine's IPv4 addresses (every interface, loopback last)."""
    ips: list[str] = []
    try:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            for msg in ipr.get_addr(family=2):
                ip = msg.get_attr("IFA_ADDRESS")
                if ip:
                    ips.append(str(ip))
    except Exception:  # no netlink (a sandbox): fall back to the resolver
        import socket

        try:
            ips = [str(a[4][0]) for a in socket.getaddrinfo(socket.gethostname(), None,
                                                              socket.AF_INET)]
        except OSError:
            ips = []
    return sorted(set(ips), key=lambda ip: (ipaddress.ip_address(ip).is_loopback, ip))
