"""Pure helpers the controllers share: pod state, ownerReferences, timestamps, pod ordering.

Kubernetes keeps these in k8s.io/kubernetes/pkg/api/v1/pod (IsPodReady), pkg/controller
(FilterActivePods, ActivePods ordering, GetControllerOf) and apimachinery's metav1 helpers.
Nothing here does I/O, so the unit tests in tests/unit/controllers exercise them directly;
replication.py, endpoints.py, node_lifecycle.py and garbage_collector.py import them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Object = dict[str, Any]


# -- timestamps -----------------------------------------------------------------------------------

def parse_time(value: Any) -> float | None:
    """RFC 3339 (``2015-05-08T12:00:00Z``, fractions allowed) to epoch seconds; None if absent
    or unparsable."""
    if not value or not isinstance(value, str):
        return None
    s = value.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def format_time(epoch: float | None = None) -> str:
    """Epoch seconds (now if None) as Kubernetes writes metav1.Time: whole seconds, UTC."""
    dt = datetime.now(UTC) if epoch is None else datetime.fromtimestamp(epoch, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- metadata -------------------------------------------------------------------------------------

def meta(obj: Mapping[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    lb = meta(obj).get("labels")
    return lb if isinstance(lb, dict) else {}


def is_terminating(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def owner_refs(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    refs = meta(obj).get("ownerReferences")
    return [r for r in refs if isinstance(r, dict)] if isinstance(refs, list) else []


def controller_ref(obj: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true`` (metav1.GetControllerOf)."""
    for ref in owner_refs(obj):
        if ref.get("controller"):
            return ref
    return None


def owner_uids(obj: Mapping[str, Any]) -> list[str]:
    return [str(r.get("uid")) for r in owner_refs(obj) if r.get("uid")]


def new_controller_ref(owner: Mapping[str, Any], *, api_version: str = "v1",
                       kind: str = "") -> dict[str, Any]:
    """What a controller puts on what it creates or adopts (metav1.NewControllerRef)."""
    md = meta(owner)
    return {"apiVersion": str(owner.get("apiVersion") or api_version),
            "kind": str(owner.get("kind") or kind), "name": str(md.get("name") or ""),
            "uid": str(md.get("uid") or ""), "controller": True, "blockOwnerDeletion": True}


def finalizers_of(obj: Mapping[str, Any]) -> list[str]:
    fins = meta(obj).get("finalizers")
    return [str(f) for f in fins] if isinstance(fins, list) else []


# -- pods -----------------------------------------------------------------------------------------

def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def node_name(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def condition(obj: Mapping[str, Any], type_: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == type_:
            return c
    return None


def is_ready(pod: Mapping[str, Any]) -> bool:
    c = condition(pod, "Ready")
    return c is not None and c.get("status") == "True"


def is_active(pod: Mapping[str, Any]) -> bool:
    """Counts toward a controller's replicas (controller.IsPodActive): not finished and not
    being deleted."""
    return phase(pod) not in ("Succeeded", "Failed") and not is_terminating(pod)


def filter_active(pods: Iterable[Object]) -> list[Object]:
    return [p for p in pods if is_active(p)]


def restart_count(pod: Mapping[str, Any]) -> int:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((int(s.get("restartCount") or 0) for s in statuses if isinstance(s, dict)),
               default=0)


_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}


def deletion_order_key(pod: Mapping[str, Any]) -> tuple[float, ...]:
    """Sort key for Kubernetes' ActivePods ordering: the pods that sort first are the ones a
    controller deletes first when scaling down.

    Unassigned < assigned; Pending < Unknown < Running; not ready < ready; ready for less
    time < ready longer; more restarts < fewer; no creation time < newer < older."""
    ready = is_ready(pod)
    ready_since = 0.0
    if ready:
        c = condition(pod, "Ready") or {}
        t = parse_time(c.get("lastTransitionTime"))
        ready_since = -(t if t is not None else math.inf)
    created = parse_time(meta(pod).get("creationTimestamp"))
    return (1.0 if node_name(pod) else 0.0,
            float(_PHASE_ORDINAL.get(phase(pod), 0)),
            1.0 if ready else 0.0,
            ready_since,
            -float(restart_count(pod)),
            -(created if created is not None else math.inf))


def sort_for_deletion(pods: Iterable[Object]) -> list[Object]:
    return sorted(pods, key=deletion_order_key)


def is_available(pod: Mapping[str, Any], min_ready_seconds: int, now: float) -> bool:
    """Ready for at least ``min_ready_seconds`` (podutil.IsPodAvailable); ``now`` is epoch
    seconds, compared with the Ready condition's wall-clock lastTransitionTime."""
    if not is_ready(pod):
        return False
    if min_ready_seconds <= 0:
        return True
    t = parse_time((condition(pod, "Ready") or {}).get("lastTransitionTime"))
    return t is not None and t + min_ready_seconds <= now
