"""``-o jsonpath=TEMPLATE``: the JSONPath dialect kubectl speaks (k8s.io/client-go/util/jsonpath).

A template is literal text with ``{...}`` actions: field paths (``{.metadata.name}``), indexes
and slices (``[0]``, ``[-1:]``, ``[*]``), ``..`` recursive descent, filters
(``[?(@.type=="Ready")]``), quoted literals (``{"\\n"}``) and ``{range EXPR}...{end}``.
Several results of one action print separated by spaces; strings print bare, everything else
as compact JSON; a missing key prints nothing (kubectl's ``--allow-missing-template-keys``
default). printers.py is the only caller.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import CLIError


@dataclass
class _Text:
    text: str


@dataclass
class _Expr:
    steps: list[tuple[str, Any]]


@dataclass
class _Range:
    expr: _Expr
    body: list[Any]


_FILTER = re.compile(r"^@([^=!<>~]*?)\s*(?:(==|!=|<=|>=|<|>|=~)\s*(.*))?$", re.S)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        body = text[1:-1]
        return body.encode("utf-8").decode("unicode_escape") if text[0] == '"' else body
    return text


def _parse_path(src: str, template: str) -> _Expr:
    """``.a.b[0]['c'][*]..d[?(@.x=="y")]`` into steps."""
    steps: list[tuple[str, Any]] = []
    i = 0
    src = src.strip()
    if src.startswith("$"):
        src = src[1:]
    if src == "@":
        return _Expr([])
    if src.startswith("@"):
        src = src[1:]
    while i < len(src):
        c = src[i]
        if src.startswith("..", i):
            j = i + 2
            m = re.match(r"[\w\-/]+|\*", src[j:])
            if not m:
                raise CLIError(f"error parsing jsonpath {template}: bad recursive descent")
            steps.append(("recurse", m.group(0)))
            i = j + len(m.group(0))
        elif c == ".":
            m = re.match(r"[\w\-/]+|\*", src[i + 1:])
            if not m:
                i += 1
                continue
            name = m.group(0)
            steps.append(("wild", None) if name == "*" else ("key", name))
            i += 1 + len(name)
        elif c == "[":
            depth, j = 0, i
            while j < len(src):
                if src[j] == "[":
                    depth += 1
                elif src[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j >= len(src):
                raise CLIError(f"error parsing jsonpath {template}: unterminated [")
            inner = src[i + 1:j].strip()
            steps.append(_bracket(inner, template))
            i = j + 1
        elif c.isspace():
            i += 1
        else:
            m = re.match(r"[\w\-/]+", src[i:])
            if not m:
                raise CLIError(f"error parsing jsonpath {template}: unexpected {c!r}")
            steps.append(("key", m.group(0)))
            i += len(m.group(0))
    return _Expr(steps)


def _bracket(inner: str, template: str) -> tuple[str, Any]:
    if inner == "*":
        return ("wild", None)
    if inner.startswith("?(") and inner.endswith(")"):
        m = _FILTER.match(inner[2:-1].strip())
        if not m:
            raise CLIError(f"error parsing jsonpath {template}: bad filter {inner}")
        path = _parse_path(m.group(1) or "", template)
        op = m.group(2) or ""
        value: Any = None
        if op:
            raw = (m.group(3) or "").strip()
            if raw[:1] in "'\"":
                value = _unquote(raw)
            else:
                try:
                    value = json.loads(raw)
                except ValueError:
                    value = raw
        return ("filter", (path, op, value))
    if inner[:1] in "'\"":
        return ("keys", [_unquote(k) for k in inner.split(",")])
    if ":" in inner:
        parts = [p.strip() for p in inner.split(":")]
        nums = [int(p) if p else None for p in parts] + [None, None]
        return ("slice", (nums[0], nums[1], nums[2]))
    try:
        return ("index", int(inner))
    except ValueError as e:
        raise CLIError(f"error parsing jsonpath {template}: bad index [{inner}]") from e


def parse(template: str) -> list[Any]:
    """The template as a list of _Text, _Expr and _Range nodes."""
    out: list[Any] = []
    stack: list[tuple[list[Any], _Range | None]] = []
    cur = out
    i = 0
    while i < len(template):
        j = template.find("{", i)
        if j < 0:
            cur.append(_Text(template[i:]))
            break
        if j > i:
            cur.append(_Text(template[i:j]))
        k = template.find("}", j)
        if k < 0:
            raise CLIError(f"error parsing jsonpath {template}: unclosed action")
        action = template[j + 1:k].strip()
        i = k + 1
        if action.startswith("range ") or action == "range":
            rng = _Range(_parse_path(action[5:], template), [])
            cur.append(rng)
            stack.append((cur, rng))
            cur = rng.body
        elif action == "end":
            if not stack:
                raise CLIError(f"error parsing jsonpath {template}: not in range, nothing to end")
            cur, _ = stack.pop()
        elif action[:1] in "'\"":
            cur.append(_Text(_unquote(action)))
        else:
            cur.append(_parse_path(action, template))
    if stack:
        raise CLIError(f"error parsing jsonpath {template}: unclosed range")
    return out


def _step(values: list[Any], step: tuple[str, Any]) -> list[Any]:
    kind, arg = step
    out: list[Any] = []
    for v in values:
        if kind == "key":
            if isinstance(v, dict) and arg in v:
                out.append(v[arg])
        elif kind == "keys":
            if isinstance(v, dict):
                out.extend(v[k] for k in arg if k in v)
        elif kind == "wild":
            if isinstance(v, dict):
                out.extend(v.values())
            elif isinstance(v, list):
                out.extend(v)
        elif kind == "index":
            if isinstance(v, list) and -len(v) <= arg < len(v):
                out.append(v[arg])
        elif kind == "slice":
            if isinstance(v, list):
                out.extend(v[slice(*arg)])
        elif kind == "recurse":
            out.extend(_recurse(v, arg))
        elif kind == "filter":
            path, op, want = arg
            items = v if isinstance(v, list) else [v]
            out.extend(x for x in items if _matches(x, path, op, want))
    return out


def _recurse(v: Any, name: str) -> list[Any]:
    out: list[Any] = []
    if isinstance(v, dict):
        if name == "*":
            out.extend(v.values())
        elif name in v:
            out.append(v[name])
        for child in v.values():
            out.extend(_recurse(child, name))
    elif isinstance(v, list):
        for child in v:
            out.extend(_recurse(child, name))
    return out


def _matches(x: Any, path: _Expr, op: str, want: Any) -> bool:
    got = evaluate(path, x)
    if not op:
        return bool(got)
    if not got:
        return False
    value = got[0]
    try:
        if op == "==":
            return bool(value == want or str(value) == str(want))
        if op == "!=":
            return bool(value != want and str(value) != str(want))
        if op == "=~":
            return re.search(str(want), str(value)) is not None
        a, b = float(value), float(want)
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
    except (TypeError, ValueError):
        return False


def evaluate(expr: _Expr, data: Any) -> list[Any]:
    values = [data]
    for step in expr.steps:
        values = _step(values, step)
    return values


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, separators=(",", ":"))


def _render(nodes: list[Any], data: Any, out: list[str]) -> None:
    for node in nodes:
        if isinstance(node, _Text):
            out.append(node.text)
        elif isinstance(node, _Range):
            for item in evaluate(node.expr, data):
                elements = item if isinstance(item, list) else [item]
                for el in elements:
                    _render(node.body, el, out)
        else:
            out.append(" ".join(_text(v) for v in evaluate(node, data)))


def render(template: str, data: Any) -> str:
    out: list[str] = []
    _render(parse(template), data, out)
    return "".join(out)
