"""Validation of downwardAPI items (volumes and projected sources), as
validateDownwardAPIVolumeFile words it: through the whole pod validation, so the causes'
fields are those a client sees (``spec.volumes[0].downwardAPI.path``: Kubernetes names the
item's fields without its index)."""

from __future__ import annotations

from typing import Any

from minikube8s.api.defaults import apply_defaults
from minikube8s.api.validation import causes_for

MEMORY_DIVISORS = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"


def pod_with(items: list[dict[str, Any]], *, projected: bool = False) -> dict[str, Any]:
    source: dict[str, Any] = {"items": items}
    volume = ({"name": "v", "projected": {"sources": [{"downwardAPI": source}]}} if projected
              else {"name": "v", "downwardAPI": source})
    p = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
         "spec": {"containers": [{"name": "c", "image": "busybox"}], "volumes": [volume]}}
    apply_defaults(p)
    return p


def causes(items: list[dict[str, Any]], *, projected: bool = False) -> list[tuple[str, str]]:
    return [(c.field, c.message) for c in causes_for(pod_with(items, projected=projected))]


def test_valid_items_pass() -> None:
    assert causes([
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "app", "fieldRef": {"apiVersion": "v1",
                                     "fieldPath": "metadata.labels['app']"}},
        {"path": "note", "fieldRef": {"fieldPath": "metadata.annotations['a.io/Note']"}},
        {"path": "d/uid", "fieldRef": {"fieldPath": "metadata.uid"}, "mode": 0o400},
        {"path": "cpu", "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu",
                                             "divisor": "1m"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c",
                                             "resource": "requests.memory",
                                             "divisor": "1024Ki"}},
    ]) == []


def test_bad_items_are_refused_in_kubernetes_words() -> None:
    base = "spec.volumes[0].downwardAPI"
    assert causes([{"fieldRef": {"fieldPath": "metadata.name"}}]) == [
        (f"{base}.path", "Required value")]
    assert causes([{"path": "a/../x", "fieldRef": {"fieldPath": "metadata.name"}}]) == [
        (f"{base}.path", "Invalid value: \"a/../x\": must not contain '..'")]
    assert causes([{"path": "x", "fieldRef": {"fieldPath": "spec.nodeName"}}]) == [
        (f"{base}.fieldRef.fieldPath",
         'Unsupported value: "spec.nodeName": supported values: "metadata.annotations", '
         '"metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid"')]
    assert causes([{"path": "x", "fieldRef": {"fieldPath": "metadata.name['a']"}}]) == [
        (f"{base}.fieldRef", 'Invalid value: "metadata.name": does not support subscript')]
    [(field, message)] = causes([{"path": "x",
                                  "fieldRef": {"fieldPath": "metadata.labels['-bad']"}}])
    assert field == f"{base}.fieldRef" and message.startswith('Invalid value: "-bad": ')
    assert causes([{"path": "x"}]) == [
        (base, "Required value: one of fieldRef and resourceFieldRef is required")]
    assert causes([{"path": "x", "fieldRef": {"fieldPath": "metadata.name"},
                    "resourceFieldRef": {"containerName": "c", "resource": "limits.cpu"}}]) \
        == [(base, 'Invalid value: "resource": fieldRef and resourceFieldRef can not be '
                   "specified simultaneously")]
    assert causes([{"path": "x", "resourceFieldRef": {"resource": "limits.cpu"}}]) == [
        (f"{base}.resourceFieldRef.containerName", "Required value")]
    assert causes([{"path": "x", "resourceFieldRef": {"containerName": "c",
                                                      "resource": "limits.gpu"}}])[0][1] \
        .startswith('Unsupported value: "limits.gpu": supported values: "limits.cpu"')
    assert causes([{"path": "x", "resourceFieldRef": {"containerName": "c",
                                                      "resource": "limits.cpu",
                                                      "divisor": "10m"}}]) == [
        (f"{base}.resourceFieldRef.divisor", 'Invalid value: "limits.cpu": only divisor\'s '
         "values 1m and 1 are supported with the cpu resource")]
    assert causes([{"path": "x", "resourceFieldRef": {"containerName": "c",
                                                      "resource": "limits.memory",
                                                      "divisor": "2Mi"}}]) == [
        (f"{base}.resourceFieldRef.divisor", 'Invalid value: "limits.memory": only '
         f"divisor's values {MEMORY_DIVISORS} are supported with the memory resource")]
    assert causes([{"path": "x", "fieldRef": {"fieldPath": "metadata.uid"},
                    "mode": 0o1000}]) == [
        (f"{base}.mode", "Invalid value: 512: must be a number between 0 and 0777 (octal), "
                         "both inclusive")]


def test_projected_downward_api_items_are_checked_at_the_source() -> None:
    assert causes([{"path": "/abs", "fieldRef": {"fieldPath": "metadata.name"}}],
                  projected=True) == [
        ("spec.volumes[0].projected.sources[0].downwardAPI.path",
         'Invalid value: "/abs": must be a relative path')]


def test_dotdot_paths_are_reported_once_as_kubernetes_does() -> None:
    """validateLocalNonReservedPath: '../x' is caught by the '..' element check only; '..x'
    by the prefix check only; 'a/../b' by the element check."""
    def messages(path: str) -> list[str]:
        return [m for _, m in causes([{"path": path,
                                       "fieldRef": {"fieldPath": "metadata.name"}}])]

    assert messages("../x") == ["Invalid value: \"../x\": must not contain '..'"]
    assert messages("..x") == ["Invalid value: \"..x\": must not start with '..'"]
    assert messages("a/../b") == ["Invalid value: \"a/../b\": must not contain '..'"]
