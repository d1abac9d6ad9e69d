"""Unit tests of minikube8s/auth: certificates, token formats, constant-time authentication,
authorization decisions and Kubernetes' 403 wording. No network, no store but memory://."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from minikube8s.api.resources import require
from minikube8s.auth import authn, authz, credentials, pki
from minikube8s.roles.apiserver.interfaces import Attributes, Operation
from minikube8s.store import open_store

# -- pki --------------------------------------------------------------------------------------


def test_ca_and_serving_cert_have_the_sans_and_verify(tmp_path: Path) -> None:
    ca = pki.new_ca()
    sans = pki.wanted_sans(node_ip="10.9.0.5", node_name="master-1", portal_net="10.0.0.0/24",
                           extra=["api.example.test", "192.0.2.7"])
    files = pki.ensure_serving_cert(tmp_path / "pki", ca, sans)
    cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    ips = {str(i) for i in ext.get_values_for_type(x509.IPAddress)}
    dns = set(ext.get_values_for_type(x509.DNSName))
    assert {"127.0.0.1", "::1", "10.9.0.5", "10.0.0.1", "192.0.2.7"} <= ips
    assert {"localhost", "master-1", "kubernetes", "kubernetes.default",
            "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
            "api.example.test"} <= dns
    cert.verify_directly_issued_by(ca.cert)
    for name in ("ca.key", "apiserver.key"):
        assert (tmp_path / "pki" / name).stat().st_mode & 0o777 == 0o600
    # An OpenSSL client with only the CA accepts the chain (loads without error).
    client = ssl.create_default_context(cafile=str(files.ca_cert))
    assert client.verify_mode == ssl.CERT_REQUIRED
    pki.server_ssl_context(files)


def test_serving_cert_kept_when_it_fits_and_reissued_for_a_new_san(tmp_path: Path) -> None:
    ca = pki.new_ca()
    sans = pki.wanted_sans(node_name="n")
    first = pki.ensure_serving_cert(tmp_path, ca, sans).cert.read_bytes()
    assert pki.ensure_serving_cert(tmp_path, ca, sans).cert.read_bytes() == first
    again = pki.ensure_serving_cert(tmp_path, ca, [*sans, "new.example.test"]).cert.read_bytes()
    assert again != first
    # Another CA (a different cluster) also forces a new certificate.
    other = pki.ensure_serving_cert(tmp_path, pki.new_ca(), sans).cert.read_bytes()
    assert other != again


def test_mismatched_ca_pair_is_refused() -> None:
    a, b = pki.new_ca(), pki.new_ca()
    with pytest.raises(pki.PKIError):
        pki.CertificateAuthority(a.cert_pem, b.key_pem).check()


# -- tokens and authentication ----------------------------------------------------------------


def _auth(**kw: Any) -> authn.Authenticator:
    args: dict[str, Any] = {
        "admin_token": "a" * 64, "readonly_token": "r" * 64, "node_key": b"k" * 32,
        "join_token": authn.join_token("0" * 64, "s3cret")}
    args.update(kw)
    return authn.Authenticator(**args)


def test_users_of_each_token() -> None:
    a = _auth()
    assert a.authenticate("a" * 64) == authn.ADMIN
    assert a.authenticate("r" * 64) == authn.READONLY
    tok = a.node_token("n1")
    assert tok.startswith("node:n1:") and len(tok.split(":")[2]) == 64
    user = a.authenticate(tok)
    assert user is not None and user.name == "system:node:n1" and user.node_name == "n1"
    assert set(user.groups) == {"system:nodes", "system:authenticated"}
    for bad in ("", "a" * 63, "a" * 65, "node:n2:" + tok.split(":")[2], tok + "0",
                "node::" + tok.split(":")[2], "node:n1", authn.join_token("0" * 64, "s3cret")):
        assert a.authenticate(bad) is None, bad
    # Another cluster's node key makes tokens that mean nothing here.
    assert _auth(node_key=b"x" * 32).authenticate(tok) is None
    assert a.is_join_token(authn.join_token("0" * 64, "s3cret"))
    assert not a.is_join_token(authn.join_token("0" * 64, "s3cre7"))
    assert "a" * 10 not in repr(a)


def test_every_comparison_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tokens are only ever compared with hmac.compare_digest, on equal-length digests."""
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(x: Any, y: Any) -> bool:
        calls.append((len(x), len(y)))
        return real(x, y)

    monkeypatch.setattr(authn.hmac, "compare_digest", spy)
    a = _auth()
    tok = a.node_token("n1")
    for token in ("a" * 64, "r" * 64, tok, "node:n1:" + "0" * 64, "nonsense", "x"):
        calls.clear()
        a.authenticate(token)
        assert calls and all(x == y == 32 for x, y in calls), (token, calls)
    calls.clear()
    a.is_join_token("K10whatever")
    assert calls == [(32, 32)]
    calls.clear()
    assert authn.same("x", "yy") is False and calls == [(32, 32)]


