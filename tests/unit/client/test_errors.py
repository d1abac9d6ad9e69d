"""Status bodies -> typed client errors; Warning headers; resource paths."""

from __future__ import annotations

import json

import pytest

from minikube8s.api import errors as api_errors
from minikube8s.client import errors
from minikube8s.client.rest import parse_warning, resource, resource_path


@pytest.mark.parametrize(("server", "client"), [
    (api_errors.NotFound.of("pods", "x"), errors.NotFound),
    (api_errors.AlreadyExists.of("pods", "x"), errors.AlreadyExists),
    (api_errors.Conflict.of("pods", "x"), errors.Conflict),
    (api_errors.Invalid.of("Pod", "x", [api_errors.required("spec.containers")]),
     errors.Invalid),
    (api_errors.Gone("too old resource version: 1 (5)"), errors.Gone),
    (api_errors.BadRequest("nope"), errors.BadRequest),
    (api_errors.Forbidden("no"), errors.Forbidden),
    (api_errors.InternalError("boom"), errors.ServerError),
    (api_errors.ServiceUnavailable("later"), errors.ServiceUnavailable),
    (api_errors.TooManyRequests("slow down", retry_after=3), errors.TooManyRequests),
])
def test_status_round_trip(server: api_errors.APIError, client: type[errors.ClientError]
                           ) -> None:
    status = server.to_status()
    e = errors.from_response(server.code, json.dumps(status).encode())
    assert type(e) is client
    assert e.code == server.code and e.reason == server.reason
    assert e.status == status
    assert str(e) == server.message


def test_invalid_causes_and_retry_after() -> None:
    inv = api_errors.Invalid.of("Pod", "x", [api_errors.required("spec.containers[0].image")])
    e = errors.from_status(inv.to_status())
    assert e.causes[0]["field"] == "spec.containers[0].image"
    tm = errors.from_status(api_errors.TooManyRequests("x", retry_after=3).to_status())
    assert tm.retry_after == 3 and tm.retriable
    assert not e.retriable


def test_non_status_bodies_and_unknown_codes() -> None:
    e = errors.from_response(502, b"<html>bad gateway</html>", method="GET", url="/x")
    assert isinstance(e, errors.ServerError) and e.code == 502
    assert "bad gateway" in str(e)
    e = errors.from_response(404, b"")
    assert isinstance(e, errors.NotFound)
    e = errors.from_response(418, b'{"kind":"Status","reason":"Teapot","code":418}')
    assert type(e) is errors.ClientError and e.code == 418 and e.reason == "Teapot"


def test_parse_warning() -> None:
    assert parse_warning('299 - "unknown field \\"spec.x\\""') == 'unknown field "spec.x"'
    assert parse_warning('299 - "text" "Sat, 01 Jan 2000 00:00:00 GMT"') == "text"
    assert parse_warning("garbage") == "garbage"


def test_resource_paths() -> None:
    pods, nodes, leases = resource("pods"), resource("nodes"), resource("leases")
    assert resource_path(pods) == "/api/v1/pods"
    assert resource_path(pods, namespace="ns") == "/api/v1/namespaces/ns/pods"
    assert resource_path(pods, namespace="ns", name="a", subresource="status") == \
        "/api/v1/namespaces/ns/pods/a/status"
    assert resource_path(nodes, namespace="ignored", name="n1") == "/api/v1/nodes/n1"
    assert resource_path(leases, namespace="kube-node-lease", name="n1") == \
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1"
    assert resource("rc").name == "replicationcontrollers"
    with pytest.raises(KeyError):
        resource("nope")
