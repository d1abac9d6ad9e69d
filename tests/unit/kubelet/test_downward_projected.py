"""downwardAPI and projected volumes in the kubelet core: file contents in Kubernetes' formats
(FormatMap, Go's %q), resourceFieldRef rounding and node-allocatable limits, the merge of a
projected volume's sources, missing objects and unsupported sources with Kubernetes' messages,
and, through the pod workers on the hollow runtime, a label change reaching the file.

The real-Docker counterpart is tests/docker/test_config_objects.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from minikube8s.client.clock import FakeClock
from minikube8s.client.informer import key_of
from minikube8s.roles.kubelet.atomic_writer import FileProjection
from minikube8s.roles.kubelet.configcache import ConfigCache, ConfigError, Kind, references
from minikube8s.roles.kubelet.downwardapi import (
    collect,
    field_value,
    format_map,
    go_quote,
    resource_value,
)
from minikube8s.roles.kubelet.podvolumes import pod_volumes, volume_files
from minikube8s.roles.kubelet.projected import DownwardAPIVolume, ProjectedVolume
from minikube8s.tasks import Supervisor

from .test_config_objects import FakeApi, configmap, secret
from .test_config_pods import Node, b64, make_pod

Object = dict[str, Any]
NODE = {"cpu": "4", "memory": "8Gi"}


def a_pod(**spec: Any) -> Object:
    return {"metadata": {"name": "web-0", "namespace": "shop", "uid": "1234-abcd",
                         "labels": {"app": "web", "tier": "front"},
                         "annotations": {"note": 'say "hi"\n\tbye', "a.io/x": "é☃"}},
            "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {
                "limits": {"cpu": "250m", "memory": "100Mi"},
                "requests": {"cpu": "100m", "memory": "64Mi", "hugepages-2Mi": "4Mi"}}},
                {"name": "bare", "image": "busybox"}],
                "initContainers": [{"name": "init", "image": "busybox",
                                    "resources": {"requests": {"cpu": "1500m"}}}], **spec}}


# ----------------------------------------------------------------------------- formats


@pytest.mark.parametrize(("text", "quoted"), [
    ("plain", '"plain"'),
    ('say "hi"\\', r'"say \"hi\"\\"'),
    ("a\nb\tc\rd\x07\x08\x0c\x0b", r'"a\nb\tc\rd\a\b\f\v"'),
    ("\x00\x1f\x7f", r'"\x00\x1f\x7f"'),
    ("é☃😀", '"é☃😀"'),                      # printable: as they are, in UTF-8
    ("\u00a0\u200b\ue000", r'"\u00a0\u200b\ue000"'),  # a no-break space, Cf, private use
    ("\U000e0001", r'"\U000e0001"'),
])
def test_values_are_quoted_as_go_strconv_quote(text: str, quoted: str) -> None:
    assert go_quote(text) == quoted


def test_labels_and_annotations_are_sorted_key_quoted_value_lines() -> None:
    pod = a_pod()
    assert field_value(pod, "metadata.labels") == 'app="web"\ntier="front"'
    assert field_value(pod, "metadata.annotations") == \
        'a.io/x="é☃"\nnote="say \\"hi\\"\\n\\tbye"'
    assert format_map({}) == ""


def test_field_paths_and_subscripts() -> None:
    pod = a_pod()
    assert field_value(pod, "metadata.name") == "web-0"
    assert field_value(pod, "metadata.namespace") == "shop"
    assert field_value(pod, "metadata.uid") == "1234-abcd"
    assert field_value(pod, "metadata.labels['app']") == "web"   # unquoted
    assert field_value(pod, "metadata.labels['absent']") == ""
    assert field_value(pod, "metadata.annotations['a.io/x']") == "é☃"
    with pytest.raises(ConfigError, match=r"^unsupported fieldPath: spec.nodeName$"):
        field_value(pod, "spec.nodeName")
    with pytest.raises(ConfigError, match=r"does not support subscript"):
        field_value(pod, "metadata.name['x']")


# ----------------------------------------------------------------------------- resources


@pytest.mark.parametrize(("container", "resource", "divisor", "value"), [
    ("c", "limits.cpu", None, "1"),          # 250m rounds up to one CPU
    ("c", "limits.cpu", "1m", "250"),
    ("c", "requests.cpu", "1", "1"),
    ("c", "limits.memory", None, str(100 * 2**20)),
    ("c", "limits.memory", "1Mi", "100"),
    ("c", "limits.memory", "1Gi", "1"),      # ceil(100Mi / 1Gi)
    ("c", "requests.memory", "1M", "68"),    # ceil(67108864 / 1e6)
    ("c", "limits.memory", "0", str(100 * 2**20)),  # a zero divisor is the default 1
    ("bare", "limits.cpu", "1m", "4000"),    # unset limits: the node's allocatable
    ("bare", "limits.memory", "1Gi", "8"),
    ("bare", "requests.cpu", None, "0"),     # unset requests: 0
    ("init", "requests.cpu", None, "2"),     # init containers too
    ("c", "limits.ephemeral-storage", None, "0"),  # unset, and none on the node
    ("c", "requests.hugepages-2Mi", "1Mi", "4"),
])
def test_resource_values_round_up_to_whole_divisors(container: str, resource: str,
                                                    divisor: str | None, value: str) -> None:
    ref: Object = {"containerName": container, "resource": resource}
    if divisor is not None:
        ref["divisor"] = divisor
    assert resource_value(a_pod(), ref, NODE) == value


def test_resource_errors_name_the_container_or_resource() -> None:
    with pytest.raises(ConfigError, match=r"^container nope not found$"):
        resource_value(a_pod(), {"containerName": "nope", "resource": "limits.cpu"}, NODE)
    with pytest.raises(ConfigError, match=r"^unsupported container resource : limits.gpu$"):
        resource_value(a_pod(), {"containerName": "c", "resource": "limits.gpu"}, NODE)


def test_collect_uses_item_modes_and_reports_every_failure() -> None:
    items = [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
             {"path": "sub/./name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400},
             {"path": "cpu", "resourceFieldRef": {"containerName": "c",
                                                  "resource": "limits.cpu", "divisor": "1m"}}]
    assert collect(items, a_pod(), default_mode=0o644, allocatable=NODE) == {
        "labels": FileProjection(b'app="web"\ntier="front"', 0o644),
        "sub/name": FileProjection(b"web-0", 0o400),
        "cpu": FileProjection(b"250", 0o644)}
    bad = [{"path": "a", "fieldRef": {"fieldPath": "spec.nodeName"}},
           {"path": "b", "resourceFieldRef": {"containerName": "x", "resource": "limits.cpu"}}]
    with pytest.raises(ConfigError) as e:
        collect(bad, a_pod(), default_mode=0o644, allocatable=NODE)
    assert str(e.value) == "[unsupported fieldPath: spec.nodeName, container x not found]"


# ----------------------------------------------------------------------------- projected


@pytest.fixture
def cache(api: FakeApi) -> ConfigCache:
    return ConfigCache(api, clock=FakeClock(), ttl=30.0)  # type: ignore[arg-type]


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


def projected(*sources: Object, mode: int | None = None) -> Object:
    src: Object = {"sources": list(sources)}
    if mode is not None:
        src["defaultMode"] = mode
    return {"name": "all", "projected": src}


async def test_projected_sources_merge_in_order_with_the_volume_default_mode(
        api: FakeApi, cache: ConfigCache) -> None:
    api.put(secret("db", {"pw": "s3cret", "user": "admin"}, ns="shop"))
    api.put(configmap("cfg", {"mode": "fast", "user": "from-cm"}, ns="shop"))
    pod = a_pod(volumes=[projected(
        {"secret": {"name": "db"}},
        {"configMap": {"name": "cfg", "items": [{"key": "user", "path": "user"},
                                                {"key": "mode", "path": "conf/mode",
                                                 "mode": 0o600}]}},
        {"downwardAPI": {"items": [{"path": "name",
                                    "fieldRef": {"fieldPath": "metadata.name"}}]}},
        mode=0o440)])
    [vol] = pod_volumes(pod)
    assert isinstance(vol, ProjectedVolume) and vol.plugin == "kubernetes.io~projected"
    assert await volume_files(vol, pod, getter=cache, allocatable=NODE) == {
        "pw": FileProjection(b"s3cret", 0o440),
        "user": FileProjection(b"from-cm", 0o440),   # the later source wins
        "conf/mode": FileProjection(b"fast", 0o600),
        "name": FileProjection(b"web-0", 0o440)}
    assert references(pod) == {(Kind.SECRET, "shop", "db"), (Kind.CONFIGMAP, "shop", "cfg")}


async def test_projected_missing_objects_fail_unless_optional(
        api: FakeApi, cache: ConfigCache) -> None:
    api.put(configmap("cfg", {"k": "v"}, ns="shop"))
    pod = a_pod(volumes=[projected({"secret": {"name": "gone", "optional": True}},
                                   {"configMap": {"name": "cfg"}})])
    [vol] = pod_volumes(pod)
    assert await volume_files(vol, pod, getter=cache, allocatable=NODE) == {
        "k": FileProjection(b"v", 0o644)}
    pod = a_pod(volumes=[projected({"secret": {"name": "gone"}},
                                   {"configMap": {"name": "cfg",
                                                  "items": [{"key": "nope", "path": "n"}]}},
                                   {"configMap": {"name": "also-gone"}})])
    [vol] = pod_volumes(pod)
    with pytest.raises(ConfigError) as e:
        await volume_files(vol, pod, getter=cache, allocatable=NODE)
    assert str(e.value) == ('[secret "gone" not found, configmap references non-existent '
                            'config key: nope, configmap "also-gone" not found]')


async def test_service_account_tokens_are_refused_with_the_reason(cache: ConfigCache) -> None:
    pod = a_pod(volumes=[projected({"serviceAccountToken": {"path": "token"}})])
    [vol] = pod_volumes(pod)
    with pytest.raises(ConfigError, match=r"^failed to fetch token: .*this cluster has no "
                                          r"service accounts$"):
        await volume_files(vol, pod, getter=cache, allocatable=NODE)


async def test_a_downward_api_volume(cache: ConfigCache) -> None:
    pod = a_pod(volumes=[{"name": "info", "downwardAPI": {"defaultMode": 0o400, "items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory",
                                             "divisor": "1Mi"}, "mode": 0o644}]}}])
    [vol] = pod_volumes(pod)
    assert isinstance(vol, DownwardAPIVolume) and vol.plugin == "kubernetes.io~downward-api"
    assert await volume_files(vol, pod, getter=cache, allocatable=NODE) == {
        "labels": FileProjection(b'app="web"\ntier="front"', 0o400),
        "mem": FileProjection(b"100", 0o644)}


# ----------------------------------------------------------------------------- pod workers


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    sup = Supervisor()
    n = Node(FakeClock(), sup)
    n.syncer.volumes.allocatable = lambda: NODE
    yield n
    n.workers.stop()
    await sup.stop()


async def test_a_label_change_reaches_the_file_on_the_next_sync(node: Node) -> None:
    pod = make_pod(volumes=[{"name": "info", "downwardAPI": {"items": [
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "cpu", "resourceFieldRef": {"containerName": "c",
                                             "resource": "limits.cpu"}}]}}])
    pod["metadata"]["labels"] = {"v": "1"}
    await node.add(pod)
    await node.run_for(1)
    assert "running" in node.container()["state"]
    files = node.projected["kubernetes.io~downward-api/info"]
    assert files == {"labels": FileProjection(b'v="1"', 0o644),
                     "cpu": FileProjection(b"4", 0o644)}
    current = node.cache.get(key_of(pod))
    assert current is not None
    updated = {**current, "metadata": {**current["metadata"], "labels": {"v": "2", "a": "b"}}}
    await node.add(updated)  # what the informer's update handler does
    assert node.projected["kubernetes.io~downward-api/info"]["labels"].data == \
        b'a="b"\nv="2"'
    assert len(node.started) == 1


async def test_a_projected_volume_waits_for_its_secret_with_failed_mount(node: Node) -> None:
    node.api.put("configmaps", "cfg", data={"mode": "fast"})
    await node.add(make_pod(volumes=[projected({"secret": {"name": "db"}},
                                               {"configMap": {"name": "cfg"}})]))
    await node.run_for(2)
    assert ("Warning", "FailedMount",
            'MountVolume.SetUp failed for volume "all" : secret "db" not found') \
        in node.recorder.events
    assert node.started == []
    node.api.put("secrets", "db", data={"pw": b64("s3cret")})
    await node.run_for(5)
    assert node.projected["kubernetes.io~projected/all"] == {
        "pw": FileProjection(b"s3cret", 0o644), "mode": FileProjection(b"fast", 0o644)}
    assert "running" in node.container()["state"]


async def test_a_service_account_token_source_keeps_the_pod_waiting(node: Node) -> None:
    await node.add(make_pod(volumes=[projected({"serviceAccountToken": {"path": "t"}})]))
    await node.run_for(2)
    [message] = {m for _, r, m in node.recorder.events if r == "FailedMount"}
    assert message.startswith('MountVolume.SetUp failed for volume "all" : failed to fetch '
                              "token: ")
    assert "no service accounts" in message
    assert node.container()["state"] == {"waiting": {"reason": "ContainerCreating"}}
