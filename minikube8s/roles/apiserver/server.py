"""Start and stop the API server: the registry, admission chain and strategies around a store,
served over plain HTTP on --insecure-bind-address:--insecure-port.

roles/__init__.py calls ``ApiServer.start`` once the store is up and ``stop`` on the way down;
``ready`` is set (and /readyz turns 200) after the listener is bound and bootstrap.py has made
the default namespaces and the ``kubernetes`` service. The in-process test fixture uses the
same class with a memory store and port 0.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from aiohttp import web

from ...config import NodeConfig
from ...store import base as store
from ...tasks import Supervisor
from .admission import build_chain
from .app import build_app
from .bootstrap import ensure_defaults
from .interfaces import Strategy
from .keys import HUBS, Settings
from .registry import Registry
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
        self.registry = Registry(backend, admission=build_chain(
                                     cfg.admission_control,
                                     allow_privileged=cfg.allow_privileged),
                                 strategies=strategies)
        self.app = build_app(self.registry, ready=ready, settings=settings)
        self.app.on_shutdown.append(self._end_watches)
        self._runner: web.AppRunner | None = None
        self.host = cfg.insecure_bind_address
        self.port = cfg.insecure_port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, handler_cancellation=True, access_log=None,
                                     shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server: Any = site._server  # the bound port, when --insecure-port 0 was asked for
        if server is not None and server.sockets:
            self.port = int(server.sockets[0].getsockname()[1])
        await self._bootstrap()
        services = self.registry.strategies.get("services")
        run_repair = getattr(services, "run_repair", None)
        if self.supervisor is not None and run_repair is not None:
            self.supervisor.start(run_repair(self.registry), name="apiserver.service-ip-repair")
        self.ready.set()
        _freeze_startup_objects()
        log.info("API server ready at %s", self.url)
        self._write_kubeconfig()

    def _write_kubeconfig(self) -> None:
        # An admin kubeconfig in the data dir, so `KUBECONFIG=<data-dir>/kubeconfig kubectl`
        # (and the bundled CLI) find this server; a failure to write it is not fatal.
        from ...cli.kubeconfig import write_admin_kubeconfig

        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        url = f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"
        try:
            path = write_admin_kubeconfig(self.cfg.data_dir, url)
        except OSError as e:
            log.warning("could not write the admin kubeconfig into %s: %s", self.cfg.data_dir, e)
            return
        log.info("admin kubeconfig written to %s (export KUBECONFIG=%s)", path, path)

    async def _bootstrap(self) -> None:
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        await ensure_defaults(self.registry, api_host=host, api_port=self.port,
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
