"""auth/join.py without a cluster: token parsing, the CA-hash pin (a wrong hash is refused
before any credential is asked for), stored credentials, 0600 files, backoff while the server
is away, and the one-line errors. The server is tlsserver.TLSServer on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import stat
from pathlib import Path

import pytest

from minikube8s.auth import join
from minikube8s.client import Client, resource
from minikube8s.files import write_private
from tests.fixtures.etcd import free_port

from .tlsserver import TLSServer, make_pki

HASH = "ab" * 32


def test_parse_token() -> None:
    t = join.parse_token(f"  K10{HASH.upper()}::server:s3cr:et \n")
    assert (t.ca_hash, t.user, t.secret) == (HASH, "server", "s3cr:et")
    assert t.raw == f"K10{HASH.upper()}::server:s3cr:et"
    assert "s3cr" not in repr(t)
    for bad in ("", "s3cret", f"K10{HASH}", f"K10{HASH}::server:", f"K10{HASH}::server",
                f"K10{HASH[:-1]}::server:x", f"K10{'zz' * 32}::server:x", f"K11{HASH}::s:x"):
        with pytest.raises(join.JoinError, match="--token is not a join token"):
            join.parse_token(bad)


def test_ca_hash_check() -> None:
    pem = make_pki().ca_pem
    good = join.parse_token(f"K10{hashlib.sha256(pem).hexdigest()}::server:x")
    assert join.ca_matches(good, pem)
    assert not join.ca_matches(good, pem + b"\n")
    assert not join.ca_matches(join.parse_token(f"K10{HASH}::server:x"), pem)


def test_stored(tmp_path: Path) -> None:
    assert join.stored(tmp_path, "n1") is None
    pem = make_pki().ca_pem
    write_private(tmp_path / join.CA_FILE, pem)
    write_private(tmp_path / join.NODE_TOKEN_FILE, b"node:n1:abc\n")
    creds = join.stored(tmp_path, "n1")
    assert creds is not None and creds.token == "node:n1:abc"
    assert "abc" not in repr(creds)
    assert join.stored(tmp_path, "n2") is None  # another name: join again
    same = join.parse_token(f"K10{hashlib.sha256(pem).hexdigest()}::server:x")
    assert join.stored(tmp_path, "n1", same) is not None
    assert join.stored(tmp_path, "n1", join.parse_token(f"K10{HASH}::server:x")) is None
    assert stat.S_IMODE((tmp_path / join.NODE_TOKEN_FILE).stat().st_mode) == 0o600


async def test_join_writes_private_files_and_the_credential_works(tmp_path: Path) -> None:
    async with TLSServer(make_pki()) as srv:
        creds = await join.credentials_for(srv.url, token=srv.join_token, node_name="n1",
                                           data_dir=tmp_path)
        assert creds is not None and srv.joins == ["n1"]
        assert creds.token == srv.node_token("n1")
        for f in (tmp_path / join.NODE_TOKEN_FILE, tmp_path / join.CA_FILE):
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
        assert (tmp_path / join.CA_FILE).read_bytes() == srv.pki.ca_pem
        # The node's own password: made at the first join, kept private, sent with it.
        password = (tmp_path / join.NODE_PASSWORD_FILE).read_text().strip()
        assert len(password) == 64 and srv.passwords == [password]
        assert stat.S_IMODE((tmp_path / join.NODE_PASSWORD_FILE).stat().st_mode) == 0o600
        async with Client(srv.url, **creds.client_options()) as c:
            assert (await c.list(resource("nodes")))["items"] == []
        # the next start reuses them, with or without the join token
        again = await join.credentials_for(srv.url, token=srv.join_token, node_name="n1",
                                           data_dir=tmp_path)
        assert again == creds and srv.joins == ["n1"]
        # Joining again (the node token lost) sends the same password.
        (tmp_path / join.NODE_TOKEN_FILE).unlink()
        assert await join.credentials_for(srv.url, token=srv.join_token, node_name="n1",
                                          data_dir=tmp_path) == creds
        assert srv.passwords == [password, password]
        assert await join.credentials_for(srv.url, token="", node_name="n1",
                                          data_dir=tmp_path) == creds


async def test_wrong_hash_refused_before_asking(tmp_path: Path) -> None:
    async with TLSServer(make_pki()) as srv:
        with pytest.raises(join.JoinError) as ei:
            await join.credentials_for(srv.url, token=f"K10{HASH}::server:{srv.secret}",
                                       node_name="n1", data_dir=tmp_path)
    assert "does not match the join token's hash" in str(ei.value)
    assert srv.joins == [] and not (tmp_path / join.NODE_TOKEN_FILE).exists()


async def test_wrong_secret_is_one_line_without_the_token(tmp_path: Path) -> None:
    async with TLSServer(make_pki()) as srv:
        wrong = srv.join_token.rsplit(":", 1)[0] + ":guess"
        with pytest.raises(join.JoinError) as ei:
            await join.credentials_for(srv.url, token=wrong, node_name="n1",
                                       data_dir=tmp_path)
    msg = str(ei.value)
    assert "refused the join token (401 Unauthorized)" in msg and "\n" not in msg
    assert "guess" not in msg and srv.secret not in msg


async def test_certificate_without_the_address(tmp_path: Path) -> None:
    async with TLSServer(make_pki(names=("master.example",), ips=())) as srv:
        with pytest.raises(join.JoinError, match=r"--tls-san 127\.0\.0\.1"):
            await join.credentials_for(srv.url, token=srv.join_token, node_name="n1",
                                       data_dir=tmp_path)


async def test_needs_token_and_http_needs_nothing(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(join.JoinError) as ei:
        await join.credentials_for("https://127.0.0.1:6443", token="", node_name="n1",
                                   data_dir=tmp_path)
    assert str(ei.value) == ("a node joining https://127.0.0.1:6443 needs --token (the master "
                             "prints it; it is in DATA_DIR/token)")
    with caplog.at_level(logging.WARNING):
        assert await join.credentials_for("http://127.0.0.1:8080", token="", node_name="n1",
                                          data_dir=tmp_path) is None
        assert not caplog.records
        assert await join.credentials_for("http://10.1.2.3:8080", token="", node_name="n1",
                                          data_dir=tmp_path) is None
    assert "plain HTTP" in caplog.text


async def test_retries_until_the_server_comes(tmp_path: Path) -> None:
    """The master starts after the node: refused connections are retried with backoff."""
    port = free_port()
    pki = make_pki()
    token = f"K10{hashlib.sha256(pki.ca_pem).hexdigest()}::server:s3cret"
    task = asyncio.create_task(join.join(f"https://127.0.0.1:{port}",
                                         join.parse_token(token), "n1", tmp_path,
                                         first_delay=0.1, max_delay=0.3))
    await asyncio.sleep(0.8)
    assert not task.done()
    srv = TLSServer(pki)
    await srv.start(port=port)
    try:
        creds = await asyncio.wait_for(task, 10)
    finally:
        await srv.__aexit__()
    assert creds.token == srv.node_token("n1")
