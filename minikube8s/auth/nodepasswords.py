"""Node passwords: the join token lets a machine join under a node name once, not take over one.

Every joining node holds the same join token, and node tokens are stateless (an HMAC of the
name, authn.py), so without more a machine with the join token could ask for the token of a
node that is already in the cluster and act as it (update its status, delete its pods). k3s
closes this with a node password, and so do we: a node sends a random secret of its own
(``DATA_DIR/node.password``, made at its first join by auth/join.py) with every join; the first
join under a name records a salted SHA-256 of it under the store key
``/minikube8s/node-passwords/<name>`` (outside ``/registry/``, so the API never serves it);
a later join under that name must present the same secret while a Node of that name exists.
Once the Node is deleted (``kubectl delete node N``: the machine is gone) the name is free
again and the next join records its own password, as k3s drops a deleted node's secret.

Neighbours: roles/apiserver/secure.py (the join endpoint calls ``verify``), auth/join.py (the
node's half), store/base.py (the raw create/update this uses, whose compare-and-swap settles
two joins racing for one name).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable

from ..store import base as store

KEY_PREFIX = "/minikube8s/node-passwords/"
MIN_LENGTH, MAX_LENGTH = 16, 256
_ATTEMPTS = 5  # compare-and-swap retries when joins race for one name


class PasswordRejected(Exception):
    """The name belongs to a registered node that joined with another password."""


def new_password() -> str:
    return secrets.token_hex(32)


def _digest(salt: bytes, password: str) -> bytes:
    return hashlib.sha256(salt + password.encode()).digest()


def _record(password: str) -> bytes:
    salt = secrets.token_bytes(16)
    return json.dumps({"salt": salt.hex(), "sha256": _digest(salt, password).hex()}).encode()


def _matches(value: bytes, password: str) -> bool:
    try:
        rec = json.loads(value)
        salt, want = bytes.fromhex(rec["salt"]), bytes.fromhex(rec["sha256"])
    except (ValueError, KeyError, TypeError):
        return False  # an unreadable record protects nothing: treated as another password
    return hmac.compare_digest(_digest(salt, password), want)


async def verify(backend: store.Backend, name: str, password: str, *,
                 node_exists: Callable[[], Awaitable[bool]]) -> None:
    """Record ``password`` for node ``name`` at its first join, accept the same one later,
    and raise ``PasswordRejected`` for another while the Node ``name`` exists (a Node that is
    gone frees the name: its record is replaced)."""
    key = KEY_PREFIX + name
    for _ in range(_ATTEMPTS):
        try:
            kv = await backend.get(key)
        except store.NotFound:
            try:
                await backend.create(key, _record(password))
                return
            except store.AlreadyExists:
                continue  # another join under this name won: compare against its record
        if _matches(kv.value, password):
            return
        if await node_exists():
            raise PasswordRejected(name)
        try:
            await backend.update(key, _record(password), expected_revision=kv.mod_revision)
            return
        except (store.Conflict, store.NotFound):
            continue
    raise PasswordRejected(name)
