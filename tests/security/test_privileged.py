"""Pods that reach into their node (privileged containers, hostPath volumes, host namespaces)
are refused at the API with 403 unless the control plane runs with --allow-privileged
(roles/apiserver/podsecurity.py), for Pods and for ReplicationController templates.

Most cases run on the in-process server (memory store); one real ``minikube8s --role a
--allow-privileged`` process checks the flag reaches the chain.
"""

from __future__ import annotations

import copy
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from minikube8s.roles.apiserver.podsecurity import POLICY, PrivilegedPolicy
from tests.fixtures.apiserver import ApiServerProcess, InProcessApi

Object = dict[str, Any]
PODS = "/api/v1/namespaces/default/pods"
RCS = "/api/v1/namespaces/default/replicationcontrollers"


def pod(name: str, **spec: Any) -> Object:
    containers = spec.pop("containers", [{"name": "c", "image": "nginx"}])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": containers, **spec}}


PRIV = {"securityContext": {"privileged": True}}
HOST_PATH = [{"name": "data", "hostPath": {"path": "/etc"}}]

CASES: list[tuple[str, Object, str]] = [
    ("privileged", pod("p1", containers=[{"name": "c", "image": "nginx", **PRIV}]),
     'privileged (container "c" must not set securityContext.privileged=true)'),
    ("init-privileged", pod("p2", initContainers=[{"name": "i", "image": "busybox", **PRIV}]),
     'privileged (container "i" must not set securityContext.privileged=true)'),
    ("two-privileged", pod("p3", containers=[{"name": "a", "image": "nginx", **PRIV},
                                             {"name": "b", "image": "nginx", **PRIV}]),
     'privileged (containers "a", "b" must not set securityContext.privileged=true)'),
    ("hostpath", pod("p4", volumes=HOST_PATH), 'hostPath volumes (volume "data")'),
    ("hostnetwork", pod("p5", hostNetwork=True), "host namespaces (hostNetwork=true)"),
    ("hostpid-hostipc", pod("p6", hostPID=True, hostIPC=True),
     "host namespaces (hostPID=true, hostIPC=true)"),
    ("all", pod("p7", hostNetwork=True, volumes=[
        *HOST_PATH, {"name": "logs", "hostPath": {"path": "/var/log"}}],
        containers=[{"name": "c", "image": "nginx", **PRIV}]),
     'host namespaces (hostNetwork=true), hostPath volumes (volumes "data", "logs"), '
     'privileged (container "c" must not set securityContext.privileged=true)'),
]


def policy(api: InProcessApi) -> PrivilegedPolicy:
    (found,) = [p for p in api.registry.admission if isinstance(p, PrivilegedPolicy)]
    return found


async def post(api: InProcessApi, path: str, body: Object) -> tuple[int, Object]:
    r = await api.http.post(path, json=body)
    return r.status, await r.json()


@pytest.mark.parametrize(("case", "body", "detail"), CASES, ids=[c[0] for c in CASES])
async def test_refused_then_allowed(api: InProcessApi, case: str, body: Object,
                                    detail: str) -> None:
    name = body["metadata"]["name"]
    code, status = await post(api, PODS, copy.deepcopy(body))
    assert code == 403, status
    assert status["reason"] == "Forbidden" and status["code"] == 403
    assert status["message"] == f'pods "{name}" is forbidden: {POLICY}: {detail}'
    assert status["details"] == {"name": name, "kind": "pods"}
    # nothing was written
    assert (await api.http.get(f"{PODS}/{name}")).status == 404
    # a dry run is refused the same way
    r = await api.http.post(f"{PODS}?dryRun=All", json=copy.deepcopy(body))
    assert r.status == 403
    policy(api).allow_privileged = True
    code, created = await post(api, PODS, copy.deepcopy(body))
    assert code == 201, created


async def test_plain_pod_and_host_port_are_fine(api: InProcessApi) -> None:
    # hostPort is not refused: the seed publishes ports that way.
    body = pod("web", containers=[{"name": "c", "image": "nginx", "ports": [
        {"containerPort": 80, "hostPort": 8080}], "securityContext": {"privileged": False}}],
        hostNetwork=False)
    code, status = await post(api, PODS, body)
    assert code == 201, status