def test_join_token_format() -> None:
    h = hashlib.sha256(b"pem").hexdigest()
    tok = authn.join_token(h, "abc")
    assert tok == f"K10{h}::server:abc"
    assert authn.parse_join_token(tok) == (h, "abc")
    for bad in ("", "K10abc::server:x", f"K11{h}::server:x", f"K10{h}::server:", "node:a:b"):
        with pytest.raises(ValueError) as e:
            authn.parse_join_token(bad)
        assert not bad or bad not in str(e.value)


def test_bearer_header() -> None:
    assert authn.bearer("Bearer abc") == "abc"
    assert authn.bearer("bearer  abc ") == "abc"
    assert authn.bearer("Basic abc") is None
    assert authn.bearer("Bearer ") is None


# -- credentials shared through the store -----------------------------------------------------


async def test_credentials_shared_through_the_store(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    backend = await open_store("memory://")
    try:
        one = await credentials.ensure_credentials(backend, tmp_path / "one")
        printed = capsys.readouterr().err
        assert one.join_token in printed and str(tmp_path / "one" / "token") in printed
        two = await credentials.ensure_credentials(backend, tmp_path / "two")
        assert two == one
        again = await credentials.ensure_credentials(backend, tmp_path / "one")
        assert again == one
        assert capsys.readouterr().err.count("join token") == 1  # two's first write printed
        ca_hash, _ = authn.parse_join_token(one.join_token)
        pem = (tmp_path / "two" / "pki" / "ca.crt").read_bytes()
        assert ca_hash == hashlib.sha256(pem).hexdigest()
        for f in ("token", "admin.token", "readonly.token", "node.key"):
            assert (tmp_path / "two" / f).stat().st_mode & 0o777 == 0o600
    finally:
        await backend.close()


async def test_an_old_data_dir_seeds_a_fresh_store(tmp_path: Path) -> None:
    b1 = await open_store("memory://")
    first = await credentials.ensure_credentials(b1, tmp_path, join_secret="mysecret")
    await b1.close()
    assert first.join_token.endswith("::server:mysecret")
    b2 = await open_store("memory://")
    try:
        assert await credentials.ensure_credentials(b2, tmp_path) == first
    finally:
        await b2.close()


# -- authorization ----------------------------------------------------------------------------

NODE = authn.node_user("n1")


def info(method: str, path: str, watch: bool = False) -> authz.RequestInfo:
    return authz.request_info(method, path, watch)


@pytest.mark.parametrize(("method", "path", "watch", "expected"), [
    ("GET", "/api/v1/namespaces/d/pods", False, ("list", "d", "pods", "", "")),
    ("GET", "/api/v1/namespaces/d/pods", True, ("watch", "d", "pods", "", "")),
    ("GET", "/api/v1/watch/namespaces/d/pods/p", False, ("watch", "d", "pods", "p", "")),
    ("GET", "/api/v1/namespaces/d/pods/p/log", False, ("get", "d", "pods", "p", "log")),
    ("GET", "/api/v1/namespaces/d/pods/p/exec", False, ("create", "d", "pods", "p", "exec")),
    ("DELETE", "/api/v1/namespaces/d/pods", False, ("deletecollection", "d", "pods", "", "")),
    ("PATCH", "/api/v1/namespaces/d/pods/p/status", False, ("patch", "d", "pods", "p",
                                                             "status")),
    ("GET", "/api/v1/namespaces/d", False, ("get", "d", "namespaces", "d", "")),
    ("PUT", "/api/v1/namespaces/d/finalize", False, ("update", "d", "namespaces", "d",
                                                     "finalize")),
    ("GET", "/api/v1beta3/minions", False, ("list", "", "nodes", "", "")),
])
def test_request_info(method: str, path: str, watch: bool,
                      expected: tuple[str, str, str, str, str]) -> None:
    i = info(method, path, watch)
    assert i.resource_request
    assert (i.verb, i.namespace, i.resource, i.name, i.subresource) == expected


def test_readonly_rules() -> None:
    ro = authn.READONLY
    for m, p in (("GET", "/api/v1/pods"), ("GET", "/api/v1/namespaces/d/pods/p/log"),
                 ("GET", "/metrics"), ("GET", "/openapi/v2"), ("GET", "/api/v1/configmaps")):
        assert authz.authorize(ro, info(m, p)).allowed, p
    # Kubernetes' view role reads everything but secrets (they are credentials).
    for m, p in (("POST", "/api/v1/namespaces/d/pods"), ("DELETE", "/api/v1/nodes/n"),
                 ("GET", "/api/v1/namespaces/d/pods/p/exec"), ("POST", "/metrics"),
                 ("GET", "/api/v1/secrets"), ("GET", "/api/v1/namespaces/d/secrets/s")):
        assert not authz.authorize(ro, info(m, p)).allowed, p


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/api/v1/pods", True),
    ("GET", "/api/v1/namespaces/d/secrets", False),
    ("POST", "/api/v1/nodes", True),
    ("PATCH", "/api/v1/nodes/n1/status", True),
    ("PUT", "/api/v1/nodes/n1", True),
    ("PATCH", "/api/v1/nodes/n2/status", False),
    ("DELETE", "/api/v1/nodes/n1", False),
    ("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", True),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1", True),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n2", False),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/n1", False),
    ("PATCH", "/api/v1/namespaces/d/pods/p/status", True),
    ("DELETE", "/api/v1/namespaces/d/pods/p", True),
    ("PATCH", "/api/v1/namespaces/d/pods/p", False),
    ("POST", "/api/v1/namespaces/d/pods", False),
    ("POST", "/api/v1/namespaces/d/pods/p/binding", False),
    ("POST", "/api/v1/namespaces/d/events", True),
    ("PATCH", "/api/v1/namespaces/d/events/e", True),
    ("POST", "/api/v1/namespaces", False),
    ("GET", "/api", True),
    ("GET", "/version", True),
    ("GET", "/metrics", False),
])
def test_node_rules(method: str, path: str, allowed: bool) -> None:
    assert authz.authorize(NODE, info(method, path)).allowed is allowed


