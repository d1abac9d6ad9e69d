"""Authentication: a bearer token in, a ``UserInfo`` (or nobody) out.

Three kinds of credential reach the HTTPS port (docs/security.md):
- the admin token (user ``admin``, group ``system:masters``) and the read-only token (user
  ``kubernetes-ro``, the seed's read-only idea), random strings kept in the data dir and in
  the shared bootstrap record (credentials.py);
- node tokens ``node:<name>:<hex>``, hex = HMAC-SHA256(node key, name): stateless, so any
  control plane holding the node key verifies them without a lookup (user
  ``system:node:<name>``, group ``system:nodes``, as Kubernetes' Node authorizer expects);
- the join token ``K10<sha256 of the CA PEM>::server:<secret>`` (k3s' format), accepted only
  by ``POST /minikube8s/join``, which trades it for a node token.

Every comparison is ``hmac.compare_digest`` on SHA-256 digests (equal length, constant time),
and no token ever reaches a log line, an exception message or a Status body: the functions
here return None or raise ValueError with fixed texts.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

ADMIN_USER = "admin"
READONLY_USER = "kubernetes-ro"
NODE_USER_PREFIX = "system:node:"

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
READONLY_GROUP = "minikube8s:readonly"
NODES_GROUP = "system:nodes"

NODE_TOKEN_PREFIX = "node:"
JOIN_TOKEN_PREFIX = "K10"
JOIN_SEPARATOR = "::server:"

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class UserInfo:
    """Kubernetes' user.Info: a name and groups."""

    name: str
    groups: tuple[str, ...] = ()

    @property
    def is_admin(self) -> bool:
        return MASTERS in self.groups

    @property
    def is_readonly(self) -> bool:
        return READONLY_GROUP in self.groups

    @property
    def node_name(self) -> str:
        """The node's name for ``system:node:<name>`` in ``system:nodes``, else ""."""
        if NODES_GROUP in self.groups and self.name.startswith(NODE_USER_PREFIX):
            return self.name[len(NODE_USER_PREFIX):]
        return ""


ADMIN = UserInfo(ADMIN_USER, (MASTERS, AUTHENTICATED))
READONLY = UserInfo(READONLY_USER, (READONLY_GROUP, AUTHENTICATED))


def node_user(node_name: str) -> UserInfo:
    return UserInfo(NODE_USER_PREFIX + node_name, (NODES_GROUP, AUTHENTICATED))


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def same(given: str, expected: str) -> bool:
    """Constant-time equality of two secrets: both are hashed first, so the comparison is of
    equal-length digests and its time says nothing about either string."""
    return hmac.compare_digest(_digest(given), _digest(expected))


# -- token formats -------------------------------------------------------------------------------


def node_token_hmac(node_key: bytes, node_name: str) -> str:
    return hmac.new(node_key, node_name.encode(), hashlib.sha256).hexdigest()


def node_token(node_key: bytes, node_name: str) -> str:
    """The credential ``POST /minikube8s/join`` hands to node ``node_name``."""
    if ":" in node_name or not node_name:
        raise ValueError("a node name must be non-empty and contain no ':'")
    return f"{NODE_TOKEN_PREFIX}{node_name}:{node_token_hmac(node_key, node_name)}"


def join_token(ca_hash: str, secret: str) -> str:
    """``K10<ca sha256 hex>::server:<secret>`` (k3s' secure token format)."""
    return f"{JOIN_TOKEN_PREFIX}{ca_hash}{JOIN_SEPARATOR}{secret}"


def parse_join_token(token: str) -> tuple[str, str]:
    """(CA sha256 hex, secret) of a join token; ValueError (never echoing the token) when it
    does not have the K10 form."""
    token = token.strip()
    head, sep, secret = token.partition(JOIN_SEPARATOR)
    if not sep or not head.startswith(JOIN_TOKEN_PREFIX) or not secret:
        raise ValueError("not a join token (expected K10<sha256 of the CA>::server:<secret>)")
    ca_hash = head[len(JOIN_TOKEN_PREFIX):].lower()
    if not _HEX64.fullmatch(ca_hash):
        raise ValueError("the join token's CA hash is not 64 hex digits")
    return ca_hash, secret


def bearer(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive, as
    Kubernetes' bearertoken authenticator); None for other schemes or an empty token."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


# -- the authenticator -----------------------------------------------------------------------------


class Authenticator:
    """Holds the cluster's secrets; turns a presented token into a user."""

    __slots__ = ("_admin", "_join", "_node_key", "_readonly")

    def __init__(self, *, admin_token: str, readonly_token: str, node_key: bytes,
                 join_token: str) -> None:
        if not (admin_token and readonly_token and node_key and join_token):
            raise ValueError("every credential must be non-empty")
        # Digests, not the tokens: what is compared is fixed-length, and a stray repr of
        # this object shows nothing usable.
        self._admin = _digest(admin_token)
        self._readonly = _digest(readonly_token)
        self._node_key = node_key
        self._join = _digest(join_token)

    def __repr__(self) -> str:
        return "Authenticator(<secrets hidden>)"

    def authenticate(self, token: str) -> UserInfo | None:
        """The user a token stands for; None for an unknown token (the caller answers 401).
        The join token is not a user credential here."""
        d = _digest(token)
        # Both fixed tokens are always compared: which one matched takes the same time.
        is_admin = hmac.compare_digest(d, self._admin)
        is_ro = hmac.compare_digest(d, self._readonly)
        if is_admin:
            return ADMIN
        if is_ro:
            return READONLY
        if token.startswith(NODE_TOKEN_PREFIX):
            name, sep, mac = token[len(NODE_TOKEN_PREFIX):].rpartition(":")
            if sep and name and ":" not in name:
                expected = node_token_hmac(self._node_key, name)
                if hmac.compare_digest(_digest(mac), _digest(expected)):
                    return node_user(name)
        return None

    def is_join_token(self, token: str) -> bool:
        return hmac.compare_digest(_digest(token.strip()), self._join)

    def node_token(self, node_name: str) -> str:
        return node_token(self._node_key, node_name)
