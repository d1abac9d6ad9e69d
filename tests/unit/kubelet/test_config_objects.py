"""Secrets and config maps in the kubelet core, over a fake API: the TTL cache, volume
payloads and env resolution, with Kubernetes' messages.

The fake client answers GETs from a dict as the API would (NotFound, Forbidden, an outage);
the Docker test (tests/docker/test_config_objects.py) does the same against a real node.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from minikube8s.client import Forbidden, NotFound, Unavailable
from minikube8s.client.clock import FakeClock
from minikube8s.roles.kubelet.atomic_writer import FileProjection
from minikube8s.roles.kubelet.configcache import ConfigCache, ConfigError, Kind, references
from minikube8s.roles.kubelet.configenv import resolve_env
from minikube8s.roles.kubelet.configvolumes import config_volumes, make_payload, payload
from minikube8s.roles.kubelet.docker.containers import container_env

Object = dict[str, Any]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(name: str, data: dict[str, str], ns: str = "default") -> Object:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": ns},
            "data": {k: b64(v) for k, v in data.items()}}


def configmap(name: str, data: dict[str, str], binary: dict[str, bytes] | None = None,
              ns: str = "default") -> Object:
    out: Object = {"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": name, "namespace": ns}, "data": data}
    if binary:
        out["binaryData"] = {k: base64.b64encode(v).decode() for k, v in binary.items()}
    return out


class FakeApi:
    """GET of secrets and configmaps from ``objects`` keyed (plural, ns, name)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], Object] = {}
        self.gets: list[tuple[str, str, str]] = []
        self.down = False
        self.forbidden: set[str] = set()
        self.delay = 0.0

    def put(self, obj: Object) -> None:
        plural = "secrets" if obj["kind"] == "Secret" else "configmaps"
        md = obj["metadata"]
        self.objects[plural, md["namespace"], md["name"]] = obj

    async def get(self, res: Any, name: str, *, namespace: str = "") -> Object:
        self.gets.append((res.name, namespace, name))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise Unavailable("connection refused")
        if name in self.forbidden:
            raise Forbidden(f'{res.name} "{name}" is forbidden: User "system:node:n1" cannot '
                            f'get resource "{res.name}"')
        obj = self.objects.get((res.name, namespace, name))
        if obj is None:
            raise NotFound(f'{res.name} "{name}" not found')
        return obj


@pytest.fixture
def api() -> FakeApi:
    return FakeApi()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache(api: FakeApi, clock: FakeClock) -> ConfigCache:
    return ConfigCache(api, clock=clock, ttl=30.0)  # type: ignore[arg-type]


def pod(spec: Object, ns: str = "default") -> Object:
    return {"metadata": {"name": "p", "namespace": ns, "uid": "u1"}, "spec": spec}


# ----------------------------------------------------------------------------- the cache


async def test_cache_serves_within_the_ttl_and_refetches_after(
        api: FakeApi, clock: FakeClock, cache: ConfigCache) -> None:
    api.put(secret("db", {"pw": "one"}))
    assert (await cache.get(Kind.SECRET, "default", "db"))["data"]["pw"] == b64("one")
    api.put(secret("db", {"pw": "two"}))
    await clock.advance(29)
    assert (await cache.get(Kind.SECRET, "default", "db"))["data"]["pw"] == b64("one")
    await clock.advance(2)
    assert (await cache.get(Kind.SECRET, "default", "db"))["data"]["pw"] == b64("two")
    assert len(api.gets) == 2


async def test_a_new_pod_invalidates_what_it_references(
        api: FakeApi, cache: ConfigCache) -> None:
    api.put(configmap("cfg", {"k": "1"}))
    await cache.get(Kind.CONFIGMAP, "default", "cfg")
    api.put(configmap("cfg", {"k": "2"}))
    cache.invalidate(references(pod({"containers": [{"name": "c", "envFrom": [
        {"configMapRef": {"name": "cfg"}}]}]})))
    assert (await cache.get(Kind.CONFIGMAP, "default", "cfg"))["data"] == {"k": "2"}


