"""Where the CLI finds its API server and namespace.

Order, strongest first: ``-s/--server`` on the command line, ``$MINIKUBE8S_SERVER``, the
current context of a kubeconfig (``--kubeconfig``, ``$KUBECONFIG`` or ``~/.kube/config``; the
node writes one into its data dir, see kubeconfig.py), then ``http://127.0.0.1:8080`` (the
seed's insecure port on the local machine). The namespace is ``-n`` or the context's
namespace or ``default``.

Credentials and trust come the same way: ``--token`` over the user's ``token`` over its
``tokenFile``; ``--certificate-authority`` / ``--insecure-skip-tls-verify`` over the
cluster's ``certificate-authority[-data]`` / ``insecure-skip-tls-verify``. As in kubectl, a
``--server`` flag replaces only the address: the context's CA and token still apply.
Neighbours: app.py builds one ``Target`` per command from the
common options; session.py opens the REST client on it.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, replace
from pathlib import Path

from . import kubeconfig
from .kubeconfig import KubeconfigError

DEFAULT_SERVER = "http://127.0.0.1:8080"
SERVER_ENV = "MINIKUBE8S_SERVER"


@dataclass(frozen=True)
class Target:
    server: str
    namespace: str
    source: str
    """Where ``server`` came from (flag, environment, a kubeconfig path, default)."""
    token: str = ""
    namespace_explicit: bool = False
    ca_file: str = ""
    ca_data: str = ""
    """PEM text (a kubeconfig's certificate-authority-data, decoded)."""
    insecure: bool = False


def _normalize(server: str) -> str:
    server = server.strip().rstrip("/")
    if "://" not in server:
        # kubectl accepts a bare host:port and means http for the insecure port.
        server = f"http://{server}"
    return server


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() == "true"


def _token(user: kubeconfig.Object) -> str:
    if user.get("token"):
        return str(user["token"])
    path = user.get("tokenFile")
    if not path:
        return ""
    try:
        return Path(str(path)).expanduser().read_text().strip()
    except OSError as e:
        raise KubeconfigError(f"failed to read token file \"{path}\": {e.strerror}") from e


def _ca_data(cluster: kubeconfig.Object) -> str:
    raw = cluster.get("certificate-authority-data")
    if not raw:
        return ""
    try:
        return base64.b64decode(str(raw), validate=True).decode("ascii")
    except (binascii.Error, ValueError) as e:
        raise KubeconfigError("certificate-authority-data is not base64-encoded PEM") from e


def resolve(*, server: str | None = None, namespace: str | None = None,
            kubeconfig_path: str | None = None, context: str | None = None,
            environ: dict[str, str] | None = None, token: str | None = None,
            certificate_authority: str | None = None,
            insecure_skip_tls_verify: bool | None = None) -> Target:
    """Pick the server, namespace and credentials for one command."""
    if certificate_authority and insecure_skip_tls_verify:
        raise KubeconfigError("specifying a root certificates file with the insecure flag "
                              "is not allowed")
    env = os.environ if environ is None else environ
    paths = ([Path(kubeconfig_path).expanduser()] if kubeconfig_path
             else kubeconfig.default_paths(dict(env)))
    cfg = kubeconfig.load(paths)
    ctx = cfg.context(context or "")
    cluster = cfg.cluster(context or "")
    user = cfg.user(context or "")
    ns = namespace or str(ctx.get("namespace") or "") or "default"
    ca_file, ca_data, insecure = "", "", False
    if certificate_authority:
        ca_file = str(Path(certificate_authority).expanduser())
    elif insecure_skip_tls_verify:
        insecure = True
    else:
        ca_file = str(cluster.get("certificate-authority") or "")
        ca_data = _ca_data(cluster)
        insecure = _truthy(cluster.get("insecure-skip-tls-verify"))
    base = Target(DEFAULT_SERVER, ns, "default", token or _token(user), bool(namespace),
                  ca_file, ca_data, insecure)
    if server:
        return replace(base, server=_normalize(server), source="--server")
    if env.get(SERVER_ENV):
        return replace(base, server=_normalize(env[SERVER_ENV]), source=f"${SERVER_ENV}")
    if cluster.get("server"):
        where = str(cfg.files[0]) if cfg.files else "kubeconfig"
        return replace(base, server=_normalize(str(cluster["server"])), source=where)
    return base
