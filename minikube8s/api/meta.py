"""Object metadata bookkeeping done by the API server on every write (uid, timestamps, names).

The REST handlers call ``prepare_for_create`` before defaulting/validation of a POST and
``prepare_for_update`` on PUT/PATCH, so clients cannot forge server-owned fields. Neighbours:
defaults.py (spec defaults), validation.py (checks the result), resources.py (which kinds are
namespaced). Pure data: no I/O; randomness and clock are the only side inputs.
"""

from __future__ import annotations

import copy
import os
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from . import defaults, resources

Object = dict[str, Any]

# k8s.io/apimachinery/pkg/util/rand: vowels and look-alike characters removed so generated
# names never spell words and are easy to read aloud.
NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATED_SUFFIX_LEN = 5
# A generated name is truncated so base + suffix fits the 63-char label limit (names.go).
_MAX_GENERATED_BASE = 63 - GENERATED_SUFFIX_LEN


_UID_POOL = 256  # uids per os.urandom call
_uid_bytes = b""
_uid_next = 0


def new_uid() -> str:
    """A random (version 4) UUID, as uuid.uuid4() would give, from a pool of urandom bytes:
    one getrandom syscall per 256 uids instead of one each (on the API server's loop thread
    every syscall may also hand the GIL to another thread)."""
    global _uid_bytes, _uid_next
    if _uid_next >= len(_uid_bytes):
        _uid_bytes, _uid_next = os.urandom(16 * _UID_POOL), 0
    raw = _uid_bytes[_uid_next:_uid_next + 16]
    _uid_next += 16
    return str(uuid.UUID(bytes=raw, version=4))


def _forget_uid_pool() -> None:
    global _uid_bytes, _uid_next
    _uid_bytes, _uid_next = b"", 0


os.register_at_fork(after_in_child=_forget_uid_pool)  # a child must not repeat our uids


_now_text: tuple[int, str] = (0, "")


def now_rfc3339() -> str:
    """``2026-11-29T06:15:00Z``: seconds precision, UTC, as metav1.Time marshals (the text
    is made once per second: every create stamps one)."""
    global _now_text
    second = int(time.time())
    if _now_text[0] != second:
        _now_text = (second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    return _now_text[1]


def random_suffix(n: int = GENERATED_SUFFIX_LEN) -> str:
    return "".join(secrets.choice(NAME_ALPHABET) for _ in range(n))


def generate_name(base: str) -> str:
    return base[:_MAX_GENERATED_BASE] + random_suffix()


def group_of(obj: Object) -> str:
    api_version = str(obj.get("apiVersion") or "v1")
    return api_version.split("/", 1)[0] if "/" in api_version else ""


def is_namespaced(obj: Object) -> bool:
    """Unknown kinds count as namespaced, which is the safer default for scoping."""
    res = resources.by_kind(str(obj.get("kind", "")), group_of(obj))
    return True if res is None else res.namespaced


def metadata(obj: Object) -> dict[str, Any]:
    """The object's metadata dict, created when absent or not a mapping."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = {}
        obj["metadata"] = md
    return md


_NO_GENERATION = frozenset({"ConfigMap", "Secret"})
"""Kinds whose Kubernetes strategies never set metadata.generation (no spec to version), so
``kubectl get cm -o yaml`` shows none."""


def prepare_for_create(obj: Object, *, namespace: str | None) -> None:
    """Fill the server-owned metadata of a new object in place.

    ``namespace`` is the request's namespace (None for cluster-scoped URLs); a mismatch with
    metadata.namespace is the handler's business (Kubernetes answers 400), so here the request
    namespace simply fills a blank one.
    """
    md = metadata(obj)
    if not md.get("name") and md.get("generateName"):
        md["name"] = generate_name(str(md["generateName"]))
    md["uid"] = new_uid()
    md["creationTimestamp"] = now_rfc3339()
    if obj.get("kind") in _NO_GENERATION:
        md.pop("generation", None)
    else:
        md["generation"] = 1
    for server_owned in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds",
                         "selfLink"):
        md.pop(server_owned, None)
    if is_namespaced(obj):
        if namespace and not md.get("namespace"):
            md["namespace"] = namespace
        elif not md.get("namespace"):
            md["namespace"] = "default"
    else:
        md.pop("namespace", None)


def _spec_like(obj: Object) -> Any:
    # Kinds without a spec (ConfigMap-like data, Endpoints subsets, Event) do not bump
    # generation in Kubernetes; for those everything but metadata/status counts as "spec".
    if "spec" in obj:
        return obj.get("spec")
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def prepare_for_update(obj: Object, old: Object) -> None:
    """Carry immutable metadata over from ``old`` and bump generation on a spec change.

    The user-visible immutability errors (name or namespace changed) come from validation,
    which compares against ``old``; here only fields clients may omit are restored.
    """
    md = metadata(obj)
    old_md = old.get("metadata") or {}
    for key in ("uid", "creationTimestamp"):
        if key in old_md:
            md[key] = old_md[key]
        else:
            md.pop(key, None)
    for key in ("name", "namespace"):
        if not md.get(key) and old_md.get(key):
            md[key] = old_md[key]
    # deletionTimestamp is set only through DELETE; an update can neither set nor clear it.
    for key in ("deletionTimestamp", "deletionGracePeriodSeconds"):
        if key in old_md:
            md[key] = old_md[key]
        else:
            md.pop(key, None)
    if obj.get("kind") in _NO_GENERATION:
        md.pop("generation", None)
        return
    generation = int(old_md.get("generation") or 1)
    # Equal specs stay equal once defaulted (defaulting is a function of the object), so the
    # deep copies below are only for a spec that differs as sent: a status write (the
    # kubelets' many PATCHes) or a no-op PUT compares two dicts and copies nothing.
    if _spec_like(obj) != _spec_like(old) and _spec_changed(obj, old):
        generation += 1
    md["generation"] = generation


def _spec_changed(obj: Object, old: Object) -> bool:
    # Compare defaulted specs: a PUT that leaves out defaulted fields changes nothing.
    # (defaulting is idempotent, so the stored object compares as it is)
    defaulted, old_defaulted = copy.deepcopy(obj), copy.deepcopy(old)
    defaults.apply_defaults(defaulted)
    defaults.apply_defaults(old_defaulted)
    return bool(_spec_like(defaulted) != _spec_like(old_defaulted))


def deepcopy(obj: Object) -> Object:
    return copy.deepcopy(obj)
