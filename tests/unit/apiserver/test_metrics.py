"""metrics.py: verb/resource classification and the /metrics endpoint on a tiny aiohttp app."""

from __future__ import annotations

import contextlib

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from minikube8s.api import errors
from minikube8s.roles.apiserver.metrics import classify, metrics_middleware, register


@pytest.mark.parametrize(("method", "path", "watch", "want"), [
    ("GET", "/api/v1/namespaces/default/pods", "", ("list", "pods")),
    ("GET", "/api/v1/namespaces/default/pods", "true", ("watch", "pods")),
    ("GET", "/api/v1/watch/namespaces/default/pods", "", ("watch", "pods")),
    ("GET", "/api/v1/namespaces/default/pods/p1", "", ("get", "pods")),
    ("GET", "/api/v1/namespaces/default/pods/p1/log", "", ("get", "pods/log")),
    ("POST", "/api/v1/namespaces/default/pods/p1/binding", "", ("create", "pods/binding")),
    ("GET", "/api/v1/pods", "", ("list", "pods")),
    ("GET", "/api/v1/namespaces", "", ("list", "namespaces")),
    ("GET", "/api/v1/namespaces/default", "", ("get", "namespaces")),
    ("PUT", "/api/v1/namespaces/kube-x/finalize", "", ("update", "namespaces/finalize")),
    ("POST", "/api/v1/namespaces/default/services", "", ("create", "services")),
    ("PUT", "/api/v1/namespaces/default/services/s", "", ("update", "services")),
    ("PATCH", "/api/v1/namespaces/default/replicationcontrollers/r/scale", "",
     ("patch", "replicationcontrollers/scale")),
    ("DELETE", "/api/v1/namespaces/default/pods/p", "", ("delete", "pods")),
    ("DELETE", "/api/v1/namespaces/default/pods", "", ("deletecollection", "pods")),
    ("GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x", "",
     ("get", "leases")),
    ("GET", "/healthz", "", ("get", "")),
    ("GET", "/api/v1", "", ("get", "")),
])
def test_classify(method: str, path: str, watch: str, want: tuple[str, str]) -> None:
    assert classify(method, path, watch) == want


async def _ok(request: web.Request) -> web.Response:
    return web.json_response({})


async def _missing(request: web.Request) -> web.Response:
    raise errors.NotFound.of("pods", "nope")


async def _custom(request: web.Request) -> web.Response:
    request["k8s_verb"] = "patch"
    request["k8s_resource"] = "pods/status"
    return web.json_response({})


def make_app() -> web.Application:
    app = web.Application(middlewares=[metrics_middleware])
    register(app)
    app.router.add_get("/api/v1/namespaces/default/pods", _ok)
    app.router.add_get("/api/v1/namespaces/default/pods/nope", _missing)
    app.router.add_post("/custom", _custom)
    return app


# The handlers' plain string keys are what the contract names (request["k8s_verb"]).
@pytest.mark.filterwarnings("ignore::aiohttp.web.NotAppKeyWarning")
async def test_metrics_endpoint_counts_requests() -> None:
    # Two apps in one process: each has its own registry, so nothing collides.
    for _ in range(2):
        async with TestClient(TestServer(make_app())) as client:
            for _ in range(3):
                assert (await client.get("/api/v1/namespaces/default/pods")).status == 200
            assert (await client.get("/api/v1/namespaces/default/pods/nope")).status == 500
            await client.post("/custom")
            resp = await client.get("/metrics")
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=")
            text = await resp.text()
    assert ('apiserver_request_total{code="200",resource="pods",verb="list"} 3.0') in text
    # No error middleware in this app: the APIError's own code is recorded.
    assert ('apiserver_request_total{code="404",resource="pods",verb="get"} 1.0') in text
    assert 'apiserver_request_total{code="200",resource="pods/status",verb="patch"} 1.0' in text
    assert ('apiserver_request_duration_seconds_count{resource="pods",verb="list"} 3.0') in text
    assert 'apiserver_request_duration_seconds_bucket{le="0.005",resource="pods",verb="list"}' \
        in text


async def _client_gone(request: web.Request) -> web.Response:
    raise ConnectionResetError("Cannot write to closing transport")


async def test_a_request_the_client_abandoned_counts_as_499_not_500() -> None:
    """server_middleware: a handler ended by the client going away (an exec or port-forward
    session kubectl closed) is not a server error in the metrics or the access log."""
    from minikube8s.roles.apiserver.app import server_middleware

    app = web.Application(middlewares=[server_middleware])
    register(app)
    app.router.add_get("/api/v1/namespaces/default/pods/p/portforward", _client_gone)
    async with TestClient(TestServer(app)) as client:
        # What the client sees depends on aiohttp (here the transport is still open and it
        # answers 500 itself); what matters is what the API server records.
        with contextlib.suppress(aiohttp.ClientError):
            await client.get("/api/v1/namespaces/default/pods/p/portforward")
        text = await (await client.get("/metrics")).text()
    assert 'code="499",resource="pods/portforward"' in text, text
    assert 'code="500"' not in text
