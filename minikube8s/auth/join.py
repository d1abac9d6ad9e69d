"""The node's half of joining a cluster: from a join token to a credential of its own.

``minikube8s --role i --server https://H:6443 --token K10<sha256>::server:<secret>`` (k3s'
token format). The token carries the SHA-256 of the cluster CA, so a node that trusts nothing
yet can still pin it: it fetches ``GET /cacerts`` without verifying TLS, refuses a CA whose hash
differs from the token's, then asks ``POST /minikube8s/join`` (now verifying TLS against that
CA, the whole token as the bearer) for its node credential ``node:<name>:<hmac>``. Both land in
the data dir (``node.token``, ``pki/ca.crt``, 0600) and are reused at the next start, so the join
token is needed once. Each join also sends the node's own password (``node.password``, made at
the first join): the name stays this machine's while its Node exists (nodepasswords.py).
The join also brings the kubelet's serving certificate (the node sends
its IPs; ``pki/kubelet.crt``/``.key``, signed by the cluster CA for those IPs and the node
name); a node whose stored certificate is missing (it joined before kubelets served TLS), does
not name its current IPs or is about to expire asks ``POST /minikube8s/kubelet-cert`` with its
node token for a new one. A server too old to issue one leaves the kubelet on plain HTTP,
which the kubelet announces on its Node. While the master cannot be reached the node keeps
trying with backoff (it may start later); anything else (a wrong hash, a refused token, a
certificate without the address the node used) is a ``JoinError`` with one line that says what
to fix.

Neighbours: the server half is roles/apiserver (``/cacerts``, ``/minikube8s/join``) and
auth/credentials.py (the token it prints); roles/__init__.py calls ``credentials_for`` before
building a role-i node's REST client (client/rest.py), whose typed errors this module reads;
roles/kubelet/hollow_nodes.py calls ``node_credentials`` once per hollow node.
Tokens never appear in a message or a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ..client import errors
from ..client.rest import Client
from ..config import is_loopback
from ..files import write_private
from . import nodepasswords, pki

log = logging.getLogger(__name__)

TOKEN_PREFIX = "K10"
NODE_TOKEN_FILE = "node.token"
NODE_PASSWORD_FILE = "node.password"
CA_FILE = Path("pki") / "ca.crt"
KUBELET_CERT_FILE = Path("pki") / pki.KUBELET_CERT
KUBELET_KEY_FILE = Path("pki") / pki.KUBELET_KEY
WHERE = "the master prints it; it is in DATA_DIR/token"
_HEX64 = re.compile(r"[0-9a-f]{64}")
T = TypeVar("T")


class JoinError(Exception):
    """A join that trying again will not fix; ``str()`` is the one line to print."""


@dataclass(frozen=True)
class JoinToken:
    """A parsed ``K10<ca sha256>::<user>:<secret>``; ``raw`` is sent whole as the bearer."""

    ca_hash: str
    user: str
    secret: str = field(repr=False)
    raw: str = field(repr=False)


@dataclass(frozen=True)
class NodeCredentials:
    """What a joined node's client uses: its own bearer token and the cluster CA file."""

    token: str = field(repr=False)
    ca_file: Path
    kubelet_cert: Path | None = None
    """The kubelet serving certificate (with ``kubelet_key``), None when the server issued
    none: the kubelet then serves plain HTTP."""
    kubelet_key: Path | None = None

    def client_options(self) -> dict[str, Any]:
        return {"token": self.token, "ca_file": self.ca_file}


def parse_token(raw: str) -> JoinToken:
    """The join token, checked for shape only (the server checks the secret)."""
    text = raw.strip()
    bad = JoinError(f"--token is not a join token: expected {TOKEN_PREFIX}<sha256 of the "
                    f"cluster CA>::server:<secret> ({WHERE})")
    if not text.startswith(TOKEN_PREFIX) or "::" not in text:
        raise bad
    ca_hash, _, rest = text[len(TOKEN_PREFIX):].partition("::")
    user, sep, secret = rest.partition(":")
    if not _HEX64.fullmatch(ca_hash.lower()) or not sep or not user or not secret:
        raise bad
    return JoinToken(ca_hash.lower(), user, secret, text)


