"""Pod status from runtime state (status.py): phase, conditions, container statuses, QoS."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube8s.roles.kubelet.runtime import ContainerInstance, ContainerState, PodRuntimeStatus
from minikube8s.roles.kubelet.status import (
    compute_pod_status,
    pod_phase,
    qos_class,
    rfc3339,
    status_patch,
)

UID = "u-1"
T0 = 1_700_000_000.0


def pod(policy: str = "Always", containers: int = 1,
        resources: dict[str, Any] | None = None) -> dict[str, Any]:
    cs = [{"name": f"c{i}", "image": "nginx", "resources": resources or {}}
          for i in range(containers)]
    return {"metadata": {"name": "p", "namespace": "default", "uid": UID},
            "spec": {"restartPolicy": policy, "nodeName": "n1", "containers": cs},
            "status": {"phase": "Pending"}}


def inst(name: str, attempt: int, state: ContainerState, code: int | None = None
         ) -> ContainerInstance:
    return ContainerInstance(
        name=name, container_id=f"hollow://{name}-{attempt}", image="nginx",
        image_id="hollow://sha256:x", state=state, attempt=attempt, created_at=T0,
        started_at=T0 + 1 if state != ContainerState.CREATED else None,
        finished_at=T0 + 5 if state == ContainerState.EXITED else None, exit_code=code)


def rs(*instances: ContainerInstance, ip: str = "172.16.0.5") -> PodRuntimeStatus:
    return PodRuntimeStatus(uid=UID, sandbox_ready=True, ip=ip, containers=list(instances))


def conds(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


def test_nothing_started_yet_is_pending_container_creating() -> None:
    st = compute_pod_status(pod(), rs(), host_ip="10.0.0.1", now=T0)
    assert st["phase"] == "Pending"
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert (cs["ready"], cs["started"], cs["restartCount"]) == (False, False, 0)
    assert st["hostIP"] == "10.0.0.1" and st["hostIPs"] == [{"ip": "10.0.0.1"}]
    assert st["podIP"] == "172.16.0.5" and st["podIPs"] == [{"ip": "172.16.0.5"}]
    assert st["startTime"] == rfc3339(T0)
    c = conds(st)
    assert c["Ready"]["status"] == "False"
    assert c["Ready"]["message"] == "containers with unready status: [c0]"
    assert c["PodScheduled"]["status"] == "True" and c["Initialized"]["status"] == "True"


def test_running_pod_is_ready_with_started_at() -> None:
    st = compute_pod_status(pod(), rs(inst("c0", 0, ContainerState.RUNNING)),
                            host_ip="10.0.0.1", now=T0 + 2)
    assert st["phase"] == "Running"
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"running": {"startedAt": rfc3339(T0 + 1)}}
    assert cs["containerID"] == "hollow://c0-0" and cs["imageID"] == "hollow://sha256:x"
    assert (cs["ready"], cs["started"]) == (True, True)
    assert conds(st)["Ready"]["status"] == "True"
    assert conds(st)["ContainersReady"]["status"] == "True"
    # Readiness (issue 5's probes) can hold a running container back.
    st = compute_pod_status(pod(), rs(inst("c0", 0, ContainerState.RUNNING)),
                            host_ip="", now=T0, readiness={"c0": False})
    assert st["containerStatuses"][0]["ready"] is False
    assert conds(st)["Ready"]["status"] == "False"


@pytest.mark.parametrize(("policy", "code", "phase"), [
    ("Never", 0, "Succeeded"), ("Never", 1, "Failed"),
    ("OnFailure", 0, "Succeeded"), ("OnFailure", 1, "Running"),
    ("Always", 0, "Running"), ("Always", 1, "Running"),
])
def test_phase_of_an_exited_container(policy: str, code: int, phase: str) -> None:
    st = compute_pod_status(pod(policy), rs(inst("c0", 0, ContainerState.EXITED, code)),
                            host_ip="", now=T0 + 6)
    assert st["phase"] == phase
    term = st["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == code
    assert term["reason"] == ("Completed" if code == 0 else "Error")
    assert term["startedAt"] == rfc3339(T0 + 1) and term["finishedAt"] == rfc3339(T0 + 5)
    if phase in ("Succeeded", "Failed"):
        assert conds(st)["Ready"]["reason"] == "PodCompleted"


def test_crash_loop_back_off_shows_waiting_and_last_state() -> None:
    st = compute_pod_status(
        pod(), rs(inst("c0", 2, ContainerState.EXITED, 1), inst("c0", 1, ContainerState.EXITED, 1)),
        host_ip="", now=T0, waiting={"c0": ("CrashLoopBackOff", "back-off 20s ...")})
    cs = st["containerStatuses"][0]
    assert cs["state"] == {"waiting": {"reason": "CrashLoopBackOff",
                                       "message": "back-off 20s ..."}}
    assert cs["lastState"]["terminated"]["containerID"] == "hollow://c0-2"
    assert cs["restartCount"] == 2
    assert st["phase"] == "Running"  # waiting after a termination counts as stopped


def test_restarted_container_reports_the_previous_run_as_last_state() -> None:
    st = compute_pod_status(
        pod(), rs(inst("c0", 1, ContainerState.RUNNING), inst("c0", 0, ContainerState.EXITED, 3)),
        host_ip="", now=T0)
    cs = st["containerStatuses"][0]
    assert cs["restartCount"] == 1 and "running" in cs["state"]
    assert cs["lastState"]["terminated"]["exitCode"] == 3


def test_two_containers_one_waiting_is_pending() -> None:
    p = pod("Never", containers=2)
    st = compute_pod_status(p, rs(inst("c0", 0, ContainerState.RUNNING)), host_ip="", now=T0)
    assert st["phase"] == "Pending"
    st = compute_pod_status(p, rs(inst("c0", 0, ContainerState.RUNNING),
                                  inst("c1", 0, ContainerState.EXITED, 1)), host_ip="", now=T0)
    assert st["phase"] == "Running"
    st = compute_pod_status(p, rs(inst("c0", 0, ContainerState.EXITED, 0),
                                  inst("c1", 0, ContainerState.EXITED, 1)), host_ip="", now=T0)
    assert st["phase"] == "Failed"


def test_unchanged_pod_computes_an_identical_status() -> None:
    p = pod()
    first = compute_pod_status(p, rs(inst("c0", 0, ContainerState.RUNNING)), host_ip="h",
                               now=T0 + 2)
    p2 = copy.deepcopy(p)
    p2["status"] = first
    again = compute_pod_status(p2, rs(inst("c0", 0, ContainerState.RUNNING)), host_ip="h",
                               now=T0 + 500)
    assert again == first  # transition times and startTime kept
    crashed = compute_pod_status(p2, rs(inst("c0", 0, ContainerState.EXITED, 1)), host_ip="h",
                                 now=T0 + 600)
    assert conds(crashed)["Ready"]["lastTransitionTime"] == rfc3339(T0 + 600)
    assert conds(crashed)["PodScheduled"]["lastTransitionTime"] == rfc3339(T0 + 2)


def test_terminal_phase_is_forever_and_foreign_fields_stay() -> None:
    p = pod("Never")
    p["status"] = {"phase": "Failed", "reason": "Evicted", "nominatedNodeName": "x",
                   "conditions": [{"type": "DisruptionTarget", "status": "True"}]}
    st = compute_pod_status(p, rs(), host_ip="", now=T0)
    assert st["phase"] == "Failed"
    assert st["reason"] == "Evicted" and st["nominatedNodeName"] == "x"
    assert "DisruptionTarget" in conds(st)


@pytest.mark.parametrize(("resources", "qos"), [
    ({}, "BestEffort"),
    ({"requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "100m", "memory": "64Mi"}}, "Guaranteed"),
    ({"limits": {"cpu": "100m", "memory": "64Mi"},
      "requests": {"cpu": "0.1", "memory": "64Mi"}}, "Guaranteed"),
    ({"limits": {"cpu": "200m", "memory": "64Mi"}, "requests": {"cpu": "100m"}}, "Burstable"),
    ({"limits": {"cpu": "100m"}}, "Burstable"),
])
def test_qos_class(resources: dict[str, Any], qos: str) -> None:
    assert qos_class(pod(resources=resources)) == qos


def test_status_patch_nulls_vanished_keys() -> None:
    assert status_patch({"phase": "Pending", "message": "m"}, {"phase": "Running"}) == {
        "phase": "Running", "message": None}


def test_pod_phase_without_statuses_is_pending() -> None:
    assert pod_phase(pod(), []) == "Pending"
