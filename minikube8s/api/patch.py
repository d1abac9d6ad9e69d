"""PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

The API server picks one by Content-Type (``application/merge-patch+json``,
``application/json-patch+json``, ``application/strategic-merge-patch+json``) and then
validates the result like any update. Strategic merge is what ``kubectl apply`` and ``kubectl
edit`` send: lists named in schema.py merge by key (containers by ``name``, container ports by
``containerPort``...), and directives (``$patch``, ``$retainKeys``,
``$deleteFromPrimitiveList/<f>``, ``$setElementOrder/<f>``) steer the merge, as in
apimachinery/pkg/util/strategicpatch. Every function returns a new object; inputs are never
mutated. Errors are ``errors.BadRequest`` for malformed patches and ``errors.Invalid`` for a
failed JSON patch ``test`` or a path that does not exist, matching what Kubernetes answers.
"""

from __future__ import annotations

import copy
from typing import Any

from . import errors, schema

Object = dict[str, Any]

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
DELETE_FROM_PRIMITIVE = "$deleteFromPrimitiveList/"
SET_ELEMENT_ORDER = "$setElementOrder/"


# ----------------------------------------------------------------------------- RFC 7386


def merge_patch(original: Object, patch: Any) -> Any:
    """JSON merge patch: maps merge recursively, null deletes, anything else replaces.

    A patch that is not an object replaces the document (the API server then rejects it)."""
    return _merge(original, patch)


def _merge(original: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = _merge(out.get(key), value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# ----------------------------------------------------------------------------- RFC 6902


def _invalid(message: str) -> errors.Invalid:
    # Kubernetes answers a JSON patch that cannot be applied with 422 and this text.
    return errors.Invalid(f"the server rejected our request due to an error in our request: "
                          f"{message}")


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise errors.BadRequest(f"invalid JSON pointer: {path!r}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise errors.BadRequest(f'JSON pointer must be empty or start with a "/": {path}')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool, path: str) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _invalid(f"invalid array index {token!r} in {path}")
    i = int(token)
    limit = len(container) if for_add else len(container) - 1
    if i > limit:
        raise _invalid(f"unable to access invalid index: {i}")
    return i


def _parent(doc: Any, tokens: list[str], path: str) -> Any:
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise _invalid(f"doc is missing path: {path}: missing value")
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_index(cur, t, for_add=False, path=path)]
        else:
            raise _invalid(f"doc is missing path: {path}: missing value")
    return cur


def _get(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return doc
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _invalid(f"doc is missing path: {path}: missing value")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False, path=path)]
    raise _invalid(f"doc is missing path: {path}: missing value")


def _add(doc: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return value
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True, path=path), value)
    else:
        raise _invalid(f"doc is missing path: {path}: missing value")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise _invalid("unable to remove the whole document")
    parent = _parent(doc, tokens, path)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _invalid(f"unable to remove nonexistent key: {last}: missing value")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_add=False, path=path))
    raise _invalid(f"doc is missing path: {path}: missing value")