def ca_hash(ca_pem: bytes) -> str:
    return hashlib.sha256(ca_pem).hexdigest()


def ca_matches(token: JoinToken, ca_pem: bytes) -> bool:
    """Whether ``ca_pem`` (the exact bytes of /cacerts) is the CA the token names."""
    return hmac.compare_digest(ca_hash(ca_pem), token.ca_hash)


def stored(data_dir: Path, node_name: str,
           token: JoinToken | None = None) -> NodeCredentials | None:
    """The credentials of an earlier join, if they are for this node name and (when a join
    token is given) for the cluster that token names; None means join again."""
    token_path, ca_path = data_dir / NODE_TOKEN_FILE, data_dir / CA_FILE
    try:
        node_token = token_path.read_text().strip()
        ca_pem = ca_path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise JoinError(f"cannot read the stored node credentials in {data_dir}: "
                        f"{e.strerror}") from e
    if not node_token.startswith(f"node:{node_name}:"):
        log.info("the stored node credential is for another node name; joining again")
        return None
    if token is not None and not ca_matches(token, ca_pem):
        log.info("the stored cluster CA is not the one --token names; joining again")
        return None
    return NodeCredentials(node_token, ca_path)


def node_password(data_dir: Path) -> str:
    """This node's own secret (``DATA_DIR/node.password``, 0600), made at its first join:
    the control plane lets a later join under the same name through only with it
    (auth/nodepasswords.py)."""
    path = data_dir / NODE_PASSWORD_FILE
    try:
        password = path.read_text().strip()
    except FileNotFoundError:
        password = ""
    except OSError as e:
        raise JoinError(f"cannot read {path}: {e.strerror}") from e
    if not password:
        password = nodepasswords.new_password()
        write_private(path, password.encode() + b"\n")
    return password


def _host(server: str) -> str:
    return urlsplit(server).hostname or server


class _Retry(Exception):
    """The server is not there (yet), or not answering properly: try again later."""


async def join_once(server: str, token: JoinToken, node_name: str,
                    data_dir: Path, addresses: list[str] | None = None) -> NodeCredentials:
    """One attempt: pin the CA, ask for the node credential (and, when ``addresses`` is
    not None, the kubelet certificate for them), write them. ``_Retry`` when the server
    cannot be reached or answers 5xx, ``JoinError`` for the rest."""
    async with Client(server, insecure_skip_tls_verify=True, timeout=10.0,
                      user_agent=f"minikube8s/join/{node_name}") as anon:
        try:
            resp = await anon.request("GET", "/cacerts", accept="*/*")
        except (errors.Unavailable, errors.ServerError) as e:
            raise _Retry(str(e)) from e
        except errors.ClientError as e:
            raise JoinError(f"{server} answered GET /cacerts with {e.code} {e.reason}: is it "
                            f"a minikube8s control plane's secure port?") from e
    ca_pem = resp.body
    if not ca_matches(token, ca_pem):
        raise JoinError(f"the CA served by {server} does not match the join token's hash "
                        f"(a token of another cluster, or not the server you meant); refusing "
                        f"to join")
    async with Client(server, token=token.raw, ca_data=ca_pem, timeout=10.0,
                      user_agent=f"minikube8s/join/{node_name}") as pinned:
        try:
            # No "addresses" (None: a node without a kubelet port), no kubelet certificate.
            body: dict[str, Any] = {"nodeName": node_name,
                                    "password": node_password(data_dir)}
            if addresses is not None:
                body["addresses"] = list(addresses)
            answer = (await pinned.request("POST", "/minikube8s/join", json=body)).json()
        except errors.TLSVerifyError as e:
            hint = ""
            if "not valid for" in e.message:
                hint = (f"; start the control plane with --tls-san {_host(server)} or join "
                        f"through an address its certificate names")
            raise JoinError(f"joining {server}: {e.message}{hint}") from e
        except errors.Unauthorized as e:
            raise JoinError(f"{server} refused the join token (401 Unauthorized): check "
                            f"--token ({WHERE})") from e
        except (errors.Unavailable, errors.ServerError) as e:
            raise _Retry(str(e)) from e
        except errors.ClientError as e:
            raise JoinError(f"{server} refused to join node {node_name!r}: "
                            f"{e.message}") from e
    node_token = str((answer or {}).get("token") or "") if isinstance(answer, dict) else ""
    if not node_token.startswith(f"node:{node_name}:"):
        raise JoinError(f"{server} answered the join without a credential for node "
                        f"{node_name!r}")
    ca_path = data_dir / CA_FILE
    write_private(ca_path, ca_pem)
    write_private(data_dir / NODE_TOKEN_FILE, node_token.encode() + b"\n")
    log.info("joined %s as node %s; credentials in %s", server, node_name, data_dir)
    creds = NodeCredentials(node_token, ca_path)
    if isinstance(answer, dict):
        return _store_kubelet_cert(creds, data_dir, answer) or creds
    return creds


