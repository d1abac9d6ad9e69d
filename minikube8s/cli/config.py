"""Where the CLI finds its API server and namespace.

Order, strongest first: ``-s/--server`` on the command line, ``$MINIKUBE8S_SERVER``, the
current context of a kubeconfig (``--kubeconfig``, ``$KUBECONFIG`` or ``~/.kube/config``; the
node writes one into its data dir, see kubeconfig.py), then ``http://127.0.0.1:8080`` (the
seed's insecure port on the local machine). The namespace is ``-n`` or the context's
namespace or ``default``. Neighbours: app.py builds one ``Target`` per command from the
common options; session.py opens the REST client on it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import kubeconfig

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


def _normalize(server: str) -> str:
    server = server.strip().rstrip("/")
    if "://" not in server:
        # kubectl accepts a bare host:port and means http for the insecure port.
        server = f"http://{server}"
    return server


def resolve(*, server: str | None = None, namespace: str | None = None,
            kubeconfig_path: str | None = None, context: str | None = None,
            environ: dict[str, str] | None = None) -> Target:
    """Pick the server, namespace and credentials for one command."""
    env = os.environ if environ is None else environ
    paths = ([Path(kubeconfig_path).expanduser()] if kubeconfig_path
             else kubeconfig.default_paths(dict(env)))
    cfg = kubeconfig.load(paths)
    ctx = cfg.context(context or "")
    cluster = cfg.cluster(context or "")
    user = cfg.user(context or "")
    ns = namespace or str(ctx.get("namespace") or "") or "default"
    token = str(user.get("token") or "")
    if server:
        return Target(_normalize(server), ns, "--server", token, bool(namespace))
    if env.get(SERVER_ENV):
        return Target(_normalize(env[SERVER_ENV]), ns, f"${SERVER_ENV}", token,
                      bool(namespace))
    if cluster.get("server"):
        where = str(cfg.files[0]) if cfg.files else "kubeconfig"
        return Target(_normalize(str(cluster["server"])), ns, where, token, bool(namespace))
    return Target(DEFAULT_SERVER, ns, "default", token, bool(namespace))
