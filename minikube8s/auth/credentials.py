"""The cluster's shared secrets: created once, shared by every control plane, kept on disk.

One record holds what every control plane of a cluster must agree on: the CA (certificate and
key), the admin and read-only bearer tokens, the node join token and the HMAC key that node
tokens are made with. The first control plane to start writes it (JSON) under the raw store
key ``/minikube8s/bootstrap`` with the store's create, so two starting at the same moment on
one etcd cannot both win; the loser reads the winner's. The API never serves keys outside
/registry/, so the record is reachable only by whoever reaches the store itself (etcd).

Each control plane then mirrors the record into its data dir (DATA_DIR/pki/ca.*, token,
admin.token, readonly.token, 0600), where the admin kubeconfig, the operator and tests find
them. A data dir that already holds a complete set while the store has none (a fresh store
under an old data dir) seeds the record, so existing kubeconfigs and nodes stay valid.

The join token is printed once, to stderr with ``print`` (never ``logging``), when this
data dir's token file is first written. Neighbours: pki.py (the CA), authn.py (uses the
tokens), roles/apiserver/server.py (calls ``ensure_credentials`` at start).
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..files import write_private
from ..store import base as store
from . import authn, pki

BOOTSTRAP_KEY = "/minikube8s/bootstrap"
RECORD_VERSION = 1

TOKEN_FILE = "token"
ADMIN_TOKEN_FILE = "admin.token"
READONLY_TOKEN_FILE = "readonly.token"
NODE_KEY_FILE = "node.key"


class CredentialsError(Exception):
    """The bootstrap record or the data dir's credential files are unusable."""


@dataclass(frozen=True, slots=True)
class ClusterCredentials:
    ca_cert: str
    """The CA certificate, PEM (exactly the bytes ``GET /cacerts`` serves)."""
    ca_key: str
    admin_token: str
    readonly_token: str
    join_token: str
    node_key: str
    """Hex of the HMAC-SHA256 key node tokens are made with."""

    @property
    def ca(self) -> pki.CertificateAuthority:
        return pki.CertificateAuthority(self.ca_cert.encode(), self.ca_key.encode())

    @property
    def node_key_bytes(self) -> bytes:
        return bytes.fromhex(self.node_key)

    def authenticator(self) -> authn.Authenticator:
        return authn.Authenticator(admin_token=self.admin_token,
                                   readonly_token=self.readonly_token,
                                   node_key=self.node_key_bytes, join_token=self.join_token)

    def __repr__(self) -> str:
        return "ClusterCredentials(<secrets hidden>)"

    def to_json(self) -> bytes:
        return json.dumps({"version": RECORD_VERSION, **asdict(self)}).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> ClusterCredentials:
        try:
            doc: Any = json.loads(raw)
        except ValueError as e:
            raise CredentialsError(f"the store record {BOOTSTRAP_KEY} is not JSON") from e
        if not isinstance(doc, dict) or doc.get("version") != RECORD_VERSION:
            raise CredentialsError(f"the store record {BOOTSTRAP_KEY} has an unknown format")
        fields = ("ca_cert", "ca_key", "admin_token", "readonly_token", "join_token",
                  "node_key")
        if not all(isinstance(doc.get(f), str) and doc.get(f) for f in fields):
            raise CredentialsError(f"the store record {BOOTSTRAP_KEY} lacks a field")
        creds = cls(**{f: str(doc[f]) for f in fields})
        creds.validate()
        return creds

    def validate(self) -> None:
        try:
            self.ca.check()
            bytes.fromhex(self.node_key)
            ca_hash, _ = authn.parse_join_token(self.join_token)
        except (ValueError, pki.PKIError) as e:
            raise CredentialsError(f"unusable cluster credentials: {e}") from e
        if ca_hash != pki.ca_fingerprint(self.ca_cert.encode()):
            raise CredentialsError("the join token does not name this cluster's CA")


