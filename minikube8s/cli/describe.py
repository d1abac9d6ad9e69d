"""``minikube8s describe``: an object's important fields and its events, as kubectl lays them out.

The per-kind lines come from describers.py (Pod, ReplicationController, Service, Node, and a
generic one for the rest) and configdata.py (ConfigMap, Secret); this module fetches what they
need and the events, found the way kubectl finds them: ``fieldSelector=involvedObject.name=N,
involvedObject.namespace=NS,involvedObject.uid=U``. Layout goes through ``tabwrite``, Go's
text/tabwriter algorithm with the padding kubectl's describers use, so blocks of ``Key:  value``
lines align.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from ..api.resources import Resource
from ..client import errors as client_errors
from .app import Common, KubeconfigOpt, NamespaceOpt, SelectorOpt, ServerOpt, execute
from .completion import complete_resource
from .configdata import describe_configmap, describe_secret
from .describers import (
    describe_generic,
    describe_node,
    describe_pod,
    describe_rc,
    describe_service,
    dig,
    header,
    since,
)
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
        lines = describe_pod(obj)
    elif res.kind == "ReplicationController":
        rc_selector = ",".join(f"{k}={v}" for k, v in sorted(
            ((obj.get("spec") or {}).get("selector") or {}).items()))
        pods = (await session.list_objects(
            session.resource("pods"), namespace=md.get("namespace", ""),
            label_selector=rc_selector))["items"] if rc_selector else []
        lines = describe_rc(obj, pods)
    elif res.kind == "Service":
        endpoints = await session.get_or_none(session.resource("endpoints"), md.get("name", ""),
                                              namespace=md.get("namespace", ""))
        lines = describe_service(obj, endpoints)
    elif res.kind == "Node":
        lease: Object | str | None
        try:
            lease = (await session.client.request(
                "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/"
                f"{md.get('name', '')}")).json()
        except client_errors.NotFound as e:
            lease = f"Failed to get lease: {e.message}"
        except client_errors.ClientError:
            lease = None
        try:
            node_pods = [p for p in (await session.list_objects(
                session.resource("pods"), namespace="",
                field_selector=f"spec.nodeName={md.get('name', '')}"))["items"]
                if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        except client_errors.ClientError:
            node_pods = None
        lines = describe_node(obj, lease, node_pods)
    elif res.kind == "ConfigMap" and not res.group:
        lines = describe_configmap(obj, header(obj, namespaced=True))
    elif res.kind == "Secret" and not res.group:
        # kubectl's secret describer lists no events.
        lines = describe_secret(obj, header(obj, namespaced=True))
        return "\n".join(tabwrite(lines)) + "\n"
    else:
        lines = describe_generic(obj, res)
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
                               if str(dig(o, "metadata", "name")).startswith(name)]
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
