"""Output: the server's Tables laid out as kubectl does, and -o yaml|json|name|jsonpath.

``get`` asks the API server for ``meta.k8s.io/v1`` Tables (roles/apiserver/tables.py makes
them), so the columns and cells are the same ones real kubectl prints. This module only lays
them out the way kubectl's printers do: Go's text/tabwriter with minimum width 6 and padding 3
(so columns are separated by at least three spaces, left-aligned, the last one unpadded),
upper-case headers, ``priority: 1`` columns only with ``-o wide``, a NAMESPACE column first for
``-A``, a LABELS column last for ``--show-labels``, and ``kind/name`` in the NAME column when
several kinds are printed together. Colour is used only when writing to a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

import yaml

from . import jsonpath
from .errors import CLIError

Object = dict[str, Any]

MIN_WIDTH = 6
PADDING = 3

OUTPUT_FORMATS = ("wide", "yaml", "json", "name", "jsonpath=...", "jsonpath-file=...",
                  "custom-columns=...")


def use_colour(stream: TextIO) -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, code: str, stream: TextIO) -> str:
    return f"\x1b[{code}m{text}\x1b[0m" if use_colour(stream) else text


def paint_error(line: str, stream: TextIO) -> str:
    if line.startswith(("error:", "Error from server")):
        head, sep, rest = line.partition(":")
        if line.startswith("Error from server (") and "):" in line:
            head, _, rest = line.partition("):")
            head, sep = head + ")", ":"
        return paint(head + sep, "31", stream) + rest
    return line


# ----------------------------------------------------------------------------- tabwriter


class TabWriter:
    """text/tabwriter as kubectl configures it; widths are remembered across flushes (-w)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.widths: list[int] = []
        self.rows: list[list[str]] = []

    def add(self, cells: list[str]) -> None:
        self.rows.append(cells)

    def flush(self) -> None:
        for row in self.rows:
            for i, cell in enumerate(row[:-1]):
                w = max(MIN_WIDTH, len(cell) + PADDING)
                if i >= len(self.widths):
                    self.widths.append(w)
                elif w > self.widths[i]:
                    self.widths[i] = w
        for row in self.rows:
            line = "".join(cell.ljust(self.widths[i]) for i, cell in enumerate(row[:-1]))
            self.out.write(line + (row[-1] if row else "") + "\n")
        self.rows = []
        self.out.flush()


# ----------------------------------------------------------------------------- tables


@dataclass
class TableOptions:
    wide: bool = False
    show_labels: bool = False
    with_namespace: bool = False
    with_kind: str = ""
    """Lower-case kind (``replicationcontroller``) to prefix names with, or empty."""
    no_headers: bool = False
    label_columns: list[str] = field(default_factory=list)


def kind_prefix(kind: str, group: str = "") -> str:
    """``pod``, ``replicationcontroller``, ``lease.coordination.k8s.io`` (kubectl's GroupKind)."""
    return f"{kind.lower()}.{group}" if group else kind.lower()


def _visible(columns: list[Object], wide: bool) -> list[int]:
    return [i for i, c in enumerate(columns) if wide or int(c.get("priority") or 0) == 0]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    for sep in ("\n", "\r", "\f"):
        # kubectl truncates a cell at its first line break
        if sep in text:
            text = text.split(sep, 1)[0] + "..."
    return text


def _meta(row: Object) -> Object:
    obj = row.get("object")
    md = obj.get("metadata") if isinstance(obj, dict) else None
    return md if isinstance(md, dict) else {}


def format_labels(labels: Any) -> str:
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def table_header(table: Object, opts: TableOptions) -> list[str]:
    columns = table.get("columnDefinitions") or []
    head = [str(columns[i].get("name", "")).upper() for i in _visible(columns, opts.wide)]
    if opts.with_namespace:
        head.insert(0, "NAMESPACE")
    head.extend(c.upper() for c in opts.label_columns)
    if opts.show_labels:
        head.append("LABELS")
    return head


def table_rows(table: Object, opts: TableOptions) -> list[list[str]]:
    columns = table.get("columnDefinitions") or []
    visible = _visible(columns, opts.wide)
    out: list[list[str]] = []
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        line = [_cell(cells[i]) if i < len(cells) else "" for i in visible]
        if line and opts.with_kind:
            line[0] = f"{opts.with_kind}/{line[0]}"
        md = _meta(row)
        if opts.with_namespace:
            line.insert(0, str(md.get("namespace") or ""))
        raw_labels = md.get("labels")
        labels: Object = raw_labels if isinstance(raw_labels, dict) else {}
        line.extend(str(labels.get(k, "")) for k in opts.label_columns)
        if opts.show_labels:
            line.append(format_labels(labels))
        out.append(line)
    return out


def print_table(table: Object, opts: TableOptions, writer: TabWriter) -> None:
    if not opts.no_headers:
        writer.add(table_header(table, opts))
    for line in table_rows(table, opts):
        writer.add(line)
    writer.flush()