def _join_secret(given: str) -> str:
    """--token on a control plane: a whole K10 token or just its secret part."""
    given = given.strip()
    if not given:
        return secrets.token_hex(16)
    if given.startswith(authn.JOIN_TOKEN_PREFIX) and authn.JOIN_SEPARATOR in given:
        try:
            return authn.parse_join_token(given)[1]
        except ValueError as e:
            raise CredentialsError(f"--token: {e}") from e
    return given


def generate(*, join_secret: str = "") -> ClusterCredentials:
    """A new cluster: a new CA and new random tokens."""
    ca = pki.new_ca()
    ca_hash = pki.ca_fingerprint(ca.cert_pem)
    return ClusterCredentials(
        ca_cert=ca.cert_pem.decode(), ca_key=ca.key_pem.decode(),
        admin_token=secrets.token_hex(32), readonly_token=secrets.token_hex(32),
        join_token=authn.join_token(ca_hash, _join_secret(join_secret)),
        node_key=secrets.token_hex(32))


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except OSError as e:
        raise CredentialsError(f"cannot read {path}: {e}") from e


def read_local(data_dir: Path) -> ClusterCredentials | None:
    """A complete set in ``data_dir`` (an earlier start's mirror), or None."""
    ca = pki.read_ca(data_dir / pki.PKI_DIR)
    values = [_read(data_dir / f) for f in (ADMIN_TOKEN_FILE, READONLY_TOKEN_FILE,
                                            TOKEN_FILE, NODE_KEY_FILE)]
    if ca is None or any(v is None for v in values):
        return None
    admin, readonly, join, node_key = (str(v) for v in values)
    creds = ClusterCredentials(ca.cert_pem.decode(), ca.key_pem.decode(), admin, readonly,
                               join, node_key)
    try:
        creds.validate()
    except CredentialsError:
        return None
    return creds


async def shared(backend: store.Backend,
                 make: Callable[[], ClusterCredentials]) -> ClusterCredentials:
    """The store's record; what ``make()`` gives becomes it when there is none yet."""
    try:
        kv = await backend.get(BOOTSTRAP_KEY)
    except store.NotFound:
        candidate = make()
        try:
            await backend.create(BOOTSTRAP_KEY, candidate.to_json())
            return candidate
        except store.AlreadyExists:
            kv = await backend.get(BOOTSTRAP_KEY)  # another control plane won the race
    return ClusterCredentials.from_json(kv.value)


def mirror(data_dir: Path, creds: ClusterCredentials) -> bool:
    """Write the credentials into ``data_dir`` (files that already hold them are left
    alone). Returns True when the join token file was written now."""
    pki.write_ca(data_dir / pki.PKI_DIR, creds.ca)
    wrote_token = False
    for name, value in ((ADMIN_TOKEN_FILE, creds.admin_token),
                        (READONLY_TOKEN_FILE, creds.readonly_token),
                        (NODE_KEY_FILE, creds.node_key),
                        (TOKEN_FILE, creds.join_token)):
        path = data_dir / name
        if _read(path) == value:
            continue
        write_private(path, (value + "\n").encode())
        wrote_token = wrote_token or name == TOKEN_FILE
    return wrote_token


async def ensure_credentials(backend: store.Backend, data_dir: Path, *,
                             join_secret: str = "") -> ClusterCredentials:
    """What server.py calls at every start: the cluster's credentials, shared through the
    store and mirrored into ``data_dir``; the join token printed the first time."""
    creds = await shared(
        backend, lambda: read_local(data_dir) or generate(join_secret=join_secret))
    try:
        if mirror(data_dir, creds):
            path = data_dir / TOKEN_FILE
            # print, not logging: the token must never go through log handlers.
            print(f"minikube8s: node join token (also in {path}):\n{creds.join_token}",
                  file=sys.stderr, flush=True)
    except OSError as e:
        raise CredentialsError(f"cannot write the credentials into {data_dir}: {e}") from e
    return creds
