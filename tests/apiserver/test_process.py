"""``minikube8s --role a`` as a process: ready line, clean stop with open watches, restart."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.fixtures.apiserver import ApiServerProcess

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "keep"},
       "spec": {"containers": [{"name": "c", "image": "nginx"}]}}


def call(url: str, method: str = "GET", body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_stops_cleanly_with_an_open_watch_and_keeps_data(tmp_path: Path) -> None:
    server = ApiServerProcess(tmp_path / "data")
    server.start()
    try:
        assert "API server ready at http://127.0.0.1:" in server.logs()
        code, _ = call(f"{server.url}/api/v1/namespaces/default/pods", "POST", POD)
        assert code == 201
        # an untimed watch stays open; stopping the server must not hang on it
        watch = urllib.request.urlopen(
            f"{server.url}/api/v1/namespaces/default/pods?watch=true", timeout=10)
        first = json.loads(watch.readline())
        assert first["type"] == "ADDED"
        start = time.monotonic()
        assert server.stop() == 0, server.logs()
        assert time.monotonic() - start < 10
        watch.close()
        assert "Traceback" not in server.logs()
    finally:
        server.kill()

    # same data dir: the pod is still there, with the same uid
    again = ApiServerProcess(tmp_path / "data")
    again.start()
    try:
        code, got = call(f"{again.url}/api/v1/namespaces/default/pods/keep")
        assert code == 200, got
        assert got["metadata"]["name"] == "keep"
        code, _ = call(f"{again.url}/api/v1/namespaces/default/pods", "POST", POD)
        assert code == 409
    finally:
        assert again.stop() == 0
