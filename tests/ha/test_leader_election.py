"""Two ``--role a`` processes on one real etcd, one hollow node process: leader election end to
end (issue 8, Build 3).

An RC of 4 created through API 1 runs; each Lease has exactly one holder; the leader process is
SIGKILLed; the survivor takes both Leases within seconds; the RC scaled to 6 through API 2 gets
6 Running pods (so the survivor's scheduler and RC controller act), and there are never more
owned pods than replicas once settled.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.fixtures.apiserver import ApiServerProcess
from tests.fixtures.cluster import HollowNodeProcess
from tests.fixtures.etcd import EtcdProcess

T = TypeVar("T")
LEASES = ("kube-scheduler", "kube-controller-manager")
TIMINGS = ("--leader-elect=true", "--leader-elect-lease-duration", "3",
           "--leader-elect-renew-deadline", "2", "--leader-elect-retry-period", "0.5")


def call(url: str, method: str = "GET", body: Any = None,
         content_type: str = "application/json") -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def poll(what: str, fn: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except OSError as e:
            last = e
        else:
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not after {timeout}s (last: {last!r})")


def holders(url: str) -> dict[str, str]:
    out = {}
    for name in LEASES:
        try:
            lease = call(f"{url}/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/{name}")
        except OSError:
            continue
        out[name] = str(lease["spec"].get("holderIdentity") or "")
    return out


def owned_pods(url: str) -> list[dict[str, Any]]:
    pods = call(f"{url}/api/v1/namespaces/default/pods?labelSelector=app%3Dha")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def running(url: str, n: int) -> list[dict[str, Any]] | None:
    pods = owned_pods(url)
    ok = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    return pods if len(pods) == n and len(ok) == n else None


@pytest.fixture
def two_masters(tmp_path: Path) -> Iterator[tuple[ApiServerProcess, ApiServerProcess,
                                                  HollowNodeProcess]]:
    etcd = EtcdProcess(tmp_path / "etcd")
    etcd.start()
    procs: list[ApiServerProcess] = []
    node: HollowNodeProcess | None = None
    try:
        # master1 starts first and wins both leases before master2 exists; the node talks to
        # master2, so it keeps reporting once master1 (the leader) is killed.
        for i in (1, 2):
            p = ApiServerProcess(tmp_path / f"master{i}", "--store", etcd.url,
                                 "--disable", "proxy", *TIMINGS)
            p.start()
            procs.append(p)
            if i == 1:
                poll("master1 leads", lambda: all(holders(procs[0].url).values())
                     and len(holders(procs[0].url)) == 2)
        node = HollowNodeProcess(procs[1].url, 0, tmp_path / "hollow.log")
        node.start()
        yield procs[0], procs[1], node
    finally:
        if node is not None:
            node.stop()
        codes = [p.stop() for p in procs]
        etcd.stop()
        # master1 was SIGKILLed; master2 must stop cleanly (releasing its leases on the way).
        if len(codes) == 2 and codes[1] != 0:
            pytest.fail(f"master2 exited with {codes[1]}:\n{procs[1].logs()[-4000:]}")


def test_leader_killed_survivor_takes_over(
        two_masters: tuple[ApiServerProcess, ApiServerProcess, HollowNodeProcess]) -> None:
    m1, m2, node = two_masters
    poll("hollow node Ready", lambda: [
        n for n in call(f"{m1.url}/api/v1/nodes")["items"]
        if any(c["type"] == "Ready" and c["status"] == "True"
               for c in n["status"].get("conditions") or [])])
    rc = {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": "ha", "namespace": "default"},
        "spec": {"replicas": 4, "selector": {"app": "ha"}, "template": {
            "metadata": {"labels": {"app": "ha"}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
    }
    call(f"{m1.url}/api/v1/namespaces/default/replicationcontrollers", "POST", rc)
    poll("4 pods Running", lambda: running(m1.url, 4), timeout=30)

    held = holders(m2.url)
    assert all(held.values()) and len(held) == 2, held
    assert all(f"{held[n]} is the leader" in m1.logs() for n in LEASES), held
    assert not any(h in m2.logs() for h in held.values())
    assert len(owned_pods(m2.url)) == 4

    killed_at = time.monotonic()
    m1.kill()
    new = poll("master2 holds both leases", lambda: (
        lambda h: h if all(h.get(n) and h[n] != held[n] for n in LEASES) else None)(
            holders(m2.url)), timeout=20)
    took = time.monotonic() - killed_at
    # Lease 3 s, retry 0.5 s: master2 must wait out the lease on its own clock, not more.
    assert took < 8, took
    text = m2.logs()
    for n in LEASES:
        assert f"{new[n]} is the leader" in text, (n, new)

    scale = call(f"{m2.url}/api/v1/namespaces/default/replicationcontrollers/ha/scale")
    scale["spec"]["replicas"] = 6
    call(f"{m2.url}/api/v1/namespaces/default/replicationcontrollers/ha/scale", "PUT", scale)
    pods = poll("6 pods Running", lambda: running(m2.url, 6), timeout=30)
    assert len(pods) == 6
    # Settled: no duplicates from two controllers.
    time.sleep(2)
    assert len(owned_pods(m2.url)) == 6
    assert node.alive()
