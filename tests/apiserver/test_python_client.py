"""The official ``kubernetes`` Python client against a real ``minikube8s --role a`` process."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.fixtures.apiserver import ApiServerProcess

NS = "default"


@pytest.fixture(scope="module")
def core(bare_apiserver: ApiServerProcess) -> Iterator[client.CoreV1Api]:
    cfg = client.Configuration()
    cfg.host = bare_apiserver.url
    with client.ApiClient(cfg) as api_client:
        yield client.CoreV1Api(api_client)


def pod_body(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {"app": "t"}},
            "spec": {"containers": [{"name": "c", "image": "nginx",
                                     "env": [{"name": "A", "value": "1"}]}]}}


def rc_body(name: str, replicas: int = 1) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ReplicationController",
            "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"app": name},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}


def test_version_and_list(core: client.CoreV1Api, bare_apiserver: ApiServerProcess) -> None:
    cfg = client.Configuration()
    cfg.host = bare_apiserver.url
    with client.ApiClient(cfg) as c:
        info = client.VersionApi(c).get_code()
    assert info.major == "1"
    names = [n.metadata.name for n in core.list_namespace().items]
    assert "default" in names and "kube-system" in names


def test_create_read_replace_patch_delete(core: client.CoreV1Api) -> None:
    created = core.create_namespaced_pod(NS, pod_body("pc1"))
    assert created.metadata.uid and created.status.phase == "Pending"

    got = core.read_namespaced_pod("pc1", NS)
    got.metadata.labels["extra"] = "yes"
    replaced = core.replace_namespaced_pod("pc1", NS, got)
    assert replaced.metadata.labels["extra"] == "yes"

    # strategic merge patch (the client's default for dict bodies): labels merge
    patched = core.patch_namespaced_pod("pc1", NS, {"metadata": {"labels": {"s": "1"}}})
    assert patched.metadata.labels == {"app": "t", "extra": "yes", "s": "1"}

    # JSON merge patch
    patched = core.patch_namespaced_pod(
        "pc1", NS, {"metadata": {"labels": {"extra": None, "s": None, "m": "1"}}},
        _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"app": "t", "m": "1"}

    # JSON patch
    patched = core.patch_namespaced_pod(
        "pc1", NS, [{"op": "add", "path": "/metadata/annotations", "value": {"j": "p"}}],
        _content_type="application/json-patch+json")
    assert patched.metadata.annotations == {"j": "p"}

    # stale replace -> 409
    with pytest.raises(ApiException) as ei:
        core.replace_namespaced_pod("pc1", NS, got)
    assert ei.value.status == 409

    core.delete_namespaced_pod("pc1", NS)
    with pytest.raises(ApiException) as ei:
        core.read_namespaced_pod("pc1", NS)
    assert ei.value.status == 404


def test_strategic_merge_keeps_list_entries(core: client.CoreV1Api) -> None:
    body = rc_body("smp")
    body["spec"]["template"]["spec"]["containers"][0]["env"] = [{"name": "A", "value": "1"}]
    core.create_namespaced_replication_controller(NS, body)
    patched = core.patch_namespaced_replication_controller("smp", NS, {"spec": {"template": {
        "spec": {"containers": [{"name": "c", "env": [{"name": "B", "value": "2"}]}]}}}})
    env = {e.name: e.value for e in patched.spec.template.spec.containers[0].env}
    assert env == {"A": "1", "B": "2"}
    core.delete_namespaced_replication_controller("smp", NS)


def test_scale(core: client.CoreV1Api) -> None:
    core.create_namespaced_replication_controller(NS, rc_body("web", 2))
    scale = core.read_namespaced_replication_controller_scale("web", NS)
    assert scale.spec.replicas == 2
    assert scale.status.selector == "app=web"
    scale.spec.replicas = 5
    out = core.replace_namespaced_replication_controller_scale("web", NS, scale)
    assert out.spec.replicas == 5
    out = core.patch_namespaced_replication_controller_scale(
        "web", NS, {"spec": {"replicas": 3}})
    assert out.spec.replicas == 3
    assert core.read_namespaced_replication_controller("web", NS).spec.replicas == 3


def test_watch_with_resume(core: client.CoreV1Api) -> None:
    listed = core.list_namespaced_pod(NS, label_selector="app=w")
    rv = listed.metadata.resource_version
    seen: list[tuple[str, str]] = []
    done = threading.Event()

    def watcher() -> None:
        w = watch.Watch()
        for ev in w.stream(core.list_namespaced_pod, NS, label_selector="app=w",
                           resource_version=rv, timeout_seconds=10):
            seen.append((ev["type"], ev["object"].metadata.name))
            if len(seen) == 3:
                w.stop()
        done.set()

    t = threading.Thread(target=watcher, daemon=True)
    t.start()
    core.create_namespaced_pod(NS, pod_body("w1", app="w"))
    core.patch_namespaced_pod("w1", NS, {"metadata": {"labels": {"x": "1"}}})
    core.create_namespaced_pod(NS, pod_body("other", app="not-w"))
    core.delete_namespaced_pod("w1", NS)
    assert done.wait(15), seen
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]

    # resuming from the list's resourceVersion replays the same history
    events = []
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, NS, label_selector="app=w",
                       resource_version=rv, timeout_seconds=2):
        events.append(ev["type"])
        if len(events) == 3:
            w.stop()
    assert events == ["ADDED", "MODIFIED", "DELETED"]


def test_typed_secret_and_configmap(core: client.CoreV1Api) -> None:
    """V1Secret (string_data in, base64 data out) and V1ConfigMap through the typed models."""
    body = client.V1Secret(metadata=client.V1ObjectMeta(name="py-secret"),
                           string_data={"password": "s3cret"}, data={"user": "YWRtaW4="})
    created = core.create_namespaced_secret(NS, body)
    assert isinstance(created, client.V1Secret)
    assert created.type == "Opaque" and created.string_data is None
    assert created.data == {"user": "YWRtaW4=", "password": "czNjcmV0"}
    cm = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py-cm"), data={"k": "v"},
                            binary_data={"b": "AAE="}, immutable=True)
    core.create_namespaced_config_map(NS, cm)
    got = core.read_namespaced_config_map("py-cm", NS)
    assert (got.data, got.binary_data, got.immutable) == ({"k": "v"}, {"b": "AAE="}, True)
    assert "py-cm" in [c.metadata.name for c in core.list_namespaced_config_map(NS).items]
    with pytest.raises(ApiException) as e:
        core.patch_namespaced_config_map("py-cm", NS, {"data": {"k": "w"}})
    assert e.value.status == 422
    patched = core.patch_namespaced_secret("py-secret", NS, {"stringData": {"user": "root"}})
    assert patched.data["user"] == "cm9vdA=="
    core.delete_namespaced_secret("py-secret", NS)
    core.delete_namespaced_config_map("py-cm", NS)
    assert "py-secret" not in [s.metadata.name for s in core.list_namespaced_secret(NS).items]
