"""Unit tests of the CLI's pure parts: apply's three-way patch (checked by applying it with the
API server's own strategic merge patch), JSONPath, the tabwriter layout, manifest parsing,
kubeconfig reading and writing, server resolution order, and error wording."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from minikube8s.api.patch import strategic_merge_patch
from minikube8s.cli import config, errors, jsonpath, kubeconfig, manifests, printers
from minikube8s.cli.apply import LAST_APPLIED, three_way_patch, with_last_applied
from minikube8s.cli.describe import tabwrite
from minikube8s.cli.describers import human_duration
from minikube8s.client import errors as client_errors


def rc(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "web", "labels": {"app": "web", "tier": "front"}},
        "spec": {"replicas": 2, "selector": {"app": "web"}, "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [
                {"name": "web", "image": "nginx:1",
                 "ports": [{"containerPort": 80}, {"containerPort": 443}]},
                {"name": "side", "image": "busybox"}]}}}}
    for path, value in changes.items():
        cur = base
        keys = path.split("__")
        for k in keys[:-1]:
            cur = cur[k]
        if value is None:
            del cur[keys[-1]]
        else:
            cur[keys[-1]] = value
    return base


def live_of(config_obj: dict[str, Any]) -> dict[str, Any]:
    """What the server would hold: the config plus defaults and status other writers set."""
    live = copy.deepcopy(config_obj)
    live["metadata"].update(uid="u1", resourceVersion="5")
    for c in live["spec"]["template"]["spec"]["containers"]:
        c["imagePullPolicy"] = "Always"
        for p in c.get("ports", []):
            p["protocol"] = "TCP"
    live["status"] = {"replicas": 2}
    return live


def roundtrip(original: dict[str, Any], modified: dict[str, Any]) -> dict[str, Any]:
    live = live_of(original)
    patch = three_way_patch(original, modified, live, kind="ReplicationController")
    return strategic_merge_patch(live, patch, kind="ReplicationController")


def test_three_way_no_change_is_empty() -> None:
    cfg = rc()
    assert three_way_patch(cfg, cfg, live_of(cfg), kind="ReplicationController") == {}


def test_three_way_deletes_what_the_file_dropped_and_keeps_defaults() -> None:
    new = rc()
    del new["metadata"]["labels"]["tier"]
    new["spec"]["template"]["spec"]["containers"] = [
        {"name": "web", "image": "nginx:2", "ports": [{"containerPort": 80}]}]
    out = roundtrip(rc(), new)
    assert out["metadata"]["labels"] == {"app": "web"}
    containers = out["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["web"]
    assert containers[0]["image"] == "nginx:2"
    assert containers[0]["imagePullPolicy"] == "Always"  # a default stays
    assert containers[0]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert out["status"] == {"replicas": 2}


def test_three_way_patch_shape_uses_merge_keys() -> None:
    new = rc()
    new["spec"]["template"]["spec"]["containers"].pop(1)
    patch = three_way_patch(rc(), new, live_of(rc()), kind="ReplicationController")
    # what kubectl sends for the same change
    assert patch == {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "web"}],
        "containers": [{"$patch": "delete", "name": "side"}]}}}}


def test_three_way_leaves_fields_others_set() -> None:
    live = live_of(rc())
    live["metadata"]["labels"]["owner"] = "ops"
    live["spec"]["replicas"] = 5  # scaled by someone; the file did not change replicas
    patch = three_way_patch(rc(), rc(), live, kind="ReplicationController")
    assert "labels" not in patch.get("metadata", {})
    # replicas is in the file and differs from live: apply resets it, as kubectl does
    assert patch == {"spec": {"replicas": 2}}


def test_three_way_without_last_applied_deletes_nothing() -> None:
    live = live_of(rc())
    new = rc(metadata__labels={"app": "web"})
    patch = three_way_patch(None, new, live, kind="ReplicationController")
    assert patch == {}


def test_three_way_primitive_merge_list() -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
        "name": "p", "finalizers": ["a", "b"]}, "spec": {"containers": []}}
    new = copy.deepcopy(pod)
    new["metadata"]["finalizers"] = ["a", "c"]
    patch = three_way_patch(pod, new, pod, kind="Pod")
    assert patch["metadata"]["$deleteFromPrimitiveList/finalizers"] == ["b"]
    assert strategic_merge_patch(pod, patch, kind="Pod")["metadata"]["finalizers"] == [
        "a", "c"]


def test_with_last_applied_matches_kubectl_format() -> None:
    out = with_last_applied({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
                            "default")
    text = out["metadata"]["annotations"][LAST_APPLIED]
    assert text == ('{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{},'
                    '"name":"p","namespace":"default"}}\n')


DATA = {"items": [
    {"metadata": {"name": "a", "labels": {"x": "1"}}, "spec": {"replicas": 1},
     "status": {"conditions": [{"type": "Ready", "status": "True"}]}},
    {"metadata": {"name": "b"}, "spec": {"replicas": 3},
     "status": {"conditions": [{"type": "Ready", "status": "False"}]}},
]}


@pytest.mark.parametrize(("template", "expected"), [
    ("{.items[*].metadata.name}", "a b"),
    ("{.items[0].metadata.labels}", '{"x":"1"}'),
    ('{range .items[*]}{.metadata.name}={.spec.replicas}{"\\n"}{end}', "a=1\nb=3\n"),
    ('{.items[?(@.spec.replicas>2)].metadata.name}', "b"),
    ('{.items[?(@.status.conditions[0].status=="True")].metadata.name}', "a"),
    ("{.items[-1:].metadata.name}", "b"),
    ("{..replicas}", "1 3"),
    ("{.items[*].metadata.missing}", ""),
    ("names: {.items[0].metadata.name}", "names: a"),
    ("{.items[0]['metadata']['name']}", "a"),
])
def test_jsonpath(template: str, expected: str) -> None:
    assert jsonpath.render(template, DATA) == expected


def test_jsonpath_errors() -> None:
    with pytest.raises(errors.CLIError):
        jsonpath.render("{range .items[*]}{.x}", DATA)
    with pytest.raises(errors.CLIError):
        jsonpath.render("{.items[", DATA)


def test_tabwriter_layout_is_kubectls() -> None:
    import io

    buf = io.StringIO()
    w = printers.TabWriter(buf)
    w.add(["NAME", "READY", "AGE"])
    w.add(["a", "1/1", "5s"])
    w.flush()
    # minimum width 6, padding 3, last column unpadded
    assert buf.getvalue() == "NAME   READY   AGE\na      1/1     5s\n"
    assert tabwrite([["Name:", "x"], ["Labels:", "a=b"], ["Containers:"],
                     ["  c:"], ["    Image:", "nginx"]]) == [
        "Name:    x", "Labels:  a=b", "Containers:", "  c:", "    Image:  nginx"]


def test_human_duration() -> None:
    assert [human_duration(s) for s in (5, 119, 150, 3600, 9 * 3600, 50 * 3600)] == [
        "5s", "119s", "2m30s", "60m", "9h", "2d2h"]


def test_yaml_printer_quotes_like_go() -> None:
    out = printers.to_yaml({"b": "7", "a": "", "c": "2026-01-01T00:00:00Z", "d": "plain"})
    assert out == 'a: ""\nb: "7"\nc: "2026-01-01T00:00:00Z"\nd: plain\n'


def test_manifests(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n"
        "  metadata: {name: b}\n")
    (tmp_path / "b.json").write_text('{"apiVersion": "v1", "kind": "Pod", "metadata": '
                                     '{"name": "c"}} {"apiVersion": "v1", "kind": "Pod",'
                                     ' "metadata": {"name": "d"}}')
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "e.yml").write_text("apiVersion: v1\nkind: Pod\nmetadata: {name: e}\n")
    names = [m.name for m in manifests.load([str(tmp_path)])]
    assert names == ["a", "b", "c", "d"]
    assert [m.name for m in manifests.load([str(tmp_path)], recursive=True)][-1] == "e"
    assert manifests.load(["-"], stdin="kind: Pod\napiVersion: v1\nmetadata: {name: s}\n"
                          )[0].source == "STDIN"
    with pytest.raises(errors.CLIError, match=r"error parsing X: .*yaml: line 2: "):
        manifests.parse("a: b\n  c: d\n", "X")
    with pytest.raises(errors.CLIError, match="invalid JSON at line 1"):
        manifests.parse('{"a": }', "Y")


def test_kubeconfig_write_read_and_merge(tmp_path: Path) -> None:
    path = kubeconfig.write_admin_kubeconfig(tmp_path / "data", "http://127.0.0.1:1234")
    assert path == tmp_path / "data" / "kubeconfig"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    doc = yaml.safe_load(path.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "http://127.0.0.1:1234"
    other = tmp_path / "other"
    other.write_text(yaml.safe_dump({
        "current-context": "x", "contexts": [{"name": "x", "context": {"cluster": "cx"}},
                                             {"name": "minikube8s", "context": {}}],
        "clusters": [{"name": "cx", "cluster": {"server": "http://10.0.0.1"}}]}))
    merged = kubeconfig.load([path, other])
    assert merged.current_context == "minikube8s"  # the first file's wins
    assert merged.cluster()["server"] == "http://127.0.0.1:1234"
    assert merged.contexts["x"] == {"cluster": "cx"}
    assert kubeconfig.load([tmp_path / "missing"]).current_context == ""
    minified = merged.to_dict(minify=True)
    assert [c["name"] for c in minified["clusters"]] == ["minikube8s"]


def test_server_resolution_order(tmp_path: Path) -> None:
    kc = kubeconfig.write_admin_kubeconfig(tmp_path, "http://127.0.0.1:3000")
    env = {"KUBECONFIG": str(kc), "MINIKUBE8S_SERVER": "127.0.0.1:2000"}
    assert config.resolve(server="http://h:1", environ=env).server == "http://h:1"
    assert config.resolve(environ=env).server == "http://127.0.0.1:2000"
    del env["MINIKUBE8S_SERVER"]
    t = config.resolve(environ=env)
    assert (t.server, t.namespace, t.source) == ("http://127.0.0.1:3000", "default", str(kc))
    assert config.resolve(environ={"HOME": str(tmp_path / "nohome")}).server == \
        "http://127.0.0.1:8080"
    assert config.resolve(namespace="x", environ=env).namespace == "x"


def test_error_wording() -> None:
    nf = client_errors.from_status({"kind": "Status", "code": 404, "reason": "NotFound",
                                    "message": 'pods "x" not found'})
    assert errors.describe(nf) == 'Error from server (NotFound): pods "x" not found'
    assert errors.describe(errors.CLIError("boom")) == "error: boom"
    try:
        raise client_errors.Unavailable("GET x") from ConnectionRefusedError(111, "refused")
    except client_errors.Unavailable as e:
        line = errors.describe(e, server="http://127.0.0.1:8080")
    assert line.startswith("The connection to the server http://127.0.0.1:8080 was refused")
    assert "minikube8s --role ai" in line
    assert errors.describe(ValueError("a\nb")) == "error: ValueError: a b"


def test_printer_object_output() -> None:
    import io

    buf = io.StringIO()
    printers.print_objects([{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}],
                           "name", buf, single=False)
    assert buf.getvalue() == "pod/p\n"
    buf = io.StringIO()
    printers.print_objects([], "json", buf, single=False)
    assert json.loads(buf.getvalue()) == {"apiVersion": "v1", "items": [], "kind": "List",
                                          "metadata": {"resourceVersion": ""}}
    with pytest.raises(errors.CLIError):
        printers.check_format("table")