def test_node_graph_decisions() -> None:
    """Secrets and configmaps: NodeAuthorizer.authorizeReadNamespacedObject, then the pods."""
    get = info("GET", "/api/v1/namespaces/d/secrets/s")
    first = authz.authorize(NODE, get)
    assert (first.allowed, first.needs_pods) == (False, True)
    for method, path, reason in (
            ("GET", "/api/v1/namespaces/d/configmaps", "No Object name found"),
            ("GET", "/api/v1/secrets", "can only read namespaced object of this type"),
            ("PUT", "/api/v1/namespaces/d/secrets/s", "can only read resources of this type"),
            ("GET", "/api/v1/namespaces/d/secrets/s/x", "cannot read subresource")):
        d = authz.authorize(NODE, info(method, path))
        assert (d.allowed, d.needs_pods, d.reason) == (False, False, reason), path
    named = authz.request_info("GET", "/api/v1/namespaces/d/secrets", True,
                               "metadata.name=s,type=Opaque")
    assert (named.verb, named.name) == ("watch", "s")
    assert authz.request_info("GET", "/api/v1/namespaces/d/secrets", False,
                              "metadata.name!=s").name == ""
    uses = {"spec": {"nodeName": "n1", "volumes": [{"name": "v", "secret": {"secretName": "s"}}]}}
    elsewhere = {"spec": {"nodeName": "n2", "volumes": [{"secret": {"secretName": "s"}}]}}
    assert authz.authorize_graph("n1", get, [elsewhere, uses]).allowed
    d = authz.authorize_graph("n1", get, [elsewhere])
    assert (d.allowed, d.reason) == (False, "no relationship found between node 'n1' and "
                                     "this object")


