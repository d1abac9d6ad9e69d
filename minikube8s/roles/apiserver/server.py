"""Start and stop the API server: the registry, admission chain and strategies around a store,
served over plain HTTP on --insecure-bind-address:--insecure-port (no authentication: keep it
on loopback) and over HTTPS on --bind-address:--secure-port (bearer tokens; secure.py).

roles/__init__.py calls ``ApiServer.start`` once the store is up and ``stop`` on the way down;
``ready`` is set (and /readyz turns 200) after the listeners are bound and bootstrap.py has made
the default namespaces and the ``kubernetes`` service. At start the cluster's credentials
(auth/credentials.py: CA, tokens, shared through the store) and this control plane's serving
certificate (auth/pki.py) are made or loaded, and the admin kubeconfigs are written into the
data dir. The in-process test fixture uses the same class with a memory store and port 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
from typing import Any

from aiohttp import web

from ...auth import authz, credentials, pki
from ...config import NodeConfig, is_loopback
from ...store import base as store
from ...tasks import Supervisor
from .admission import build_chain
from .app import build_app
from .bootstrap import ensure_defaults
from .interfaces import Strategy
from .keys import HUBS, Settings
from .proxy import KUBELET_TLS
from .registry import Registry
from .secure import SECURITY, Security
from .services import ServiceStrategy

log = logging.getLogger("minikube8s.apiserver")


_frozen = False


def _freeze_startup_objects() -> None:
    """What start-up made (modules, classes, tables) lives for good: out of the collector's
    sight, full collections stop taking ~20 ms each (a p99 latency spike under load). Once
    per process: a test process starting many servers must not pin its garbage each time."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.freeze()


