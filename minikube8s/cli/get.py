"""``minikube8s get``: the seed's ``get pods,rc`` / ``get services,minions`` and today's flags.

Tables come from the API server (the same ones kubectl gets), printed by printers.py; -o
yaml|json|name|jsonpath fetch plain objects instead. Several kinds print as separate tables
with ``kind/name`` in the NAME column and a blank line between them, as kubectl does. ``-w``
keeps a watch open and prints one row per change, with the column widths of the first table.
"""

from __future__ import annotations

import contextlib
import json
from typing import Annotated, Any

import typer

from ..api.resources import Resource
from ..client import errors as client_errors
from ..client.rest import TABLE, resource_path
from . import printers
from .app import (
    Common,
    KubeconfigOpt,
    NamespaceOpt,
    OutputOpt,
    SelectorOpt,
    ServerOpt,
    execute,
)
from .completion import complete_resource
from .errors import CLIError
from .session import Session

Object = dict[str, Any]

EXAMPLES = """Examples (the seed's session):

  minikube8s get services,minions -s http://192.168.0.10:8080

  minikube8s get pods,rc

  minikube8s get rc,services

  minikube8s get pods -l run-container=nginx -o wide

  minikube8s get pod nginx-3gii4 -o jsonpath='{.status.podIP}'
"""


def _with_kind(res: Resource) -> str:
    return printers.kind_prefix(res.kind, res.group)


def _empty_message(session: Session, all_namespaces: bool,
                   groups: list[tuple[Resource, list[str]]]) -> str:
    if all_namespaces or not any(r.namespaced for r, _ in groups):
        return "No resources found"
    return f"No resources found in {session.namespace} namespace."


async def _print_tables(session: Session, groups: list[tuple[Resource, list[str]]], *,
                        output: str, selector: str, field_selector: str,
                        all_namespaces: bool, show_labels: bool,
                        label_columns: list[str], no_headers: bool
                        ) -> tuple[int, Object, int]:
    """Print every group's table; returns (error count, the last table, tables printed)."""
    multi = len({r for r, _ in groups}) > 1
    failures = 0
    printed = 0
    last: Object = {}
    for res, names in groups:
        ns = "" if all_namespaces and not names else session.ns(res)
        tables: list[Object] = []
        if names:
            for name in names:
                try:
                    tables.append(await session.table(res, namespace=session.ns(res),
                                                      name=name))
                except client_errors.NotFound as e:
                    failures += 1
                    session.warn(f"Error from server (NotFound): {e.message}")
        else:
            tables.append(await session.table(res, namespace=ns, label_selector=selector,
                                              field_selector=field_selector))
        if not tables:
            continue
        table = dict(tables[0])
        table["rows"] = [row for t in tables for row in (t.get("rows") or [])]
        if not table["rows"]:
            last = table
            continue
        opts = printers.TableOptions(
            wide=output == "wide", show_labels=show_labels,
            with_namespace=all_namespaces and res.namespaced and not names,
            with_kind=_with_kind(res) if multi else "", no_headers=no_headers,
            label_columns=label_columns)
        if printed:
            session.print()
        printers.print_table(table, opts, printers.TabWriter(session.out))
        printed += 1
        last = table
    if not printed and not failures:
        session.warn(_empty_message(session, all_namespaces, groups))
    return failures, last, printed


async def _objects(session: Session, groups: list[tuple[Resource, list[str]]], *,
                   selector: str, field_selector: str, all_namespaces: bool
                   ) -> tuple[int, list[Object]]:
    failures = 0
    out: list[Object] = []
    for res, names in groups:
        if names:
            for name in names:
                try:
                    out.append(await session.get(res, name, namespace=session.ns(res)))
                except client_errors.NotFound as e:
                    failures += 1
                    session.warn(f"Error from server (NotFound): {e.message}")
            continue
        ns = "" if all_namespaces else session.ns(res)
        lst = await session.list_objects(res, namespace=ns, label_selector=selector,
                                         field_selector=field_selector)
        for item in lst.get("items") or []:
            # List items carry no kind/apiVersion on the wire; kubectl fills them in.
            item.setdefault("apiVersion", res.group_version)
            item.setdefault("kind", res.kind)
            out.append(item)
    return failures, out