async def join(server: str, token: JoinToken, node_name: str, data_dir: Path, *,
               addresses: list[str] | None = None, first_delay: float = 0.5,
               max_delay: float = 10.0) -> NodeCredentials:
    """``join_once`` until it works, backing off (jittered, doubling up to ``max_delay``)
    while the server is unreachable; one warning per outage, not one per attempt."""
    return await _retrying(lambda: join_once(server, token, node_name, data_dir, addresses),
                           f"cannot join {server} yet", first_delay=first_delay,
                           max_delay=max_delay)


async def _retrying(attempt: Callable[[], Awaitable[T]], what: str, *,
                    first_delay: float = 0.5, max_delay: float = 10.0) -> T:
    delay, attempts = first_delay, 0
    while True:
        try:
            return await attempt()
        except _Retry as e:
            attempts += 1
            log.log(logging.WARNING if attempts == 1 else logging.DEBUG,
                    "%s (%s); retrying", what, e)
        await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        delay = min(delay * 2, max_delay)


# -- the kubelet's serving certificate ------------------------------------------------------------


def _store_kubelet_cert(creds: NodeCredentials, data_dir: Path,
                        answer: dict[str, Any]) -> NodeCredentials | None:
    """Write ``kubeletCert``/``kubeletKey`` of a server answer (0600); None when it has
    none (a server that predates kubelet TLS)."""
    cert, key = answer.get("kubeletCert"), answer.get("kubeletKey")
    if not (isinstance(cert, str) and isinstance(key, str) and cert and key):
        return None
    cert_path, key_path = data_dir / KUBELET_CERT_FILE, data_dir / KUBELET_KEY_FILE
    write_private(key_path, key.encode())
    write_private(cert_path, cert.encode())
    return replace(creds, kubelet_cert=cert_path, kubelet_key=key_path)


def kubelet_cert_fits(creds: NodeCredentials, data_dir: Path, node_name: str,
                      addresses: list[str]) -> NodeCredentials | None:
    """The stored kubelet certificate, if it is signed by the stored CA, names this node's
    addresses and name, and is not about to expire; else None (ask for a new one)."""
    cert_path, key_path = data_dir / KUBELET_CERT_FILE, data_dir / KUBELET_KEY_FILE
    try:
        fits = pki.serving_cert_fits(cert_path.read_bytes(), key_path.read_bytes(),
                                     creds.ca_file.read_bytes(),
                                     pki.kubelet_sans(node_name, addresses))
    except OSError:
        return None
    return replace(creds, kubelet_cert=cert_path, kubelet_key=key_path) if fits else None