async def test_not_found_is_never_cached_and_reads_as_kubernetes_says(
        api: FakeApi, cache: ConfigCache) -> None:
    with pytest.raises(ConfigError) as e:
        await cache.get(Kind.SECRET, "default", "late")
    assert str(e.value) == 'secret "late" not found' and e.value.missing
    with pytest.raises(ConfigError, match='configmap "late" not found'):
        await cache.get(Kind.CONFIGMAP, "default", "late")
    api.put(secret("late", {"k": "v"}))
    assert await cache.get(Kind.SECRET, "default", "late")


async def test_an_outage_serves_the_stale_copy_but_forbidden_does_not(
        api: FakeApi, clock: FakeClock, cache: ConfigCache) -> None:
    api.put(secret("db", {"pw": "x"}))
    await cache.get(Kind.SECRET, "default", "db")
    await clock.advance(60)
    api.down = True
    assert (await cache.get(Kind.SECRET, "default", "db"))["data"]["pw"] == b64("x")
    with pytest.raises(ConfigError, match="couldn't get secret default/other"):
        await cache.get(Kind.SECRET, "default", "other")
    api.down = False
    api.forbidden.add("db")
    with pytest.raises(ConfigError, match='secrets "db" is forbidden'):
        await cache.get(Kind.SECRET, "default", "db")


async def test_concurrent_reads_of_one_object_make_one_request(
        api: FakeApi, cache: ConfigCache) -> None:
    api.put(secret("db", {"pw": "x"}))
    api.delay = 0.01
    got = await asyncio.gather(*(cache.get(Kind.SECRET, "default", "db") for _ in range(5)))
    assert len(api.gets) == 1 and all(g is got[0] for g in got)


