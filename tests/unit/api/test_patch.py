"""patch.py: merge patch, JSON patch and strategic merge patch (incl. kubectl apply's)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minikube8s.api import errors
from minikube8s.api.patch import json_patch, merge_patch, strategic_merge_patch

# ----------------------------------------------------------------------------- merge patch


def test_merge_patch_rfc7386_examples() -> None:
    # From RFC 7386, appendix A.
    cases: list[tuple[Any, Any, Any]] = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for original, patch, want in cases:
        before = copy.deepcopy(original)
        assert merge_patch(original, patch) == want
        assert original == before


def test_merge_patch_labels() -> None:
    obj = {"metadata": {"labels": {"a": "1", "b": "2"}}}
    assert merge_patch(obj, {"metadata": {"labels": {"a": None, "c": "3"}}}) == {
        "metadata": {"labels": {"b": "2", "c": "3"}}}


# ----------------------------------------------------------------------------- JSON patch

DOC = {"metadata": {"name": "p", "labels": {"a/b": "1"}},
       "spec": {"containers": [{"name": "a"}, {"name": "b"}]}}


def test_json_patch_ops() -> None:
    out = json_patch(DOC, [
        {"op": "add", "path": "/metadata/labels/x", "value": "y"},
        {"op": "replace", "path": "/spec/containers/0/name", "value": "z"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "c"}},
        {"op": "add", "path": "/spec/containers/0", "value": {"name": "first"}},
        {"op": "remove", "path": "/metadata/labels/a~1b"},
        {"op": "copy", "from": "/metadata/name", "path": "/metadata/generateName"},
        {"op": "move", "from": "/spec/containers/3", "path": "/spec/last"},
        {"op": "test", "path": "/spec/last/name", "value": "c"},
    ])
    assert out == {"metadata": {"name": "p", "generateName": "p", "labels": {"x": "y"}},
                   "spec": {"containers": [{"name": "first"}, {"name": "z"}, {"name": "b"}],
                            "last": {"name": "c"}}}
    assert DOC["spec"]["containers"][0] == {"name": "a"}


def test_json_patch_tilde_escape() -> None:
    assert json_patch({"a~b": 1}, [{"op": "replace", "path": "/a~0b", "value": 2}]) == {"a~b": 2}


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/metadata/name", "value": "q"}],
    [{"op": "remove", "path": "/metadata/nope"}],
    [{"op": "replace", "path": "/spec/missing", "value": 1}],
    [{"op": "add", "path": "/nope/deeper", "value": 1}],
    [{"op": "add", "path": "/spec/containers/9", "value": 1}],
    [{"op": "remove", "path": "/spec/containers/01"}],
])
def test_json_patch_failures_are_invalid(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(errors.Invalid) as ei:
        json_patch(DOC, ops)
    assert ei.value.code == 422
    assert ei.value.message.startswith(
        "the server rejected our request due to an error in our request")


@pytest.mark.parametrize("ops", [
    {"op": "add"}, [{"op": "frob", "path": "/a"}], [{"op": "add", "path": "/a"}],
    [{"op": "add", "path": "a", "value": 1}], [{"op": "move", "path": "/a"}], [3],
])
def test_json_patch_malformed_is_bad_request(ops: Any) -> None:
    with pytest.raises(errors.BadRequest):
        json_patch(DOC, ops)


# ----------------------------------------------------------------------------- strategic

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "p", "labels": {"app": "web"}, "finalizers": ["a"]},
    "spec": {
        "containers": [
            {"name": "web", "image": "nginx:1",
             "ports": [{"containerPort": 80, "protocol": "TCP"},
                       {"containerPort": 443, "protocol": "TCP"}],
             "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
             "volumeMounts": [{"name": "data", "mountPath": "/d"}]},
            {"name": "side", "image": "busybox", "args": ["x", "y"]},
        ],
        "volumes": [{"name": "data", "emptyDir": {}}],
        "tolerations": [{"key": "a", "operator": "Exists"}],
    },
}


def smp(patch: dict[str, Any], obj: dict[str, Any] | None = None,
        kind: str = "Pod") -> dict[str, Any]:
    base = obj if obj is not None else POD
    before = copy.deepcopy(base)
    out = strategic_merge_patch(base, patch, kind=kind)
    assert base == before
    return out


def test_containers_merge_by_name() -> None:
    out = smp({"spec": {"containers": [{"name": "side", "image": "busybox:2"}]}})
    cs = out["spec"]["containers"]
    assert [c["name"] for c in cs] == ["web", "side"]
    assert cs[1]["image"] == "busybox:2" and cs[1]["args"] == ["x", "y"]
    assert cs[0] == POD["spec"]["containers"][0]


def test_new_container_order() -> None:
    # Kubernetes puts an item the live list lacks before the next server-only item.
    out = smp({"spec": {"containers": [{"name": "new", "image": "x"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["new", "web", "side"]
    out = smp({"spec": {"containers": [{"name": "side"}, {"name": "new", "image": "x"}]}})
    assert [c["name"] for c in out["spec"]["containers"]] == ["web", "side", "new"]


def test_kubectl_apply_removes_env_entry() -> None:
    # What kubectl apply sends after "B" is removed from the manifest.
    patch = {"spec": {"$setElementOrder/containers": [{"name": "web"}, {"name": "side"}],
                      "containers": [{"$setElementOrder/env": [{"name": "A"}],
                                      "env": [{"$patch": "delete", "name": "B"}],
                                      "name": "web"}]}}
    out = smp(patch)
    assert out["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    assert "$setElementOrder/env" not in out["spec"]["containers"][0]
    assert "$setElementOrder/containers" not in out["spec"]


def test_kubectl_apply_removes_port_and_changes_image() -> None:
    patch = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                                          "{}"}},
             "spec": {"containers": [{"$setElementOrder/ports": [{"containerPort": 80}],
                                      "image": "nginx:2", "name": "web",
                                      "ports": [{"$patch": "delete", "containerPort": 443}]}]}}
    out = smp(patch)
    web = out["spec"]["containers"][0]
    assert web["image"] == "nginx:2"
    assert web["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert "kubectl.kubernetes.io/last-applied-configuration" in out["metadata"]["annotations"]


def test_set_element_order_reorders() -> None:
    patch = {"spec": {"$setElementOrder/containers": [{"name": "side"}, {"name": "web"}]}}
    out = smp(patch)
    assert [c["name"] for c in out["spec"]["containers"]] == ["side", "web"]


def test_null_deletes_and_atomic_lists_replace() -> None:
    out = smp({"metadata": {"labels": {"app": None}},
               "spec": {"tolerations": [{"key": "b", "operator": "Exists"}],
                        "containers": [{"name": "side", "args": None}]}})
    assert out["metadata"]["labels"] == {}
    assert out["spec"]["tolerations"] == [{"key": "b", "operator": "Exists"}]
    assert "args" not in out["spec"]["containers"][1]


def test_args_list_is_replaced() -> None:
    out = smp({"spec": {"containers": [{"name": "side", "args": ["z"]}]}})
    assert out["spec"]["containers"][1]["args"] == ["z"]


def test_patch_replace_directive_in_list_and_map() -> None:
    out = smp({"spec": {"containers": [{"name": "only", "image": "x"}, {"$patch": "replace"}]}})
    assert out["spec"]["containers"] == [{"name": "only", "image": "x"}]
    out = smp({"metadata": {"labels": {"$patch": "replace", "new": "1"}}})
    assert out["metadata"]["labels"] == {"new": "1"}


def test_patch_delete_map() -> None:
    out = smp({"spec": {"containers": [{"name": "web", "env": [{"name": "A", "$patch":
                                                                "delete"}]}]},
               "metadata": {"labels": {"$patch": "delete"}}})
    assert out["metadata"]["labels"] == {}
    assert out["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]


def test_patch_merge_directive_is_noop() -> None:
    out = smp({"spec": {"$patch": "merge", "restartPolicy": "Never"}})
    assert out["spec"]["restartPolicy"] == "Never"
    assert len(out["spec"]["containers"]) == 2


def test_finalizers_merge_and_delete_from_primitive_list() -> None:
    out = smp({"metadata": {"finalizers": ["b", "a"]}})
    assert out["metadata"]["finalizers"] == ["b", "a"]
    out = smp({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}})
    assert out["metadata"]["finalizers"] == []


def test_retain_keys_on_volumes() -> None:
    # kubectl apply switching a volume from emptyDir to hostPath.
    patch = {"spec": {"volumes": [{"$retainKeys": ["hostPath", "name"],
                                   "hostPath": {"path": "/x"}, "name": "data"}]}}
    out = smp(patch)
    assert out["spec"]["volumes"] == [{"name": "data", "hostPath": {"path": "/x"}}]


def test_volume_mounts_by_mount_path() -> None:
    out = smp({"spec": {"containers": [{"name": "web", "volumeMounts": [
        {"mountPath": "/d", "readOnly": True}, {"mountPath": "/e", "name": "data"}]}]}})
    assert out["spec"]["containers"][0]["volumeMounts"] == [
        {"name": "data", "mountPath": "/d", "readOnly": True},
        {"mountPath": "/e", "name": "data"}]


def test_service_ports_by_port() -> None:
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "name": "http"},
                                                 {"port": 443, "name": "https"}]}}
    out = smp({"spec": {"ports": [{"port": 443, "targetPort": 8443}, {"port": 8080}]}}, svc,
              kind="Service")
    assert out["spec"]["ports"] == [{"port": 80, "name": "http"},
                                    {"port": 443, "name": "https", "targetPort": 8443},
                                    {"port": 8080}]


def test_node_conditions_by_type() -> None:
    node = {"kind": "Node", "status": {
        "conditions": [{"type": "Ready", "status": "True"}, {"type": "DiskPressure",
                                                           "status": "False"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]}}
    out = smp({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}],
                          "addresses": [{"type": "Hostname", "address": "n1"}]}}, node,
              kind="Node")
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "Unknown"},
                                           {"type": "DiskPressure", "status": "False"}]
    assert len(out["status"]["addresses"]) == 2


def test_owner_references_by_uid() -> None:
    obj = {"kind": "Pod", "metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}
    out = smp({"metadata": {"ownerReferences": [{"uid": "2", "name": "b"}]}}, obj)
    assert [r["uid"] for r in out["metadata"]["ownerReferences"]] == ["2", "1"]


def test_rc_template_containers_merge() -> None:
    rc = {"kind": "ReplicationController", "spec": {"replicas": 1, "template": {"spec": {
        "containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}}}}
    out = smp({"spec": {"replicas": 3, "template": {"spec": {"containers": [
        {"name": "b", "image": "y2"}]}}}}, rc, kind="ReplicationController")
    assert out["spec"]["replicas"] == 3
    assert out["spec"]["template"]["spec"]["containers"] == [
        {"name": "a", "image": "x"}, {"name": "b", "image": "y2"}]


def test_new_items_are_cleaned_of_directives() -> None:
    out = smp({"spec": {"containers": [{"name": "n", "image": "x",
                                        "$setElementOrder/env": [{"name": "Z"}],
                                        "env": [{"name": "Z", "value": "1"},
                                                {"name": "Y", "$patch": "delete"}]}]}})
    new = out["spec"]["containers"][0]
    assert new == {"name": "n", "image": "x", "env": [{"name": "Z", "value": "1"}]}


def test_unknown_kind_behaves_like_merge_patch() -> None:
    obj = {"kind": "Widget", "spec": {"items": [1, 2], "m": {"a": 1}}}
    out = smp({"spec": {"items": [3], "m": {"b": 2}}}, obj, kind="Widget")
    assert out == {"kind": "Widget", "spec": {"items": [3], "m": {"a": 1, "b": 2}}}


@pytest.mark.parametrize("patch", [
    {"spec": {"containers": [{"image": "no-name"}]}},
    {"spec": {"$patch": "explode"}},
    {"spec": {"$bogus": 1}},
    {"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}},
])
def test_strategic_errors(patch: dict[str, Any]) -> None:
    with pytest.raises(errors.BadRequest):
        smp(patch)


def test_strategic_not_an_object() -> None:
    with pytest.raises(errors.BadRequest):
        strategic_merge_patch(POD, [1], kind="Pod")


# ----------------------------------------------------------------------------- robustness

_keys = st.sampled_from(["spec", "containers", "name", "image", "env", "ports",
                         "containerPort", "metadata", "labels", "finalizers", "$patch",
                         "$retainKeys", "$setElementOrder/containers",
                         "$deleteFromPrimitiveList/finalizers", "volumes", "x"])
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 5) | st.sampled_from(
        ["delete", "replace", "merge", "a", "web"]),
    lambda ch: st.lists(ch, max_size=3) | st.dictionaries(_keys, ch, max_size=4),
    max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(patch=_json)
def test_strategic_never_crashes(patch: Any) -> None:
    try:
        out = strategic_merge_patch(POD, patch, kind="Pod")
    except errors.APIError:
        return
    assert isinstance(out, dict)


@settings(max_examples=300, deadline=None)
@given(ops=st.lists(st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "x"]),
     "path": st.sampled_from(["", "/", "/spec", "/spec/containers/0", "/spec/containers/-",
                              "/metadata/labels/a", "/x/y", "/spec/containers/1/name"])},
    optional={"value": _json, "from": st.sampled_from(["/spec", "/metadata", "/q"])}),
    max_size=4))
def test_json_patch_never_crashes(ops: list[dict[str, Any]]) -> None:
    try:
        json_patch(POD, ops)
    except errors.APIError:
        pass
