"""``minikube8s apply -f``: client-side apply, as kubectl does it, and ``--server-side``.

Client-side apply keeps what was last applied in the annotation
``kubectl.kubernetes.io/last-applied-configuration``. The first apply creates the object with
it; later ones send a strategic merge patch computed three ways (kubectl's
CreateThreeWayMergePatch): additions and changes come from comparing the live object with the
new configuration, deletions from comparing the last applied configuration with the new one,
so fields other writers set (defaults, status, a controller's replicas) are left alone while
fields removed from the file are removed from the object. Lists that strategic merge patch
merges by key (containers by name, ports by containerPort/port...; minikube8s/api/schema.py
says which) are diffed item by item and deleted items become ``{"$patch": "delete"}``;
primitive merge lists use ``$deleteFromPrimitiveList``; every list the patch touches carries
``$setElementOrder`` with the file's order, as kubectl sends it. The API server applies the
patch with minikube8s/api/patch.py, the inverse of what is computed here.
"""

from __future__ import annotations

import copy
import json
from typing import Annotated, Any

import typer

from ..api import schema
from . import manifests
from .app import (
    Common,
    FilenameOpt,
    KubeconfigOpt,
    NamespaceOpt,
    ServerOpt,
    execute,
)
from .printers import kind_prefix
from .session import Session
from .write import each_manifest

Object = dict[str, Any]

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


# ----------------------------------------------------------------------------- patch metadata


def _field(type_name: str | None, key: str) -> schema.Field | None:
    fields = schema.fields_of(type_name) if type_name else None
    return fields.get(key) if fields else None


def _sub_type(field: schema.Field | None) -> str | None:
    # The same reading of the schema as patch.py's merge (what the server will do).
    if field is None:
        return None
    if field.shape in ("object", "list", "map") and field.type in schema.TYPES:
        return field.type
    return None


def _merge_key(field: schema.Field | None) -> str | None:
    """The list's merge key; '' for a primitive list merged as a set; None: replaced whole."""
    if field is None or field.shape != "list" or "merge" not in field.strategy:
        return None
    return field.merge_key


# ----------------------------------------------------------------------------- diffs


def _additions(current: Object, modified: Object, type_name: str | None) -> Object:
    """What ``modified`` adds to or changes in ``current`` (deletions ignored)."""
    patch: Object = {}
    for key, want in modified.items():
        field = _field(type_name, key)
        if key not in current:
            patch[key] = copy.deepcopy(want)
            continue
        have = current[key]
        if isinstance(want, dict) and isinstance(have, dict):
            sub = _additions(have, want, _sub_type(field))
            if sub:
                patch[key] = sub
        elif isinstance(want, list) and isinstance(have, list):
            merge_key = _merge_key(field)
            if merge_key is None:
                if want != have:
                    patch[key] = copy.deepcopy(want)
            elif merge_key == "":
                added = [x for x in want if x not in have]
                if added:
                    patch[key] = added
                    patch[SET_ELEMENT_ORDER + key] = copy.deepcopy(want)
            else:
                items = _list_additions(have, want, merge_key, _sub_type(field))
                if items:
                    patch[key] = items
                    patch[SET_ELEMENT_ORDER + key] = _order(want, merge_key)
        elif want != have:
            patch[key] = copy.deepcopy(want)
    return patch


def _order(items: list[Any], key: str) -> list[Any]:
    """``$setElementOrder/<list>``: the file's order, so merged items keep it."""
    return [{key: x[key]} for x in items if isinstance(x, dict) and key in x]


def _by_key(items: list[Any], key: str) -> dict[Any, Object]:
    return {json.dumps(x.get(key), sort_keys=True): x for x in items
            if isinstance(x, dict) and key in x}


def _list_additions(have: list[Any], want: list[Any], key: str,
                    elem_type: str | None) -> list[Any]:
    live = _by_key(have, key)
    out: list[Any] = []
    for item in want:
        if not isinstance(item, dict) or key not in item:
            out.append(copy.deepcopy(item))
            continue
        match = live.get(json.dumps(item[key], sort_keys=True))
        if match is None:
            out.append(copy.deepcopy(item))
            continue
        sub = _additions(match, item, elem_type)
        if sub:
            out.append({key: item[key], **sub})
    return out


def _deletions(original: Object, modified: Object, type_name: str | None) -> Object:
    """What was in ``original`` (last applied) and is no longer in ``modified``."""
    patch: Object = {}
    for key, was in original.items():
        field = _field(type_name, key)
        if key not in modified:
            patch[key] = None
            continue
        now = modified[key]
        if isinstance(was, dict) and isinstance(now, dict):
            sub = _deletions(was, now, _sub_type(field))
            if sub:
                patch[key] = sub
        elif isinstance(was, list) and isinstance(now, list):
            merge_key = _merge_key(field)
            if merge_key == "":
                gone = [x for x in was if x not in now]
                if gone:
                    patch[DELETE_FROM_PRIMITIVE + key] = gone
                    patch[SET_ELEMENT_ORDER + key] = copy.deepcopy(now)
            elif merge_key:
                items = _list_deletions(was, now, merge_key, _sub_type(field))
                if items:
                    patch[key] = items
                    patch[SET_ELEMENT_ORDER + key] = _order(now, merge_key)
    return patch


