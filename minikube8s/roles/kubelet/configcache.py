"""Secrets and ConfigMaps as the kubelet reads them: GET by name, cached for a while.

The kubelet never lists or watches these kinds: a joined node's token may only GET the ones a
pod bound to that node references (the Node authorizer), and the kubelet only asks for those.
``ConfigCache`` is Kubernetes' cache-based secret/configMap manager (pkg/kubelet/util/manager,
TTL strategy):

- an object is fetched on first use and served from the cache for ``ttl`` seconds; a pod sync
  after that fetches it again, so an update reaches running pods within about a sync period
  (the pod workers resync pods with secret or configMap volumes every ``--sync-frequency``,
  and ``ttl`` is half of it);
- a pod seen for the first time drops the cached copies of what it references
  (``invalidate``), so a new pod never starts on data older than itself (RegisterPod);
- NotFound is never cached: a pod waiting for its secret sees it at its next retry;
- when the API cannot be reached (or answers 5xx) the last copy is served, stale, as the
  Watch strategy's store would: a crashed container still restarts through an API outage;
- concurrent reads of one object wait for one request.

Failures are ``ConfigError`` with Kubernetes' wording (``secret "db" not found``: the
singular name, as the kubelet's manager reports it). ``secret_data`` and ``configmap_data``
decode the objects' base64 maps. Neighbours: configvolumes.py and configenv.py read through
a ``ConfigGetter`` (this class, or a fake in unit tests); pod_workers.py calls them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from ...api.podrefs import pod_references
from ...client import ClientError, Forbidden, NotFound, resource
from ...client.clock import Clock
from ...client.rest import Client

log = logging.getLogger(__name__)

Object = dict[str, Any]


class Kind(Enum):
    SECRET = ("secret", "Secret", "secrets")
    CONFIGMAP = ("configmap", "ConfigMap", "configmaps")

    @property
    def singular(self) -> str:
        """As the kubelet's errors name it: ``secret "x" not found``."""
        return self.value[0]

    @property
    def kind(self) -> str:
        return self.value[1]

    @property
    def plural(self) -> str:
        return self.value[2]


class ConfigError(Exception):
    """A referenced object (or key) cannot be had; ``str()`` is Kubernetes' message."""

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing
        """The object does not exist (what ``optional: true`` forgives)."""


def not_found(kind: Kind, name: str) -> ConfigError:
    return ConfigError(f'{kind.singular} "{name}" not found', missing=True)


class ConfigGetter(Protocol):
    async def get(self, kind: Kind, namespace: str, name: str) -> Object:
        """The object; ConfigError (``missing`` for NotFound) when it cannot be had."""
        ...


Ref = tuple[Kind, str, str]
"""(kind, namespace, name)."""


@dataclass(slots=True)
class _Entry:
    obj: Object
    fetched: float


class ConfigCache:
    def __init__(self, client: Client, *, clock: Clock, ttl: float = 30.0) -> None:
        self.client = client
        self.clock = clock
        self.ttl = ttl
        self._entries: dict[Ref, _Entry] = {}
        self._locks: dict[Ref, asyncio.Lock] = {}
        self.fetches = 0

    def invalidate(self, refs: Iterable[Ref]) -> None:
        """Fetch these afresh on their next ``get`` (a new pod references them)."""
        for ref in refs:
            entry = self._entries.get(ref)
            if entry is not None:
                entry.fetched = float("-inf")

    async def get(self, kind: Kind, namespace: str, name: str) -> Object:
        ref = (kind, namespace, name)
        lock = self._locks.setdefault(ref, asyncio.Lock())
        try:
            async with lock:  # a second reader waits for the first one's answer
                entry = self._entries.get(ref)
                if entry is not None and self.clock.now() - entry.fetched < self.ttl:
                    return entry.obj
                return await self._fetch(ref, entry)
        finally:
            if not lock.locked() and self._locks.get(ref) is lock:
                del self._locks[ref]

    async def _fetch(self, ref: Ref, stale: _Entry | None) -> Object:
        kind, namespace, name = ref
        self.fetches += 1
        try:
            obj = await self.client.get(resource(kind.plural), name, namespace=namespace)
        except NotFound as e:
            self._entries.pop(ref, None)
            raise not_found(kind, name) from e
        except Forbidden as e:
            self._entries.pop(ref, None)  # no longer ours to read (the pod went away)
            raise ConfigError(e.message) from e
        except ClientError as e:
            if stale is not None and (e.retriable or not e.code or e.code >= 500):
                log.info("kubelet: using the cached %s %s/%s: %s", kind.singular, namespace,
                         name, e)
                return stale.obj
            raise ConfigError(f"couldn't get {kind.singular} {namespace}/{name}: "
                              f"{e.message}") from e
        self._prune()
        self._entries[ref] = _Entry(obj, self.clock.now())
        return obj

    def _prune(self) -> None:
        """Forget what no pod has asked for in a long while (a pod deleted, a ref changed)."""
        if len(self._entries) < 64:
            return
        horizon = self.clock.now() - 10 * self.ttl
        for ref in [r for r, e in self._entries.items() if e.fetched < horizon]:
            del self._entries[ref]

    def __len__(self) -> int:
        return len(self._entries)


# ----------------------------------------------------------------------------- decoding


def _b64(value: Any, *, what: str) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ConfigError(f"{what}: bad base64 data: {e}") from e


def secret_data(secret: Object) -> dict[str, bytes]:
    """A Secret's ``data``, decoded."""
    md = secret.get("metadata") or {}
    data = secret.get("data") or {}
    return {str(k): _b64(v, what=f"secret {md.get('namespace')}/{md.get('name')} key {k}")
            for k, v in data.items()}


def configmap_data(cm: Object) -> tuple[dict[str, str], dict[str, bytes]]:
    """A ConfigMap's (``data``, ``binaryData`` decoded)."""
    md = cm.get("metadata") or {}
    data = {str(k): str(v) for k, v in (cm.get("data") or {}).items()}
    binary = {str(k): _b64(v, what=f"configmap {md.get('namespace')}/{md.get('name')} key {k}")
              for k, v in (cm.get("binaryData") or {}).items()}
    return data, binary


def references(pod: Object) -> set[Ref]:
    """Every secret and configMap ``pod`` names, as the Node authorizer counts them
    (api/podrefs.py: volumes, projected sources, env, envFrom, imagePullSecrets), for
    ``invalidate``."""
    ns = str((pod.get("metadata") or {}).get("namespace") or "")
    secrets, configmaps = pod_references(pod)
    return ({(Kind.SECRET, ns, name) for name in secrets}
            | {(Kind.CONFIGMAP, ns, name) for name in configmaps})
