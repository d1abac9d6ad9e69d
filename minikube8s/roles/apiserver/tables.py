"""Server-side Tables: the columns ``kubectl get`` prints.

kubectl asks for ``application/json;as=Table;v=v1;g=meta.k8s.io`` and prints the cells it gets
verbatim (AGE included), hiding ``priority: 1`` columns unless ``-o wide``. Without a Table it
falls back to NAME and AGE for everything, so the column sets and the way each cell is computed
follow Kubernetes' own printers (pkg/printers/internalversion/printers.go) and its duration
formatting (apimachinery/pkg/util/duration.HumanDuration). Each row carries the object as
PartialObjectMetadata (or whole, or not at all, per ``includeObject``) because kubectl reads
NAMESPACE, ``--show-labels`` and ``-L`` from it.

Neighbours: handlers.py (list, get and watch answer with ``to_table`` when ``wants_table``);
resources.py names the kinds. Pure data apart from reading the clock for AGE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...api.resources import Resource

Object = dict[str, Any]
Cell = str | int
Row = list[Cell]

META_GROUP = "meta.k8s.io"
TABLE_VERSION = "v1"


def wants_table(accept_header: str) -> bool:
    """True when the Accept header offers a meta.k8s.io/v1 Table (kubectl get does)."""
    for raw in (accept_header or "").split(","):
        parts = [p.strip() for p in raw.split(";")]
        params = {}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                params[k.strip().lower()] = v.strip().strip('"')
        if (parts[0].lower() in ("application/json", "*/*")
                and params.get("as") == "Table"
                and params.get("g") == META_GROUP
                and params.get("v") == TABLE_VERSION):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# Time


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def human_duration(seconds_total: float) -> str:
    """apimachinery's HumanDuration: about two significant figures, as kubectl shows AGE."""
    seconds = int(seconds_total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if dy == 0 else f"{years}y{dy}d"
    return f"{hours // 24 // 365}y"


def since(timestamp: Any, *, now: datetime | None = None) -> str:
    """translateTimestampSince: ``<unknown>`` for a missing time."""
    t = _parse_time(timestamp)
    if t is None:
        return "<unknown>"
    now = now or datetime.now(UTC)
    return human_duration((now - t).total_seconds())


# ---------------------------------------------------------------------------------------------
# Small accessors (objects come from the store: trust nothing about their shape)


def _d(obj: Any, *path: str) -> dict[str, Any]:
    cur = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur if isinstance(cur, dict) else {}


def _l(obj: Any, *path: str) -> list[Any]:
    cur = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur if isinstance(cur, list) else []


def _s(obj: Any, *path: str) -> str:
    cur = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur if isinstance(cur, str) else ("" if cur is None else str(cur))


def _i(obj: Any, *path: str) -> int:
    cur = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    try:
        return int(cur) if cur is not None and not isinstance(cur, bool) else 0
    except (TypeError, ValueError):
        return 0


def format_labels(labels: Any) -> str:
    """labels.FormatLabels: sorted ``k=v`` joined by commas, ``<none>`` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


# ---------------------------------------------------------------------------------------------
# Printers: (column definitions, row function). Rows always carry the wide cells; kubectl hides
# priority-1 columns itself, as it does against Kubernetes (whose convertor prints wide too).


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str = "string"
    format: str = ""
    priority: int = 0
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "format": self.format,
                "description": self.description, "priority": self.priority}


NAME = Column("Name", format="name",
              description="Name must be unique within a namespace.")
AGE = Column("Age", description="CreationTimestamp is a timestamp representing the server "
             "time when this object was created.")


def _name(obj: Object) -> str:
    return _s(obj, "metadata", "name")


def _age(obj: Object, now: datetime) -> str:
    return since(_s(obj, "metadata", "creationTimestamp"), now=now)


def _pod_ready_condition(obj: Object) -> bool:
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True"
               for c in _l(obj, "status", "conditions"))


def _restartable_init(container: Any) -> bool:
    return isinstance(container, dict) and container.get("restartPolicy") == "Always"


def _pod_row(pod: Object, now: datetime) -> Row:
    """printPod, branch for branch (init containers, sidecars, Terminating)."""
    containers = _l(pod, "spec", "containers")
    total = len(containers)
    ready = 0
    restarts = 0
    last_restart: datetime | None = None
    phase = _s(pod, "status", "phase")
    reason = _s(pod, "status", "reason") or phase
    for c in _l(pod, "status", "conditions"):
        if isinstance(c, dict) and c.get("type") == "PodScheduled" \
                and c.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"

    init_specs = {c.get("name"): c for c in _l(pod, "spec", "initContainers")
                  if isinstance(c, dict)}
    total += sum(1 for c in init_specs.values() if _restartable_init(c))

    def later(t: datetime | None, cs: dict[str, Any]) -> datetime | None:
        fin = _parse_time(_s(cs, "lastState", "terminated", "finishedAt"))
        if fin is not None and (t is None or fin > t):
            return fin
        return t

    initializing = False
    sidecar_restarts = 0
    sidecar_last: datetime | None = None
    init_statuses = [c for c in _l(pod, "status", "initContainerStatuses") if isinstance(c, dict)]
    for i, cs in enumerate(init_statuses):
        restarts += _i(cs, "restartCount")
        last_restart = later(last_restart, cs)
        spec = init_specs.get(cs.get("name"))
        if _restartable_init(spec):
            sidecar_restarts += _i(cs, "restartCount")
            sidecar_last = later(sidecar_last, cs)
        state = _d(cs, "state")
        terminated = state.get("terminated") if isinstance(state.get("terminated"), dict) \
            else None
        waiting = state.get("waiting") if isinstance(state.get("waiting"), dict) else None
        if terminated is not None and _i(terminated, "exitCode") == 0:
            continue
        if _restartable_init(spec) and cs.get("started") is True:
            if cs.get("ready") is True:
                ready += 1
            continue
        if terminated is not None:
            if not _s(terminated, "reason"):
                if _i(terminated, "signal"):
                    reason = f"Init:Signal:{_i(terminated, 'signal')}"
                else:
                    reason = f"Init:ExitCode:{_i(terminated, 'exitCode')}"
            else:
                reason = "Init:" + _s(terminated, "reason")
        elif waiting is not None and _s(waiting, "reason") \
                and _s(waiting, "reason") != "PodInitializing":
            reason = "Init:" + _s(waiting, "reason")
        else:
            reason = f"Init:{i}/{len(init_specs)}"
        initializing = True
        break

    initialized = any(isinstance(c, dict) and c.get("type") == "Initialized"
                      and c.get("status") == "True" for c in _l(pod, "status", "conditions"))
    if not initializing or initialized:
        restarts = sidecar_restarts
        last_restart = sidecar_last
        has_running = False
        statuses = [c for c in _l(pod, "status", "containerStatuses") if isinstance(c, dict)]
        for cs in reversed(statuses):
            restarts += _i(cs, "restartCount")
            last_restart = later(last_restart, cs)
            state = _d(cs, "state")
            waiting = _d(state, "waiting")
            terminated = state.get("terminated") if isinstance(state.get("terminated"), dict) \
                else None
            if _s(waiting, "reason"):
                reason = _s(waiting, "reason")
            elif terminated is not None and _s(terminated, "reason"):
                reason = _s(terminated, "reason")
            elif terminated is not None:
                if _i(terminated, "signal"):
                    reason = f"Signal:{_i(terminated, 'signal')}"
                else:
                    reason = f"ExitCode:{_i(terminated, 'exitCode')}"
            elif cs.get("ready") is True and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _pod_ready_condition(pod) else "NotReady"

    deleting = bool(_s(pod, "metadata", "deletionTimestamp"))
    if deleting and _s(pod, "status", "reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and phase not in ("Succeeded", "Failed"):
        reason = "Terminating"

    restarts_str = str(restarts)
    if restarts and last_restart is not None:
        restarts_str = f"{restarts} ({human_duration((now - last_restart).total_seconds())} ago)"

    pod_ips = _l(pod, "status", "podIPs")
    ip = _s(pod_ips[0], "ip") if pod_ips and isinstance(pod_ips[0], dict) else ""
    ip = ip or _s(pod, "status", "podIP") or "<none>"
    node = _s(pod, "spec", "nodeName") or "<none>"
    nominated = _s(pod, "status", "nominatedNodeName") or "<none>"
    gates = [g for g in _l(pod, "spec", "readinessGates") if isinstance(g, dict)]
    readiness = "<none>"
    if gates:
        conds = {c.get("type"): c.get("status") for c in _l(pod, "status", "conditions")
                 if isinstance(c, dict)}
        true = sum(1 for g in gates if conds.get(g.get("conditionType")) == "True")
        readiness = f"{true}/{len(gates)}"
    return [_name(pod), f"{ready}/{total}", reason, restarts_str, _age(pod, now),
            ip, node, nominated, readiness]


POD_COLUMNS = (
    NAME,
    Column("Ready", description="The aggregate readiness state of this pod for accepting "
           "traffic."),
    Column("Status", description="The aggregate status of the containers in this pod."),
    Column("Restarts", description="The number of times the containers in this pod have been "
           "restarted and when the last container in this pod has restarted."),
    AGE,
    Column("IP", priority=1, description="IP address allocated to the pod. Routable at least "
           "within the cluster. Empty if not yet allocated."),
    Column("Node", priority=1, description="NodeName is a request to schedule this pod onto a "
           "specific node."),
    Column("Nominated Node", priority=1, description="nominatedNodeName is set only when this "
           "pod preempts other pods on the node."),
    Column("Readiness Gates", priority=1, description="If specified, all readiness gates will "
           "be evaluated for pod readiness."),
)


def _containers_cells(containers: list[Any]) -> tuple[str, str]:
    cs = [c for c in containers if isinstance(c, dict)]
    return (",".join(_s(c, "name") for c in cs), ",".join(_s(c, "image") for c in cs))


def _rc_row(rc: Object, now: datetime) -> Row:
    names, images = _containers_cells(_l(rc, "spec", "template", "spec", "containers"))
    replicas = _d(rc, "spec").get("replicas")
    desired = 1 if replicas is None else _i(rc, "spec", "replicas")
    return [_name(rc), desired, _i(rc, "status", "replicas"),
            _i(rc, "status", "readyReplicas"), _age(rc, now),
            names, images, format_labels(_d(rc, "spec", "selector"))]


RC_COLUMNS = (
    NAME,
    Column("Desired", type="integer", description="Replicas is the number of desired "
           "replicas."),
    Column("Current", type="integer", description="Replicas is the most recently observed "
           "number of replicas."),
    Column("Ready", type="integer", description="The number of ready replicas for this "
           "replication controller."),
    AGE,
    Column("Containers", priority=1, description="Names of each container in the template."),
    Column("Images", priority=1, description="Images referenced by each container in the "
           "template."),
    Column("Selector", priority=1, description="Selector is a label query over pods that "
           "should match the Replicas count."),
)


def _service_external_ip(svc: Object) -> str:
    svc_type = _s(svc, "spec", "type") or "ClusterIP"
    external = [str(x) for x in _l(svc, "spec", "externalIPs")]
    if svc_type in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else "<none>"
    if svc_type == "LoadBalancer":
        lb = [_s(i, "ip") or _s(i, "hostname")
              for i in _l(svc, "status", "loadBalancer", "ingress") if isinstance(i, dict)]
        lb = [x for x in lb if x]
        if external:
            return ",".join(lb + external)
        return ",".join(lb) if lb else "<pending>"
    if svc_type == "ExternalName":
        return _s(svc, "spec", "externalName")
    return "<unknown>"


def port_string(ports: Iterable[Any]) -> str:
    """makePortString: ``80/TCP,443:30443/TCP``."""
    pieces = []
    for p in ports:
        if not isinstance(p, dict):
            continue
        proto = _s(p, "protocol") or "TCP"
        node_port = _i(p, "nodePort")
        if node_port > 0:
            pieces.append(f"{_i(p, 'port')}:{node_port}/{proto}")
        else:
            pieces.append(f"{_i(p, 'port')}/{proto}")
    return ",".join(pieces)


def _service_row(svc: Object, now: datetime) -> Row:
    cluster_ips = _l(svc, "spec", "clusterIPs")
    cluster_ip = (str(cluster_ips[0]) if cluster_ips else _s(svc, "spec", "clusterIP")) \
        or "<none>"
    ports = port_string(_l(svc, "spec", "ports")) or "<none>"
    return [_name(svc), _s(svc, "spec", "type") or "ClusterIP", cluster_ip,
            _service_external_ip(svc), ports, _age(svc, now),
            format_labels(_d(svc, "spec", "selector"))]


SERVICE_COLUMNS = (
    NAME,
    Column("Type", description="type determines how the Service is exposed."),
    Column("Cluster-IP", description="clusterIP is the IP address of the service."),
    Column("External-IP", description="externalIPs is a list of IP addresses for which nodes "
           "in the cluster will also accept traffic for this service."),
    Column("Port(s)", description="The list of ports that are exposed by this service."),
    AGE,
    Column("Selector", priority=1, description="Route service traffic to pods with label keys "
           "and values matching this selector."),
)


def _node_roles(node: Object) -> str:
    roles: set[str] = set()
    for k, v in _d(node, "metadata", "labels").items():
        if k.startswith("node-role.kubernetes.io/"):
            role = k[len("node-role.kubernetes.io/"):]
            if role:
                roles.add(role)
        elif k == "kubernetes.io/role" and v:
            roles.add(str(v))
    return ",".join(sorted(roles)) or "<none>"


def _node_address(node: Object, kind: str) -> str:
    for a in _l(node, "status", "addresses"):
        if isinstance(a, dict) and a.get("type") == kind:
            return _s(a, "address") or "<none>"
    return "<none>"


def _node_row(node: Object, now: datetime) -> Row:
    status: list[str] = []
    for c in _l(node, "status", "conditions"):
        if isinstance(c, dict) and c.get("type") == "Ready":
            status = ["Ready" if c.get("status") == "True" else "NotReady"]
    if not status:
        status = ["Unknown"]
    if _d(node, "spec").get("unschedulable") is True:
        status.append("SchedulingDisabled")
    info = _d(node, "status", "nodeInfo")
    return [_name(node), ",".join(status), _node_roles(node), _age(node, now),
            _s(info, "kubeletVersion"),
            _node_address(node, "InternalIP"), _node_address(node, "ExternalIP"),
            _s(info, "osImage") or "<unknown>", _s(info, "kernelVersion") or "<unknown>",
            _s(info, "containerRuntimeVersion") or "<unknown>"]


NODE_COLUMNS = (
    NAME,
    Column("Status", description="The status of the node"),
    Column("Roles", description="The roles of the node"),
    AGE,
    Column("Version", description="Kubelet Version reported by the node."),
    Column("Internal-IP", priority=1, description="List of addresses reachable to the node."),
    Column("External-IP", priority=1, description="List of addresses reachable to the node."),
    Column("OS-Image", priority=1, description="OS Image reported by the node from "
           "/etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
    Column("Kernel-Version", priority=1, description="Kernel Version reported by the node from "
           "'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
    Column("Container-Runtime", priority=1, description="ContainerRuntime Version reported by "
           "the node through runtime remote API (e.g. containerd://1.4.2)."),
)


def _namespace_row(ns: Object, now: datetime) -> Row:
    return [_name(ns), _s(ns, "status", "phase") or "Active", _age(ns, now)]


NAMESPACE_COLUMNS = (
    NAME,
    Column("Status", description="The status of the namespace"),
    AGE,
)


def format_endpoints(ep: Object) -> str:
    """formatEndpoints: up to three ``ip:port`` then ``+ N more...``."""
    subsets = [s for s in _l(ep, "subsets") if isinstance(s, dict)]
    if not subsets:
        return "<none>"
    shown: list[str] = []
    limit = 3
    more = False
    count = 0
    for ss in subsets:
        addresses = [a for a in _l(ss, "addresses") if isinstance(a, dict)]
        ports = [p for p in _l(ss, "ports") if isinstance(p, dict)]
        if not ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(_s(a, "ip"))
            continue
        for p in ports:
            count += len(addresses)
            for a in addresses:
                if len(shown) == limit:
                    more = True
                    break
                ip = _s(a, "ip")
                host = f"[{ip}]" if ":" in ip else ip
                shown.append(f"{host}:{_i(p, 'port')}")
    joined = ",".join(shown)
    if more:
        return f"{joined} + {count - limit} more..."
    return joined or "<none>"


def _endpoints_row(ep: Object, now: datetime) -> Row:
    return [_name(ep), format_endpoints(ep), _age(ep, now)]


ENDPOINTS_COLUMNS = (
    NAME,
    Column("Endpoints", description="Endpoints of the service"),
    AGE,
)


def _event_source(ev: Object) -> str:
    component = _s(ev, "source", "component")
    host = _s(ev, "source", "host")
    if not component and not host:
        component = _s(ev, "reportingComponent") or _s(ev, "reportingController")
        host = _s(ev, "reportingInstance")
    if host:
        return f"{component}, {host}" if component else host
    return component


def _event_row(ev: Object, now: datetime) -> Row:
    first = _s(ev, "firstTimestamp")
    first_seen = since(first, now=now) if first else since(_s(ev, "eventTime"), now=now)
    last = _s(ev, "lastTimestamp")
    last_seen = since(last, now=now) if last else first_seen
    count = _i(ev, "count")
    series = _d(ev, "series")
    if series:
        last_seen = since(_s(series, "lastObservedTime"), now=now)
        count = _i(series, "count")
    elif count == 0:
        count = 1
    kind = _s(ev, "involvedObject", "kind").lower()
    target_name = _s(ev, "involvedObject", "name")
    target = f"{kind}/{target_name}" if target_name else kind
    return [last_seen, _s(ev, "type"), _s(ev, "reason"), target,
            _s(ev, "involvedObject", "fieldPath"), _event_source(ev),
            _s(ev, "message").strip(), first_seen, count, _name(ev)]


EVENT_COLUMNS = (
    Column("Last Seen", description="The time at which the most recent occurrence of this "
           "event was recorded."),
    Column("Type", description="Type of this event (Normal, Warning), new types could be "
           "added in the future"),
    Column("Reason", description="This should be a short, machine understandable string that "
           "gives the reason for the transition into the object's current status."),
    Column("Object", description="The object that this event is about."),
    Column("Subobject", priority=1, description="The field of the object this event is about."),
    Column("Source", priority=1, description="The component reporting this event."),
    Column("Message", description="A human-readable description of the status of this "
           "operation."),
    Column("First Seen", priority=1, description="The time at which the event was first "
           "recorded."),
    Column("Count", priority=1, description="The number of times this event has occurred."),
    Column("Name", priority=1, description="Name must be unique within a namespace."),
)


def _limitrange_row(lr: Object, now: datetime) -> Row:
    t = _parse_time(_s(lr, "metadata", "creationTimestamp"))
    return [_name(lr), t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if t else "<unknown>"]


LIMITRANGE_COLUMNS = (
    NAME,
    Column("Created At", type="date", description="CreationTimestamp is a timestamp "
           "representing the server time when this object was created."),
)


def _resourcequota_row(rq: Object, now: datetime) -> Row:
    hard = _d(rq, "status", "hard")
    used = _d(rq, "status", "used")
    requests: list[str] = []
    limits: list[str] = []
    for res in sorted(hard):
        piece = f"{res}: {used.get(res, '0')}/{hard[res]}"
        (limits if res.split(".")[0] == "limits" and "." in res else requests).append(piece)
    return [_name(rq), _age(rq, now), ", ".join(requests), ", ".join(limits)]


RESOURCEQUOTA_COLUMNS = (
    NAME,
    AGE,
    Column("Request", description="Request represents a minimum amount of cpu/memory that a "
           "container may consume."),
    Column("Limit", description="Limits control the maximum amount of cpu/memory that a "
           "container may use independent of contention on the node."),
)


def _lease_row(lease: Object, now: datetime) -> Row:
    return [_name(lease), _s(lease, "spec", "holderIdentity"), _age(lease, now)]


LEASE_COLUMNS = (
    NAME,
    Column("Holder", description="holderIdentity contains the identity of the holder of a "
           "current lease."),
    AGE,
)


def _configmap_row(cm: Object, now: datetime) -> Row:
    return [_name(cm), len(_d(cm, "data")) + len(_d(cm, "binaryData")), _age(cm, now)]


CONFIGMAP_COLUMNS = (
    NAME,
    Column("Data", description="Data contains the configuration data. Each key must consist "
           "of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences "
           "must use the BinaryData field. The keys stored in Data must not overlap with the "
           "keys in the BinaryData field, this is enforced during validation process."),
    AGE,
)


def _secret_row(secret: Object, now: datetime) -> Row:
    return [_name(secret), _s(secret, "type"), len(_d(secret, "data")), _age(secret, now)]


SECRET_COLUMNS = (
    NAME,
    Column("Type", description="Used to facilitate programmatic handling of secret data. More "
           "info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
    Column("Data", description="Data contains the secret data. Each key must consist of "
           "alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data "
           "is a base64 encoded string, representing the arbitrary (possibly non-string) data "
           "value here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
    AGE,
)


def _default_row(obj: Object, now: datetime) -> Row:
    return [_name(obj), _age(obj, now)]


DEFAULT_COLUMNS = (NAME, AGE)

RowFn = Callable[[Object, datetime], Row]

PRINTERS: dict[tuple[str, str], tuple[tuple[Column, ...], RowFn]] = {
    ("", "Pod"): (POD_COLUMNS, _pod_row),
    ("", "ReplicationController"): (RC_COLUMNS, _rc_row),
    ("", "Service"): (SERVICE_COLUMNS, _service_row),
    ("", "Node"): (NODE_COLUMNS, _node_row),
    ("", "Namespace"): (NAMESPACE_COLUMNS, _namespace_row),
    ("", "Endpoints"): (ENDPOINTS_COLUMNS, _endpoints_row),
    ("", "Event"): (EVENT_COLUMNS, _event_row),
    ("", "LimitRange"): (LIMITRANGE_COLUMNS, _limitrange_row),
    ("", "ResourceQuota"): (RESOURCEQUOTA_COLUMNS, _resourcequota_row),
    ("coordination.k8s.io", "Lease"): (LEASE_COLUMNS, _lease_row),
    ("", "ConfigMap"): (CONFIGMAP_COLUMNS, _configmap_row),
    ("", "Secret"): (SECRET_COLUMNS, _secret_row),
}


def _row_object(obj: Object, include_object: str) -> Object | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    md = obj.get("metadata")
    return {"kind": "PartialObjectMetadata", "apiVersion": f"{META_GROUP}/v1",
            "metadata": md if isinstance(md, dict) else {}}


def to_table(
    resource: Resource,
    objects: list[Object],
    *,
    resource_version: str,
    include_object: str = "Metadata",
    continue_token: str = "",
    now: datetime | None = None,
) -> Object:
    """A meta.k8s.io/v1 Table of ``objects`` with kubectl's columns for ``resource``.

    ``include_object`` is the request's ``includeObject`` (None, Metadata, Object); its
    metadata.resourceVersion is where ``kubectl get -w`` starts watching.
    """
    columns, row_fn = PRINTERS.get((resource.group, resource.kind),
                                   (DEFAULT_COLUMNS, _default_row))
    now = now or datetime.now(UTC)
    rows: list[Object] = []
    for obj in objects:
        row: Object = {"cells": row_fn(obj, now)}
        embedded = _row_object(obj, include_object)
        if embedded is not None:
            row["object"] = embedded
        if resource.kind == "Pod":
            phase = _s(obj, "status", "phase")
            if phase in ("Succeeded", "Failed"):
                # printPod marks finished pods so kubectl can hide them on request.
                row["conditions"] = [{
                    "type": "Completed", "status": "True", "reason": phase,
                    "message": "The pod has completed successfully." if phase == "Succeeded"
                    else "The pod failed."}]
        rows.append(row)
    metadata: Object = {"resourceVersion": resource_version}
    if continue_token:
        metadata["continue"] = continue_token
    return {
        "kind": "Table",
        "apiVersion": f"{META_GROUP}/{TABLE_VERSION}",
        "metadata": metadata,
        "columnDefinitions": [c.to_dict() for c in columns],
        "rows": rows,
    }