def _list_deletions(was: list[Any], now: list[Any], key: str,
                    elem_type: str | None) -> list[Any]:
    kept = _by_key(now, key)
    out: list[Any] = []
    for item in was:
        if not isinstance(item, dict) or key not in item:
            continue
        match = kept.get(json.dumps(item[key], sort_keys=True))
        if match is None:
            out.append({"$patch": "delete", key: item[key]})
            continue
        sub = _deletions(item, match, elem_type)
        if sub:
            out.append({key: item[key], **sub})
    return out


def _combine(deletions: Object, additions: Object, type_name: str | None) -> Object:
    """One patch from both halves; where both touch a key, their contents are merged."""
    out = copy.deepcopy(deletions)
    for key, value in additions.items():
        if key not in out:
            out[key] = copy.deepcopy(value)
            continue
        field = _field(type_name, key)
        prev = out[key]
        if isinstance(prev, dict) and isinstance(value, dict):
            out[key] = _combine(prev, value, _sub_type(field))
        elif isinstance(prev, list) and isinstance(value, list) and _merge_key(field):
            merge_key = str(_merge_key(field))
            merged = list(prev)
            index = {json.dumps(x.get(merge_key), sort_keys=True): i
                     for i, x in enumerate(merged) if isinstance(x, dict)}
            for item in value:
                ident = json.dumps(item.get(merge_key), sort_keys=True) \
                    if isinstance(item, dict) else None
                if ident in index and isinstance(item, dict):
                    merged[index[ident]] = _combine(merged[index[ident]], item,
                                                    _sub_type(field))
                else:
                    merged.append(copy.deepcopy(item))
            out[key] = merged
        else:
            out[key] = copy.deepcopy(value)
    return out


def three_way_patch(original: Object | None, modified: Object, current: Object, *,
                    kind: str) -> Object:
    """The strategic merge patch taking ``current`` to ``modified`` (kubectl apply).

    ``original`` is the last applied configuration (None when the object was never applied,
    so nothing is deleted). An empty dict means the object is already as configured.
    """
    type_name = schema.kind_type(kind)
    additions = _additions(current, modified, type_name)
    deletions = _deletions(original or {}, modified, type_name)
    return _combine(deletions, additions, type_name)


def with_last_applied(obj: Object, namespace: str = "") -> Object:
    """The configuration with its own JSON in the last-applied annotation, as kubectl stores
    it: the object with its namespace filled in and an ``annotations`` map (maybe empty)
    minus the annotation itself, as compact JSON with sorted keys and a trailing newline."""
    config = copy.deepcopy(obj)
    md = config.setdefault("metadata", {})
    if namespace and not md.get("namespace"):
        md["namespace"] = namespace
    annotations = dict(md.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    md["annotations"] = annotations
    text = json.dumps(config, sort_keys=True, separators=(",", ":")) + "\n"
    out = copy.deepcopy(config)
    out["metadata"]["annotations"][LAST_APPLIED] = text
    return out


def last_applied(live: Object) -> Object | None:
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


# ----------------------------------------------------------------------------- the verb


async def apply_one(session: Session, m: manifests.Manifest, *, server_side: bool,
                    force_conflicts: bool, field_manager: str) -> str:
    res = session.for_manifest(m)
    ns = session.manifest_ns(res, m)
    prefix = f"{kind_prefix(res.kind, res.group)}/{m.name}"
    if server_side:
        await session.client.patch(res, m.name, m.obj, namespace=ns or session.namespace,
                                   patch_type="apply", field_manager=field_manager,
                                   force=force_conflicts)
        return f"{prefix} serverside-applied"
    modified = with_last_applied(m.obj, ns)
    live = await session.get_or_none(res, m.name, namespace=ns)
    if live is None:
        await session.client.create(res, modified, namespace=ns,
                                    field_manager="kubectl-client-side-apply")
        return f"{prefix} created"
    patch = three_way_patch(last_applied(live), modified, live, kind=res.kind)
    if not patch:
        return f"{prefix} unchanged"
    await session.client.patch(res, m.name, patch, namespace=ns or session.namespace,
                               patch_type="strategic",
                               field_manager="kubectl-client-side-apply")
    return f"{prefix} configured"


def apply(
    filename: FilenameOpt = None,
    recursive: Annotated[bool, typer.Option("-R", "--recursive")] = False,
    server_side: Annotated[bool, typer.Option(
        "--server-side", help="Let the API server merge (server-side apply).")] = False,
    force_conflicts: Annotated[bool, typer.Option(
        "--force-conflicts", help="With --server-side: take over conflicting fields.")] = False,
    field_manager: Annotated[str, typer.Option(
        "--field-manager", help="The manager name for --server-side.")] = "kubectl",
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Apply a configuration to resources: create them, or patch them to match the file."""
    items = manifests.load(list(filename or []), recursive=recursive)

    async def run(session: Session) -> int:
        async def one(m: manifests.Manifest) -> str:
            return await apply_one(session, m, server_side=server_side,
                                   force_conflicts=force_conflicts, field_manager=field_manager)

        return await each_manifest(session, items, action="applying", one=one)

    execute(Common(server, namespace, kubeconfig), run)


def register(app: typer.Typer) -> None:
    app.command("apply", epilog="Examples:\n\n  minikube8s apply -f ./nginx_rc.yaml\n\n"
                "  minikube8s apply -f examples/v1/\n\n"
                "  minikube8s apply --server-side -f pod.yaml")(apply)
