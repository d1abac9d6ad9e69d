"""selectors.py: label selectors (Kubernetes syntax and errors) and field selectors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minikube8s.api import errors
from minikube8s.api.selectors import (
    format_match_labels,
    parse_field_selector,
    parse_label_selector,
    selector_from_label_selector_object,
    selector_from_match_labels,
)


@pytest.mark.parametrize(("sel", "labels", "want"), [
    ("", {}, True),
    ("a=b", {"a": "b"}, True),
    ("a==b", {"a": "b"}, True),
    ("a=b", {"a": "c"}, False),
    ("a=b", {}, False),
    ("a!=b", {}, True),
    ("a!=b", {"a": "b"}, False),
    ("a!=b", {"a": "c"}, True),
    ("env in (prod, qa)", {"env": "qa"}, True),
    ("env in (prod,qa)", {"env": "dev"}, False),
    ("env in (prod,qa)", {}, False),
    ("env notin (prod,qa)", {}, True),
    ("env notin (prod,qa)", {"env": "qa"}, False),
    ("canary", {"canary": ""}, True),
    ("canary", {}, False),
    ("!canary", {}, True),
    ("!canary", {"canary": "yes"}, False),
    ("a=b,c=d", {"a": "b", "c": "d"}, True),
    ("a=b,c=d", {"a": "b"}, False),
    ("x>3", {"x": "4"}, True),
    ("x>3", {"x": "3"}, False),
    ("x<3", {"x": "2"}, True),
    ("x<3", {"x": "z"}, False),
    ("a=", {"a": ""}, True),
    ("a in (in,notin)", {"a": "notin"}, True),
    ("example.com/app=web", {"example.com/app": "web"}, True),
    ("  a = b  ,  c  ", {"a": "b", "c": "1"}, True),
])
def test_matches(sel: str, labels: dict[str, str], want: bool) -> None:
    assert parse_label_selector(sel).matches(labels) is want


@pytest.mark.parametrize(("sel", "message"), [
    ("a=b=c", "found '=', expected: ',' or 'end of string'"),
    ("a in x", "unable to parse requirement: found 'x' expected: '('"),
    ("a,", "found '', expected: identifier after ','"),
    ("=", "found '=', expected: !, identifier, or 'end of string'"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
    ("x>a", "for 'Gt', 'Lt' operators, the value must be an integer"),
    ("a=-x", 'values[0][a]: Invalid value: "-x": a valid label must be an empty string'),
    ("a/b/c=d", "a qualified name must consist of alphanumeric characters"),
    ("a b=c", "found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("_x=1", 'unable to parse requirement: <nil>: Invalid value: "_x": name part must'),
    ("-a=b", "name part must consist of alphanumeric characters"),
])
def test_errors(sel: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as ei:
        parse_label_selector(sel)
    assert message in ei.value.message
    assert ei.value.to_status()["code"] == 400


def test_str_roundtrip() -> None:
    s = parse_label_selector("b in (y,x),a=1,!c,d")
    assert str(s) == "a=1,b in (x,y),!c,d"
    assert parse_label_selector(str(s)) == s


def test_empty() -> None:
    assert parse_label_selector("").empty
    assert selector_from_match_labels({}).empty
    assert not parse_label_selector("a").empty


def test_match_labels() -> None:
    s = selector_from_match_labels({"name": "nginx", "tier": "web"})
    assert s.matches({"name": "nginx", "tier": "web", "x": "y"})
    assert not s.matches({"name": "nginx"})
    assert format_match_labels({"tier": "web", "name": "nginx"}) == "name=nginx,tier=web"


def test_label_selector_object() -> None:
    s = selector_from_label_selector_object({
        "matchLabels": {"app": "a"},
        "matchExpressions": [
            {"key": "env", "operator": "In", "values": ["p", "q"]},
            {"key": "x", "operator": "DoesNotExist"},
            {"key": "y", "operator": "Exists"},
            {"key": "z", "operator": "NotIn", "values": ["1"]},
        ]})
    assert s.matches({"app": "a", "env": "p", "y": ""})
    assert not s.matches({"app": "a", "env": "p", "y": "", "x": ""})
    assert not s.matches({"app": "a", "env": "p"})
    assert not s.matches({"app": "a", "env": "p", "y": "", "z": "1"})
    nothing = selector_from_label_selector_object(None)
    assert not nothing.matches({}) and not nothing.empty
    assert selector_from_label_selector_object({}).matches({"any": "thing"})


@pytest.mark.parametrize("expr", [
    {"key": "a", "operator": "Bogus"},
    {"key": "a", "operator": "In", "values": []},
    {"key": "a", "operator": "Exists", "values": ["x"]},
    {"key": "a b", "operator": "Exists"},
])
def test_label_selector_object_errors(expr: dict) -> None:
    with pytest.raises(errors.BadRequest):
        selector_from_label_selector_object({"matchExpressions": [expr]})


@given(st.text(alphabet="ab=!(),<> in notin-_./", max_size=30))
def test_parser_never_crashes(s: str) -> None:
    try:
        sel = parse_label_selector(s)
    except errors.BadRequest:
        return
    assert parse_label_selector(str(sel)) == sel


POD = {"kind": "Pod", "metadata": {"name": "p1", "namespace": "default"},
       "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler"},
       "status": {"phase": "Running", "podIP": "172.16.0.5"}}


@pytest.mark.parametrize(("sel", "want"), [
    ("", True),
    ("metadata.name=p1", True),
    ("metadata.name==p1", True),
    ("metadata.name!=p1", False),
    ("metadata.namespace=default,spec.nodeName=n1", True),
    ("spec.nodeName=", False),
    ("spec.nodeName!=", True),
    ("status.phase=Running,status.podIP=172.16.0.5", True),
    ("spec.restartPolicy=Never", False),
    ("spec.schedulerName=default-scheduler", True),
])
def test_field_selector_pod(sel: str, want: bool) -> None:
    fs = parse_field_selector(sel, kind="Pod")
    assert fs.matches(POD) is want


def test_field_selector_unscheduled() -> None:
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": {}}
    assert parse_field_selector("spec.nodeName=", kind="Pod").matches(pod)


def test_field_selector_requirements_and_value_for() -> None:
    fs = parse_field_selector("metadata.name=x,status.phase!=Failed", kind="Pod")
    assert fs.requirements == [("metadata.name", "=", "x"), ("status.phase", "!=", "Failed")]
    assert fs.value_for("metadata.name") == "x"
    assert fs.value_for("status.phase") is None


def test_field_selector_event() -> None:
    ev = {"kind": "Event", "metadata": {"name": "e"},
          "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default", "uid": "u"},
          "reason": "Scheduled", "type": "Normal", "source": {"component": "scheduler"}}
    sel = ("involvedObject.name=p1,involvedObject.namespace=default,involvedObject.uid=u,"
           "involvedObject.kind=Pod,reason=Scheduled,type=Normal,source=scheduler")
    assert parse_field_selector(sel, kind="Event").matches(ev)
    assert not parse_field_selector("involvedObject.fieldPath=x", kind="Event").matches(ev)


def test_field_selector_node_and_namespace() -> None:
    node = {"kind": "Node", "metadata": {"name": "n"}, "spec": {}}
    assert parse_field_selector("spec.unschedulable=false", kind="Node").matches(node)
    node["spec"]["unschedulable"] = True
    assert parse_field_selector("spec.unschedulable=true", kind="Node").matches(node)
    ns = {"kind": "Namespace", "metadata": {"name": "a"}, "status": {"phase": "Active"}}
    assert parse_field_selector("status.phase=Active", kind="Namespace").matches(ns)


def test_field_selector_escaping() -> None:
    fs = parse_field_selector(r"metadata.name=a\,b", kind="Pod")
    assert fs.requirements == [("metadata.name", "=", "a,b")]
    assert str(fs) == r"metadata.name=a\,b"


@pytest.mark.parametrize(("sel", "kind", "message"), [
    ("foo=bar", "Pod", "field label not supported: foo"),
    ("spec.nodeName=x", "Service", "field label not supported: spec.nodeName"),
    ("metadata.name", "Pod", "invalid selector: 'metadata.name'; can't understand"),
    (r"metadata.name=a\x", "Pod", "invalid escape sequence"),
])
def test_field_selector_errors(sel: str, kind: str, message: str) -> None:
    with pytest.raises(errors.BadRequest) as ei:
        parse_field_selector(sel, kind=kind)
    assert message in ei.value.message


@given(st.text(alphabet="metadname.=!,\\x ", max_size=30))
def test_field_parser_never_crashes(s: str) -> None:
    try:
        parse_field_selector(s, kind="Pod")
    except errors.BadRequest:
        pass
