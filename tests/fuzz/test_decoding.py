"""Arbitrary bytes and odd YAML/JSON through every body decoding path: server and CLI.

Server side (roles/apiserver/params.py and the handlers after it): raw bytes, near-JSON and
YAML that uses what JSON cannot say (timestamps, binary, sets, anchors, non-string keys) are
POSTed, PUT and PATCHed under every content type the API takes (JSON, YAML, merge,
strategic merge, JSON patch, apply, protobuf, none, unknown); the answer is a 2xx or a 4xx
Status, never a 5xx. test_manifests.py feeds the same texts to the CLI's ``-f`` reader.

Size limits, deep nesting and YAML bombs are tests/security's (admission hardening); the
inputs here stay small and shallow.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import objects
from tests.fuzz.harness import (
    APPLY,
    JSON,
    JSON_PATCH,
    MERGE,
    PROTOBUF,
    STRATEGIC,
    YAML,
    Server,
    check_answer,
    fuzz_server,
)
from tests.fuzz.profiles import fuzz

__all__ = ["fuzz_server"]

CONTENT_TYPES = [JSON, YAML, MERGE, STRATEGIC, JSON_PATCH, APPLY, PROTOBUF, "", "text/plain",
                 "application/x-yaml", "application/foo+json", "image/png", "application/json;"
                 " charset=latin-1", "*/*", "application/yaml; x=\"y\""]

POD = objects.VALID["pods"]
PODS = "/api/v1/namespaces/default/pods"

# -- YAML that JSON cannot say --------------------------------------------------------------

_YAML_SCALARS = ["2001-12-14", "0000-00-00", "2001-13-45 10:00:00",
                 "2001-12-14t21:59:43.10-05:00", "!!binary aGVsbG8=",
                 "!!set {a, b}", "!!omap [a: 1]", "!!pairs [a: 1]", "!!float .nan", ".inf",
                 "-.inf", "0x1F", "0o17", "1_000", "~", "null", "yes", "on", "!!str 1",
                 "!!int '3'", "'unterminated", "\"\\x00\"", "&a x", "*a", "*undefined",
                 "!custom x", "!!python/object:os.system x", "|\n  block", ">-\n  folded",
                 "? a", "{a: [b, {c: d}]}", "[1, 2, [3]]", "1e999", "123456789012345678901234"]

_YAML_KEYS = ["name", "metadata", "spec", "1", "2001-01-01", "~", "null", "true", "[a]",
              "{a: b}", "? [a, b]", "<<", "''", "!!binary aGk=", "1.5", ".nan"]


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    """A Pod manifest with odd YAML spliced into it at a few places."""
    lines = ["apiVersion: v1", "kind: Pod", "metadata:", "  name: y1", "  labels:",
             "    app: web", "spec:", "  containers:", "  - name: c", "    image: nginx"]
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        i = draw(st.integers(min_value=0, max_value=len(lines)))
        indent = " " * draw(st.sampled_from([0, 2, 4, 6]))
        key = draw(st.sampled_from(_YAML_KEYS))
        value = draw(st.sampled_from(_YAML_SCALARS))
        lines.insert(i, f"{indent}{key}: {value}")
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["---", "--- !!map", "...", "%YAML 1.1", "---\n- a",
                                           "--- 3", "---\nkind: List\nitems: [1, {a: b}]"])))
    return "\n".join(lines) + "\n"


_near_json = st.builds(
    lambda base, cut, junk: base[:cut] + junk + base[cut:],
    st.just(json.dumps(POD)), st.integers(min_value=0, max_value=len(json.dumps(POD))),
    st.sampled_from(["", "\x00", "\\", "\"", "NaN", "Infinity", "-Infinity", "{", "}", "]",
                     ",", ":", "\ud800".encode("utf-8", "surrogatepass").decode("latin-1"),
                     "\\ud800", "\\u0000", "1e400", "// c", "\ufeff"]))

texts = st.one_of(st.text(max_size=200), yaml_documents(), _near_json,
                  st.sampled_from(["[]", "null", "1", "\"s\"", "true", "{}", "[{}]",
                                   '{"kind": "List", "items": "x"}', "[1, {}]",
                                   '{"apiVersion": 1, "kind": ["Pod"]}']))
bodies = st.one_of(st.binary(max_size=300), texts.map(lambda t: t.encode("utf-8",
                                                                          "surrogatepass")))


# -- server ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(fuzz_server: Server) -> Server:
    ans = fuzz_server.json("POST", PODS, {**POD, "metadata": {"name": "target"}})
    assert ans.status == 201, ans.body
    return fuzz_server


@given(body=bodies, ctype=st.sampled_from(CONTENT_TYPES),
       method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE"]),
       where=st.sampled_from(["", "/target", "/target/status", "/target/binding",
                              "/target/eviction"]))
@fuzz(400)
def test_any_body_any_content_type(server: Server, body: bytes, ctype: str, method: str,
                                   where: str) -> None:
    check_answer(server.request(method, PODS + where, body, ctype))


@given(doc=yaml_documents(), method=st.sampled_from(["POST", "PUT", "PATCH"]),
       ctype=st.sampled_from([YAML, APPLY, "application/x-yaml"]))
@fuzz(250)
def test_yaml_beyond_json(server: Server, doc: str, method: str, ctype: str) -> None:
    path = PODS if method == "POST" else f"{PODS}/target"
    if ctype == APPLY:
        path = f"{PODS}/target?fieldManager=fuzz" if method != "POST" else path
    check_answer(server.request(method, path, doc.encode(), ctype))


_json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
                                                                 allow_infinity=False),
              st.text(max_size=10)),
    lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=6), c,
                                                                  max_size=3)),
    max_leaves=10)


@given(value=_json_values, ctype=st.sampled_from([JSON, MERGE, STRATEGIC, JSON_PATCH]),
       method=st.sampled_from(["POST", "PUT", "PATCH"]))
@fuzz(250)
def test_any_json_value(server: Server, value: Any, ctype: str, method: str) -> None:
    path = PODS if method == "POST" else f"{PODS}/target"
    check_answer(server.request(method, path, json.dumps(value).encode(), ctype))
