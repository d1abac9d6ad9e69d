"""Property tests for label and field selectors (minikube8s/api/selectors.py).

Arbitrary text may only ever raise ``errors.BadRequest`` (which the API answers as a 400);
generated valid selectors survive parse -> str -> parse unchanged and select exactly the label
sets a small reference model of Kubernetes' semantics (apimachinery/pkg/labels) selects.
"""

from __future__ import annotations

import re
import string

from hypothesis import assume, given
from hypothesis import strategies as st

from minikube8s.api import errors
from minikube8s.api.selectors import (
    Requirement,
    field_labels,
    parse_field_selector,
    parse_label_selector,
)
from tests.fuzz.profiles import fuzz

# -- generators -----------------------------------------------------------------------------

_ALNUM = string.ascii_letters + string.digits
_SELECTOR_CHARS = "ab=!(),<> \t-_./0123456789xyz" + "inotn"
_name_body = st.text(alphabet=_ALNUM + "-_.", max_size=8)


@st.composite
def label_names(draw: st.DrawFn) -> str:
    """A qualified-name part: alphanumeric ends, ``-_.`` inside, at most 63 chars."""
    first = draw(st.sampled_from(_ALNUM))
    body = draw(_name_body)
    last = draw(st.sampled_from(_ALNUM))
    return (first + body + last) if body or draw(st.booleans()) else first


@st.composite
def label_keys(draw: st.DrawFn) -> str:
    name = draw(label_names())
    if draw(st.booleans()):
        return name
    prefix = draw(st.lists(st.text(alphabet=string.ascii_lowercase + string.digits,
                                   min_size=1, max_size=6), min_size=1, max_size=3))
    return ".".join(prefix) + "/" + name


label_values = st.one_of(st.just(""), label_names())
small_ints = st.integers(min_value=-10**6, max_value=10**6)


@st.composite
def requirements(draw: st.DrawFn, keys: st.SearchStrategy[str] = label_keys()
                 ) -> tuple[str, str, tuple[str, ...]]:
    key = draw(keys)
    op = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!", "gt", "lt"]))
    if op in ("exists", "!"):
        return key, op, ()
    if op in ("gt", "lt"):
        return key, op, (str(draw(small_ints)),)
    if op in ("in", "notin"):
        vals = draw(st.lists(label_values, min_size=1, max_size=4, unique=True))
        return key, op, tuple(vals)
    return key, op, (draw(label_values),)


def render(req: tuple[str, str, tuple[str, ...]]) -> str:
    key, op, vals = req
    if op == "exists":
        return key
    if op == "!":
        return "!" + key
    if op in ("in", "notin"):
        return f"{key} {op} ({', '.join(vals)})"
    return key + {"gt": ">", "lt": "<"}.get(op, op) + vals[0]


def model_matches(req: tuple[str, str, tuple[str, ...]], labels: dict[str, str]) -> bool:
    """Kubernetes' Requirement.Matches, written out independently of the module."""
    key, op, vals = req
    present = key in labels
    if op in ("=", "==", "in"):
        return present and labels[key] in vals
    if op in ("!=", "notin"):
        return not present or labels[key] not in vals
    if op == "exists":
        return present
    if op == "!":
        return not present
    if not present:
        return False
    try:
        have = int(labels[key])
    except ValueError:
        return False
    return have > int(vals[0]) if op == "gt" else have < int(vals[0])


# -- label selectors ------------------------------------------------------------------------


@given(st.text(max_size=60))
@fuzz(300)
def test_arbitrary_text_only_bad_request(s: str) -> None:
    try:
        sel = parse_label_selector(s)
    except errors.BadRequest as e:
        assert e.code == 400 and e.to_status()["code"] == 400
        return
    assert parse_label_selector(str(sel)) == sel


@given(st.text(alphabet=_SELECTOR_CHARS, max_size=40))
@fuzz(400)
def test_selector_shaped_text_only_bad_request(s: str) -> None:
    try:
        sel = parse_label_selector(s)
    except errors.BadRequest:
        return
    assert parse_label_selector(str(sel)) == sel


_KEYS = st.sampled_from(["a", "b", "app", "example.com/tier", "x1"])


@given(reqs=st.lists(requirements(_KEYS), min_size=0, max_size=5),
       labels=st.dictionaries(_KEYS, st.one_of(label_values, small_ints.map(str)), max_size=5),
       sep=st.sampled_from([",", ", ", " ,"]))
