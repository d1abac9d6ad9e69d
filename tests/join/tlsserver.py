"""A tiny TLS API server for the join and client tests, made with ``cryptography``.

Until (and besides) the real control plane, the client side needs something that speaks
HTTPS on loopback: ``make_pki`` issues a throwaway CA and a serving certificate for the given
names, and ``TLSServer`` serves an aiohttp app on 127.0.0.1 with it, answering like the
control plane (GET /cacerts anonymous, POST /minikube8s/join with the join token, and
/api/v1/nodes only with the right bearer token). Fakes belong in unit tests only; the
integration tests (test_join_process.py) use the real ``minikube8s --role a``.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import json
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

UNAUTHORIZED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


@dataclass
class PKI:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    def write(self, directory: Path) -> tuple[Path, Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = (directory / "ca.crt", directory / "server.crt", directory / "server.key")
        for p, data in zip(paths, (self.ca_pem, self.cert_pem, self.key_pem), strict=True):
            p.write_bytes(data)
        return paths


def make_pki(*, names: tuple[str, ...] = ("localhost",),
             ips: tuple[str, ...] = ("127.0.0.1",)) -> PKI:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "apiserver")]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return PKI(ca.public_bytes(serialization.Encoding.PEM),
               cert.public_bytes(serialization.Encoding.PEM),
               key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()))


@dataclass
class TLSServer:
    """``async with TLSServer(pki) as s:`` -> ``s.url`` (https://127.0.0.1:PORT)."""

    pki: PKI
    secret: str = "s3cret"
    admin_token: str = "admin-token"
    node_key: bytes = b"node-key"
    joins: list[str] = field(default_factory=list)
    passwords: list[str] = field(default_factory=list)
    """The node password each join sent (auth/nodepasswords.py)."""
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def join_token(self) -> str:
        return f"K10{hashlib.sha256(self.pki.ca_pem).hexdigest()}::server:{self.secret}"

    def node_token(self, name: str) -> str:
        return f"node:{name}:{hmac.new(self.node_key, name.encode(), 'sha256').hexdigest()}"

    def _authorized(self, request: web.Request) -> bool:
        auth = request.headers.get("Authorization", "")
        tokens = {self.admin_token} | {self.node_token(n) for n in self.joins}
        return auth.startswith("Bearer ") and auth[7:] in tokens

    async def _cacerts(self, request: web.Request) -> web.Response:
        return web.Response(body=self.pki.ca_pem, content_type="text/plain")

    async def _join(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.join_token}":
            return web.json_response(UNAUTHORIZED, status=401)
        body = await request.json()
        name = str(body.get("nodeName") or "")
        password = body.get("password")
        if not isinstance(password, str) or len(password) < 16:  # as secure.py's join
            return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {},
                                      "status": "Failure", "reason": "Invalid", "code": 422,
                                      "message": "password: Required value"}, status=422)
        self.passwords.append(password)
        self.joins.append(name)
        return web.json_response({"nodeName": name, "token": self.node_token(name)})

    async def _nodes(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response(UNAUTHORIZED, status=401)
        return web.json_response({"kind": "NodeList", "apiVersion": "v1",
                                  "metadata": {"resourceVersion": "1"}, "items": []})

    async def _forbidden(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": 'pods is forbidden: User "system:node:n1" cannot list resource '
                       '"pods" in API group "" in the namespace "default"',
            "reason": "Forbidden", "code": 403}
        return web.Response(text=json.dumps(body), status=403, content_type="application/json")

    async def __aenter__(self) -> TLSServer:
        return await self.start()

    async def start(self, *, port: int = 0) -> TLSServer:
        app = web.Application()
        app.router.add_get("/cacerts", self._cacerts)
        app.router.add_post("/minikube8s/join", self._join)
        app.router.add_get("/api/v1/nodes", self._nodes)
        app.router.add_get("/api/v1/namespaces/default/pods", self._forbidden)
        app.router.add_get("/readyz", _ok)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*_files(self.pki))
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, ssl_context=ctx)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"https://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def _files(pki: PKI) -> tuple[str, str]:
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="mk8s-tls-"))
    _, cert, key = pki.write(d)
    return str(cert), str(key)