async def _watch(session: Session, res: Resource, name: str, *, output: str, selector: str,
                 field_selector: str, all_namespaces: bool, show_labels: bool,
                 label_columns: list[str], resource_version: str, header: bool) -> None:
    ns = "" if all_namespaces else session.ns(res)
    fs = ",".join(x for x in (f"metadata.name={name}" if name else "", field_selector) if x)
    tabular = output in ("", "wide")
    params: dict[str, str | int | bool | None] = {
        "watch": True, "resourceVersion": resource_version, "labelSelector": selector,
        "fieldSelector": fs}
    if tabular:
        params["includeObject"] = "Metadata"
    opts = printers.TableOptions(wide=output == "wide", show_labels=show_labels,
                                 with_namespace=all_namespaces and res.namespaced,
                                 label_columns=label_columns)
    writer = printers.TabWriter(session.out)
    need_header = header
    buf = b""
    stream = session.client.stream(
        "GET", resource_path(res, namespace=ns), params=params,
        accept=f"{TABLE},application/json" if tabular else "application/json")
    async with contextlib.aclosing(stream) as chunks:
        async for chunk in chunks:
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                etype = event.get("type")
                if etype == "BOOKMARK":
                    continue
                if etype == "ERROR":
                    raise client_errors.from_status(obj)
                if not tabular:
                    obj.setdefault("apiVersion", res.group_version)
                    obj.setdefault("kind", res.kind)
                    if output in ("yaml",):
                        session.out.write("---\n")
                    printers.print_objects([obj], output, session.out, single=True)
                    continue
                if need_header:
                    writer.add(printers.table_header(obj, opts))
                    need_header = False
                for row in printers.table_rows(obj, opts):
                    writer.add(row)
                writer.flush()


def get(
    args: Annotated[list[str] | None, typer.Argument(
        help="TYPE[,TYPE...] [NAME...] or TYPE/NAME...", show_default=False,
        autocompletion=complete_resource)] = None,
    output: OutputOpt = "",
    selector: SelectorOpt = "",
    field_selector: Annotated[str, typer.Option(
        "--field-selector", help="Field selector (metadata.name=x, spec.nodeName=n).",
        show_default=False)] = "",
    all_namespaces: Annotated[bool, typer.Option(
        "-A", "--all-namespaces", help="List across all namespaces.")] = False,
    watch: Annotated[bool, typer.Option(
        "-w", "--watch", help="After listing, watch for changes.")] = False,
    watch_only: Annotated[bool, typer.Option(
        "--watch-only", help="Watch for changes without listing first.")] = False,
    show_labels: Annotated[bool, typer.Option(
        "--show-labels", help="Add a LABELS column.")] = False,
    label_columns: Annotated[list[str] | None, typer.Option(
        "-L", "--label-columns", help="Add a column with this label's value (repeatable, "
        "or comma separated).", show_default=False)] = None,
    no_headers: Annotated[bool, typer.Option(
        "--no-headers", help="Do not print the header row.")] = False,
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Display one or many resources (pods, rc, services, minions...)."""
    printers.check_format(output)
    lcols = [c for v in (label_columns or []) for c in v.split(",") if c]

    async def run(session: Session) -> int:
        groups = session.split_args(list(args or []))
        if (watch or watch_only) and (len(groups) > 1 or len(groups[0][1]) > 1):
            raise CLIError("you may only specify a single resource type (and at most one "
                           "name) with --watch")
        failures = 0
        rv = ""
        printed = 0
        tabular = output in ("", "wide")
        if tabular and not watch_only:
            failures, last, printed = await _print_tables(
                session, groups, output=output, selector=selector,
                field_selector=field_selector, all_namespaces=all_namespaces,
                show_labels=show_labels, label_columns=lcols, no_headers=no_headers)
            rv = str((last.get("metadata") or {}).get("resourceVersion") or "")
        elif not tabular and not (watch or watch_only):
            failures, objects = await _objects(session, groups, selector=selector,
                                               field_selector=field_selector,
                                               all_namespaces=all_namespaces)
            single = len(groups) == 1 and len(groups[0][1]) == 1
            if objects or not (single or output.startswith("custom-columns")):
                printers.print_objects(objects, output, session.out, single=single,
                                       no_headers=no_headers)
        if watch or watch_only:
            # Without a resourceVersion (-w -o yaml|json) the server first sends every current
            # object as ADDED, which is exactly the initial listing; --watch-only starts at
            # the list's current resourceVersion instead, so only changes are printed.
            res, names = groups[0]
            if watch_only:
                ns = "" if all_namespaces else session.ns(res)
                current = await session.client.list(res, namespace=ns, limit=1,
                                                    label_selector=selector)
                rv = str((current.get("metadata") or {}).get("resourceVersion") or "")
            await _watch(session, res, names[0] if names else "", output=output,
                         selector=selector, field_selector=field_selector,
                         all_namespaces=all_namespaces, show_labels=show_labels,
                         label_columns=lcols, resource_version=rv,
                         header=not no_headers and not printed)
        return 1 if failures else 0

    execute(Common(server, namespace, kubeconfig), run)


def register(app: typer.Typer) -> None:
    app.command("get", epilog=EXAMPLES)(get)
