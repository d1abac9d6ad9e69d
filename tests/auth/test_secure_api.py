"""The HTTPS port of a real ``minikube8s --role a`` (issue 9 items 1-3): real kubectl 1.27 and
1.33 and the official ``kubernetes`` client over TLS with the admin kubeconfig, 401 and 403 in
Kubernetes' words, the read-only and node credentials, the join endpoint, tokens kept out of
the logs, and two control planes on one real etcd sharing CA and tokens.

Raw requests go through urllib with an SSL context trusting only the cluster CA, so every
request here also proves the certificate chain and SANs (127.0.0.1) verify.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest

from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.etcd import EtcdProcess

KUBECTLS = ("/usr/lib/google-cloud-sdk/bin/kubectl.1.27",
            "/usr/lib/google-cloud-sdk/bin/kubectl.1.33")

UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerProcess]:
    s = ApiServerProcess(tmp_path_factory.mktemp("secure") / "data",
                         "--disable", "scheduler,controllers", "--log-level", "debug")
    with s.serving():
        yield s


def call(s: ApiServerProcess, method: str, path: str, *, token: str | None = None,
         body: Any = None, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=str(s.ca_file))
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(s.secure_url + path, data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            code, text = r.status, r.read()
    except urllib.error.HTTPError as e:
        code, text = e.code, e.read()
    try:
        return code, json.loads(text)
    except ValueError:
        return code, text.decode()


def pod(name: str, node: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox"}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def join(s: ApiServerProcess, name: str, token: str | None = None, *,
         password: str | None = "") -> tuple[int, Any]:
    """POST /minikube8s/join; the node password defaults to one per name (None: none)."""
    body = {"nodeName": name}
    if password is not None:
        body["password"] = password or f"password-of-{name}-0123456789"
    return call(s, "POST", "/minikube8s/join", token=token or s.join_token, body=body)


# -- files, anonymous, 401 --------------------------------------------------------------------


def test_files_and_fingerprint(server: ApiServerProcess) -> None:
    d = server.data_dir
    for name in ("token", "admin.token", "readonly.token", "kubeconfig",
                 "kubeconfig-readonly", "pki/ca.key", "pki/apiserver.key"):
        assert (d / name).stat().st_mode & 0o777 == 0o600, name
    code, pem = call(server, "GET", "/cacerts")
    assert code == 200 and pem.startswith("-----BEGIN CERTIFICATE-----")
    assert pem.encode() == server.ca_file.read_bytes()
    token = server.join_token
    assert token.startswith("K10") and "::server:" in token
    assert token[3:67] == hashlib.sha256(pem.encode()).hexdigest()


def test_anonymous_and_unauthorized(server: ApiServerProcess) -> None:
    for path in ("/healthz", "/readyz", "/livez", "/version", "/version/", "/cacerts"):
        assert call(server, "GET", path)[0] == 200, path
    for method, path in (("GET", "/api/v1/pods"), ("GET", "/api"), ("GET", "/metrics"),
                         ("POST", "/api/v1/namespaces"), ("GET", "/openapi/v2")):
        assert call(server, method, path) == (401, UNAUTHORIZED), path
    for token in ("wrong", server.admin_token + "x", server.join_token,
                  "node:n1:" + "0" * 64):
        for path in ("/api/v1/pods", "/healthz", "/version", "/cacerts"):
            assert call(server, "GET", path, token=token) == (401, UNAUTHORIZED), path
    # The insecure (loopback) port is still the admin, without any token.
    with urllib.request.urlopen(server.url + "/api/v1/namespaces", timeout=5) as r:
        assert r.status == 200


# -- real clients with the admin kubeconfig ---------------------------------------------------


@pytest.mark.parametrize("kubectl", KUBECTLS)
def test_kubectl_admin_over_https(server: ApiServerProcess, kubectl: str) -> None:
    env = {"KUBECONFIG": str(server.data_dir / "kubeconfig"), "PATH": "/usr/bin:/bin",
           "HOME": str(server.data_dir)}
    name = "k" + kubectl.rsplit(".", 1)[1]

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([kubectl, *args], env=env, input=stdin, capture_output=True,
                              text=True, timeout=60, check=False)

    res = run("create", "-f", "-", stdin=json.dumps(pod(name)))
    assert res.returncode == 0, res.stderr
    res = run("get", "pod", name, "-o", "jsonpath={.metadata.name}")
    assert (res.returncode, res.stdout) == (0, name), res.stderr
    res = run("get", "ns")
    assert res.returncode == 0 and "kube-node-lease" in res.stdout, res.stderr
    res = run("delete", "pod", name, "--wait=false")
    assert res.returncode == 0, res.stderr
    res = run("--kubeconfig", str(server.data_dir / "kubeconfig-readonly"), "create", "ns", "x")
    assert res.returncode == 1
    assert res.stderr.strip() == (
        'Error from server (Forbidden): namespaces is forbidden: User "kubernetes-ro" cannot '
        'create resource "namespaces" in API group "" at the cluster scope')


def _client(s: ApiServerProcess, token: str) -> kubernetes.client.CoreV1Api:
    cfg = kubernetes.client.Configuration()
    cfg.host = s.secure_url
    cfg.ssl_ca_cert = str(s.ca_file)
    cfg.api_key = {"authorization": token}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(cfg))


def test_python_client_admin_and_readonly(server: ApiServerProcess) -> None:
    admin = _client(server, server.admin_token)
    created = admin.create_namespaced_pod("default", pod("py"))
    assert created.metadata.name == "py"
    assert "py" in [p.metadata.name for p in admin.list_namespaced_pod("default").items]
    ro = _client(server, server.readonly_token)
    assert ro.read_namespaced_pod("py", "default").metadata.name == "py"
    w = kubernetes.watch.Watch()
    seen = [e["object"].metadata.name for e in w.stream(
        ro.list_namespaced_pod, "default", timeout_seconds=1)]
    assert "py" in seen
    with pytest.raises(kubernetes.client.ApiException) as e:
        ro.create_namespaced_pod("default", pod("nope"))
    assert e.value.status == 403
    assert json.loads(e.value.body)["message"] == (
        'pods is forbidden: User "kubernetes-ro" cannot create resource "pods" in API group '
        '"" in the namespace "default"')
    with pytest.raises(kubernetes.client.ApiException) as e:
        ro.delete_namespaced_pod("py", "default")
    assert e.value.status == 403
    bad = _client(server, "not-a-token")
    with pytest.raises(kubernetes.client.ApiException) as e:
        bad.list_namespace()
    assert e.value.status == 401 and json.loads(e.value.body) == UNAUTHORIZED
    admin.delete_namespaced_pod("py", "default")


# -- join and node credentials ----------------------------------------------------------------


def test_join_endpoint(server: ApiServerProcess) -> None:
    code, body = join(server, "n1")
    assert code == 200 and body["nodeName"] == "n1" and body["token"].startswith("node:n1:")
    assert join(server, "n1") == (200, body)  # stateless: the same token again
    wrong = server.join_token[:-1] + ("1" if server.join_token.endswith("0") else "0")
    assert join(server, "n1", token=wrong) == (401, UNAUTHORIZED)
    assert join(server, "n1", token=server.admin_token) == (401, UNAUTHORIZED)
    code, status = join(server, "Bad_Name")
    assert code == 422 and status["reason"] == "Invalid"
    assert status["details"]["causes"][0]["field"] == "nodeName"
    code, status = call(server, "POST", "/minikube8s/join", token=server.join_token,
                        raw=b"{not json")
    assert code == 400 and status["reason"] == "BadRequest"
    code, status = call(server, "POST", "/minikube8s/join", token=server.join_token, body={})
    assert code == 422


def test_node_password_keeps_a_registered_name(server: ApiServerProcess) -> None:
    """k3s' node password: the join token lets a machine join under a free name, not take
    over the name of a registered node (auth/nodepasswords.py)."""
    admin = server.admin_token
    a, b = "a-secret-of-node-pw1-000", "b-secret-of-node-pw1-111"
    code, first = join(server, "pw1", password=a)
    assert code == 200
    # No Node yet: the name is not taken, the last joiner's password counts.
    assert join(server, "pw1", password=b)[0] == 200
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "pw1"}}
    assert call(server, "POST", "/api/v1/nodes", token=admin, body=node)[0] == 201
    assert join(server, "pw1", password=b) == (200, first)
    code, st = join(server, "pw1", password=a)
    assert code == 403 and st["reason"] == "Forbidden", st
    assert st["message"].startswith('node "pw1" is registered and joined with another node '
                                    "password"), st
    assert a not in json.dumps(st) and b not in json.dumps(st)
    # No password, or one too short: 422 on the field, the value never echoed.
    code, st = join(server, "pw1", password=None)
    assert code == 422 and st["details"]["causes"][0]["field"] == "password"
    code, st = join(server, "pw1", password="short")
    assert code == 422 and "short" not in json.dumps(st), st
    # The record lives outside /registry/: no API path reaches it.
    assert call(server, "GET", "/api/v1/nodes/pw1", token=admin)[0] == 200
    # Deleting the Node frees the name: the next joiner's password is recorded.
    assert call(server, "DELETE", "/api/v1/nodes/pw1", token=admin)[0] == 200
    assert join(server, "pw1", password=a)[0] == 200
    assert call(server, "POST", "/api/v1/nodes", token=admin, body=node)[0] == 201
    assert join(server, "pw1", password=b)[0] == 403
    assert join(server, "pw1", password=a)[0] == 200


def test_node_may_write_only_its_own(server: ApiServerProcess) -> None:
    n1 = join(server, "n1")[1]["token"]
    admin = server.admin_token
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}}
    assert call(server, "POST", "/api/v1/nodes", token=n1, body=node)[0] == 201
    code, st = call(server, "POST", "/api/v1/nodes", token=n1,
                    body={**node, "metadata": {"name": "n2"}})
    assert code == 403 and st["message"].endswith(': node "n1" is not allowed to modify node "n2"')
    assert call(server, "POST", "/api/v1/nodes", token=admin,
                body={**node, "metadata": {"name": "n2"}})[0] == 201
    merge = "application/merge-patch+json"
    ready = {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert call(server, "PATCH", "/api/v1/nodes/n1/status", token=n1, body=ready,
                content_type=merge)[0] == 200
    code, st = call(server, "PATCH", "/api/v1/nodes/n2/status", token=n1, body=ready,
                    content_type=merge)
    assert (code, st["message"]) == (403, (
        'nodes "n2" is forbidden: User "system:node:n1" cannot patch resource "nodes/status" '
        'in API group "" at the cluster scope'))
    assert st["details"] == {"name": "n2", "kind": "nodes"}
    # Its own Lease in kube-node-lease (the namespace exists from the start).
    leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases"
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1"}}
    assert call(server, "POST", leases, token=n1, body=lease)[0] == 201
    assert call(server, "PATCH", f"{leases}/n1", token=n1, content_type=merge,
                body={"spec": {"leaseDurationSeconds": 40}})[0] == 200
    code, _ = call(server, "POST", leases, token=n1,
                   body={**lease, "metadata": {"name": "n2"}})
    assert code == 403
    # Pods: status of its own, not another node's; no creates; no secrets.
    for name, where in (("mine", "n1"), ("theirs", "n2")):
        assert call(server, "POST", "/api/v1/namespaces/default/pods", token=admin,
                    body=pod(name, where))[0] == 201
    running = {"status": {"phase": "Running"}}
    code, out = call(server, "PATCH", "/api/v1/namespaces/default/pods/mine/status", token=n1,
                     body=running, content_type=merge)
    assert code == 200 and out["status"]["phase"] == "Running"
    code, st = call(server, "PATCH", "/api/v1/namespaces/default/pods/theirs/status",
                    token=n1, body=running, content_type=merge)
    assert (code, st["message"]) == (403, (
        'pods "theirs" is forbidden: User "system:node:n1" cannot patch resource "pods/status" '
        'in API group "" in the namespace "default": node "n1" can only update pod status for '
        "pods bound to it"))
    code, st = call(server, "POST", "/api/v1/namespaces/default/pods", token=n1,
                    body=pod("new", "n1"))
    assert (code, st["message"]) == (403, (
        'pods is forbidden: User "system:node:n1" cannot create resource "pods" in API group '
        '"" in the namespace "default"'))
    code, st = call(server, "GET", "/api/v1/namespaces/default/secrets", token=n1)
    assert (code, st["message"]) == (403, (
        'secrets is forbidden: User "system:node:n1" cannot list resource "secrets" in API '
        'group "" in the namespace "default": No Object name found'))
    assert call(server, "GET", "/api/v1/pods", token=n1)[0] == 200
    assert call(server, "GET", "/metrics", token=n1)[0] == 403
    assert call(server, "DELETE", "/api/v1/namespaces/default/pods/theirs", token=n1,
                body={"gracePeriodSeconds": 0})[0] == 403
    assert call(server, "DELETE", "/api/v1/namespaces/default/pods/mine", token=n1,
                body={"gracePeriodSeconds": 0})[0] == 200
    assert call(server, "GET", "/api/v1/namespaces/default/pods/theirs", token=n1)[0] == 200


def _forbidden(verb: str, what: str, where: str, reason: str, name: str = "") -> str:
    prefix = f'{what} "{name}"' if name else what
    return (f'{prefix} is forbidden: User "system:node:n1" cannot {verb} resource "{what}" in '
            f'API group "" {where}: {reason}')


def test_node_reads_only_what_its_pods_use(server: ApiServerProcess) -> None:
    """The Node authorizer's graph: a secret or configmap is readable by a node while a pod
    bound to it references it, by name only (get, or list/watch with metadata.name=)."""
    n1 = join(server, "n1")[1]["token"]
    admin, ro = server.admin_token, server.readonly_token
    ns = "/api/v1/namespaces/graph"
    assert call(server, "POST", "/api/v1/namespaces", token=admin, body={
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "graph"}})[0] == 201
    for name in ("s-vol", "s-env", "s-pull", "s-other"):
        assert call(server, "POST", f"{ns}/secrets", token=admin, body={
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "stringData": {"k": "v"}})[0] == 201
    for name in ("c-from", "c-proj", "c-other"):
        assert call(server, "POST", f"{ns}/configmaps", token=admin, body={
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name},
            "data": {"k": "v"}})[0] == 201
    mine = pod("user", "n1")
    mine["spec"] |= {
        "imagePullSecrets": [{"name": "s-pull"}],
        "volumes": [{"name": "v", "secret": {"secretName": "s-vol"}},
                    {"name": "p", "projected": {"sources": [{"configMap": {"name": "c-proj"}}]}}]}
    mine["spec"]["containers"][0] |= {
        "env": [{"name": "E", "valueFrom": {"secretKeyRef": {"name": "s-env", "key": "k"}}}],
        "envFrom": [{"configMapRef": {"name": "c-from"}}]}
    theirs = pod("other", "n2")
    theirs["spec"]["volumes"] = [{"name": "v", "secret": {"secretName": "s-other"}},
                                 {"name": "c", "configMap": {"name": "c-other"}}]
    for p in (mine, theirs):
        assert call(server, "POST", f"{ns}/pods", token=admin, body=p)[0] == 201
    for path in ("secrets/s-vol", "secrets/s-env", "secrets/s-pull", "configmaps/c-from",
                 "configmaps/c-proj"):
        code, got = call(server, "GET", f"{ns}/{path}", token=n1)
        assert code == 200 and got["data"]["k"], path
    where = 'in the namespace "graph"'
    code, st = call(server, "GET", f"{ns}/secrets/s-other", token=n1)
    assert (code, st["message"]) == (403, _forbidden(
        "get", "secrets", where, "no relationship found between node 'n1' and this object",
        "s-other"))
    assert st["details"] == {"name": "s-other", "kind": "secrets"}
    assert call(server, "GET", f"{ns}/configmaps/c-other", token=n1)[0] == 403
    # Lists and watches: only narrowed to one referenced name.
    code, st = call(server, "GET", f"{ns}/configmaps", token=n1)
    assert (code, st["message"]) == (403, _forbidden("list", "configmaps", where,
                                                     "No Object name found"))
    code, lst = call(server, "GET", f"{ns}/secrets?fieldSelector=metadata.name%3Ds-vol",
                     token=n1)
    assert code == 200 and [i["metadata"]["name"] for i in lst["items"]] == ["s-vol"]
    code, text = call(server, "GET", f"{ns}/secrets?watch=1&timeoutSeconds=1&"
                      "fieldSelector=metadata.name%3Ds-env", token=n1)
    assert code == 200 and "'s-env'" in str(text)  # one ADDED event line
    assert call(server, "GET", f"{ns}/secrets?fieldSelector=metadata.name%3Ds-other",
                token=n1)[0] == 403
    code, st = call(server, "GET", "/api/v1/secrets", token=n1)
    assert st["message"] == _forbidden("list", "secrets", "at the cluster scope",
                                       "can only read namespaced object of this type")
    code, st = call(server, "POST", f"{ns}/secrets", token=n1, body={
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}})
    assert (code, st["message"]) == (403, _forbidden("create", "secrets", where,
                                                     "can only read resources of this type"))
    # The read-only user reads configmaps but not secrets, as Kubernetes' view role.
    assert call(server, "GET", f"{ns}/configmaps/c-other", token=ro)[0] == 200
    code, st = call(server, "GET", f"{ns}/secrets", token=ro)
    assert (code, st["message"]) == (403, 'secrets is forbidden: User "kubernetes-ro" cannot '
                                     'list resource "secrets" in API group "" in the '
                                     'namespace "graph"')
    # The relationship ends with the pod.
    assert call(server, "DELETE", f"{ns}/pods/user", token=admin,
                body={"gracePeriodSeconds": 0})[0] == 200
    assert call(server, "GET", f"{ns}/secrets/s-vol", token=n1)[0] == 403


def test_tokens_never_logged(server: ApiServerProcess) -> None:
    """Runs after the tests above made requests with every kind of token (debug logging)."""
    n1 = join(server, "n1")[1]["token"]
    call(server, "GET", "/api/v1/pods?watch=false", token=n1)
    call(server, "GET", "/api/v1/pods", token="wrong-" + server.admin_token)
    logs = server.logs()
    assert "GET /api/v1/pods" in logs  # the access lines are there (debug level)
    secrets = [server.admin_token, server.readonly_token, n1, n1.rsplit(":", 1)[1],
               (server.data_dir / "node.key").read_text().strip()]
    for secret in secrets:
        assert secret not in logs
    # The join token is printed exactly once, on purpose, at the cluster's first start.
    assert logs.count(server.join_token) == 1


# -- two control planes on one etcd -----------------------------------------------------------


def test_two_control_planes_share_ca_and_tokens(etcd_server: EtcdProcess,
                                                tmp_path: Path) -> None:
    args = ("--store", etcd_server.url, "--disable", "scheduler,controllers",
            "--leader-elect=false")
    one = ApiServerProcess(tmp_path / "one", *args)
    two = ApiServerProcess(tmp_path / "two", *args)
    one.start()
    try:
        two.start()
        try:
            assert one.ca_file.read_bytes() == two.ca_file.read_bytes()
            assert (one.admin_token, one.join_token) == (two.admin_token, two.join_token)
            # Serving certificates are each control plane's own.
            assert (one.data_dir / "pki/apiserver.crt").read_bytes() != \
                (two.data_dir / "pki/apiserver.crt").read_bytes()
            token = join(one, "ha-node")[1]["token"]
            node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ha-node"}}
            code, _ = call(two, "POST", "/api/v1/nodes", token=token, body=node)
            assert code in (201, 409)
            assert call(two, "GET", "/api/v1/nodes/ha-node", token=token)[0] == 200
            assert call(two, "GET", "/api/v1/nodes", token=one.readonly_token)[0] == 200
        finally:
            assert two.stop() == 0, two.logs()[-3000:]
    finally:
        assert one.stop() == 0, one.logs()[-3000:]
