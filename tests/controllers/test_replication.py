"""The replication controller against the real API server: replica counts, names, owners,
replacement, scaling, adoption, status, expectations under a slow watch, and restarts."""

from __future__ import annotations

import asyncio
import copy
import re

import pytest

from minikube8s.api.meta import NAME_ALPHABET
from minikube8s.client import Informer, WatchEvent, resource
from minikube8s.roles.context import RoleContext
from minikube8s.roles.controllers.replication import ReplicationController
from tests.controllers.conftest import (
    PODS,
    RCS,
    Cluster,
    Object,
    events_in,
    eventually,
    pods_in,
    rc_manifest,
)

NAME_RE = re.compile(rf"^web-[{NAME_ALPHABET}]{{5}}$")


def active(pods: list[Object]) -> list[Object]:
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


async def count_is(cluster: Cluster, ns: str, n: int) -> bool:
    return len(active(await pods_in(cluster.client, ns, "app=web"))) == n


async def test_rc_of_6_creates_6_owned_pods(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"replication"})
    rc = await cluster.client.create(RCS, rc_manifest("web", 6), namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 6), what="6 pods")
    pods = await pods_in(cluster.client, ns)
    assert len(pods) == 6
    for p in pods:
        assert NAME_RE.match(p["metadata"]["name"]), p["metadata"]["name"]
        assert p["metadata"]["ownerReferences"] == [{
            "apiVersion": "v1", "kind": "ReplicationController", "name": "web",
            "uid": rc["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}]
        assert p["metadata"]["labels"] == {"app": "web"}
        assert p["spec"]["containers"][0]["image"] == "nginx"

    async def status_ok() -> bool:
        st = (await cluster.client.get(RCS, "web", namespace=ns)).get("status") or {}
        return st.get("replicas") == 6 and st.get("observedGeneration") == 1 \
            and st.get("fullyLabeledReplicas") == 6
    await eventually(status_ok, what="rc status")

    async def six_events() -> bool:
        evs = await events_in(cluster.client, ns, "SuccessfulCreate")
        return sum(e.get("count", 1) for e in evs) == 6
    await eventually(six_events, what="6 SuccessfulCreate events")
    ev = (await events_in(cluster.client, ns, "SuccessfulCreate"))[0]
    assert ev["involvedObject"]["kind"] == "ReplicationController"
    assert ev["source"]["component"] == "replication-controller"
    assert ev["message"].startswith("Created pod: web-")


async def test_deleted_pod_is_replaced(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"replication"})
    await cluster.client.create(RCS, rc_manifest("web", 3), namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 3))
    victim = (await pods_in(cluster.client, ns))[0]["metadata"]["name"]
    await cluster.client.delete(PODS, victim, namespace=ns)

    async def replaced() -> bool:
        names = {p["metadata"]["name"] for p in active(await pods_in(cluster.client, ns))}
        return len(names) == 3 and victim not in names
    await eventually(replaced, what="replacement")
    await asyncio.sleep(0.5)
    assert len(await pods_in(cluster.client, ns)) == 3


async def test_scale_6_10_0(cluster: Cluster, ns: str) -> None:
    run = await cluster.start(only={"replication"})
    await cluster.client.create(RCS, rc_manifest("web", 6), namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 6))
    await cluster.client.update_scale(RCS, "web", 10, namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 10))
    await cluster.client.update_scale(RCS, "web", 0, namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 0))

    async def status_zero() -> bool:
        st = (await cluster.client.get(RCS, "web", namespace=ns)).get("status") or {}
        return st.get("replicas") == 0 and st.get("observedGeneration") == 3
    await eventually(status_zero, what="status after scale to 0")
    ctrl = run.manager["replication"]
    assert isinstance(ctrl, ReplicationController)
    assert (ctrl.created, ctrl.deleted) == (10, 10)

    async def deletes_recorded() -> bool:
        evs = await events_in(cluster.client, ns, "SuccessfulDelete")
        return sum(e.get("count", 1) for e in evs) == 10
    await eventually(deletes_recorded, what="10 SuccessfulDelete events")


async def test_scale_down_deletes_least_valuable_first(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"replication"})
    await cluster.client.create(RCS, rc_manifest("web", 3), namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 3))
    pods = await pods_in(cluster.client, ns)
    # Acting as a kubelet: two pods Running and Ready; the third stays Pending.
    for p in pods[:2]:
        p = copy.deepcopy(p)
        p["status"] = {"phase": "Running", "podIP": "172.16.0.9",
                       "conditions": [{"type": "Ready", "status": "True"}]}
        await cluster.client.update_status(PODS, p)
    pending = pods[2]["metadata"]["name"]

    async def ready_two() -> bool:
        st = (await cluster.client.get(RCS, "web", namespace=ns)).get("status") or {}
        return st.get("readyReplicas") == 2 and st.get("availableReplicas") == 2
    await eventually(ready_two, what="readyReplicas 2")
    await cluster.client.update_scale(RCS, "web", 2, namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 2))
    names = {p["metadata"]["name"] for p in await pods_in(cluster.client, ns)}
    assert pending not in names


