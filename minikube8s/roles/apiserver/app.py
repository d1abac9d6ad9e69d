"""The API server's aiohttp application: routes, middlewares, health endpoints.

``build_app`` puts the pieces together: discovery and OpenAPI (discovery.py, openapi.py),
metrics (metrics.py), health (/healthz, /livez, /readyz), and one catch-all route
that parses every other path itself (params.parse_path) and hands it to handlers.py,
watch.py or subresources.py. Parsing paths by hand, rather than with a route per shape, is
what lets every URL take a trailing slash, keeps ``/api/v1/namespaces/X/status`` apart from
``/api/v1/namespaces/X/pods``, and answers unknown paths and methods with Status bodies.

The server middleware is the single place where exceptions become responses: an APIError is
its Status; aiohttp's own HTTP errors (404, 405 from routes registered by neighbours) become
Statuses too; anything else is logged with its traceback and answered as a 500 InternalError
Status, never an HTML page. The same middleware records metrics and hands one access line
per request to accesslog.py, which writes it off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.web_urldispatcher import UrlMappingMatchInfo

from ...api import errors
from . import discovery, handlers, metrics, openapi, params, secure, subresources, watch
from .accesslog import ACCESS_LOG
from .keys import HUBS, READY, REGISTRY, SETTINGS, Settings
from .registry import Registry

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_CATCH_ALL = "minikube8s-api"

_HTTP_REASONS: dict[int, type[errors.APIError]] = {
    400: errors.BadRequest,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    406: errors.NotAcceptable,
    413: errors.RequestEntityTooLarge,
    415: errors.UnsupportedMediaType,
}


def status_response(err: errors.APIError) -> web.Response:
    resp = web.json_response(err.to_status(), status=err.code)
    if err.retry_after:
        resp.headers["Retry-After"] = str(err.retry_after)
    return resp


def _from_http(e: web.HTTPException) -> errors.APIError:
    cls = _HTTP_REASONS.get(e.status, errors.InternalError)
    if e.status == 404:
        return errors.NotFound("the server could not find the requested resource")
    if e.status == 405:
        return errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource")
    if e.status == 413:
        return errors.RequestEntityTooLarge(
            f"Request entity too large: limit is {params.MAX_BODY}")
    return cls(e.text or e.reason)


def _internal(request: web.Request, e: Exception) -> web.Response:
    log.exception("%s %s failed", request.method, request.path_qs)
    return status_response(errors.InternalError(
        f"an internal error occurred while serving {request.method} {request.path}: "
        f"{type(e).__name__}: {e}"))


@web.middleware
async def server_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Exceptions to Statuses, then metrics and the access line: one middleware, since
    every aiohttp middleware layer costs a partial and a coroutine per request. Requests
    over TLS (the secure port) are authenticated and authorized first (secure.py)."""
    start = time.perf_counter()
    code = 500
    try:
        try:
            if request.secure:
                await secure.guard(request)
            resp = await handler(request)
        except errors.APIError as e:
            resp = status_response(e)
        except web.HTTPException as e:
            if e.status < 400:
                code = e.status
                raise
            resp = status_response(_from_http(e))
        except (asyncio.CancelledError, ConnectionResetError):
            # The client went away (a watch, exec or port-forward session it ended, or a
            # request it gave up on): nginx's 499, not a server error in the log and metrics.
            code = 499
            raise
        except Exception as e:
            resp = _internal(request, e)
        code = resp.status
        return resp
    finally:
        elapsed = time.perf_counter() - start
        metrics.observe(request, code, elapsed)
        ACCESS_LOG.record(request.method, request.path_qs, code, elapsed * 1000)


# -- health -----------------------------------------------------------------------------------


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok", content_type="text/plain")


async def readyz(request: web.Request) -> web.Response:
    if request.app[READY].is_set():
        return web.Response(text="ok", content_type="text/plain")
    return web.Response(status=503, text="[-]startup failed: not finished\nreadyz check failed",
                        content_type="text/plain")


# -- the catch-all ------------------------------------------------------------------------------


async def _other_route(request: web.Request) -> web.StreamResponse | None:
    """``/version/`` and friends: the path without its trailing slash, if some other route
    (discovery, openapi, health) serves it."""
    path = request.path
    if len(path) <= 1 or not path.endswith("/"):
        return None
    stripped = request.clone(rel_url=request.rel_url.with_path(path.rstrip("/") or "/"))
    match = await request.app.router.resolve(stripped)
    route = getattr(match, "route", None)
    if route is None or route.name == _CATCH_ALL:
        return None
    if isinstance(match, UrlMappingMatchInfo):
        http_exc = match.http_exception
        if http_exc is not None:
            raise http_exc
        match.add_app(request.app)
        match.freeze()
        # aiohttp resolves once per request; a cloned request carries the new match here.
        stripped._match_info = match
        return await match.handler(stripped)
    return None


async def _allowed_methods(request: web.Request) -> set[str]:
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource.name == _CATCH_ALL:
            continue
        match, methods = await resource.resolve(request)
        if match is None:
            allowed |= methods
    return allowed


async def api_handler(request: web.Request) -> web.StreamResponse:
    try:
        target = params.parse_path(request.path)
    except params.NotAnAPIPath:
        other = await _other_route(request)
        if other is not None:
            return other
        if await _allowed_methods(request):
            raise errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource") from None
        raise errors.NotFound("the server could not find the requested resource") from None
    watching = request.method == "GET" and params.is_watch(request, target)
    request[metrics.CLASSIFIED] = (
        metrics.verb_of(request.method, name=target.name, watch=watching),
        f"{target.resource.name}/{target.subresource}" if target.subresource
        else target.resource.name)
    if target.subresource:
        return await subresources.handle(request, target)
    if watching:
        if target.name and target.resource.namespaced and not target.namespace:
            raise errors.NotFound("the server could not find the requested resource")
        return await watch.serve(request, target)
    if target.watch:
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource")
    if target.resource.name == "bindings":
        if request.method != "POST" or target.name or not target.namespace:
            raise errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource")
        return await subresources.bind(request, target)
    return await handlers.dispatch(request, target)


def build_app(registry: Registry, *, ready: asyncio.Event,
              settings: Settings | None = None) -> web.Application:
    settings = settings or Settings()
    middlewares = [server_middleware]
    # aiohttp's own limit sits above ours so params.read_body reports 413 in Kubernetes' words.
    app = web.Application(middlewares=middlewares, client_max_size=params.MAX_BODY + 1024)
    app[REGISTRY] = registry
    app[HUBS] = watch.WatchHubs(registry.store, queue_size=settings.watch_queue_size,
                                cache=registry.cache)
    app[SETTINGS] = settings
    app[READY] = ready
    for path, h in (("/healthz", healthz), ("/livez", healthz), ("/readyz", readyz)):
        app.router.add_get(path, h)
        app.router.add_get(path + "/", h)
    for module in (discovery, openapi, metrics, secure):
        module.register(app)
    app.router.add_route("*", "/{tail:.*}", api_handler, name=_CATCH_ALL)

    async def close_hubs(app: web.Application) -> None:
        await app[HUBS].close()
        await registry.close()
        ACCESS_LOG.stop()

    app.on_cleanup.append(close_hubs)
    return app