def test_references_name_every_source_once() -> None:
    refs = references(pod({
        "volumes": [{"name": "a", "secret": {"secretName": "s1"}},
                    {"name": "b", "configMap": {"name": "c1"}},
                    {"name": "e", "emptyDir": {}}],
        "containers": [{"name": "c", "env": [
            {"name": "X", "valueFrom": {"secretKeyRef": {"name": "s1", "key": "k"}}},
            {"name": "Y", "valueFrom": {"configMapKeyRef": {"name": "c2", "key": "k"}}},
            {"name": "Z", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
            "envFrom": [{"secretRef": {"name": "s2"}}]}]}))
    assert refs == {(Kind.SECRET, "default", "s1"), (Kind.CONFIGMAP, "default", "c1"),
                    (Kind.CONFIGMAP, "default", "c2"), (Kind.SECRET, "default", "s2")}


# ----------------------------------------------------------------------------- volumes


def test_a_secret_volume_holds_every_key_with_the_default_mode() -> None:
    [vol] = config_volumes(pod({"volumes": [{"name": "v", "secret": {"secretName": "db"}}]}))
    assert vol.plugin == "kubernetes.io~secret" and vol.default_mode == 0o644
    files = make_payload(vol, secret("db", {"user": "admin", "pw": "s3cret"}))
    assert files == {"user": FileProjection(b"admin", 0o644),
                     "pw": FileProjection(b"s3cret", 0o644)}


def test_items_pick_keys_paths_and_modes() -> None:
    [vol] = config_volumes(pod({"volumes": [{"name": "v", "configMap": {
        "name": "cfg", "defaultMode": 0o440,
        "items": [{"key": "app", "path": "conf/app.yaml"},
                  {"key": "bin", "path": "b", "mode": 0o400}]}}]}))
    assert vol.plugin == "kubernetes.io~configmap"
    files = make_payload(vol, configmap("cfg", {"app": "a: 1", "other": "x"},
                                        {"bin": b"\x00\x01"}))
    assert files == {"conf/app.yaml": FileProjection(b"a: 1", 0o440),
                     "b": FileProjection(b"\x00\x01", 0o400)}


def test_a_missing_key_is_an_error_unless_optional() -> None:
    spec = {"volumes": [{"name": "v", "secret": {"secretName": "db",
                                                 "items": [{"key": "nope", "path": "n"}]}}]}
    [vol] = config_volumes(pod(spec))
    with pytest.raises(ConfigError, match=r"^references non-existent secret key: nope$"):
        make_payload(vol, secret("db", {"pw": "x"}))
    spec["volumes"][0]["secret"]["optional"] = True
    [vol] = config_volumes(pod(spec))
    assert make_payload(vol, secret("db", {"pw": "x"})) == {}
    [cm] = config_volumes(pod({"volumes": [{"name": "v", "configMap": {
        "name": "c", "items": [{"key": "nope", "path": "n"}]}}]}))
    with pytest.raises(ConfigError,
                       match=r"^configmap references non-existent config key: nope$"):
        make_payload(cm, configmap("c", {}))


async def test_a_missing_object_fails_the_volume_unless_optional(cache: ConfigCache) -> None:
    spec = {"volumes": [{"name": "v", "configMap": {"name": "absent"}}]}
    [vol] = config_volumes(pod(spec))
    with pytest.raises(ConfigError, match=r'^configmap "absent" not found$'):
        await payload(vol, "default", cache)
    spec["volumes"][0]["configMap"]["optional"] = True
    [vol] = config_volumes(pod(spec))
    assert await payload(vol, "default", cache) == {}


# ----------------------------------------------------------------------------- env


async def test_key_refs_and_env_from_resolve_to_literals_the_runtime_can_finish(
        api: FakeApi, cache: ConfigCache) -> None:
    api.put(secret("db", {"password": "pa$(HOME)ss", "user": "admin"}))
    api.put(configmap("cfg", {"MODE": "fast", "LEVEL": "3", "1bad": "x", "also bad": "y"}))
    p = pod({"containers": []})
    container = {"name": "c", "image": "busybox",
                 "envFrom": [{"configMapRef": {"name": "cfg"}},
                             {"prefix": "DB_", "secretRef": {"name": "db"}}],
                 "env": [{"name": "PW", "valueFrom": {"secretKeyRef": {
                             "name": "db", "key": "password"}}},
                         {"name": "LEVEL", "value": "override"},
                         {"name": "GREETING", "value": "mode=$(MODE)"},
                         {"name": "NAME", "valueFrom": {"fieldRef": {
                             "fieldPath": "metadata.name"}}}]}
    resolved = await resolve_env(p, container, cache)
    assert "envFrom" not in resolved.container
    assert resolved.container["image"] == "busybox"
    env = container_env(p, resolved.container, pod_ip="10.0.0.5", host_ip="10.0.0.1")
    assert env == {"MODE": "fast", "LEVEL": "override", "DB_password": "pa$(HOME)ss",
                   "DB_user": "admin", "PW": "pa$(HOME)ss", "GREETING": "mode=fast",
                   "NAME": "p"}
    assert resolved.warnings == [
        "Keys [1bad, also bad] from the EnvFrom configMap default/cfg were skipped since "
        "they are considered invalid environment variable names."]
    assert container["envFrom"]  # the pod's own spec is left alone


async def test_missing_objects_and_keys_give_kubernetes_messages(
        api: FakeApi, cache: ConfigCache) -> None:
    api.put(secret("db", {"pw": "x"}))
    api.put(configmap("cfg", {"a": "1"}))
    p = pod({"containers": []})

    async def error(item: Object) -> str:
        with pytest.raises(ConfigError) as e:
            await resolve_env(p, {"name": "c", **item}, cache)
        return str(e.value)

    assert await error({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {
        "name": "nope", "key": "k"}}}]}) == 'secret "nope" not found'
    assert await error({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {
        "name": "db", "key": "k"}}}]}) == "couldn't find key k in Secret default/db"
    assert await error({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {
        "name": "cfg", "key": "k"}}}]}) == "couldn't find key k in ConfigMap default/cfg"
    assert await error({"envFrom": [{"configMapRef": {"name": "nope"}}]}) == \
        'configmap "nope" not found'


async def test_optional_refs_leave_the_variable_out(api: FakeApi, cache: ConfigCache) -> None:
    api.put(secret("db", {"pw": "x"}))
    p = pod({"containers": []})
    resolved = await resolve_env(p, {"name": "c", "env": [
        {"name": "A", "valueFrom": {"secretKeyRef": {"name": "db", "key": "k",
                                                     "optional": True}}},
        {"name": "B", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k",
                                                     "optional": True}}},
        {"name": "C", "value": "c"}],
        "envFrom": [{"secretRef": {"name": "nope", "optional": True}}]}, cache)
    assert resolved.container["env"] == [{"name": "C", "value": "c"}]


async def test_a_container_without_config_refs_is_passed_through(cache: ConfigCache) -> None:
    container = {"name": "c", "env": [{"name": "A", "value": "1"}]}
    assert (await resolve_env(pod({}), container, cache)).container is container
