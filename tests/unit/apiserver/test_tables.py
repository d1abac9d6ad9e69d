"""Server-side Tables: kubectl's column sets and cell rules (printers.go, HumanDuration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from minikube8s.api import resources
from minikube8s.roles.apiserver import tables

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def ago(**kw: float) -> str:
    return (NOW - timedelta(**kw)).strftime("%Y-%m-%dT%H:%M:%SZ")


def res(name: str) -> resources.Resource:
    r = resources.lookup(name)
    assert r is not None
    return r


def table(name: str, objs: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return tables.to_table(res(name), objs, resource_version="42", now=NOW, **kw)


def headers(t: dict[str, Any], *, wide: bool = False) -> list[str]:
    return [c["name"].upper() for c in t["columnDefinitions"] if wide or c["priority"] == 0]


def cells(t: dict[str, Any], row: int = 0) -> dict[str, Any]:
    names = [c["name"] for c in t["columnDefinitions"]]
    return dict(zip(names, t["rows"][row]["cells"], strict=True))


@pytest.mark.parametrize(("seconds", "want"), [
    (-5, "<invalid>"), (-1, "0s"), (0, "0s"), (5, "5s"), (119, "119s"), (120, "2m"),
    (185, "3m5s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"), (3 * 3600 + 300, "3h5m"),
    (8 * 3600, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"), (50 * 3600, "2d2h"),
    (8 * 86400, "8d"), (400 * 86400, "400d"), (730 * 86400, "2y"), (735 * 86400, "2y5d"),
    (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds: int, want: str) -> None:
    assert tables.human_duration(seconds) == want


def test_since_unknown_for_missing_time() -> None:
    assert tables.since(None) == "<unknown>"
    assert tables.since("garbage") == "<unknown>"


@pytest.mark.parametrize(("accept", "want"), [
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
     "g=meta.k8s.io,application/json", True),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io", False),
    ("application/json", False),
    ("", False),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", False),
])
def test_wants_table(accept: str, want: bool) -> None:
    assert tables.wants_table(accept) is want


def pod(**over: Any) -> dict[str, Any]:
    p: dict[str, Any] = {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ago(seconds=5),
                     "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "a", "image": "nginx"}, {"name": "b", "image": "x"}],
                 "nodeName": "n1"},
        "status": {"phase": "Running", "podIP": "172.16.0.5",
                   "conditions": [{"type": "Ready", "status": "True"}],
                   "containerStatuses": [
                       {"name": "a", "ready": True, "restartCount": 0,
                        "state": {"running": {"startedAt": ago(seconds=4)}}},
                       {"name": "b", "ready": False, "restartCount": 2,
                        "state": {"running": {}},
                        "lastState": {"terminated": {"exitCode": 1,
                                                     "finishedAt": ago(minutes=3)}}},
                   ]},
    }
    p.update(over)
    return p


def test_pod_columns_and_cells() -> None:
    t = table("pods", [pod()])
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert t["metadata"] == {"resourceVersion": "42"}
    assert headers(t) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert headers(t, wide=True)[5:] == ["IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
    c = cells(t)
    assert c["Name"] == "web"
    assert c["Ready"] == "1/2"
    assert c["Status"] == "Running"
    assert c["Restarts"] == "2 (3m ago)"
    assert c["Age"] == "5s"
    assert (c["IP"], c["Node"], c["Nominated Node"], c["Readiness Gates"]) == \
        ("172.16.0.5", "n1", "<none>", "<none>")


def test_pod_status_from_container_states() -> None:
    waiting = pod(status={"phase": "Pending", "containerStatuses": [
        {"name": "a", "state": {"waiting": {"reason": "ContainerCreating"}}}]})
    crashed = pod(status={"phase": "Running", "containerStatuses": [
        {"name": "a", "state": {"terminated": {"exitCode": 137}}}]})
    pending = pod(status={"phase": "Pending"})
    fresh = pod(status={})
    t = table("pods", [waiting, crashed, pending, fresh])
    assert [cells(t, i)["Status"] for i in range(4)] == \
        ["ContainerCreating", "ExitCode:137", "Pending", ""]
    assert cells(t, 2)["IP"] == "<none>"


def test_pod_terminating_and_init() -> None:
    deleting = pod(metadata={"name": "x", "deletionTimestamp": ago(seconds=1)})
    init = pod(spec={"containers": [{"name": "a"}],
                     "initContainers": [{"name": "i1"}, {"name": "i2"}]},
               status={"phase": "Pending", "initContainerStatuses": [
                   {"name": "i1", "state": {"terminated": {"exitCode": 0}}},
                   {"name": "i2", "state": {"running": {}}}]})
    t = table("pods", [deleting, init])
    assert cells(t, 0)["Status"] == "Terminating"
    assert cells(t, 1)["Status"] == "Init:1/2"
    assert cells(t, 1)["Ready"] == "0/1"


def test_completed_pod_row_condition() -> None:
    done = pod(status={"phase": "Succeeded"})
    t = table("pods", [done])
    assert t["rows"][0]["conditions"][0]["type"] == "Completed"


def test_include_object_modes() -> None:
    p = pod()
    meta = table("pods", [p])["rows"][0]["object"]
    assert meta == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": p["metadata"]}
    assert table("pods", [p], include_object="Object")["rows"][0]["object"] is p
    assert "object" not in table("pods", [p], include_object="None")["rows"][0]
    t = table("pods", [], continue_token="abc")
    assert t["metadata"] == {"resourceVersion": "42", "continue": "abc"}
    assert t["rows"] == []


def test_replication_controller() -> None:
    rc = {"metadata": {"name": "nginx", "creationTimestamp": ago(days=3)},
          "spec": {"replicas": 3, "selector": {"name": "nginx", "app": "a"},
                   "template": {"spec": {"containers": [{"name": "n", "image": "nginx"},
                                                        {"name": "s", "image": "busybox"}]}}},
          "status": {"replicas": 2, "readyReplicas": 1}}
    t = table("rc", [rc])
    assert headers(t) == ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
    assert headers(t, wide=True)[5:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    assert t["rows"][0]["cells"] == ["nginx", 3, 2, 1, "3d", "n,s", "nginx,busybox",
                                     "app=a,name=nginx"]


def test_service() -> None:
    svc = {"metadata": {"name": "nginx", "creationTimestamp": ago(minutes=15)},
           "spec": {"type": "ClusterIP", "clusterIP": "192.168.3.7",
                    "ports": [{"port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
                    "selector": {"name": "nginx"}}}
    lb = {"metadata": {"name": "lb"},
          "spec": {"type": "NodePort", "clusterIPs": ["10.0.0.1"], "externalIPs": ["1.2.3.4"],
                   "ports": [{"port": 443, "nodePort": 30443, "protocol": "TCP"}]}}
    t = table("svc", [svc, lb])
    assert headers(t) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert headers(t, wide=True)[6:] == ["SELECTOR"]
    assert t["rows"][0]["cells"] == ["nginx", "ClusterIP", "192.168.3.7", "<none>",
                                     "80/TCP,53/UDP", "15m", "name=nginx"]
    assert t["rows"][1]["cells"] == ["lb", "NodePort", "10.0.0.1", "1.2.3.4", "443:30443/TCP",
                                     "<unknown>", "<none>"]


def test_node() -> None:
    node = {"metadata": {"name": "n1", "creationTimestamp": ago(hours=5),
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "False"}],
                       "addresses": [{"type": "InternalIP", "address": "10.1.0.2"}],
                       "nodeInfo": {"kubeletVersion": "v0.17.0", "osImage": "Debian"}}}
    bare = {"metadata": {"name": "n2"}}
    t = table("no", [node, bare])
    assert headers(t) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert t["rows"][0]["cells"] == ["n1", "NotReady,SchedulingDisabled", "control-plane", "5h",
                                     "v0.17.0", "10.1.0.2", "<none>", "Debian", "<unknown>",
                                     "<unknown>"]
    assert cells(t, 1)["Status"] == "Unknown"
    assert cells(t, 1)["Roles"] == "<none>"


def test_namespace_lease_default() -> None:
    assert table("ns", [{"metadata": {"name": "default"}, "status": {"phase": "Active"}}])[
        "rows"][0]["cells"] == ["default", "Active", "<unknown>"]
    lease = resources.by_kind("Lease", "coordination.k8s.io")
    assert lease is not None
    t = tables.to_table(lease, [{"metadata": {"name": "sched"},
                                 "spec": {"holderIdentity": "m1"}}], resource_version="1")
    assert headers(t) == ["NAME", "HOLDER", "AGE"]
    assert t["rows"][0]["cells"][:2] == ["sched", "m1"]
    binding = res("bindings")
    t = tables.to_table(binding, [{"metadata": {"name": "b"}}], resource_version="1")
    assert headers(t) == ["NAME", "AGE"]


def test_endpoints() -> None:
    ep = {"metadata": {"name": "nginx"}, "subsets": [
        {"addresses": [{"ip": f"172.16.0.{i}"} for i in range(1, 4)],
         "ports": [{"port": 80}, {"port": 443}]}]}
    assert tables.format_endpoints(ep) == \
        "172.16.0.1:80,172.16.0.2:80,172.16.0.3:80 + 3 more..."
    assert tables.format_endpoints({"subsets": []}) == "<none>"
    assert tables.format_endpoints({"subsets": [{"addresses": [{"ip": "1.1.1.1"}]}]}) == "1.1.1.1"
    t = table("ep", [ep])
    assert headers(t) == ["NAME", "ENDPOINTS", "AGE"]


def test_event() -> None:
    ev = {"metadata": {"name": "web.1"}, "type": "Normal", "reason": "Scheduled",
          "message": " Successfully assigned default/web to n1 ",
          "involvedObject": {"kind": "Pod", "name": "web"},
          "source": {"component": "scheduler"},
          "firstTimestamp": ago(minutes=2), "lastTimestamp": ago(seconds=30), "count": 3}
    t = table("ev", [ev])
    assert headers(t) == ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    c = cells(t)
    assert (c["Last Seen"], c["Object"], c["Message"], c["First Seen"], c["Count"],
            c["Source"]) == ("30s", "pod/web", "Successfully assigned default/web to n1", "2m",
                             3, "scheduler")


def test_quota_and_limitrange() -> None:
    rq = {"metadata": {"name": "q"},
          "status": {"hard": {"pods": "10", "limits.cpu": "2", "cpu": "1"},
                     "used": {"pods": "3", "cpu": "500m"}}}
    c = cells(table("quota", [rq]))
    assert c["Request"] == "cpu: 500m/1, pods: 3/10"
    assert c["Limit"] == "limits.cpu: 0/2"
    lr = {"metadata": {"name": "l", "creationTimestamp": "2025-01-02T03:04:05Z"}}
    assert table("limits", [lr])["rows"][0]["cells"] == ["l", "2025-01-02T03:04:05Z"]


def test_garbage_objects_do_not_crash() -> None:
    for name in ("pods", "rc", "svc", "no", "ns", "ep", "ev", "quota", "limits"):
        t = table(name, [{"metadata": None, "spec": [], "status": "x"}, {}])
        assert len(t["rows"]) == 2
