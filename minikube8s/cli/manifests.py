"""Reading ``-f FILE|DIR|-``: YAML or JSON, several documents per file, ``kind: List`` expanded.

``create``, ``apply``, ``replace`` and ``delete`` take the same ``-f`` sources as kubectl: a
file, a directory (its ``.yaml``, ``.yml`` and ``.json`` files in name order; ``-R`` descends),
or ``-`` for stdin. A YAML syntax error is reported as kubectl words it, naming the file and
line. Every object comes back with where it was read from, for error messages, and a YAML
object with its composed node, whose line marks let locate.py name the line of a field the
server refused. Documents go through api/decoding.py, so an alias bomb or a 10,000-deep
document in a manifest is an error, not an out-of-memory CLI. Pure input handling: which
resource an object is and its URL are session.py's business.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..api import decoding
from .errors import CLIError

Object = dict[str, Any]

EXTENSIONS = (".yaml", ".yml", ".json")

MAX_NODES = 2_000_000
MAX_BYTES = 256 * 1024 * 1024
"""A manifest's limits, aliases expanded: the CLI is the user's own process and a List of a
few thousand objects is fine, but not a document that expands to gigabytes."""


@dataclass(frozen=True)
class Manifest:
    obj: Object
    source: str
    """The file it came from (``STDIN`` for ``-``)."""
    node: yaml.Node | None = field(default=None, compare=False, repr=False)
    """The object's YAML node (line marks), when it was read from YAML."""

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")

    @property
    def name(self) -> str:
        md = self.obj.get("metadata")
        return str(md.get("name") or "") if isinstance(md, dict) else ""

    @property
    def namespace(self) -> str:
        md = self.obj.get("metadata")
        return str(md.get("namespace") or "") if isinstance(md, dict) else ""


def _yaml_error(source: str, e: yaml.YAMLError) -> CLIError:
    mark = getattr(e, "problem_mark", None)
    if isinstance(e, yaml.reader.ReaderError):
        # PyYAML's text for a control character spans lines; this is go-yaml's.
        problem = "control characters are not allowed"
    else:
        problem = " ".join((getattr(e, "problem", None) or str(e)).split())
    line = f"line {mark.line + 1}: " if mark is not None else ""
    # kubectl: error parsing F: error converting YAML to JSON: yaml: line N: <problem>
    return CLIError(f"error parsing {source}: error converting YAML to JSON: yaml: "
                    f"{line}{problem}")


def _json_documents(text: str, source: str) -> list[Any]:
    docs: list[Any] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return docs
        try:
            doc, pos = decoding.raw_decode_json(text, pos)
        except json.JSONDecodeError as e:
            raise CLIError(f"error parsing {source}: invalid JSON at line {e.lineno}, "
                           f"column {e.colno}: {e.msg}") from e
        except decoding.DecodeError as e:
            raise CLIError(f"error parsing {source}: {e}") from e
        docs.append(doc)


def _yaml_documents(text: str, source: str) -> list[tuple[yaml.Node | None, Any]]:
    try:
        return list(decoding.yaml_nodes(text, max_nodes=MAX_NODES, max_bytes=MAX_BYTES))
    except yaml.YAMLError as e:
        raise _yaml_error(source, e) from e
    except decoding.DecodeError as e:
        raise CLIError(f"error parsing {source}: {e}") from e


def parse(text: str, source: str) -> list[Object]:
    """Every non-empty document of one file or stream, Lists expanded."""
    return [m.obj for m in parse_manifests(text, source)]


def parse_manifests(text: str, source: str) -> list[Manifest]:
    """As ``parse``, each object with its source and, for YAML, its node."""
    stripped = text.lstrip()
    docs: list[tuple[yaml.Node | None, Any]]
    if stripped.startswith(("{", "[")):
        docs = [(None, d) for d in _json_documents(text, source)]
    else:
        docs = _yaml_documents(text, source)
    out: list[Manifest] = []
    for node, doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise CLIError(f"error validating \"{source}\": error validating data: the "
                           f"document is a {type(doc).__name__}, not an object")
        out.extend(_expand(doc, source, node))
    return out


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _expand(doc: Object, source: str, node: yaml.Node | None) -> Iterable[Manifest]:
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        items = _child(node, "items")
        nodes = items.value if isinstance(items, yaml.SequenceNode) else []
        for i, item in enumerate(doc["items"]):
            if isinstance(item, dict):
                yield from _expand(item, source, nodes[i] if i < len(nodes) else None)
        return
    missing = [f for f in ("apiVersion", "kind") if not doc.get(f)]
    if missing:
        raise CLIError(f"error validating \"{source}\": error validating data: "
                       f"[{', '.join(f + ' not set' for f in missing)}]")
    yield Manifest(doc, source, node)


def _files(path: Path, *, recursive: bool) -> list[Path]:
    if not path.is_dir():
        return [path]
    out: list[Path] = []
    for child in sorted(path.iterdir()):
        if child.is_dir():
            if recursive:
                out.extend(_files(child, recursive=True))
        elif child.suffix in EXTENSIONS:
            out.append(child)
    return out


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as e:
        raise CLIError(f"the path \"{path}\" does not exist") from e
    except (OSError, UnicodeDecodeError) as e:
        raise CLIError(f"error reading {path}: {e}") from e


def load(sources: list[str], *, recursive: bool = False, stdin: str | None = None
         ) -> list[Manifest]:
    """All objects named by ``-f`` arguments, in order. ``stdin`` is for tests."""
    if not sources:
        raise CLIError("must specify one of -f and -k")
    out: list[Manifest] = []
    for src in sources:
        if src == "-":
            text = stdin if stdin is not None else sys.stdin.read()
            out.extend(parse_manifests(text, "STDIN"))
            continue
        if "://" in src:
            raise CLIError(f"reading manifests from a URL is not supported: {src}")
        path = Path(src)
        if not path.exists():
            raise CLIError(f"the path \"{src}\" does not exist")
        files = _files(path, recursive=recursive)
        for f in files:
            out.extend(parse_manifests(_read(f), str(f)))
    if not out:
        raise CLIError("no objects passed to the command")
    return out
