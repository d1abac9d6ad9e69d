"""Label and field selectors: parsing (Kubernetes syntax and error texts) and matching.

Label selectors follow apimachinery/pkg/labels/selector.go: equality (``=``, ``==``, ``!=``),
set-based (``in``, ``notin``), existence (``key``, ``!key``) and the numeric ``>``/``<``.
Field selectors follow apimachinery/pkg/fields plus the per-kind field label tables of
pkg/registry/core/*/strategy.go. The API server's list/watch handlers, the informers and the
CLI use these; parse errors are ``errors.BadRequest`` (HTTP 400), as Kubernetes answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors, names

Object = dict[str, Any]

# --------------------------------------------------------------------------- label selectors

_SPECIAL = set("!=(),><")
_TOKENS = {"!": "NOT", "!=": "NE", "(": "LPAREN", ")": "RPAREN", ",": "COMMA", "=": "EQ",
           "==": "DEQ", ">": "GT", "<": "LT", "in": "IN", "notin": "NOTIN"}
_BINARY_OPS = ["in", "notin", "=", "==", "!=", "gt", "lt"]
# Go's lexer treats only these as blanks; Python's isspace() also takes unicode spaces.
_BLANKS = " \t\r\n"
_GO_INT = re.compile(r"[+-]?[0-9]+")


def _go_int(s: str) -> int | None:
    """strconv.ParseInt(s, 10, 64), which both ``>``/``<`` parsing and matching use: Python's
    int() would also take ``1_000``, unicode digits and numbers beyond int64."""
    if not _GO_INT.fullmatch(s):
        return None
    n = int(s)
    return n if -(2**63) <= n < 2**63 else None


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    """One of ``=``, ``!=``, ``in``, ``notin``, ``exists``, ``!``, ``gt``, ``lt``."""
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in ("=", "==", "in"):
            return self.key in labels and labels[self.key] in self.values
        if op in ("!=", "notin"):
            return self.key not in labels or labels[self.key] not in self.values
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if op in ("gt", "lt"):
            if self.key not in labels:
                return False
            have, want = _go_int(labels[self.key]), _go_int(self.values[0])
            if have is None or want is None:
                return False
            return have > want if op == "gt" else have < want
        return False

    def __str__(self) -> str:
        op = self.operator
        if op == "exists":
            return self.key
        if op == "!":
            return "!" + self.key
        if op in ("in", "notin"):
            return f"{self.key} {op} ({','.join(self.values)})"
        sym = {"gt": ">", "lt": "<", "==": "=="}.get(op, op)
        return f"{self.key}{sym}{self.values[0] if self.values else ''}"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...] = ()
    nothing: bool = False
    """A nil metav1.LabelSelector selects nothing (labels.Nothing()), an empty one everything."""

    @property
    def empty(self) -> bool:
        return not self.requirements and not self.nothing

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        lbls = labels or {}
        return all(r.matches(lbls) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)


def _lex(s: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    i, n = 0, len(s)
    while i < n:
        ch = s[i]
        if ch in _BLANKS:
            i += 1
            continue
        if ch in _SPECIAL:
            buf, last, j = "", "", i
            while j < n and s[j] in _SPECIAL:
                buf += s[j]
                if buf in _TOKENS:
                    last = buf
                    j += 1
                elif last:
                    break
                else:
                    j += 1
            if not last:
                out.append(("ERROR", f"error expected: keyword found '{buf}'"))
                i = j
                continue
            out.append((_TOKENS[last], last))
            i += len(last)
            continue
        j = i
        while j < n and s[j] not in _BLANKS and s[j] not in _SPECIAL:
            j += 1
        word = s[i:j]
        out.append((_TOKENS.get(word, "ID"), word))
        i = j
    out.append(("EOS", ""))
    return out


class _LabelParser:
    def __init__(self, s: str) -> None:
        self.items = _lex(s)
        self.pos = 0

    def _tok(self, values: bool) -> tuple[str, str]:
        tok, lit = self.items[min(self.pos, len(self.items) - 1)]
        # In a values context the keywords ``in``/``notin`` are plain identifiers.
        if values and tok in ("IN", "NOTIN"):
            tok = "ID"
        return tok, lit

    def lookahead(self, values: bool = True) -> tuple[str, str]:
        return self._tok(values)

    def consume(self, values: bool = True) -> tuple[str, str]:
        t = self._tok(values)
        self.pos += 1
        return t

    def parse(self) -> list[Requirement]:
        reqs: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok in ("ID", "NOT"):
                try:
                    reqs.append(self.requirement())
                except ValueError as e:
                    raise ValueError(f"unable to parse requirement: {e}") from None
                t, lit2 = self.consume()
                if t == "EOS":
                    return reqs
                if t == "COMMA":
                    t2, l2 = self.lookahead()
                    if t2 not in ("ID", "NOT"):
                        raise ValueError(f"found '{l2}', expected: identifier after ','")
                else:
                    raise ValueError(f"found '{lit2}', expected: ',' or 'end of string'")
            elif tok == "EOS":
                return reqs
            else:
                raise ValueError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def requirement(self) -> Requirement:
        op = ""
        tok, key = self.consume()
        if tok == "NOT":
            op = "!"
            tok, key = self.consume()
        if tok != "ID":
            raise ValueError(f"found '{key}', expected: identifier")
        # The parser checks keys with a nil field path, which Kubernetes prints as "<nil>".
        _check_key(key, "<nil>")
        t, _ = self.lookahead()
        if t in ("EOS", "COMMA"):
            return Requirement(key, op or "exists")
        if op == "!":
            # ``!a=b``: unary operator followed by more tokens.
            _, lit = self.lookahead()
            raise ValueError(f"found '{lit}', expected: ',' or 'end of string'")
        tok, lit = self.consume(values=False)
        ops = {"IN": "in", "NOTIN": "notin", "EQ": "=", "DEQ": "==", "NE": "!=",
               "GT": "gt", "LT": "lt"}
        if tok not in ops:
            raise ValueError(f"found '{lit}', expected: {', '.join(_BINARY_OPS)}")
        op = ops[tok]
        if op in ("in", "notin"):
            values = self.set_values()
        else:
            values = self.exact_value()
        if op in ("gt", "lt"):
            if len(values) != 1:
                raise ValueError("values: Invalid value: for 'Gt', 'Lt' operators, exactly one "
                                 "value is required")
            if _go_int(values[0]) is None:
                raise ValueError(f"values[0]: Invalid value: \"{values[0]}\": for 'Gt', 'Lt' "
                                 "operators, the value must be an integer")
        else:
            for i, v in enumerate(values):
                msgs = names.is_valid_label_value(v)
                if msgs:
                    raise ValueError(f'values[{i}][{key}]: Invalid value: "{v}": '
                                     + "; ".join(msgs))
        return Requirement(key, "=" if op == "==" else op, values)

    def set_values(self) -> tuple[str, ...]:
        tok, lit = self.consume()
        if tok != "LPAREN":
            raise ValueError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok == "RPAREN":
            self.consume()
            return ("",)
        if tok not in ("ID", "COMMA"):
            raise ValueError(f"found '{lit}', expected: ',', ')' or identifier")
        vals: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == "ID":
                vals.add(lit)
                t2, l2 = self.lookahead()
                if t2 == "COMMA":
                    self.consume()
                    t3, _ = self.lookahead()
                    if t3 == "RPAREN":
                        vals.add("")
                    continue
                if t2 == "RPAREN":
                    self.consume()
                    return tuple(sorted(vals))
                raise ValueError(f"found '{l2}', expected: ',' or ')'")
            if tok == "COMMA":
                # ``(,a)`` and ``(a,,b)``: empty values, as Kubernetes' parser allows.
                vals.add("")
                t2, _ = self.lookahead()
                if t2 == "RPAREN":
                    self.consume()
                    return tuple(sorted(vals))
                continue
            if tok == "RPAREN":
                vals.add("")
                return tuple(sorted(vals))
            raise ValueError(f"found '{lit}', expected: ',', or identifier")

    def exact_value(self) -> tuple[str, ...]:
        tok, _ = self.lookahead()
        if tok in ("EOS", "COMMA"):
            return ("",)
        tok, lit = self.consume()
        if tok == "ID":
            return (lit,)
        raise ValueError(f"found '{lit}', expected: identifier")


def _check_key(key: str, path: str = "key") -> None:
    msgs = names.is_qualified_name(key)
    if msgs:
        raise ValueError(f'{path}: Invalid value: "{key}": ' + "; ".join(msgs))


def parse_label_selector(s: str) -> LabelSelector:
    """``"app=web,tier in (a,b),!canary"`` -> LabelSelector; ``errors.BadRequest`` if bad."""
    try:
        reqs = _LabelParser(s or "").parse()
    except ValueError as e:
        raise errors.BadRequest(str(e)) from e
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def selector_from_match_labels(d: Mapping[str, str] | None) -> LabelSelector:
    """An RC/Service selector map. An empty map selects everything, like labels.Set."""
    items = sorted((d or {}).items())
    return LabelSelector(tuple(Requirement(k, "=", (str(v),)) for k, v in items))


def selector_from_label_selector_object(obj: Mapping[str, Any] | None) -> LabelSelector:
    """metav1.LabelSelector (``matchLabels`` + ``matchExpressions``); None selects nothing."""
    if obj is None:
        return LabelSelector(nothing=True)
    reqs = list(selector_from_match_labels(obj.get("matchLabels")).requirements)
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for i, expr in enumerate(obj.get("matchExpressions") or []):
        key = str(expr.get("key", ""))
        op = expr.get("operator")
        values = tuple(str(v) for v in (expr.get("values") or []))
        if op not in ops:
            raise errors.BadRequest(f'"{op}" is not a valid label selector operator')
        try:
            _check_key(key)
        except ValueError as e:
            raise errors.BadRequest(f"matchExpressions[{i}].{e}") from e
        if ops[op] in ("in", "notin") and not values:
            raise errors.BadRequest(
                f"matchExpressions[{i}].values: Invalid value: []: for 'in', 'notin' "
                "operators, values set can't be empty")
        if ops[op] in ("exists", "!") and values:
            raise errors.BadRequest(
                f"matchExpressions[{i}].values: Invalid value: {list(values)}: values set "
                "must be empty for exists and does not exist")
        reqs.append(Requirement(key, ops[op], tuple(sorted(set(values)))))
    return LabelSelector(tuple(sorted(reqs, key=lambda r: r.key)))


def format_match_labels(d: Mapping[str, str] | None) -> str:
    """``{"b": "2", "a": "1"}`` -> ``"a=1,b=2"`` (Scale status.selector, kubectl columns)."""
    return ",".join(f"{k}={v}" for k, v in sorted((d or {}).items()))


# --------------------------------------------------------------------------- field selectors


def _get(obj: Object, path: str) -> Any:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _str(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _plain(path: str) -> Callable[[Object], str]:
    return lambda o: _str(_get(o, path))


# Per-kind field labels (pkg/registry/core/<kind>/strategy.go ...ToSelectableFields).
_FIELDS: dict[str, dict[str, Callable[[Object], str]]] = {
    "Pod": {f: _plain(f) for f in (
        "spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "status.phase", "status.podIP", "status.nominatedNodeName")}
    | {"spec.hostNetwork": lambda o: _str(bool(_get(o, "spec.hostNetwork")))},
    "Event": {f: _plain(f) for f in (
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "type", "reportingComponent")}
    | {"source": _plain("source.component")},
    "Node": {"spec.unschedulable": lambda o: _str(bool(_get(o, "spec.unschedulable")))},
    "Namespace": {"status.phase": _plain("status.phase")},
    "Service": {f: _plain(f) for f in ("spec.clusterIP", "spec.type")},
    "ReplicationController": {"status.replicas": _plain("status.replicas")},
    "Secret": {"type": _plain("type")},
}
_META_FIELDS: dict[str, Callable[[Object], str]] = {
    "metadata.name": _plain("metadata.name"),
    "metadata.namespace": _plain("metadata.namespace"),
}


def field_labels(kind: str) -> dict[str, Callable[[Object], str]]:
    return _META_FIELDS | _FIELDS.get(kind, {})


@dataclass(frozen=True, slots=True)
class FieldSelector:
    kind: str
    requirements: list[tuple[str, str, str]] = field(default_factory=list)
    """(field, operator, value) with operator ``=`` or ``!=``."""

    @property
    def empty(self) -> bool:
        return not self.requirements

    def matches(self, obj: Object) -> bool:
        labels = field_labels(self.kind)
        for fld, op, value in self.requirements:
            have = labels[fld](obj)
            if (have == value) != (op == "="):
                return False
        return True

    def value_for(self, fld: str) -> str | None:
        """The exact value required for ``fld`` (``metadata.name=x`` -> ``x``), if any."""
        for f, op, v in self.requirements:
            if f == fld and op == "=":
                return v
        return None

    def __str__(self) -> str:
        return ",".join(f"{f}{op}{_escape(v)}" for f, op, v in self.requirements)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def _split_terms(s: str) -> Iterable[str]:
    buf, escaped = "", False
    for ch in s:
        if escaped:
            buf += "\\" + ch
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            yield buf
            buf = ""
        else:
            buf += ch
    if escaped:
        buf += "\\"
    yield buf


def _unescape(v: str, term: str) -> str:
    out, i = "", 0
    while i < len(v):
        ch = v[i]
        if ch == "\\":
            if i + 1 >= len(v) or v[i + 1] not in "\\,=":
                nxt = v[i + 1] if i + 1 < len(v) else ""
                raise errors.BadRequest(f"invalid field selector: invalid escape sequence "
                                        f"'\\{nxt}' in '{term}'")
            out += v[i + 1]
            i += 2
            continue
        if ch in ",=":
            raise errors.BadRequest(f"invalid field selector: unescaped '{ch}' in '{term}'")
        out += ch
        i += 1
    return out


def parse_field_selector(s: str, *, kind: str) -> FieldSelector:
    """``"spec.nodeName=n1,status.phase!=Failed"``; an unknown field is a 400 BadRequest
    with Kubernetes' ``field label not supported: <field>`` text."""
    reqs: list[tuple[str, str, str]] = []
    labels = field_labels(kind)
    if s and s.strip():
        for term in _split_terms(s):
            if not term:
                continue
            fld, op, value = _split_term(term, s)
            if fld not in labels:
                raise errors.BadRequest(f"field label not supported: {fld}")
            reqs.append((fld, op, value))
    return FieldSelector(kind, reqs)


def _split_term(term: str, whole: str) -> tuple[str, str, str]:
    for op_text in ("!=", "==", "="):
        idx = _find_unescaped(term, op_text)
        if idx >= 0:
            value = _unescape(term[idx + len(op_text):], term)
            return term[:idx].strip(), "!=" if op_text == "!=" else "=", value
    raise errors.BadRequest(f"invalid selector: '{whole}'; can't understand '{term}'")


def _find_unescaped(term: str, op: str) -> int:
    i = 0
    while i < len(term):
        if term[i] == "\\":
            i += 2
            continue
        if term.startswith(op, i):
            return i
        i += 1
    return -1