@fuzz(400)
def test_valid_selectors_round_trip_and_match_like_kubernetes(
        reqs: list[tuple[str, str, tuple[str, ...]]], labels: dict[str, str], sep: str) -> None:
    text = sep.join(render(r) for r in reqs)
    sel = parse_label_selector(text)
    again = parse_label_selector(str(sel))
    assert again == sel
    assert str(again) == str(sel)
    want = all(model_matches(r, labels) for r in reqs)
    assert sel.matches(labels) is want, (text, labels)


_GO_INT = re.compile(r"[+-]?[0-9]+")


def go_parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 10, 64): ASCII digits, one optional sign, int64 range."""
    if not _GO_INT.fullmatch(s):
        return None
    n = int(s)
    return n if -(2**63) <= n < 2**63 else None


_INTISH = st.one_of(small_ints.map(str), st.text(alphabet="+-0123456789_ \u0663\uff11",
                                                 max_size=6),
                    st.integers().map(str), st.text(max_size=6))


@given(key=label_keys(), value=_INTISH)
@fuzz(300)
def test_numeric_operators_take_only_go_integers(key: str, value: str) -> None:
    """``k>v`` parses only when Go's strconv.ParseInt(v, 10, 64) would accept v."""
    assume(value and not any(c in value for c in " \t\r\n=!(),<>"))
    try:
        sel = parse_label_selector(f"{key}>{value}")
    except errors.BadRequest:
        assert go_parse_int(value) is None, value
        return
    assert go_parse_int(value) is not None, value
    assert sel.requirements == (Requirement(key, "gt", (value,)),)


@given(n=st.integers(min_value=-10**4, max_value=10**4), label=_INTISH)
@fuzz(300)
def test_numeric_match_reads_labels_as_go_integers(n: int, label: str) -> None:
    have = go_parse_int(label)
    want = have is not None and have > n
    assert parse_label_selector(f"a>{n}").matches({"a": label}) is want, label


# -- field selectors ------------------------------------------------------------------------

_KINDS = ["Pod", "Event", "Node", "Namespace", "Service", "ReplicationController", "Secret",
          "Endpoints"]


@given(s=st.text(max_size=60), kind=st.sampled_from(_KINDS))
@fuzz(300)
def test_field_selector_arbitrary_text_only_bad_request(s: str, kind: str) -> None:
    try:
        sel = parse_field_selector(s, kind=kind)
    except errors.BadRequest as e:
        assert e.code == 400
        return
    assert parse_field_selector(str(sel), kind=kind) == sel


@st.composite
def field_selectors(draw: st.DrawFn) -> tuple[str, list[tuple[str, str, str]]]:
    kind = draw(st.sampled_from(_KINDS))
    fields = sorted(field_labels(kind))
    reqs = draw(st.lists(st.tuples(st.sampled_from(fields), st.sampled_from(["=", "!="]),
                                   st.text(alphabet=_ALNUM + ",=\\-. ", max_size=8)),
                         max_size=4))
    return kind, reqs


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


@given(field_selectors(), st.dictionaries(st.text(alphabet="ab", max_size=2), st.text(
    max_size=3), max_size=2))
@fuzz(300)
def test_field_selectors_round_trip_and_match(
        gen: tuple[str, list[tuple[str, str, str]]], _junk: dict[str, str]) -> None:
    kind, reqs = gen
    text = ",".join(f"{f}{op}{_esc(v)}" for f, op, v in reqs)
    sel = parse_field_selector(text, kind=kind)
    assert sel.requirements == [(f, op, v) for f, op, v in reqs if f or op or v]
    assert parse_field_selector(str(sel), kind=kind) == sel
    # An object carrying exactly the wanted values matches every "=" term.
    obj: dict[str, object] = {}
    for fld, op, value in reqs:
        if op != "=" or fld in ("spec.hostNetwork", "spec.unschedulable", "source"):
            continue
        cur = obj
        parts = fld.split(".")
        for p in parts[:-1]:
            nxt = cur.setdefault(p, {})
            assert isinstance(nxt, dict)
            cur = nxt
        cur[parts[-1]] = value
    only_eq = [r for r in reqs if r[1] == "="
               and r[0] not in ("spec.hostNetwork", "spec.unschedulable", "source")]
    consistent = all(v == dict((f, v2) for f, _, v2 in only_eq)[f] for f, _, v in only_eq)
    if consistent and len(only_eq) == len(reqs):
        assert sel.matches(obj)