def json_patch(original: Object, ops: Any) -> Any:
    """Apply RFC 6902 operations to a copy of ``original``."""
    if not isinstance(ops, list):
        raise errors.BadRequest("json patch must be a JSON array of operations")
    doc: Any = copy.deepcopy(original)
    for n, op in enumerate(ops):
        if not isinstance(op, dict):
            raise errors.BadRequest(f"json patch operation {n} is not an object")
        kind = op.get("op")
        path = op.get("path")
        if path is None:
            raise errors.BadRequest(f"json patch operation {n} has no path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise errors.BadRequest(f'json patch operation {n} ("{kind}") has no value')
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            _get(doc, path)  # must exist
            tokens = _pointer(path)
            if not tokens:
                doc = copy.deepcopy(op["value"])
            else:
                parent = _parent(doc, tokens, path)
                if isinstance(parent, list):
                    parent[_index(parent, tokens[-1], for_add=False, path=path)] = (
                        copy.deepcopy(op["value"]))
                else:
                    parent[tokens[-1]] = copy.deepcopy(op["value"])
        elif kind in ("move", "copy"):
            src = op.get("from")
            if src is None:
                raise errors.BadRequest(f'json patch operation {n} ("{kind}") has no from')
            if kind == "move":
                if isinstance(path, str) and isinstance(src, str) and path.startswith(src + "/"):
                    raise _invalid(f"move operation can not move a value into itself: {src}")
                doc, value = _remove(doc, src)
            else:
                value = copy.deepcopy(_get(doc, src))
            doc = _add(doc, path, value)
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise _invalid(f"testing value {path} failed: test failed")
        else:
            raise errors.BadRequest(f"Unexpected kind: {kind}")
    return doc


# ----------------------------------------------------------------------------- strategic


def strategic_merge_patch(original: Object, patch: Any, *, kind: str) -> Object:
    """Kubernetes' strategic merge patch of ``original`` by ``patch`` for a ``kind``.

    Fields the schema does not describe merge like a JSON merge patch (maps recursively, lists
    replaced), which is what Kubernetes does for fields without patch metadata.
    """
    if not isinstance(patch, dict):
        raise errors.BadRequest("strategic merge patch must be a JSON object")
    base = copy.deepcopy(original) if isinstance(original, dict) else {}
    result = _merge_map(base, patch, schema.kind_type(kind))
    return result if result is not None else {}


def _fields(type_name: str | None) -> dict[str, schema.Field] | None:
    return schema.fields_of(type_name) if type_name else None


def _merge_map(original: dict[str, Any], patch: dict[str, Any],
               type_name: str | None) -> dict[str, Any] | None:
    """Merge ``patch`` into ``original`` (owned, mutated); None means "delete this map"."""
    directive = patch.get(DIRECTIVE)
    if directive == "delete":
        # handleDirectiveInMergeMap: the map is emptied, its key stays.
        return {}
    if directive == "replace":
        return _clean({k: v for k, v in patch.items() if k != DIRECTIVE}, type_name)
    if directive not in (None, "merge"):
        raise errors.BadRequest(f"Unknown patch type: {directive}")
    fields = _fields(type_name)
    retain = patch.get(RETAIN_KEYS)
    if retain is not None:
        if not isinstance(retain, list):
            raise errors.BadRequest(f"{RETAIN_KEYS} must be a list")
        # Applied to the live object before merging, as applyRetainKeysDirective does.
        for key in list(original):
            if key not in retain:
                del original[key]
    for key, value in patch.items():
        if key in (DIRECTIVE, RETAIN_KEYS) or key.startswith(SET_ELEMENT_ORDER):
            continue
        if key.startswith(DELETE_FROM_PRIMITIVE):
            target = key[len(DELETE_FROM_PRIMITIVE):]
            if not isinstance(value, list):
                raise errors.BadRequest(f"{key} must be a list")
            if isinstance(original.get(target), list):
                original[target] = [x for x in original[target] if x not in value]
            continue
        if key.startswith("$"):
            raise errors.BadRequest(f"unknown patch directive: {key}")
        field = fields.get(key) if fields else None
        if value is None:
            original.pop(key, None)
            continue
        current = original.get(key)
        if isinstance(value, dict):
            sub_type = _sub_type(field)
            if isinstance(current, dict) and (field is None or field.shape != "scalar"):
                merged = _merge_map(current, value, sub_type)
            else:
                merged = _merge_map({}, value, sub_type)
            if merged is None:
                original.pop(key, None)
            else:
                original[key] = merged
        elif isinstance(value, list):
            order = patch.get(SET_ELEMENT_ORDER + key)
            original[key] = _merge_list(current if isinstance(current, list) else None,
                                        value, field,
                                        order if isinstance(order, list) else None)
        else:
            original[key] = copy.deepcopy(value)
    for key, value in patch.items():
        # An order for a list the patch does not otherwise touch: reorder the live list.
        if key.startswith(SET_ELEMENT_ORDER) and isinstance(value, list):
            target = key[len(SET_ELEMENT_ORDER):]
            field = fields.get(target) if fields else None
            live = original.get(target)
            if target not in patch and isinstance(live, list) and field and field.strategy:
                original[target] = _normalize_order(live, value, live, field.merge_key)
    return original


def _sub_type(field: schema.Field | None) -> str | None:
    if field is None:
        return None
    if field.shape in ("object", "list", "map") and field.type in schema.TYPES:
        return field.type
    return None


def _merge_list(original: list[Any] | None, patch: list[Any], field: schema.Field | None,
                order: list[Any] | None = None) -> list[Any]:
    elem_type = _sub_type(field)
    strategy = field.strategy if field else ""
    if "merge" not in strategy:
        # Atomic lists are replaced; directives inside are still not stored.
        return [_clean(x, elem_type) for x in patch
                if not (isinstance(x, dict) and DIRECTIVE in x and (
                    len(x) == 1 or x.get(DIRECTIVE) == "delete"))]
    live = copy.deepcopy(original) if original is not None else []
    key = field.merge_key if field else ""
    # A {"$patch": "replace"} element replaces the whole list with the other elements.
    if any(isinstance(x, dict) and x.get(DIRECTIVE) == "replace" for x in patch):
        live = []
        patch = [x for x in patch if not (isinstance(x, dict) and DIRECTIVE in x)]
    if not key:
        # Primitive list with merge strategy (finalizers): a set union.
        merged = list(live)
        for x in patch:
            if isinstance(x, dict) and DIRECTIVE in x:
                continue
            if x not in merged:
                merged.append(copy.deepcopy(x))
        return _normalize_order(merged, order if order is not None else patch, live, "")
    merged = live
    for item in patch:
        if not isinstance(item, dict):
            raise errors.BadRequest(f"the list item {item!r} has no merge key {key!r}")
        directive = item.get(DIRECTIVE)
        if key not in item:
            if directive == "merge":
                continue
            raise errors.BadRequest(f"map: {item} does not contain declared merge key: {key}")
        if directive == "delete":
            merged = [x for x in merged if not (isinstance(x, dict) and x.get(key) == item[key])]
            continue
        idx = next((i for i, x in enumerate(merged)
                    if isinstance(x, dict) and x.get(key) == item[key]), None)
        if idx is None:
            added = _merge_map({}, item, elem_type)
            if added is not None:
                merged.append(added)
        else:
            result = _merge_map(merged[idx], item, elem_type)
            if result is None:
                merged.pop(idx)
            else:
                merged[idx] = result
    return _normalize_order(merged, order if order is not None else patch, original or [], key)


def _normalize_order(merged: list[Any], order: list[Any], live: list[Any],
                     key: str) -> list[Any]:
    """Kubernetes' element order after a merge (strategicpatch normalizeElementOrder).

    Items named by ``order`` (``$setElementOrder`` or the patch list) come in that order;
    the others keep their live order; the two runs are interleaved using the live order,
    and an item the live list does not have goes before the next server-only item.
    """
    def ident(x: Any) -> Any:
        return x.get(key) if key and isinstance(x, dict) else x

    def position(seq: list[Any], x: Any) -> int:
        want = ident(x)
        for i, y in enumerate(seq):
            if ident(y) == want:
                return i
        return -1

    order_ids = [ident(o) for o in order
                 if not (isinstance(o, dict) and o.get(DIRECTIVE) == "delete")]
    in_order = [x for x in merged if ident(x) in order_ids]
    server_only = [x for x in merged if ident(x) not in order_ids]
    in_order.sort(key=lambda x: order_ids.index(ident(x)))
    server_only.sort(key=lambda x: position(live, x))
    out: list[Any] = []
    i = j = 0
    while i < len(server_only) or j < len(in_order):
        if i >= len(server_only):
            out.append(in_order[j])
            j += 1
        elif j >= len(in_order):
            out.append(server_only[i])
            i += 1
        else:
            li, ri = position(live, server_only[i]), position(live, in_order[j])
            if li >= 0 and ri >= 0 and li < ri:
                out.append(server_only[i])
                i += 1
            else:
                out.append(in_order[j])
                j += 1
    return out


def _clean(value: Any, type_name: str | None) -> Any:
    """A patch value added as is: directives stripped, deleted items dropped."""
    if isinstance(value, dict):
        merged = _merge_map({}, {k: v for k, v in value.items() if k != DIRECTIVE}, type_name)
        return merged if merged is not None else {}
    if isinstance(value, list):
        return [_clean(x, type_name) for x in value
                if not (isinstance(x, dict) and x.get(DIRECTIVE) == "delete")]
    return copy.deepcopy(value)
