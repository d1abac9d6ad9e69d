"""The kubelet server over TLS, serving the API server only (issue 9): a real
``minikube8s --role a`` (HTTPS on a free loopback port) and ``minikube8s --role i --runtime
hollow`` nodes joined to it, all on 127.0.0.1.

A node joined over https gets a kubelet serving certificate signed by the cluster CA for its
IP and name (``pki/kubelet.crt``/``.key``, 0600), serves HTTPS, announces it on its Node, and
answers 401 to everyone without the API server's client certificate: no credential, a wrong
token, the admin token, the node's own certificate. ``pods/log`` and ``pods/exec`` (kubectl)
through the API server reach it. A node that joined before kubelets had certificates (its
kubelet.crt removed) gets one with its stored node token. A node talking plain http to the
insecure port keeps a plain-http kubelet, announced as such, and logs still work.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
import stat
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

from minikube8s.auth import join, pki
from minikube8s.client import Client, resource
from tests.compat.kubectl import binary
from tests.fixtures.etcd import free_port
from tests.join import test_join_process
from tests.join.test_join_process import Master, Node, wait_ready

NODES = resource("nodes")
PODS = resource("pods")
SCHEME = "minikube8s.io/kubelet-scheme"
STARTED = 'hollow: container "web" started (image nginx, restart 0)'

master = test_join_process.master  # the same fixture: a control plane of this module's own


class TLSNode(Node):
    """A hollow node whose kubelet port the test knows."""

    def __init__(self, data_dir: Path, name: str) -> None:
        super().__init__(data_dir, name)
        self.kubelet_port = free_port()

    def start(self, server: str, *extra: str) -> TLSNode:
        super().start(server, *extra)
        return self

    @property
    def kubelet_url(self) -> str:
        return f"https://127.0.0.1:{self.kubelet_port}"


def _node_start(node: TLSNode, server: str, *extra: str) -> TLSNode:
    # Node.start passes its own --kubelet-port; a later flag wins in the CLI.
    return node.start(server, "--kubelet-port", str(node.kubelet_port), *extra)


def _verifying(ca_file: Path, *, cert: Path | None = None,
               key: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca_file))
    if cert is not None and key is not None:
        ctx.load_cert_chain(str(cert), str(key))
    return ctx


async def _get(url: str, ctx: ssl.SSLContext | bool,
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, \
            http.get(url, ssl=ctx, headers=headers or {}) as resp:
        body = await resp.read()
        try:
            return resp.status, json.loads(body)
        except ValueError:
            return resp.status, body.decode(errors="replace")


async def _make_pod(master: Master, name: str, node: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"nodeName": node, "containers": [{"name": "web", "image": "nginx"}]}}
    async with master.client() as c:
        await c.create(PODS, pod, namespace="default")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            got = await c.get(PODS, name, namespace="default")
            if (got.get("status") or {}).get("phase") == "Running":
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"pod {name} never Running")


async def _log(master: Master, name: str) -> str:
    async with master.client() as c:
        resp = await c.request("GET", f"/api/v1/namespaces/default/pods/{name}/log",
                               accept="*/*")
        return resp.text


UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


async def test_joined_kubelet_serves_https_to_the_api_server_only(
        master: Master, tmp_path: Path) -> None:
    node = _node_start(TLSNode(tmp_path / "k1", "tls-k1"), master.url,
                       "--token", master.join_token)
    try:
        await wait_ready(master, "tls-k1")
        data = node.data_dir
        for f in (join.KUBELET_CERT_FILE, join.KUBELET_KEY_FILE):
            assert stat.S_IMODE((data / f).stat().st_mode) == 0o600, f
        cert = x509.load_pem_x509_certificate((data / join.KUBELET_CERT_FILE).read_bytes())
        ca = x509.load_pem_x509_certificate(master.ca_file.read_bytes())
        cert.verify_directly_issued_by(ca)
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert ipaddress.ip_address("127.0.0.1") in sans.get_values_for_type(x509.IPAddress)
        assert "tls-k1" in sans.get_values_for_type(x509.DNSName)

        async with master.client() as c:
            got = await c.get(NODES, "tls-k1")
        assert got["metadata"]["annotations"][SCHEME] == "https"
        assert got["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == node.kubelet_port

        health = node.kubelet_url + "/healthz"
        verify = _verifying(master.ca_file)  # the handshake checks the 127.0.0.1 SAN too
        assert await _get(health, verify) == (401, UNAUTHORIZED)
        assert await _get(health, verify, {"Authorization": "Bearer wrong"}) == \
            (401, UNAUTHORIZED)
        assert await _get(health, verify,
                          {"Authorization": f"Bearer {master.admin_token}"}) == \
            (401, UNAUTHORIZED)
        node_token = (data / join.NODE_TOKEN_FILE).read_text().strip()
        assert await _get(health, verify, {"Authorization": f"Bearer {node_token}"}) == \
            (401, UNAUTHORIZED)
        logs_url = node.kubelet_url + "/containerLogs/default/x/web"
        assert await _get(logs_url, verify) == (401, UNAUTHORIZED)
        # the node's own (serving) certificate is no client certificate
        own = _verifying(master.ca_file, cert=data / join.KUBELET_CERT_FILE,
                         key=data / join.KUBELET_KEY_FILE)
        try:
            status, _ = await _get(health, own)
        except aiohttp.ClientError:
            status = 0  # refused in the handshake
        assert status in (0, 401)
        # plain http is not served
        with pytest.raises(aiohttp.ClientError):
            await _get(f"http://127.0.0.1:{node.kubelet_port}/healthz", False)
        # the API server's client certificate is
        mpki = master.proc.data_dir / "pki"
        apiserver = _verifying(master.ca_file, cert=mpki / pki.KUBELET_CLIENT_CERT,
                               key=mpki / pki.KUBELET_CLIENT_KEY)
        assert await _get(health, apiserver) == (200, "ok")

        # pods/log and pods/exec through the API server
        await _make_pod(master, "tls-web", "tls-k1")
        assert STARTED in await _log(master, "tls-web")
        if binary("1.33").exists():
            proc = await asyncio.create_subprocess_exec(
                str(binary("1.33")), "--kubeconfig", str(master.kubeconfig), "exec",
                "tls-web", "--", "echo", "through", "tls",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            assert (proc.returncode, out.decode()) == (0, "through tls\n"), err.decode()
            proc = await asyncio.create_subprocess_exec(
                str(binary("1.33")), "--kubeconfig", str(master.kubeconfig), "logs",
                "tls-web", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0 and STARTED in out.decode(), err.decode()

        # an admin turning the Node's scheme to http does not make the API server send
        # anything in clear to an https kubelet: the request fails
        async with master.client() as c:
            await c.patch(NODES, "tls-k1", {"metadata": {"annotations": {SCHEME: "http"}}})
            resp = await c.request("GET", "/api/v1/namespaces/default/pods/tls-web/log",
                                   accept="*/*", raise_for_status=False)
            assert resp.status >= 500, resp.text
            await c.patch(NODES, "tls-k1", {"metadata": {"annotations": {SCHEME: "https"}}})
        assert STARTED in await _log(master, "tls-web")
    finally:
        assert node.stop() == 0, node.output()


async def test_node_joined_before_kubelet_tls_gets_a_certificate(
        master: Master, tmp_path: Path) -> None:
    node = _node_start(TLSNode(tmp_path / "k2", "tls-k2"), master.url,
                       "--token", master.join_token)
    try:
        await wait_ready(master, "tls-k2")
    finally:
        assert node.stop() == 0, node.output()
    first = node.output()
    assert "got a kubelet serving certificate" not in first  # the join brought it
    # as a node that joined before: node.token and ca.crt, no kubelet certificate
    for f in (join.KUBELET_CERT_FILE, join.KUBELET_KEY_FILE):
        (node.data_dir / f).unlink()
    async with master.client() as c:
        stamp = max(str(cond["lastHeartbeatTime"]) for cond in
                    (await c.get(NODES, "tls-k2"))["status"]["conditions"])
    _node_start(node, master.url)  # no join token: the stored node token is enough
    try:
        await wait_ready(master, "tls-k2", after=stamp)
        second = node.output()[len(first):]
        assert "got a kubelet serving certificate for node tls-k2" in second, second
        assert (node.data_dir / join.KUBELET_CERT_FILE).exists()
        await _make_pod(master, "tls-web2", "tls-k2")
        assert STARTED in await _log(master, "tls-web2")
    finally:
        assert node.stop() == 0, node.output()


async def test_kubelet_cert_endpoint(master: Master) -> None:
    url = master.url
    async with Client(url, ca_file=master.ca_file) as anon:
        resp = await anon.request("POST", "/minikube8s/kubelet-cert", json={},
                                  raise_for_status=False)
        assert resp.status == 401
    async with master.client() as admin:
        resp = await admin.request("POST", "/minikube8s/kubelet-cert", json={},
                                   raise_for_status=False)
        assert resp.status == 403 and resp.json()["reason"] == "Forbidden"
    async with Client(url, token=master.join_token, ca_file=master.ca_file) as joiner:
        resp = await joiner.request("POST", "/minikube8s/join", json={
            "nodeName": "tls-k3", "addresses": ["127.0.0.1", "not-an-ip"],
            "password": "k3-password-0123456789"},
            raise_for_status=False)
        assert resp.status == 422 and "addresses[1]" in resp.text
        resp = await joiner.request("POST", "/minikube8s/join", json={
            "nodeName": "tls-k3", "password": "k3-password-0123456789"})
        answer = resp.json()
        assert set(answer) == {"nodeName", "token"}  # an old body: no certificate
        node_token = answer["token"]
    async with Client(url, token=node_token, ca_file=master.ca_file) as as_node:
        resp = await as_node.request("POST", "/minikube8s/kubelet-cert", json={
            "nodeName": "someone-else", "addresses": ["10.9.8.7"]})
        got = resp.json()
        assert got["nodeName"] == "tls-k3"  # the token's name, whatever the body says
        cert = x509.load_pem_x509_certificate(got["kubeletCert"].encode())
        assert cert.subject.rfc4514_string() == "CN=system:node:tls-k3"
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert [str(a) for a in sans.get_values_for_type(x509.IPAddress)] == ["10.9.8.7"]
        assert sans.get_values_for_type(x509.DNSName) == ["tls-k3"]
        resp = await as_node.request("POST", "/minikube8s/kubelet-cert",
                                     json={"addresses": "10.0.0.1"}, raise_for_status=False)
        assert resp.status == 422


async def test_http_node_keeps_a_plain_kubelet(master: Master, tmp_path: Path) -> None:
    node = _node_start(TLSNode(tmp_path / "k4", "tls-k4"), master.proc.url)
    try:
        await wait_ready(master, "tls-k4")
        async with master.client() as c:
            got = await c.get(NODES, "tls-k4")
        assert got["metadata"]["annotations"][SCHEME] == "http"
        assert not (node.data_dir / join.KUBELET_CERT_FILE).exists()
        await _make_pod(master, "tls-web4", "tls-k4")
        assert STARTED in await _log(master, "tls-web4")
    finally:
        assert node.stop() == 0, node.output()
