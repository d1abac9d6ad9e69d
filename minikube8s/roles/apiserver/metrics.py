"""Prometheus metrics of the API server: request counts and latencies by verb and resource.

``register(app)`` gives the aiohttp app its own CollectorRegistry (not prometheus-client's
global one, so tests can build many apps in one process) and a ``GET /metrics`` route in the
Prometheus text format; ``metrics_middleware`` records every request in it:

- ``apiserver_request_total{verb,resource,code}``
- ``apiserver_request_duration_seconds{verb,resource}`` (Kubernetes' buckets; watches are
  counted but not timed, since a watch lasts as long as its client wants)

The verb is the Kubernetes verb (get, list, watch, create, update, patch, delete,
deletecollection). app.py, which parses every API path anyway, puts (verb, resource) on the
request under ``CLASSIFIED``; handlers may still override with ``request["k8s_verb"]`` and
``request["k8s_resource"]``; otherwise both are derived from the method and path here. A
subresource is reported as ``pods/status``; non-resource paths (/healthz, /version) have an
empty resource. The labelled children are looked up once per label set and kept: on the
request path, ``.labels()`` was a measurable share of a GET.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

from ...api import errors
from ...api.resources import lookup

# k8s.io/apiserver/pkg/endpoints/metrics: requestLatencies buckets.
BUCKETS = (0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0,
           6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class Metrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    _counts: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    _latencies: dict[tuple[str, str], Any] = field(default_factory=dict)

    def record(self, verb: str, resource: str, code: int, seconds: float | None) -> None:
        """Count one request; ``seconds`` None for requests that are not timed (watches)."""
        key = (verb, resource, code)
        counter = self._counts.get(key)
        if counter is None:
            counter = self._counts[key] = self.requests.labels(verb, resource, str(code))
        counter.inc()
        if seconds is not None:
            hist = self._latencies.get((verb, resource))
            if hist is None:
                hist = self._latencies[verb, resource] = self.latency.labels(verb, resource)
            hist.observe(seconds)

    @classmethod
    def create(cls) -> Metrics:
        reg = CollectorRegistry(auto_describe=True)
        return cls(
            registry=reg,
            requests=Counter("apiserver_request_total",
                             "Counter of apiserver requests broken out by verb, resource and "
                             "HTTP response code.", ("verb", "resource", "code"),
                             registry=reg),
            latency=Histogram("apiserver_request_duration_seconds",
                              "Response latency distribution in seconds for each verb and "
                              "resource.", ("verb", "resource"), buckets=BUCKETS,
                              registry=reg),
        )


METRICS_KEY = web.AppKey("minikube8s_metrics", Metrics)

try:
    CLASSIFIED: Any = web.RequestKey("minikube8s_classified", tuple)
except AttributeError:  # aiohttp before RequestKey: a plain key does the same
    CLASSIFIED = "minikube8s_classified"
"""``(verb, resource)`` of a request whose path is already parsed (app.py sets it)."""


def verb_of(method: str, *, name: str, watch: bool) -> str:
    if method in ("GET", "HEAD"):
        return "watch" if watch else ("get" if name else "list")
    if method == "DELETE":
        return "delete" if name else "deletecollection"
    return _VERBS.get(method) or method.lower()


_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


def classify(method: str, path: str, query_watch: str = "") -> tuple[str, str]:
    """(verb, resource) of a request, as Kubernetes' RequestInfo would name them."""
    parts = [p for p in path.split("/") if p]
    rest: list[str] | None = None
    if len(parts) >= 2 and parts[0] == "api":
        rest = parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        rest = parts[3:]
    method = method.upper()
    if not rest:
        return ("get" if method in ("GET", "HEAD") else method.lower()), ""
    watch = False
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    if len(rest) >= 3 and rest[0] == "namespaces" and lookup(rest[2]) is not None:
        rest = rest[2:]  # /namespaces/{ns}/{resource}/...: drop the scope
    if not rest:
        return method.lower(), ""
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else ""
    sub = rest[2] if len(rest) > 2 else ""
    if sub:
        resource = f"{resource}/{sub}"
    watch = watch or query_watch.lower() in ("true", "1")
    return verb_of(method, name=name, watch=watch), resource


def observe(request: web.Request, code: int, seconds: float) -> None:
    """Record one finished request in its app's metrics (if the app has them)."""
    metrics = request.app.get(METRICS_KEY)
    if metrics is None:
        return
    classified = request.get(CLASSIFIED)
    if classified is None:
        classified = classify(request.method, request.path, request.query.get("watch", ""))
    verb, resource = classified
    verb = str(request.get("k8s_verb") or verb)
    resource = str(request.get("k8s_resource") or resource)
    metrics.record(verb, resource, code, None if verb == "watch" else seconds)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``observe`` as a middleware of its own (app.py folds it into its single one)."""
    started = time.perf_counter()
    code = 500
    try:
        response = await handler(request)
        code = response.status
        return response
    except web.HTTPException as e:
        code = e.status
        raise
    except errors.APIError as e:  # when no error middleware sits inside this one
        code = e.code
        raise
    finally:
        observe(request, code, time.perf_counter() - started)


async def _serve_metrics(request: web.Request) -> web.Response:
    metrics = request.app[METRICS_KEY]
    return web.Response(body=generate_latest(metrics.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


def register(app: web.Application) -> None:
    """Give app its metrics and GET /metrics; add ``metrics_middleware`` to its middlewares
    (before the app is frozen) for requests to be recorded."""
    app[METRICS_KEY] = Metrics.create()
    app.router.add_get("/metrics", _serve_metrics)
