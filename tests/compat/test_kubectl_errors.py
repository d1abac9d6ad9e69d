"""kubectl's error output, which must read as it does against Kubernetes: kubectl builds it
from the Status reason, details.kind/name and causes (cmd/util/helpers.go checkErr)."""

from __future__ import annotations

import json

from .conftest import MANIFESTS
from .kubectl import Kubectl


def test_not_found(kubectl: Kubectl, ns: str) -> None:
    res = kubectl.fail("get", "-n", ns, "pods", "p9")
    assert res.err.strip() == 'Error from server (NotFound): pods "p9" not found'
    res = kubectl.fail("get", "-n", ns, "rc", "nope")
    assert res.err.strip() == \
        'Error from server (NotFound): replicationcontrollers "nope" not found'
    res = kubectl.fail("delete", "-n", ns, "svc", "gone")
    assert res.err.strip() == 'Error from server (NotFound): services "gone" not found'
    res = kubectl.fail("get", "namespaces", "no-such-ns")
    assert res.err.strip() == 'Error from server (NotFound): namespaces "no-such-ns" not found'


def test_already_exists(kubectl: Kubectl, ns: str) -> None:
    f = str(MANIFESTS / "pod.yaml")
    kubectl("create", "-n", ns, "-f", f)
    res = kubectl.fail("create", "-n", ns, "-f", f)
    assert res.err.strip() == (f'Error from server (AlreadyExists): error when creating "{f}": '
                               'pods "web" already exists')


def test_invalid_single_cause(kubectl: Kubectl, ns: str) -> None:
    res = kubectl.fail("create", "-n", ns, "-f", str(MANIFESTS / "invalid-pod.yaml"))
    assert res.err.strip() == \
        'The Pod "broken" is invalid: spec.containers[0].image: Required value'


def test_invalid_many_causes(kubectl: Kubectl, ns: str) -> None:
    res = kubectl.fail("create", "-n", ns, "-f", str(MANIFESTS / "invalid-pod-multi.yaml"))
    lines = res.err.strip().splitlines()
    assert lines[0] == 'The Pod "broken2" is invalid: '
    bullets = lines[1:]
    assert all(b.startswith("* ") for b in bullets), res.err
    assert "* spec.containers[0].image: Required value" in bullets
    assert '* spec.containers[1].name: Duplicate value: "web"' in bullets
    assert any(b.startswith("* spec.containers[1].ports[0].containerPort: Invalid value: "
                            "70000: must be between 1 and 65535")
               for b in bullets), bullets


def test_conflict(kubectl: Kubectl, ns: str, tmp_path_factory: object) -> None:
    kubectl("create", "-n", ns, "-f", str(MANIFESTS / "pod.yaml"))
    stale = kubectl.json("get", "-n", ns, "pod", "web")
    kubectl("label", "-n", ns, "pod", "web", "touched=yes")
    stale["metadata"]["labels"]["mine"] = "too-late"
    res = kubectl.fail("replace", "-n", ns, "-f", "-", input=json.dumps(stale))
    assert res.err.strip() == (
        'Error from server (Conflict): error when replacing "STDIN": Operation cannot be '
        'fulfilled on pods "web": the object has been modified; please apply your changes to '
        'the latest version and try again')


def test_unknown_field_strict_and_warn(kubectl: Kubectl, ns: str) -> None:
    f = str(MANIFESTS / "unknown-field-pod.yaml")
    res = kubectl.fail("create", "-n", ns, "-f", f)
    assert res.err.startswith("Error from server (BadRequest)"), res.err
    assert 'unknown field "spec.bogusField"' in res.err
    ok = kubectl("create", "-n", ns, "-f", f, "--validate=warn")
    assert ok.out.strip() == "pod/strict created"
    assert 'Warning: unknown field "spec.bogusField"' in ok.err
    kubectl("delete", "-n", ns, "pod", "strict", "--wait=false")
    quiet = kubectl("create", "-n", ns, "-f", f, "--validate=false")
    assert quiet.out.strip() == "pod/strict created"
