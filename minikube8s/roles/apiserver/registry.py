"""Generic REST storage: every resource kind's create/get/list/update/delete over the store.

The HTTP handlers (handlers.py, subresources.py) call this; admission plugins and strategies
see it as their ``RegistryView`` (interfaces.py), without admission. Objects are stored as JSON
under ``Resource.store_key``; ``metadata.resourceVersion`` is never stored but set to the key's
mod revision on every object handed out, so updates are compare-and-swap on exactly what the
client read. The write pipeline follows interfaces.py: server metadata and defaulting, then
``Strategy.prepare_*``, validation, the admission chain, the store write, and
``Strategy.after_delete`` once an object is really gone.

Reads (GET, LIST, and what admission and strategies look up) are served from the watch cache
(cacher.py) when it can answer consistently, else from the store; writes always read and
compare-and-swap on the store itself.

Per-kind differences (status and finalize updates, create-on-update, grace periods) are in
rules.py. Deletion follows Kubernetes: a scheduled pod is deleted gracefully (deletionTimestamp +
deletionGracePeriodSeconds, removed when its kubelet deletes it again with grace 0); objects
with finalizers get a deletionTimestamp and go when their last finalizer is removed.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...api import errors, selectors
from ...api.resources import Resource
from ...store import base as store
from . import machinery, params, rules
from .cacher import WAIT_TIMEOUT, Cached, Cacher, Encoded, Stale, decode_kv, encode_for_store
from .interfaces import AdmissionPlugin, Attributes, DefaultStrategy, Operation, Strategy
from .params import CONTINUE_EXPIRED, decode_continue, encode_continue

if TYPE_CHECKING:
    from ...auth.authz import Caller

log = logging.getLogger(__name__)

Object = dict[str, Any]
Mutator = Callable[[Object], Awaitable[Object]]

CAS_RETRIES = 20
"""How often a read-modify-write (patch, unconditional PUT, delete) retries on Conflict."""


_DEFAULT_STRATEGY = DefaultStrategy()


@dataclass(slots=True)
class ListPage:
    items: list[Object]
    resource_version: str
    continue_token: str = ""


@dataclass(slots=True)
class CachedPage:
    """A list page of immutable entries (Cached.body is the served JSON)."""

    items: list[Cached]
    resource_version: str
    continue_token: str = ""


def min_revision(resource_version: str) -> int | None:
    """A read's resourceVersion as the cache's min_revision: "" -> None (consistent read,
    the store's current revision), "0" -> 0 (any state), "N" -> N (not older than N)."""
    if not resource_version:
        return None
    return params.parse_int(resource_version, param="resourceVersion", minimum=0) or 0


@dataclass(slots=True)
class WriteOptions:
    """Per-request knobs of a write; the RegistryView methods use the defaults."""

    admit: bool = False
    dry_run: bool = False
    subresource: str = ""
    warnings: list[str] = field(default_factory=list)
    caller: Caller | None = None
    """The authenticated requester (HTTPS port), for NodeRestriction; None: trusted."""


@functools.lru_cache(maxsize=256)
def _label_selector(text: str) -> selectors.LabelSelector:
    """Parsed selectors are immutable, and the same few come again and again (admission's
    lists, informers, kubectl)."""
    return selectors.parse_label_selector(text)


@functools.lru_cache(maxsize=256)
def _field_selector(text: str, kind: str) -> selectors.FieldSelector:
    return selectors.parse_field_selector(text, kind=kind)


def key_of(res: Resource, obj: Object) -> str:
    md = obj.get("metadata") or {}
    return res.store_key(str(md.get("namespace") or ""), str(md.get("name") or ""))


def _md(obj: Object) -> dict[str, Any]:
    md = obj.get("metadata")
    if not isinstance(md, dict):
        md = {}
        obj["metadata"] = md
    return md


class Registry:
    """One per API server process; implements interfaces.RegistryView."""

    def __init__(
        self,
        backend: store.Backend,
        *,
        admission: Sequence[AdmissionPlugin] = (),
        strategies: Mapping[str, Strategy] | None = None,
        watch_cache: bool = True,
        cache_wait_timeout: float = WAIT_TIMEOUT,
    ) -> None:
        self.store = backend
        self.admission = list(admission)
        self.strategies = dict(strategies or {})
        self.cache = Cacher(backend, wait_timeout=cache_wait_timeout) if watch_cache else None

    async def close(self) -> None:
        if self.cache is not None:
            await self.cache.close()

    def strategy(self, res: Resource) -> Strategy:
        return self.strategies.get(res.name, _DEFAULT_STRATEGY)

    # -- codec --------------------------------------------------------------------------------

    @staticmethod
    def decode(kv: store.KeyValue) -> Object:
        return decode_kv(kv)

    @staticmethod
    def encode(obj: Object) -> bytes:
        md = obj.get("metadata") or {}
        if "resourceVersion" in md or "selfLink" in md:
            obj = dict(obj)
            obj["metadata"] = {k: v for k, v in md.items()
                               if k not in ("resourceVersion", "selfLink")}
        return json.dumps(obj, separators=(",", ":")).encode()

    # -- reads --------------------------------------------------------------------------------

    async def get_kv(self, res: Resource, namespace: str, name: str) -> store.KeyValue:
        try:
            return await self.store.get(res.store_key(namespace, name))
        except store.StoreError as e:
            raise rules.store_error(e, res, name) from e

    async def get(self, resource: Resource, namespace: str, name: str) -> Object:
        return (await self.get_cached(resource, namespace, name)).decode()

    async def get_shared(self, resource: Resource, namespace: str, name: str) -> Object:
        """Like ``get``, but the object may be shared with other readers: never change it."""
        return (await self.get_cached(resource, namespace, name)).shared()

    async def get_cached(self, res: Resource, namespace: str, name: str, *,
                         resource_version: str = "") -> Cached:
        """One object (errors.NotFound), from the cache when it can answer."""
        wanted = min_revision(resource_version)
        if self.cache is not None:
            try:
                view = await self.cache.read(res, min_revision=wanted)
            except Stale as e:
                log.debug("GET %s/%s from the store: %s", res.name, name, e)
            else:
                entry = view.get(res.store_key(namespace, name))
                if entry is None:
                    raise errors.NotFound.of(res.name, name, group=res.group)
                return entry
        return Cached.from_kv(await self.get_kv(res, namespace, name), res.kind)

    async def list(
        self, resource: Resource, namespace: str = "", *, label_selector: str = ""
    ) -> list[Object]:
        page = await self.list_page(resource, namespace, label_selector=label_selector)
        return page.items

    async def list_page(self, res: Resource, namespace: str = "", **kw: Any) -> ListPage:
        """``list_cached`` with mutable objects (each caller its own copies)."""
        page = await self.list_cached(res, namespace, **kw)
        return ListPage([e.decode() for e in page.items], page.resource_version,
                        page.continue_token)

    async def list_cached(
        self,
        res: Resource,
        namespace: str = "",
        *,
        label_selector: str = "",
        field_selector: str = "",
        limit: int = 0,
        continue_token: str = "",
        revision: int = 0,
        resource_version: str = "",
    ) -> CachedPage:
        """One page of a (filtered) list read at one revision. ``revision`` (or the one in a
        continue token) asks for exactly that revision; otherwise ``resource_version`` says
        how fresh it must be (see min_revision)."""
        labels = _label_selector(label_selector)
        fields = _field_selector(field_selector, res.kind)
        prefix = res.store_prefix(namespace)
        start_after: str | None = None
        if continue_token:
            revision, start_after = decode_continue(continue_token)
            if not start_after.startswith(prefix):
                raise errors.BadRequest("continue key is not valid: key does not match prefix")
        wanted = None if revision else min_revision(resource_version)
        only = fields.value_for("metadata.name")
        one = only is not None and not start_after and (namespace or not res.namespaced)
        if self.cache is not None:
            try:
                if revision:
                    view = await self.cache.read_at(res, revision)
                else:
                    view = await self.cache.read(res, min_revision=wanted)
            except Stale as e:
                log.debug("LIST %s from the store: %s", prefix, e)
            else:
                if one:
                    # (kubectl wait, delete, describe): one key, not a scan of the kind.
                    entry = view.get(res.store_key(namespace, str(only)))
                    hit = entry is not None and entry.matches(labels, fields)
                    return CachedPage([entry] if hit and entry else [], str(view.revision))
                items, more = view.select(prefix, labels, fields, limit=limit,
                                          start_after=start_after)
                token = encode_continue(view.revision, items[-1].key) if more else ""
                return CachedPage(items, str(view.revision), token)
        if one and not revision:
            return await self._list_one(res, namespace, str(only), labels, fields)
        return await self._list_store(res, prefix, labels, fields, limit=limit,
                                      start_after=start_after, revision=revision,
                                      continued=bool(continue_token))

    async def _list_store(self, res: Resource, prefix: str, labels: selectors.LabelSelector,
                          fields: selectors.FieldSelector, *, limit: int,
                          start_after: str | None, revision: int,
                          continued: bool) -> CachedPage:
        filtering = not labels.empty or not fields.empty
        items: list[Cached] = []
        more = False
        last_key = ""
        read_rev = revision
        while True:
            want = 0
            if limit:
                want = max(limit - len(items), 100) if filtering else limit - len(items)
            try:
                lr = await self.store.list(prefix, limit=want, start_after=start_after,
                                           revision=read_rev)
            except store.Gone as e:
                if continued:
                    raise errors.Gone(CONTINUE_EXPIRED) from e
                raise rules.store_error(e, res, "") from e
            except store.StoreError as e:
                raise rules.store_error(e, res, "") from e
            read_rev = lr.revision
            stopped = False
            for i, kv in enumerate(lr.items):
                last_key = kv.key
                entry = Cached.from_kv(kv, res.kind)
                if filtering and not entry.matches(labels, fields):
                    continue
                items.append(entry)
                if limit and len(items) >= limit:
                    more = i < len(lr.items) - 1 or lr.more
                    stopped = True
                    break
            if stopped or not lr.more or not lr.items:
                break
            start_after = lr.items[-1].key
        token = encode_continue(read_rev, last_key) if more else ""
        return CachedPage(items, str(read_rev), token)

    async def _list_one(self, res: Resource, namespace: str, name: str,
                        labels: selectors.LabelSelector,
                        fields: selectors.FieldSelector) -> CachedPage:
        """A list with ``metadata.name=X`` (kubectl wait, delete, describe) reads one key.
        The list's revision is taken before the read and raised to the object's, so a watch
        from it misses nothing about that name."""
        try:
            rev = await self.store.current_revision()
            kv = await self.store.get(res.store_key(namespace, name))
        except store.NotFound:
            return CachedPage([], str(rev))
        except store.StoreError as e:
            raise rules.store_error(e, res, name) from e
        entry = Cached.from_kv(kv, res.kind)
        rev = max(rev, kv.mod_revision)
        return CachedPage([entry] if entry.matches(labels, fields) else [], str(rev))

    # -- writes -------------------------------------------------------------------------------

    async def _admit(self, attrs: Attributes) -> None:
        for plugin in self.admission:
            await plugin.admit(attrs, self)

    async def create(self, resource: Resource, namespace: str, obj: Object) -> Object:
        return await self.create_object(resource, namespace, obj)

    async def create_object(self, res: Resource, namespace: str, obj: Object,
                            opts: WriteOptions | None = None) -> Object:
        return (await self.create_cached(res, namespace, obj, opts)).decode()

    async def create_cached(self, res: Resource, namespace: str, obj: Object,
                            opts: WriteOptions | None = None, *, owned: bool = False) -> Cached:
        """Create; the result as served (its JSON bytes come from the watch cache when it
        already holds the new object). ``owned``: obj is the caller's to give away (a
        decoded request body), so it is changed in place rather than copied."""
        opts = opts or WriteOptions()
        if not owned:
            obj = copy.deepcopy(obj)
        obj.setdefault("kind", res.kind)
        obj.setdefault("apiVersion", res.group_version)
        machinery.prepare_for_create(obj, namespace=namespace if res.namespaced else None)
        md = _md(obj)
        name = str(md.get("name") or "")
        if not name:
            raise errors.Invalid.of(res.kind, "", [errors.required(
                "metadata.name", "name or generateName is required")], group=res.group)
        rules.reset_status_on_create(res, obj)
        machinery.apply_defaults(obj)
        strategy = self.strategy(res)
        await strategy.prepare_create(obj, self)
        try:
            machinery.validate(obj)
            if opts.admit:
                attrs = Attributes(Operation.CREATE, res, str(md.get("namespace") or ""), name,
                                   obj=obj, dry_run=opts.dry_run, warnings=opts.warnings,
                                   caller=opts.caller)
                await self._admit(attrs)
            rules.drop_empty_metadata(obj)
            if opts.dry_run:
                raise _DryRun()
            key = res.store_key(str(md.get("namespace") or ""), name)
            encoded = encode_for_store(obj)
            rules.check_size(res, name, encoded.value)
            try:
                with self._writing(key, encoded):
                    kv = await self.store.create(key, encoded.value)
            except store.StoreError as e:
                raise rules.store_error(e, res, name) from e
        except BaseException as e:
            # What prepare_create took (a Service's clusterIP) goes back when the write
            # does not happen.
            abort = getattr(strategy, "abort_create", None)
            if abort is not None:
                try:
                    await abort(obj)
                except Exception:
                    log.exception("abort_create of %s %s failed", res.name, name)
            if isinstance(e, _DryRun):
                return Cached.from_object(key_of(res, obj), 0, obj, res.kind)
            raise
        return self._entry(res, kv, obj, encoded)

    def _writing(self, key: str, encoded: Encoded) -> contextlib.AbstractContextManager[None]:
        if self.cache is None:
            return contextlib.nullcontext()
        return self.cache.writing(key, encoded)

    def _entry(self, res: Resource, kv: store.KeyValue, written: Object,
               encoded: Encoded) -> Cached:
        """What a write returns, as served: the watch cache's entry when it holds exactly
        this revision (it saw the commit before the writer did), else built from the object
        just written (the stored JSON plus its resourceVersion, last in metadata, as
        decode_kv puts it)."""
        entry = self.cache.peek(kv.key, kv.mod_revision) if self.cache is not None else None
        if entry is not None:
            return entry
        body = encoded.served(kv.mod_revision)
        if body is not None:
            return Cached(kv.key, kv.mod_revision, body, encoded.labels, res.kind)
        md = _md(written)
        md.pop("selfLink", None)
        md.pop("resourceVersion", None)
        md["resourceVersion"] = str(kv.mod_revision)
        return Cached.from_object(kv.key, kv.mod_revision, written, res.kind)

    async def update(self, resource: Resource, namespace: str, obj: Object) -> Object:
        name = str(_md(obj).get("name") or "")
        out, _ = await self.update_object(resource, namespace, name, obj)
        return out

    async def update_object(self, res: Resource, namespace: str, name: str, obj: Object,
                            opts: WriteOptions | None = None) -> tuple[Object, bool]:
        """PUT: CAS on obj.metadata.resourceVersion when given, else on what we read.
        Returns (object, created)."""
        opts = opts or WriteOptions()
        want_rv = str(_md(obj).get("resourceVersion") or "")
        for _ in range(CAS_RETRIES):
            try:
                kv = await self.store.get(res.store_key(namespace, name))
            except store.NotFound as e:
                if res.name in rules.CREATE_ON_UPDATE and not opts.subresource:
                    try:
                        return await self.create_object(res, namespace, obj, opts), True
                    except errors.AlreadyExists:
                        continue
                raise rules.store_error(e, res, name) from e
            except store.StoreError as e:
                raise rules.store_error(e, res, name) from e
            if want_rv and want_rv != str(kv.mod_revision):
                raise errors.Conflict.of(res.name, name, group=res.group)
            try:
                return await self.write_update(res, kv, copy.deepcopy(obj), opts,
                                               retryable=not want_rv), False
            except _Retry:
                continue
        raise errors.Conflict.of(res.name, name, group=res.group)

    async def guaranteed_update(self, res: Resource, namespace: str, name: str,
                                mutate: Mutator, opts: WriteOptions | None = None) -> Object:
        """Read, mutate, CAS; retried on Conflict (patch, status writes, binding, finalize).
        A mutator raising errors.Conflict itself is not retried."""
        opts = opts or WriteOptions()
        # The first attempt starts from the watch cache's copy, as kube-apiserver's
        # GuaranteedUpdate does: no store round trip (a thread hop on SQLite) for the
        # kubelets' status writes. That copy may be stale, which the CAS catches; and
        # anything decided on it alone (an error, or "no change") is re-checked from the store.
        kv = self._cached_kv(res, namespace, name)
        for _ in range(CAS_RETRIES):
            cached = kv is not None
            if kv is None:
                kv = await self.get_kv(res, namespace, name)
            try:
                new = await mutate(self.decode(kv))
                return await self.write_update(res, kv, new, opts, retryable=True,
                                               confirm_noop=cached)
            except _Retry:
                kv = None
                continue
            except errors.APIError:
                if not cached:
                    raise
                kv = None
        raise errors.Conflict.of(res.name, name, group=res.group)

    def _cached_kv(self, res: Resource, namespace: str, name: str) -> store.KeyValue | None:
        """The watch cache's current copy of one object as a store value, if it has one
        ready (no waiting: a cache still filling, or without the object, gives None)."""
        if self.cache is None:
            return None
        key = res.store_key(namespace, name)
        entry = self.cache.current(key)
        if entry is None:
            return None
        # The served body carries metadata.resourceVersion, which decode_kv overwrites with
        # the same revision; create_revision is not used by the update path.
        return store.KeyValue(key=key, value=entry.body, create_revision=0,
                              mod_revision=entry.revision)

    async def write_update(self, res: Resource, kv: store.KeyValue, obj: Object,
                           opts: WriteOptions, *, retryable: bool = False,
                           confirm_noop: bool = False) -> Object:
        """The update pipeline against the value ``kv`` that the caller read. With
        confirm_noop (kv may be stale) an update that changes nothing is retried (_Retry)
        instead of answered, so "no change" is only ever said of the stored object."""
        old = self.decode(kv)
        old_md = old["metadata"]
        name = str(old_md.get("name") or "")
        md = _md(obj)
        if md.get("name") and md.get("name") != name:
            raise errors.BadRequest(
                f"the name of the object ({md.get('name')}) does not match the name on the "
                f"URL ({name})")
        obj.setdefault("kind", res.kind)
        obj.setdefault("apiVersion", res.group_version)
        obj = rules.shape_update(res, obj, old, opts.subresource)
        machinery.prepare_for_update(obj, old)
        namespace = str(old_md.get("namespace") or "")
        if opts.subresource == "binding":
            # Binding is the one way to set a pod's nodeName; like Kubernetes' assignPod it
            # skips defaulting, strategies and admission.
            machinery.validate(obj, old=old, subresource="binding")
            return await self._write(res, kv, obj, retryable=retryable)
        if opts.subresource != "finalize":
            # (defaulting would put back the "kubernetes" finalizer /finalize just removed;
            # the rest of a finalized object is the stored, already defaulted one)
            machinery.apply_defaults(obj)
        await self.strategy(res).prepare_update(obj, old, self)
        machinery.validate(obj, old=old, subresource=opts.subresource)
        if opts.admit:
            attrs = Attributes(Operation.UPDATE, res, namespace, name, obj=obj, old=old,
                               subresource=opts.subresource, dry_run=opts.dry_run,
                               warnings=opts.warnings, caller=opts.caller)
            await self._admit(attrs)
        rules.drop_empty_metadata(obj)
        _md(obj)["resourceVersion"] = str(kv.mod_revision)
        if not opts.dry_run and confirm_noop and obj == old:
            raise _Retry()
        if opts.dry_run or obj == old:
            # An update that changes nothing is not written (Kubernetes' GuaranteedUpdate
            # does the same): the resourceVersion stays, watchers see nothing, and kubectl
            # prints "patched (no change)".
            return obj
        if _md(obj).get("deletionTimestamp") and rules.removable(res, obj):
            return await self._remove(res, kv, obj, retryable=retryable)
        return await self._write(res, kv, obj, retryable=retryable)

    async def _write(self, res: Resource, kv: store.KeyValue, obj: Object, *,
                     retryable: bool) -> Object:
        name = str(_md(obj).get("name") or "")
        encoded = encode_for_store(obj)
        rules.check_size(res, name, encoded.value)
        try:
            with self._writing(kv.key, encoded):
                new_kv = await self.store.update(kv.key, encoded.value,
                                                 expected_revision=kv.mod_revision)
        except store.Conflict as e:
            if retryable:
                raise _Retry() from e
            raise errors.Conflict.of(res.name, name, group=res.group) from e
        except store.StoreError as e:
            raise rules.store_error(e, res, name) from e
        return self.decode(new_kv)

    # -- deletion -----------------------------------------------------------------------------

    async def _remove(self, res: Resource, kv: store.KeyValue, obj: Object, *,
                      retryable: bool) -> Object:
        name = str(_md(obj).get("name") or "")
        try:
            ev = await self.store.delete(kv.key, expected_revision=kv.mod_revision)
        except store.Conflict as e:
            if retryable:
                raise _Retry() from e
            raise errors.Conflict.of(res.name, name, group=res.group) from e
        except store.StoreError as e:
            raise rules.store_error(e, res, name) from e
        gone = copy.deepcopy(obj)
        _md(gone)["resourceVersion"] = str(ev.revision)
        try:
            await self.strategy(res).after_delete(gone, self)
        except Exception:
            log.exception("after_delete of %s %s failed", res.name, name)
        return gone

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        await self.delete_object(resource, namespace, name)

    async def delete_object(
        self,
        res: Resource,
        namespace: str,
        name: str,
        *,
        grace_period: int | None = None,
        preconditions: Mapping[str, Any] | None = None,
        opts: WriteOptions | None = None,
        propagation: str | None = None,
    ) -> tuple[Object, bool]:
        """Returns (object, deleted_now). When not deleted now, the object carries its
        deletionTimestamp and stays until finalizers/kubelet let it go."""
        opts = opts or WriteOptions()
        admitted = False
        for _ in range(CAS_RETRIES):
            kv = await self.get_kv(res, namespace, name)
            obj = self.decode(kv)
            md = obj["metadata"]
            rules.check_preconditions(res, obj, preconditions)
            if opts.admit and not admitted:
                await self._admit(Attributes(Operation.DELETE, res, namespace, name, old=obj,
                                             dry_run=opts.dry_run, warnings=opts.warnings,
                                             caller=opts.caller))
                admitted = True
            grace = rules.grace_period(res, obj, grace_period)
            # Orphan/Foreground propagation: a finalizer for the garbage collector (rules.py).
            gc_fins = rules.gc_finalizers(obj, propagation)
            fins = rules.finalizers(res, obj) + gc_fins
            if grace == 0 and not fins:
                if opts.dry_run:
                    return obj, True
                try:
                    return await self._remove(res, kv, obj, retryable=True), True
                except _Retry:
                    continue
            new = copy.deepcopy(obj)
            nmd = new["metadata"]
            if gc_fins:
                nmd["finalizers"] = [*(nmd.get("finalizers") or []), *gc_fins]
            current = md.get("deletionGracePeriodSeconds")
            if not md.get("deletionTimestamp") or (current is not None and grace < current):
                nmd["deletionTimestamp"] = rules.now_plus(grace)
                nmd["deletionGracePeriodSeconds"] = grace
            if res.name == "namespaces":
                new.setdefault("status", {})["phase"] = "Terminating"
            if new == obj or opts.dry_run:
                return obj, False
            try:
                new_kv = await self.store.update(kv.key, self.encode(new),
                                                 expected_revision=kv.mod_revision)
            except store.Conflict:
                continue
            except store.StoreError as e:
                raise rules.store_error(e, res, name) from e
            return self.decode(new_kv), False
        raise errors.Conflict.of(res.name, name, group=res.group)


class _DryRun(Exception):
    """dryRun=All: the write pipeline ran; nothing is stored."""


class _Retry(Exception):
    """A CAS lost inside guaranteed_update or delete: read again and redo."""