class ApiServer:
    def __init__(
        self,
        cfg: NodeConfig,
        backend: store.Backend,
        *,
        ready: asyncio.Event,
        supervisor: Supervisor | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.cfg = cfg
        self.ready = ready
        self.supervisor = supervisor
        strategies: dict[str, Strategy] = {
            "services": ServiceStrategy(cfg.portal_net, store=backend)}
        # NodeRestriction first: a node's refused write must not leave side effects (an
        # auto-provisioned namespace) behind.
        chain = [authz.NodeRestriction(), *build_chain(cfg.admission_control,
                                                      allow_privileged=cfg.allow_privileged)]
        self.registry = Registry(backend, admission=chain, strategies=strategies)
        self.app = build_app(self.registry, ready=ready, settings=settings)
        self.app.on_shutdown.append(self._end_watches)
        self._runner: web.AppRunner | None = None
        self.host = cfg.insecure_bind_address
        self.port = cfg.insecure_port
        self.secure_host = cfg.bind_address
        self.secure_port = cfg.secure_port
        self.credentials: credentials.ClusterCredentials | None = None
        self.ca_file = ""
        """DATA_DIR/pki/ca.crt once started with a secure port; "" without one."""

    @property
    def url(self) -> str:
        return _url("http", self.host, self.port)

    @property
    def secure_url(self) -> str:
        """``https://HOST:PORT`` of the secure port (loopback for a wildcard bind), or ""
        when there is none (--secure-port -1, or not started)."""
        if self.credentials is None or self.secure_port <= 0:
            return ""
        return _url("https", _dialable(self.secure_host), self.secure_port)

    @property
    def admin_token(self) -> str:
        return self.credentials.admin_token if self.credentials is not None else ""

    @property
    def readonly_token(self) -> str:
        return self.credentials.readonly_token if self.credentials is not None else ""

    @property
    def join_token(self) -> str:
        return self.credentials.join_token if self.credentials is not None else ""

    async def _setup_security(self) -> ssl.SSLContext:
        cfg = self.cfg
        self.credentials = creds = await credentials.ensure_credentials(
            self.registry.store, cfg.data_dir, join_secret=getattr(cfg, "token", "") or "")
        sans = pki.wanted_sans(node_ip=cfg.node_ip, node_name=cfg.node_name,
                               portal_net=cfg.portal_net, extra=cfg.tls_san)
        if self.secure_host not in ("", "0.0.0.0", "::"):
            sans = list(dict.fromkeys([*sans, self.secure_host]))
        files = pki.ensure_serving_cert(cfg.data_dir / pki.PKI_DIR, creds.ca, sans)
        self.ca_file = str(files.ca_cert)
        self.app[SECURITY] = Security(creds.authenticator(), creds.ca_cert.encode(), creds.ca)
        # The client certificate kubelets accept (proxy.py: pods/log, pods/exec over https).
        cert, key = pki.ensure_kubelet_client_cert(cfg.data_dir / pki.PKI_DIR, creds.ca)
        self.app[KUBELET_TLS] = pki.kubelet_client_ssl_context(creds.ca_cert.encode(), cert, key)
        return pki.server_ssl_context(files)

    async def start(self) -> None:
        if not is_loopback(self.host):
            log.warning("the insecure port %s serves the whole API WITHOUT authentication to "
                        "everyone who can reach it; keep --insecure-bind-address on loopback "
                        "and use the secure port (--secure-port) from other hosts", self.url)
        ssl_ctx = await self._setup_security() if self.secure_port >= 0 else None
        self._runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = _bound_port(site) or self.port  # when --insecure-port 0 was asked for
        if ssl_ctx is not None:
            secure = web.TCPSite(self._runner, self.secure_host or None, self.secure_port,
                                 ssl_context=ssl_ctx)
            await secure.start()
            self.secure_port = _bound_port(secure) or self.secure_port
            log.info("API server serving HTTPS at %s (CA %s)", self.secure_url, self.ca_file)
        await self._bootstrap()
        services = self.registry.strategies.get("services")
        run_repair = getattr(services, "run_repair", None)
        if self.supervisor is not None and run_repair is not None:
            self.supervisor.start(run_repair(self.registry), name="apiserver.service-ip-repair")
        # The kubeconfigs before readiness: whoever waits for /readyz finds them written.
        self._write_kubeconfig()
        self.ready.set()
        _freeze_startup_objects()
        log.info("API server ready at %s", self.url)

    def _write_kubeconfig(self) -> None:
        # Admin (and read-only) kubeconfigs in the data dir, so `KUBECONFIG=<data-dir>/
        # kubeconfig kubectl` (and the bundled CLI) find this server; a failure to write them
        # is not fatal.
        from ...cli.kubeconfig import write_admin_kubeconfig, write_readonly_kubeconfig

        creds = self.credentials
        try:
            if creds is None:
                path = write_admin_kubeconfig(self.cfg.data_dir,
                                              _url("http", _dialable(self.host), self.port))
            else:
                url = _url("https", "127.0.0.1", self.secure_port)
                ca = creds.ca_cert.encode()
                path = write_admin_kubeconfig(self.cfg.data_dir, url, ca_pem=ca,
                                              token=creds.admin_token)
                write_readonly_kubeconfig(self.cfg.data_dir, url, ca_pem=ca,
                                          token=creds.readonly_token)
        except OSError as e:
            log.warning("could not write the admin kubeconfig into %s: %s", self.cfg.data_dir, e)
            return
        log.info("admin kubeconfig written to %s (export KUBECONFIG=%s)", path, path)

    async def _bootstrap(self) -> None:
        # The kubernetes service points at the secure port when there is one: pods reaching
        # it through their portal must not land on the unauthenticated insecure port.
        if self.credentials is not None and self.secure_port > 0:
            host, port = self.secure_host, self.secure_port
            if host in ("0.0.0.0", "::", "") and self.cfg.node_ip:
                host = self.cfg.node_ip
        else:
            host, port = self.host, self.port
        await ensure_defaults(self.registry, api_host=_dialable(host), api_port=port,
                              portal_net=self.cfg.portal_net)

    @staticmethod
    async def _end_watches(app: web.Application) -> None:
        # aiohttp runs this after the listener closed and before it waits (shutdown_timeout)
        # for handlers to finish: closing the hubs ends every open watch stream cleanly, so
        # clients see the end of a response and re-watch from their last resourceVersion at
        # once, instead of the stop waiting out the timeout and cutting them mid-stream.
        await app[HUBS].close()

    async def stop(self) -> None:
        self.ready.clear()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        log.info("API server stopped")


def _dialable(host: str) -> str:
    """A wildcard bind address is dialed on loopback."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _url(scheme: str, host: str, port: int) -> str:
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def _bound_port(site: web.TCPSite) -> int:
    server: Any = site._server
    if server is not None and server.sockets:
        return int(server.sockets[0].getsockname()[1])
    return 0
