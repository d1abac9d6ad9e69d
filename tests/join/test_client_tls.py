"""The REST client over HTTPS (client/rest.py): CA pinning, bearer token, and how TLS, 401 and
403 failures come out (typed errors; Go's x509 wording for kubectl-like messages). Loopback
only, against tlsserver.TLSServer."""

from __future__ import annotations

from pathlib import Path

import pytest

from minikube8s.cli.errors import describe
from minikube8s.client import Client, errors, resource

from .tlsserver import TLSServer, make_pki

NODES = resource("nodes")


async def test_ca_file_and_token(tmp_path: Path) -> None:
    pki = make_pki()
    ca, _, _ = pki.write(tmp_path)
    async with TLSServer(pki) as srv, Client(srv.url, token=srv.admin_token,
                                             ca_file=ca) as c:
        assert (await c.list(NODES))["items"] == []


async def test_ca_data_pem_text_and_bytes() -> None:
    pki = make_pki()
    async with TLSServer(pki) as srv:
        for data in (pki.ca_pem, pki.ca_pem.decode()):
            async with Client(srv.url, token=srv.admin_token, ca_data=data) as c:
                assert (await c.list(NODES))["kind"] == "NodeList"


async def test_wrong_ca_is_unknown_authority() -> None:
    async with TLSServer(make_pki()) as srv, Client(srv.url, token=srv.admin_token,
                                                    ca_data=make_pki().ca_pem) as c:
        with pytest.raises(errors.TLSVerifyError) as ei:
            await c.list(NODES)
    assert ei.value.message == ("tls: failed to verify certificate: x509: certificate signed "
                                "by unknown authority")
    assert not ei.value.retriable
    assert describe(ei.value, server=srv.url) == (
        "Unable to connect to the server: tls: failed to verify certificate: x509: "
        "certificate signed by unknown authority")


async def test_system_cas_do_not_trust_a_private_ca() -> None:
    async with TLSServer(make_pki()) as srv, Client(srv.url) as c:
        with pytest.raises(errors.TLSVerifyError, match="unknown authority"):
            await c.request("GET", "/readyz")
        with pytest.raises(errors.TLSVerifyError):
            await c.wait_ready(within=5)  # does not spin on a CA that will not change


async def test_name_mismatch() -> None:
    pki = make_pki(names=("elsewhere.example",), ips=("10.9.9.9",))
    async with TLSServer(pki) as srv, Client(srv.url, ca_data=pki.ca_pem) as c:
        with pytest.raises(errors.TLSVerifyError) as ei:
            await c.request("GET", "/readyz")
    assert ei.value.message == ("tls: failed to verify certificate: x509: certificate is not "
                                "valid for 127.0.0.1")


async def test_insecure_skip_verify() -> None:
    async with TLSServer(make_pki()) as srv, Client(srv.url, token=srv.admin_token,
                                                    insecure_skip_tls_verify=True) as c:
        assert (await c.list(NODES))["items"] == []


async def test_401_and_403() -> None:
    pki = make_pki()
    async with TLSServer(pki) as srv:
        async with Client(srv.url, ca_data=pki.ca_pem) as c:
            with pytest.raises(errors.Unauthorized) as u:
                await c.list(NODES)
        assert describe(u.value) == "error: You must be logged in to the server (Unauthorized)"
        async with Client(srv.url, token="wrong", ca_data=pki.ca_pem) as c:
            with pytest.raises(errors.Unauthorized):
                await c.list(NODES)
        async with Client(srv.url, token=srv.admin_token, ca_data=pki.ca_pem) as c:
            with pytest.raises(errors.Forbidden) as f:
                await c.list(resource("pods"), namespace="default")
        assert describe(f.value) == (
            'Error from server (Forbidden): pods is forbidden: User "system:node:n1" cannot '
            'list resource "pods" in API group "" in the namespace "default"')


async def test_http_builds_no_tls_context() -> None:
    c = Client("http://127.0.0.1:1", ca_data=b"not even pem")
    assert c._ssl is None
    await c.close()


def test_unreadable_ca_file(tmp_path: Path) -> None:
    with pytest.raises(errors.TLSVerifyError, match="unable to load root certificates"):
        Client("https://127.0.0.1:1", ca_file=tmp_path / "missing.crt")