async def test_adopts_orphans_and_releases_mismatches(cluster: Cluster, ns: str) -> None:
    await cluster.start(only={"replication"})
    orphan = {"metadata": {"name": "stray", "labels": {"app": "web"}},
              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
    await cluster.client.create(PODS, orphan, namespace=ns)
    rc = await cluster.client.create(RCS, rc_manifest("web", 2), namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 2))
    await asyncio.sleep(0.3)
    stray = await cluster.client.get(PODS, "stray", namespace=ns)
    assert stray["metadata"]["ownerReferences"][0]["uid"] == rc["metadata"]["uid"]
    assert len(await pods_in(cluster.client, ns)) == 2

    # Relabel it: released (no ownerReference) and replaced by a new pod.
    await cluster.client.patch(PODS, "stray", {"metadata": {"labels": {"app": "other"}}},
                               namespace=ns)

    async def released() -> bool:
        p = await cluster.client.get(PODS, "stray", namespace=ns)
        return not p["metadata"].get("ownerReferences")
    await eventually(released, what="release")
    await eventually(lambda: count_is(cluster, ns, 2), what="replacement")


async def test_no_double_create_with_a_slow_watch(cluster: Cluster, ns: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The pod watch lags 1.5 s behind; meanwhile the RC is reconciled again and again (its
    own updates arrive at once). Expectations keep it from creating more than it asked for."""
    delay = 1.5

    def slow_pod_watch(ctx: RoleContext) -> None:
        pods: Informer = ctx.informers.informer(PODS)
        original = pods.apply
        loop = asyncio.get_running_loop()

        def late(event: WatchEvent) -> None:
            loop.call_later(delay, original, event)
        monkeypatch.setattr(pods, "apply", late)

    run = await cluster.start(only={"replication"}, before_start=slow_pod_watch)
    await cluster.client.create(RCS, rc_manifest("web", 4), namespace=ns)
    for i in range(10):
        await asyncio.sleep(0.1)
        await cluster.client.patch(RCS, "web", {"metadata": {"annotations": {"poke": str(i)}}},
                                   namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 4))
    await asyncio.sleep(delay + 0.5)
    assert len(await pods_in(cluster.client, ns)) == 4
    ctrl = run.manager["replication"]
    assert isinstance(ctrl, ReplicationController)
    assert ctrl.created == 4
    assert ctrl.runner.reconciles >= 5  # it really was woken while the watch lagged


async def test_restart_creates_no_extra_pods(cluster: Cluster, ns: str) -> None:
    first = await cluster.start(only={"replication"})
    await cluster.client.create(RCS, rc_manifest("web", 5), namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 5))
    before = {p["metadata"]["name"] for p in await pods_in(cluster.client, ns)}
    await cluster.stop(first)
    second = await cluster.start(only={"replication"})
    await cluster.client.patch(RCS, "web", {"metadata": {"annotations": {"poke": "1"}}},
                               namespace=ns)
    await asyncio.sleep(1.0)
    after = {p["metadata"]["name"] for p in await pods_in(cluster.client, ns)}
    assert after == before
    ctrl = second.manager["replication"]
    assert isinstance(ctrl, ReplicationController)
    assert ctrl.created == 0 and ctrl.runner.reconciles >= 1


async def test_failed_creates_back_off_in_slow_start(cluster: Cluster, ns: str) -> None:
    """A quota of 2 pods: the RC of 5 gets 2, a FailedCreate event, and thanks to slow-start
    batches and the backoff, only a handful of refused creates rather than one per missing pod
    per pass."""
    await cluster.client.create(resource("resourcequotas"), {
        "metadata": {"name": "two"}, "spec": {"hard": {"pods": "2"}}}, namespace=ns)
    run = await cluster.start(only={"replication"})
    await cluster.client.create(RCS, rc_manifest("web", 5), namespace=ns)
    await eventually(lambda: count_is(cluster, ns, 2))

    async def failed_event() -> bool:
        return bool(await events_in(cluster.client, ns, "FailedCreate"))
    await eventually(failed_event, what="FailedCreate event")
    await asyncio.sleep(1.0)
    assert len(await pods_in(cluster.client, ns)) == 2
    evs = await events_in(cluster.client, ns, "FailedCreate")
    assert all(e["type"] == "Warning" and "exceeded quota" in e["message"] for e in evs)
    # Exponential backoff between passes, one refusal per pass (batches stop at a failure).
    assert 1 <= sum(e.get("count", 1) for e in evs) <= 12
    ctrl = run.manager["replication"]
    assert isinstance(ctrl, ReplicationController)
    assert ctrl.created == 2