async def fetch_kubelet_cert(server: str, creds: NodeCredentials, node_name: str,
                             data_dir: Path, addresses: list[str]) -> NodeCredentials:
    """One ``POST /minikube8s/kubelet-cert`` with the node token. ``_Retry`` while the
    server cannot be reached; a server without the endpoint (404) leaves ``creds`` without a
    certificate (the kubelet serves http, and says so); other refusals are JoinErrors."""
    async with Client(server, token=creds.token, ca_file=creds.ca_file, timeout=10.0,
                      user_agent=f"minikube8s/join/{node_name}") as c:
        try:
            answer = (await c.request("POST", "/minikube8s/kubelet-cert",
                                      json={"addresses": addresses})).json()
        except errors.NotFound:
            log.warning("%s issues no kubelet certificates (an older control plane): the "
                        "kubelet serves plain HTTP", server)
            return creds
        except (errors.Unavailable, errors.ServerError) as e:
            raise _Retry(str(e)) from e
        except errors.Unauthorized as e:
            raise JoinError(f"{server} refused the stored node credential (401 Unauthorized); "
                            f"delete {data_dir / NODE_TOKEN_FILE} and join again with "
                            f"--token ({WHERE})") from e
        except errors.ClientError as e:
            raise JoinError(f"{server} refused a kubelet certificate for node "
                            f"{node_name!r}: {e.message}") from e
    out = _store_kubelet_cert(creds, data_dir, answer) if isinstance(answer, dict) else None
    if out is None:
        raise JoinError(f"{server} answered the kubelet certificate request without one")
    log.info("got a kubelet serving certificate for node %s from %s", node_name, server)
    return out


async def with_kubelet_cert(server: str, creds: NodeCredentials, *, node_name: str,
                            data_dir: Path, addresses: list[str]) -> NodeCredentials:
    """``creds`` with a kubelet certificate that fits: the stored one, or a new one."""
    have = kubelet_cert_fits(creds, data_dir, node_name, addresses)
    if have is not None:
        return have
    return await _retrying(
        lambda: fetch_kubelet_cert(server, creds, node_name, data_dir, addresses),
        f"cannot get a kubelet certificate from {server} yet")


async def credentials_for(server: str, *, token: str, node_name: str, data_dir: Path,
                          addresses: list[str] | None = None) -> NodeCredentials | None:
    """What a role-i node's client needs to reach ``server``: None for ``http://`` (no
    authentication, as before), else the stored or newly joined node credentials, with the
    kubelet serving certificate for ``addresses`` (the node's IPs) and the node name."""
    creds = await node_credentials(server, token=token, node_name=node_name,
                                   data_dir=data_dir, addresses=addresses)
    if creds is None:
        return None
    return await with_kubelet_cert(server, creds, node_name=node_name, data_dir=data_dir,
                                   addresses=list(addresses or []))


async def node_credentials(server: str, *, token: str, node_name: str, data_dir: Path,
                           addresses: list[str] | None = None) -> NodeCredentials | None:
    """``credentials_for`` without the kubelet certificate, for a node that serves no
    kubelet port (``minikube8s hollow-nodes``: each hollow node joins with this under its own
    data dir): None for ``http://``, else the stored or newly joined token and CA."""
    if not server.lower().startswith("https://"):
        if not is_loopback(_host(server)):
            log.warning("talking to %s over plain HTTP: no TLS, no authentication; use the "
                        "control plane's https:// address and --token", server)
        if token:
            log.warning("--token is ignored with an http:// --server")
        return None
    parsed = parse_token(token) if token else None
    have = stored(data_dir, node_name, parsed)
    if have is not None:
        log.info("using the node credentials stored in %s", data_dir)
        return have
    if parsed is None:
        raise JoinError(f"a node joining {server} needs --token ({WHERE})")
    return await join(server, parsed, node_name, data_dir, addresses=addresses)
