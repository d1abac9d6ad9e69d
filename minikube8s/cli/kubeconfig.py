"""Kubeconfig files: read the standard clusters/users/contexts format, write the admin one.

The CLI reads a kubeconfig (``$KUBECONFIG``, a colon-separated list, or ``~/.kube/config``)
when neither ``--server`` nor ``$MINIKUBE8S_SERVER`` names the API server (config.py decides
the order). A control-plane node (role a or ai) writes an admin kubeconfig into its data dir at
start-up (roles/apiserver/server.py calls ``write_admin_kubeconfig``), so both
``KUBECONFIG=DATA_DIR/kubeconfig kubectl get pods`` and ``minikube8s get pods`` work.

Merging follows kubectl's rules (clientcmd loading rules): for each named cluster, user and
context the first file that defines it wins, and so does the first ``current-context``. A
relative ``certificate-authority`` or ``tokenFile`` is relative to the file that names it, as
kubectl resolves it.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..files import write_private

ADMIN_FILE = "kubeconfig"
READONLY_FILE = "kubeconfig-readonly"
CONTEXT = "minikube8s"

Object = dict[str, Any]


class KubeconfigError(Exception):
    """A kubeconfig that cannot be read or parsed; the message names the file."""


@dataclass
class Kubeconfig:
    """A merged kubeconfig: named entries plus the current context."""

    clusters: dict[str, Object] = field(default_factory=dict)
    users: dict[str, Object] = field(default_factory=dict)
    contexts: dict[str, Object] = field(default_factory=dict)
    current_context: str = ""
    files: list[Path] = field(default_factory=list)

    def context(self, name: str = "") -> Object:
        """The named (or current) context's body; empty when there is none."""
        return self.contexts.get(name or self.current_context, {})

    def cluster(self, context: str = "") -> Object:
        return self.clusters.get(str(self.context(context).get("cluster", "")), {})

    def user(self, context: str = "") -> Object:
        return self.users.get(str(self.context(context).get("user", "")), {})

    def to_dict(self, *, minify: bool = False) -> Object:
        """The ``kubectl config view`` document (key order as kubectl prints it)."""
        clusters, users, contexts = self.clusters, self.users, self.contexts
        if minify:
            ctx = self.context()
            contexts = {k: v for k, v in contexts.items() if k == self.current_context}
            clusters = {k: v for k, v in clusters.items() if k == ctx.get("cluster")}
            users = {k: v for k, v in users.items() if k == ctx.get("user")}
        return {
            "apiVersion": "v1",
            "clusters": [{"cluster": _redact(v), "name": k} for k, v in clusters.items()],
            "contexts": [{"context": v, "name": k} for k, v in contexts.items()],
            "current-context": self.current_context,
            "kind": "Config",
            "preferences": {},
            "users": [{"name": k, "user": _redact(v)} for k, v in users.items()],
        }


_SECRET_KEYS = ("token", "password", "client-key-data", "client-certificate-data",
                "certificate-authority-data")


def _redact(user: Object) -> Object:
    # kubectl config view hides credentials and inline certificates unless --raw.
    out = dict(user)
    for key in _SECRET_KEYS:
        if key in out:
            out[key] = "DATA+OMITTED" if key.endswith("-data") else "REDACTED"
    return out


def default_paths(environ: dict[str, str] | None = None) -> list[Path]:
    """``$KUBECONFIG`` (colon-separated, empty entries skipped) or ``~/.kube/config``."""
    env = os.environ if environ is None else environ
    raw = env.get("KUBECONFIG", "")
    if raw:
        return [Path(p).expanduser() for p in raw.split(os.pathsep) if p]
    home = env.get("HOME") or str(Path.home())
    return [Path(home) / ".kube" / "config"]


def _named(items: Any, key: str, path: Path) -> dict[str, Object]:
    out: dict[str, Object] = {}
    if items is None:
        return out
    if not isinstance(items, list):
        raise KubeconfigError(f"error loading config file \"{path}\": {key}s must be a list")
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            body = item.get(key)
            out[item["name"]] = body if isinstance(body, dict) else {}
    return out


_PATH_KEYS = ("certificate-authority", "tokenFile", "client-certificate", "client-key")


def _absolute(body: Object, base: Path) -> Object:
    for key in _PATH_KEYS:
        value = body.get(key)
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            body = {**body, key: str(base / value)}
    return body


def load(paths: list[Path] | None = None) -> Kubeconfig:
    """Read and merge the given kubeconfig files; missing files are skipped, as kubectl does."""
    merged = Kubeconfig()
    for path in paths if paths is not None else default_paths():
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        except OSError as e:
            raise KubeconfigError(f"error loading config file \"{path}\": {e.strerror}") from e
        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise KubeconfigError(
                f"error loading config file \"{path}\":{where} "
                f"{getattr(e, 'problem', None) or e}") from e
        if not isinstance(doc, dict):
            raise KubeconfigError(f"error loading config file \"{path}\": not a mapping")
        merged.files.append(path)
        for attr, key in (("clusters", "cluster"), ("users", "user"),
                          ("contexts", "context")):
            table: dict[str, Object] = getattr(merged, attr)
            for name, body in _named(doc.get(attr), key, path).items():
                table.setdefault(name, _absolute(body, path.parent))
        if not merged.current_context and isinstance(doc.get("current-context"), str):
            merged.current_context = doc["current-context"]
    return merged


def admin_document(server_url: str, *, ca_pem: bytes | None = None, token: str = "",
                   user: str = "admin") -> Object:
    """A kubeconfig for ``server_url``: the HTTPS port with the cluster CA inline
    (certificate-authority-data) and a bearer token, or the insecure (loopback) port with no
    credentials at all."""
    cluster: Object = {"server": server_url}
    if ca_pem is not None:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    creds: Object = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": user, "user": creds}],
        "contexts": [{"name": CONTEXT, "context": {
            "cluster": CONTEXT, "user": user, "namespace": "default"}}],
        "current-context": CONTEXT,
        "preferences": {},
    }


def write_admin_kubeconfig(data_dir: Path, server_url: str, *, ca_pem: bytes | None = None,
                           token: str = "") -> Path:
    """Write ``DATA_DIR/kubeconfig`` naming ``server_url`` (see admin_document); returns its
    path."""
    target = data_dir / ADMIN_FILE
    write_private(target, yaml.safe_dump(
        admin_document(server_url, ca_pem=ca_pem, token=token), sort_keys=False).encode())
    return target


def write_readonly_kubeconfig(data_dir: Path, server_url: str, *, ca_pem: bytes,
                              token: str) -> Path:
    """``DATA_DIR/kubeconfig-readonly``: the same cluster with the read-only token (user
    ``readonly``: get, list and watch only)."""
    target = data_dir / READONLY_FILE
    write_private(target, yaml.safe_dump(
        admin_document(server_url, ca_pem=ca_pem, token=token, user="readonly"),
        sort_keys=False).encode())
    return target