async def test_v1beta3_privileged_field(api: InProcessApi) -> None:
    # The seed's dialect had `privileged` on the container itself.
    body = {"apiVersion": "v1beta3", "kind": "Pod", "metadata": {"name": "old"},
            "spec": {"containers": [{"name": "c", "image": "nginx", "privileged": True}]}}
    r = await api.http.post("/api/v1beta3/namespaces/default/pods", json=body)
    assert r.status == 403
    assert (await r.json())["message"].endswith(
        'privileged (container "c" must not set securityContext.privileged=true)')


def rc(name: str, **spec: Any) -> Object:
    return {"apiVersion": "v1", "kind": "ReplicationController", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"app": name}, "template": {
                "metadata": {"labels": {"app": name}}, "spec": {
                    "containers": [{"name": "c", "image": "nginx"}], **spec}}}}


async def test_rc_template_refused(api: InProcessApi) -> None:
    code, status = await post(api, RCS, rc("web", hostNetwork=True))
    assert code == 403, status
    assert status["message"] == (f'replicationcontrollers "web" is forbidden: {POLICY}: '
                                 "spec.template: host namespaces (hostNetwork=true)")
    assert status["details"]["kind"] == "replicationcontrollers"
    # an accepted RC cannot be updated into a forbidden one (PUT and PATCH)
    code, made = await post(api, RCS, rc("web"))
    assert code == 201, made
    made["spec"]["template"]["spec"]["volumes"] = HOST_PATH
    r = await api.http.put(f"{RCS}/web", json=made)
    assert r.status == 403
    assert (await r.json())["message"].endswith('spec.template: hostPath volumes (volume "data")')
    r = await api.http.patch(f"{RCS}/web", data=json.dumps(
        {"spec": {"template": {"spec": {"hostPID": True}}}}),
        headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 403
    assert (await r.json())["message"].endswith("spec.template: host namespaces (hostPID=true)")
    # scaling goes through
    r = await api.http.patch(f"{RCS}/web/scale", data=json.dumps({"spec": {"replicas": 3}}),
                             headers={"Content-Type": "application/merge-patch+json"})
    assert r.status == 200, await r.text()


async def test_objects_from_an_allowing_cluster_stay_manageable(api: InProcessApi) -> None:
    """A pod or RC made while the cluster allowed it keeps taking label, status and delete
    writes after the flag is turned off; only what an update adds is refused."""
    policy(api).allow_privileged = True
    code, _ = await post(api, PODS, pod("legacy", hostNetwork=True))
    assert code == 201
    code, _ = await post(api, RCS, rc("legacy", hostNetwork=True))
    assert code == 201
    policy(api).allow_privileged = False
    merge = {"Content-Type": "application/merge-patch+json"}
    for path in (f"{PODS}/legacy", f"{RCS}/legacy"):
        r = await api.http.patch(path, data=json.dumps({"metadata": {"labels": {"x": "y"}}}),
                                 headers=merge)
        assert r.status == 200, await r.text()
    r = await api.http.patch(f"{RCS}/legacy", data=json.dumps(
        {"spec": {"template": {"spec": {"hostIPC": True}}}}), headers=merge)
    # the check is named with everything it now finds, as PodSecurity words a changed pod
    assert r.status == 403
    assert (await r.json())["message"].endswith(
        "spec.template: host namespaces (hostNetwork=true, hostIPC=true)")
    r = await api.http.patch(f"{PODS}/legacy/status", data=json.dumps(
        {"status": {"phase": "Running"}}), headers=merge)
    assert r.status == 200, await r.text()
    r = await api.http.delete(f"{PODS}/legacy?gracePeriodSeconds=0")
    assert r.status == 200, await r.text()


def _post(url: str, path: str, body: Object) -> tuple[int, Object]:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_allow_privileged_flag_reaches_the_api(tmp_path: Path) -> None:
    """The real process: --allow-privileged admits what the default refuses."""
    server = ApiServerProcess(tmp_path / "data", "--allow-privileged",
                              "--disable", "scheduler,controllers")
    server.start()
    try:
        for _, body, _ in CASES:
            code, out = _post(server.url, PODS, body)
            assert code == 201, out
    finally:
        assert server.stop() == 0, server.logs()[-3000:]