def test_pod_references() -> None:
    container = {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s-env"}}},
                         {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "c-env"}}},
                         {"name": "C", "value": "plain"}],
                 "envFrom": [{"secretRef": {"name": "s-from"}},
                             {"configMapRef": {"name": "c-from"}}]}
    pod = {"spec": {
        "imagePullSecrets": [{"name": "s-pull"}],
        "volumes": [{"secret": {"secretName": "s-vol"}}, {"configMap": {"name": "c-vol"}},
                    {"projected": {"sources": [{"secret": {"name": "s-proj"}},
                                               {"configMap": {"name": "c-proj"}}]}},
                    {"csi": {"nodePublishSecretRef": {"name": "s-csi"}}},
                    {"azureFile": {"secretName": "s-az"}}, {"emptyDir": {}}],
        "initContainers": [{"envFrom": [{"secretRef": {"name": "s-init"}}]}],
        "containers": [container, "junk"]}}
    assert authz.pod_references(pod) == (
        {"s-env", "s-from", "s-pull", "s-vol", "s-proj", "s-csi", "s-az", "s-init"},
        {"c-env", "c-from", "c-vol", "c-proj"})
    assert authz.pod_references({"spec": None}) == (set(), set())


def test_forbidden_wording() -> None:
    e = authz.forbidden_error(authn.READONLY, info("POST", "/api/v1/namespaces/d/pods"))
    assert e.message == ('pods is forbidden: User "kubernetes-ro" cannot create resource '
                         '"pods" in API group "" in the namespace "d"')
    assert e.to_status()["details"] == {"kind": "pods"}
    e = authz.forbidden_error(NODE, info("PATCH", "/api/v1/nodes/n2/status"))
    assert e.message == ('nodes "n2" is forbidden: User "system:node:n1" cannot patch resource '
                         '"nodes/status" in API group "" at the cluster scope')
    assert e.to_status()["details"] == {"name": "n2", "kind": "nodes"}
    e = authz.forbidden_error(NODE, info(
        "PUT", "/apis/coordination.k8s.io/v1/namespaces/x/leases/n1"))
    assert e.message.startswith('leases.coordination.k8s.io "n1" is forbidden: User ')
    assert e.to_status()["details"] == {"name": "n1", "group": "coordination.k8s.io",
                                        "kind": "leases"}
    e = authz.forbidden_error(NODE, info("GET", "/metrics"))
    assert e.message == 'forbidden: User "system:node:n1" cannot get path "/metrics"'
    assert e.to_status()["details"] == {}


async def test_node_restriction_checks_the_stored_pod() -> None:
    plugin = authz.NodeRestriction()
    pods, nodes = require("pods"), require("nodes")
    caller = authz.Caller(NODE, info("PATCH", "/api/v1/namespaces/d/pods/p/status"))
    mine = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1"}}
    theirs = {"metadata": {"name": "p"}, "spec": {"nodeName": "n2"}}
    reg: Any = None
    await plugin.admit(Attributes(Operation.UPDATE, pods, "d", "p", obj=theirs, old=mine,
                                  subresource="status", caller=caller), reg)
    with pytest.raises(authz.errors.Forbidden) as e:
        await plugin.admit(Attributes(Operation.UPDATE, pods, "d", "p", obj=mine, old=theirs,
                                      subresource="status", caller=caller), reg)
    assert e.value.message == (
        'pods "p" is forbidden: User "system:node:n1" cannot patch resource "pods/status" in '
        'API group "" in the namespace "d": node "n1" can only update pod status for pods '
        "bound to it")
    create = authz.Caller(NODE, info("POST", "/api/v1/nodes"))
    with pytest.raises(authz.errors.Forbidden):
        await plugin.admit(Attributes(Operation.CREATE, nodes, "", "n2", obj={},
                                      caller=create), reg)
    await plugin.admit(Attributes(Operation.CREATE, nodes, "", "n1", obj={}, caller=create),
                       reg)
    # Without a caller (insecure port, the server itself) nothing is checked.
    await plugin.admit(Attributes(Operation.DELETE, pods, "d", "p", old=theirs), reg)


def test_portal_ip_is_an_ip_san() -> None:
    sans = pki.wanted_sans(portal_net="192.168.3.0/24")
    assert "192.168.3.1" in sans and ipaddress.ip_address("192.168.3.1")
