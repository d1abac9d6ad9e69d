"""``minikube8s describe``: an object's important fields and its events, as kubectl lays them out.

One describer per kind the seed uses (Pod, ReplicationController, Service, Node) and a generic
one for the rest (metadata, then spec and status as indented YAML). Events are found the way
kubectl finds them: ``fieldSelector=involvedObject.name=N,involvedObject.namespace=NS,
involvedObject.uid=U``. Layout goes through ``tabwrite``, Go's text/tabwriter algorithm with
the padding kubectl's describers use, so blocks of ``Key:  value`` lines align.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from ..api.resources import Resource
from ..client import errors as client_errors
from . import printers
from .app import Common, KubeconfigOpt, NamespaceOpt, SelectorOpt, ServerOpt, execute
from .completion import complete_resource
from .errors import CLIError
from .session import Session

Object = dict[str, Any]
Lines = list[list[str]]

EXAMPLES = """Examples:

  minikube8s describe rc nginx

  minikube8s describe pods -l run-container=nginx

  minikube8s describe svc/nginx-http
"""


def tabwrite(lines: Lines, *, minwidth: int = 0, padding: int = 2) -> list[str]:
    """Go's text/tabwriter: each line is its cells; the last cell of a line is not aligned.
    Columns are aligned over blocks of consecutive lines that have a cell there."""
    out: list[str] = [""] * len(lines)

    def write(line0: int, line1: int, widths: list[int]) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            out[i] = "".join(c.ljust(widths[j]) if j < len(widths) else c
                             for j, c in enumerate(cells))

    def fmt(line0: int, line1: int, widths: list[int]) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write(line0, this, widths)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, len(lines[this][column]) + padding)
                this += 1
            fmt(line0, this, [*widths, width])
            line0 = this
        write(line0, line1, widths)

    fmt(0, len(lines), [])
    return out


def _d(obj: Any, *path: str) -> Any:
    cur = obj
    for p in path:
        cur = cur.get(p) if isinstance(cur, dict) else None
    return cur


def _map_lines(label: str, value: Any, indent: str = "") -> Lines:
    """``Labels:  a=b`` then one ``k=v`` per continuation line; ``<none>`` when empty."""
    if not isinstance(value, dict) or not value:
        return [[f"{indent}{label}:", "<none>"]]
    items = [f"{k}={value[k]}" for k in sorted(value)]
    out = [[f"{indent}{label}:", items[0]]]
    out.extend([f"{indent}", item] for item in items[1:])
    return out


def _annotations(value: Any) -> Lines:
    if isinstance(value, dict):
        # kubectl hides the last-applied configuration: it is the whole object again.
        value = {k: v for k, v in value.items()
                 if k != "kubectl.kubernetes.io/last-applied-configuration"}
    return _map_lines("Annotations", value)


def _header(obj: Object, *, namespaced: bool) -> Lines:
    md = obj.get("metadata") or {}
    lines: Lines = [["Name:", str(md.get("name", ""))]]
    if namespaced:
        lines.append(["Namespace:", str(md.get("namespace", ""))])
    lines += _map_lines("Labels", md.get("labels"))
    lines += _annotations(md.get("annotations"))
    return lines


def _containers(containers: Any, indent: str = "  ") -> Lines:
    lines: Lines = []
    for c in containers or []:
        lines.append([f"{indent}{c.get('name', '')}:"])
        lines.append([f"{indent}  Image:", str(c.get("image", ""))])
        ports = c.get("ports") or []
        port = ", ".join(f"{p.get('containerPort')}/{p.get('protocol', 'TCP')}" for p in ports)
        lines.append([f"{indent}  Port:", port or "<none>"])
        host = ", ".join(f"{p.get('hostPort', 0)}/{p.get('protocol', 'TCP')}" for p in ports)
        lines.append([f"{indent}  Host Port:", host or "<none>"])
        if c.get("command"):
            lines.append([f"{indent}  Command:"])
            lines.extend([f"{indent}    {x}"] for x in c["command"])
        if c.get("args"):
            lines.append([f"{indent}  Args:"])
            lines.extend([f"{indent}    {x}"] for x in c["args"])
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            p = c.get(probe)
            if isinstance(p, dict):
                label = probe[0].upper() + probe[1:].replace("Probe", "")
                lines.append([f"{indent}  {label}:", _probe(p)])
        env = c.get("env") or []
        if env:
            lines.append([f"{indent}  Environment:"])
            lines.extend([f"{indent}    {e.get('name')}:", str(e.get("value", ""))] for e in env)
        else:
            lines.append([f"{indent}  Environment:", "<none>"])
        mounts = c.get("volumeMounts") or []
        if mounts:
            lines.append([f"{indent}  Mounts:"])
            lines.extend([f"{indent}    {m.get('mountPath')} from {m.get('name')}"]
                         for m in mounts)
        else:
            lines.append([f"{indent}  Mounts:", "<none>"])
    return lines


def _probe(p: Object) -> str:
    if isinstance(p.get("httpGet"), dict):
        h = p["httpGet"]
        what = f"http-get {h.get('scheme', 'HTTP').lower()}://:{h.get('port')}{h.get('path', '')}"
    elif isinstance(p.get("tcpSocket"), dict):
        what = f"tcp-socket :{p['tcpSocket'].get('port')}"
    elif isinstance(p.get("exec"), dict):
        what = f"exec {p['exec'].get('command')}"
    else:
        what = "unknown"
    return (f"{what} delay={p.get('initialDelaySeconds', 0)}s "
            f"timeout={p.get('timeoutSeconds', 1)}s period={p.get('periodSeconds', 10)}s "
            f"#success={p.get('successThreshold', 1)} #failure={p.get('failureThreshold', 3)}")


def _describe_pod(obj: Object) -> Lines:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    lines = _header(obj, namespaced=True)[:2]
    lines.append(["Service Account:", str(spec.get("serviceAccountName") or "default")])
    node = spec.get("nodeName")
    lines.append(["Node:", f"{node}/{status.get('hostIP', '')}" if node else "<none>"])
    lines.append(["Start Time:", str(status.get("startTime") or "<none>")])
    md = obj.get("metadata") or {}
    lines += _map_lines("Labels", md.get("labels"))
    lines += _annotations(md.get("annotations"))
    lines.append(["Status:", str(status.get("phase") or "Pending")])
    lines.append(["IP:", str(status.get("podIP") or "")])
    owners = md.get("ownerReferences") or []
    if owners:
        lines.append(["Controlled By:", f"{owners[0].get('kind')}/{owners[0].get('name')}"])
    lines.append(["Containers:"])
    lines += _containers(spec.get("containers"))
    conds = status.get("conditions") or []
    if conds:
        lines.append(["Conditions:"])
        lines.append(["  Type", "Status"])
        lines.extend([f"  {c.get('type')}", str(c.get("status"))] for c in conds)
    lines += _map_lines("Node-Selectors", spec.get("nodeSelector"))
    return lines


def _describe_rc(obj: Object) -> Lines:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    lines = _header(obj, namespaced=True)[:2]
    sel = spec.get("selector") or {}
    lines.append(["Selector:", ",".join(f"{k}={v}" for k, v in sorted(sel.items()))])
    md = obj.get("metadata") or {}
    lines += _map_lines("Labels", md.get("labels"))
    lines += _annotations(md.get("annotations"))
    lines.append(["Replicas:", f"{status.get('replicas', 0)} current / "
                               f"{spec.get('replicas', 1)} desired"])
    lines.append(["Pods Status:", f"{status.get('readyReplicas', 0)} Running / 0 Waiting / "
                                  f"0 Succeeded / 0 Failed"])
    template = spec.get("template") or {}
    lines.append(["Pod Template:"])
    lines += _map_lines("Labels", _d(template, "metadata", "labels"), indent="  ")
    lines.append(["  Containers:"])
    lines += _containers(_d(template, "spec", "containers"), indent="   ")
    return lines


def _describe_service(obj: Object, endpoints: Object | None) -> Lines:
    spec = obj.get("spec") or {}
    lines = _header(obj, namespaced=True)
    sel = spec.get("selector") or {}
    lines.append(["Selector:", ",".join(f"{k}={v}" for k, v in sorted(sel.items()))])
    lines.append(["Type:", str(spec.get("type") or "ClusterIP")])
    lines.append(["IP:", str(spec.get("clusterIP") or "")])
    for ip in spec.get("externalIPs") or []:
        lines.append(["External IPs:", str(ip)])
    for p in spec.get("ports") or []:
        name = p.get("name") or "<unset>"
        lines.append(["Port:", f"{name}  {p.get('port')}/{p.get('protocol', 'TCP')}"])
        lines.append(["TargetPort:", f"{p.get('targetPort', p.get('port'))}/"
                                     f"{p.get('protocol', 'TCP')}"])
    eps = format_endpoints(endpoints) if endpoints else "<none>"
    lines.append(["Endpoints:", eps])
    lines.append(["Session Affinity:", str(spec.get("sessionAffinity") or "None")])
    return lines


def _describe_node(obj: Object) -> Lines:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    lines = _header(obj, namespaced=False)
    lines.append(["CreationTimestamp:", str(_d(obj, "metadata", "creationTimestamp") or "")])
    lines.append(["Unschedulable:", "true" if spec.get("unschedulable") else "false"])
    conds = status.get("conditions") or []
    lines.append(["Conditions:"])
    lines.append(["  Type", "Status", "Reason", "Message"])
    lines.extend([f"  {c.get('type')}", str(c.get("status")), str(c.get("reason", "")),
                  str(c.get("message", ""))] for c in conds)
    lines.append(["Addresses:"])
    lines.extend([f"  {a.get('type')}:", str(a.get("address"))]
                 for a in status.get("addresses") or [])
    for label in ("capacity", "allocatable"):
        res = status.get(label) or {}
        if res:
            lines.append([f"{label.capitalize()}:"])
            lines.extend([f"  {k}:", str(v)] for k, v in sorted(res.items()))
    if spec.get("podCIDR"):
        lines.append(["PodCIDR:", str(spec["podCIDR"])])
    return lines


def _describe_generic(obj: Object, res: Resource) -> Lines:
    lines = _header(obj, namespaced=res.namespaced)
    lines.append(["API Version:", str(obj.get("apiVersion") or res.group_version)])
    lines.append(["Kind:", str(obj.get("kind") or res.kind)])
    for section in ("spec", "status", "data", "subsets", "limits"):
        value = obj.get(section)
        if value:
            lines.append([f"{section.capitalize()}:"])
            for text in printers.to_yaml(value).rstrip("\n").split("\n"):
                lines.append([f"  {text}"])
    return lines


def human_duration(seconds: int) -> str:
    """apimachinery's HumanDuration, which kubectl's describers use for event ages (the
    API server's tables.py does the same for AGE cells; the CLI does not import the
    server's package)."""
    if seconds < 0:
        return "0s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 120:
        return f"{seconds}s"
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s" if seconds % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 192:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if days < 730:
        return f"{days}d"
    years = days // 365
    if years < 8:
        return f"{years}y{days % 365}d" if days % 365 else f"{years}y"
    return f"{years}y"


def since(timestamp: Any, *, now: datetime) -> str:
    if not isinstance(timestamp, str) or not timestamp:
        return "<unknown>"
    try:
        t = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return human_duration(int((now - t).total_seconds()))


def format_endpoints(ep: Object) -> str:
    """``IP:PORT,IP:PORT`` (at most three, then ``+ N more...``), as kubectl prints them."""
    pairs = [f"{a.get('ip')}:{p.get('port')}" for s in ep.get("subsets") or []
             for p in (s.get("ports") or [{}]) for a in s.get("addresses") or []]
    if not pairs:
        return "<none>"
    more = f" + {len(pairs) - 3} more..." if len(pairs) > 3 else ""
    return ",".join(pairs[:3]) + more


def _events_lines(events: list[Object], now: datetime) -> Lines:
    if not events:
        return [["Events:", "<none>"]]
    lines: Lines = [["Events:"], ["  Type", "Reason", "Age", "From", "Message"],
                    ["  ----", "------", "----", "----", "-------"]]
    for ev in sorted(events, key=lambda e: str(e.get("lastTimestamp") or
                                               e.get("eventTime") or "")):
        first = ev.get("firstTimestamp") or ev.get("eventTime")
        last = ev.get("lastTimestamp") or first
        count = int(ev.get("count") or 1)
        age = since(last, now=now)
        if count > 1:
            age = f"{age} (x{count} over {since(first, now=now)})"
        source = ev.get("source") or {}
        src = str(source.get("component") or ev.get("reportingComponent") or "")
        if source.get("host"):
            src = f"{src}, {source['host']}"
        lines.append([f"  {ev.get('type', '')}", str(ev.get("reason", "")), age, src,
                      str(ev.get("message", "")).strip()])
    return lines


async def describe_one(session: Session, res: Resource, obj: Object) -> str:
    md = obj.get("metadata") or {}
    if res.kind == "Pod":
        lines = _describe_pod(obj)
    elif res.kind == "ReplicationController":
        lines = _describe_rc(obj)
    elif res.kind == "Service":
        endpoints = await session.get_or_none(session.resource("endpoints"), md.get("name", ""),
                                              namespace=md.get("namespace", ""))
        lines = _describe_service(obj, endpoints)
    elif res.kind == "Node":
        lines = _describe_node(obj)
    else:
        lines = _describe_generic(obj, res)
    selector = [f"involvedObject.name={md.get('name', '')}"]
    if res.namespaced:
        selector.append(f"involvedObject.namespace={md.get('namespace', '')}")
    if md.get("uid"):
        selector.append(f"involvedObject.uid={md['uid']}")
    ev_res = session.resource("events")
    try:
        events = (await session.list_objects(
            ev_res, namespace=md.get("namespace", "") if res.namespaced else "",
            field_selector=",".join(selector)))["items"]
    except client_errors.ClientError:
        events = []
    lines += _events_lines(events, datetime.now(UTC))
    return "\n".join(tabwrite(lines)) + "\n"


def describe(
    args: Annotated[list[str] | None, typer.Argument(
        help="TYPE [NAME_PREFIX...] or TYPE/NAME", show_default=False,
        autocompletion=complete_resource)] = None,
    selector: SelectorOpt = "",
    all_namespaces: Annotated[bool, typer.Option("-A", "--all-namespaces")] = False,
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Show details of a resource or group of resources, with their events."""

    async def run(session: Session) -> int:
        groups = session.split_args(list(args or []))
        blocks: list[str] = []
        failures = 0
        for res, names in groups:
            ns = "" if all_namespaces else session.ns(res)
            if names:
                for name in names:
                    obj = await session.get_or_none(res, name, namespace=ns)
                    if obj is not None:
                        blocks.append(await describe_one(session, res, obj))
                        continue
                    # kubectl describe treats a missing name as a prefix
                    items = (await session.list_objects(res, namespace=ns))["items"]
                    matched = [o for o in items
                               if str(_d(o, "metadata", "name")).startswith(name)]
                    if not matched:
                        failures += 1
                        session.warn(f"Error from server (NotFound): {res.name} \"{name}\" "
                                     f"not found")
                    for o in matched:
                        blocks.append(await describe_one(session, res, o))
            else:
                items = (await session.list_objects(res, namespace=ns,
                                                    label_selector=selector))["items"]
                for o in items:
                    blocks.append(await describe_one(session, res, o))
        if not blocks and not failures:
            raise CLIError(f"No resources found in {session.namespace} namespace.")
        session.out.write("\n\n".join(b.rstrip("\n") for b in blocks) + "\n"
                          if blocks else "")
        return 1 if failures else 0

    execute(Common(server, namespace, kubeconfig), run)


def register(app: typer.Typer) -> None:
    app.command("describe", epilog=EXAMPLES)(describe)