# ----------------------------------------------------------------------------- objects


def as_list(objects: list[Object]) -> Object:
    return {"apiVersion": "v1", "items": objects, "kind": "List",
            "metadata": {"resourceVersion": ""}}


class _Dumper(yaml.SafeDumper):
    """kubectl's YAML (sigs.k8s.io/yaml over go-yaml): keys sorted, block style."""


_STR_TAG = "tag:yaml.org,2002:str"


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # go-yaml's choice: multi-line strings as block literals; strings that would read back as
    # something else ("7", "true", "", a timestamp) in double quotes; the rest plain when
    # possible, else single-quoted (the emitter decides, as go-yaml's does).
    if "\n" in data:
        return dumper.represent_scalar(_STR_TAG, data, style="|")
    if dumper.resolve(yaml.ScalarNode, data, (True, False)) != _STR_TAG:
        return dumper.represent_scalar(_STR_TAG, data, style='"')
    return dumper.represent_scalar(_STR_TAG, data)


_Dumper.add_representer(str, _str_presenter)


def to_yaml(obj: Any) -> str:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                     allow_unicode=True, width=1 << 20)


def to_json(obj: Any) -> str:
    # Go marshals kubectl's unstructured maps with their keys sorted.
    return json.dumps(obj, indent=4, ensure_ascii=False, sort_keys=True) + "\n"


def name_of(obj: Object) -> str:
    api_version = str(obj.get("apiVersion") or "")
    group = api_version.split("/", 1)[0] if "/" in api_version else ""
    raw = obj.get("metadata")
    md: Object = raw if isinstance(raw, dict) else {}
    return f"{kind_prefix(str(obj.get('kind') or ''), group)}/{md.get('name', '')}"


def check_format(output: str) -> None:
    base = output.split("=", 1)[0]
    if output and base not in ("wide", "yaml", "json", "name", "jsonpath", "jsonpath-file",
                               "custom-columns"):
        raise CLIError(f"unable to match a printer suitable for the output format \"{output}\","
                       f" allowed formats are: {','.join(OUTPUT_FORMATS)}")
    if base == "custom-columns":
        _columns(output)


def _columns(output: str) -> list[tuple[str, str]]:
    """``custom-columns=NAME:.metadata.name,IMAGE:.spec.containers[*].image``."""
    spec = output.partition("=")[2]
    cols: list[tuple[str, str]] = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header or not path:
            raise CLIError(f"unexpected custom-columns spec: {part}, expected <header>:<json-path-"
                           f"expr>")
        path = path.strip()
        if path.startswith("{") and path.endswith("}"):
            path = path[1:-1]
        if not path.startswith("."):
            path = "." + path
        cols.append((header, "{" + path + "}"))
    return cols


def _go_value(value: Any) -> str:
    # kubectl prints each value with Go's %v
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_value(v)}" for k, v in sorted(value.items())) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def print_custom_columns(objects: list[Object], output: str, out: TextIO, *,
                         no_headers: bool = False) -> None:
    cols = _columns(output)
    writer = TabWriter(out)
    if not no_headers:
        writer.add([h for h, _ in cols])
    for obj in objects:
        row = []
        for _, template in cols:
            values = jsonpath.evaluate(jsonpath.parse(template)[0], obj)
            row.append(",".join(_go_value(v) for v in values) if values else "<none>")
        writer.add(row)
    writer.flush()


def _template(output: str) -> str:
    kind, _, arg = output.partition("=")
    if kind == "jsonpath-file":
        try:
            with open(arg, encoding="utf-8") as f:
                return f.read()
        except OSError as e:
            raise CLIError(f"error reading template {arg}: {e.strerror}") from e
    if not arg:
        raise CLIError("template format specified but no template given")
    return arg


def print_objects(objects: list[Object], output: str, out: TextIO, *, single: bool,
                  no_headers: bool = False) -> None:
    """-o yaml|json|name|jsonpath|custom-columns for objects already fetched as JSON.

    ``single``: one named object was asked for, so it prints bare instead of inside a List.
    """
    if output.startswith("custom-columns="):
        print_custom_columns(objects, output, out, no_headers=no_headers)
        return
    doc: Any = objects[0] if single and len(objects) == 1 else as_list(objects)
    if output == "yaml":
        out.write(to_yaml(doc))
    elif output == "json":
        out.write(to_json(doc))
    elif output == "name":
        for obj in objects:
            out.write(name_of(obj) + "\n")
    elif output.startswith("jsonpath"):
        out.write(jsonpath.render(_template(output), doc))
    else:
        raise CLIError(f"unable to match a printer suitable for the output format \"{output}\"")
    out.flush()


def write_lines(lines: Iterable[str], out: TextIO | None = None) -> None:
    stream = out or sys.stdout
    for line in lines:
        stream.write(line + "\n")
    stream.flush()
