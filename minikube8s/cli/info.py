"""Verbs about pods' processes and the cluster itself: logs, exec, wait, cluster-info, version,
api-resources, and ``config view`` (the only verb that needs no server).

logs and exec reach the kubelet through the API server (pods/NAME/log, pods/NAME/exec); until
a kubelet is connected the API server answers with an error, which is printed as one line.
exec speaks the ``v5.channel.k8s.io`` WebSocket protocol kubectl 1.30+ uses (one byte of
channel per binary frame: 0 stdin, 1 stdout, 2 stderr, 3 the final Status).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from typing import Annotated, Any

import aiohttp
import typer

from .. import __name__ as _pkg
from ..client import errors as client_errors
from ..client.rest import resource_path, transport_error
from . import kubeconfig as kubeconfig_mod
from . import printers
from .app import Common, KubeconfigOpt, NamespaceOpt, SelectorOpt, ServerOpt, execute
from .completion import complete_resource
from .errors import CLIError
from .session import Session

Object = dict[str, Any]
CLIENT_VERSION = "v0.1.0"


def parse_duration(text: str) -> float:
    """Go durations as kubectl flags take them: ``30s``, ``1m30s``, ``2h``, or bare seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise CLIError(f"invalid duration \"{text}\"")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


# ----------------------------------------------------------------------------- logs


def logs(
    pod: Annotated[str, typer.Argument(help="POD or pod/POD.")],
    follow: Annotated[bool, typer.Option("-f", "--follow", help="Stream new lines.")] = False,
    container: Annotated[str, typer.Option(
        "-c", "--container", help="The container (default: the only one).",
        show_default=False)] = "",
    tail: Annotated[int, typer.Option(
        "--tail", help="Lines of recent log to show (-1: all).")] = -1,
    timestamps: Annotated[bool, typer.Option("--timestamps")] = False,
    previous: Annotated[bool, typer.Option(
        "-p", "--previous", help="The previous instance of the container.")] = False,
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Print the logs of a container in a pod."""
    name = pod.split("/", 1)[1] if pod.startswith(("pod/", "pods/", "po/")) else pod

    async def run(session: Session) -> int:
        res = session.resource("pods")
        path = resource_path(res, namespace=session.ns(res), name=name, subresource="log")
        params: dict[str, str | int | bool | None] = {
            "container": container, "follow": True if follow else None,
            "tailLines": tail if tail >= 0 else None,
            "timestamps": True if timestamps else None, "previous": True if previous else None}
        if not follow:
            resp = await session.client.request("GET", path, params=params, accept="*/*")
            session.out.write(resp.text)
            session.out.flush()
            return 0
        stream = session.client.stream("GET", path, params=params)
        async with contextlib.aclosing(stream) as chunks:
            async for chunk in chunks:
                session.out.write(chunk.decode(errors="replace"))
                session.out.flush()
        return 0

    execute(Common(server, namespace, kubeconfig), run)


# ----------------------------------------------------------------------------- exec


async def _exec_ws(session: Session, path: str, params: list[tuple[str, str]],
                   stdin: bool) -> int:
    url = session.client.base_url + path
    # The REST client's own aiohttp session (its headers, its pool): a WebSocket upgrade is
    # the one request its ``request`` door cannot make.
    http = session.client._http()
    try:
        ws = await http.ws_connect(url, params=params, protocols=("v5.channel.k8s.io",
                                                                  "v4.channel.k8s.io"))
    except aiohttp.WSServerHandshakeError:
        # Not upgraded: the server refused; ask again plainly to read its Status.
        await session.client.request("GET", path, params=dict(params))
        raise CLIError("the server refused the exec request") from None
    except (aiohttp.ClientError, OSError) as e:
        raise transport_error(f"exec {url}", e) from e
    code = 0
    async with ws:
        feeder: asyncio.Task[None] | None = None
        if stdin:
            async def feed() -> None:
                loop = asyncio.get_running_loop()
                while True:
                    data = await loop.run_in_executor(None, _read_stdin)
                    if not data:
                        await ws.send_bytes(b"\xff\x00")  # v5: close stdin
                        return
                    await ws.send_bytes(b"\x00" + data)
            feeder = asyncio.create_task(feed(), name="cli.exec.stdin")
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel, data = msg.data[0], msg.data[1:]
                if channel == 1:
                    sys.stdout.buffer.write(data)
                    sys.stdout.buffer.flush()
                elif channel == 2:
                    sys.stderr.buffer.write(data)
                    sys.stderr.buffer.flush()
                elif channel == 3:
                    code = _exit_code(json.loads(data or b"{}"))
        finally:
            if feeder is not None:
                feeder.cancel()
    return code


def _read_stdin() -> bytes:
    buffer: Any = sys.stdin.buffer
    return bytes(buffer.read1(65536))


def _exit_code(status: Object) -> int:
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                with contextlib.suppress(ValueError):
                    return int(cause.get("message"))
        return 1
    raise client_errors.from_status(status)


def exec_(
    pod: Annotated[str, typer.Argument(help="POD or pod/POD.")],
    command: Annotated[list[str] | None, typer.Argument(
        help="After --: the command and its arguments.", show_default=False)] = None,
    container: Annotated[str, typer.Option("-c", "--container", show_default=False)] = "",
    stdin: Annotated[bool, typer.Option("-i", "--stdin", help="Pass stdin along.")] = False,
    tty: Annotated[bool, typer.Option("-t", "--tty", help="Allocate a terminal.")] = False,
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Execute a command in a container."""
    if not command:
        raise CLIError("you must specify at least one command for the container")
    name = pod.split("/", 1)[1] if pod.startswith(("pod/", "pods/", "po/")) else pod

    async def run(session: Session) -> int:
        res = session.resource("pods")
        path = resource_path(res, namespace=session.ns(res), name=name, subresource="exec")
        params = [("command", c) for c in command or []]
        params += [("stdout", "true"), ("stderr", "false" if tty else "true")]
        if stdin:
            params.append(("stdin", "true"))
        if tty:
            params.append(("tty", "true"))
        if container:
            params.append(("container", container))
        return await _exec_ws(session, path, params, stdin)

    execute(Common(server, namespace, kubeconfig), run)


# ----------------------------------------------------------------------------- wait


def _condition_met(obj: Object, cond: str, want: str) -> bool:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if str(c.get("type", "")).lower() == cond.lower():
            return str(c.get("status", "")).lower() == want.lower()
    return False


def wait(
    args: Annotated[list[str] | None, typer.Argument(
        help="TYPE NAME... or TYPE/NAME...", show_default=False,
        autocompletion=complete_resource)] = None,
    for_: Annotated[str, typer.Option(
        "--for", help="condition=NAME[=VALUE] or delete.", show_default=False)] = "",
    timeout: Annotated[str, typer.Option("--timeout", help="Give up after this long.")] = "30s",
    selector: SelectorOpt = "",
    all_: Annotated[bool, typer.Option("--all")] = False,
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Wait for a condition on one or many resources (e.g. Ready, or deletion)."""
    seconds = parse_duration(timeout)
    if for_ == "delete":
        cond, want = "", ""
    elif for_.startswith("condition="):
        cond, _, want = for_[len("condition="):].partition("=")
        want = want or "True"
    else:
        raise CLIError("--for must be condition=NAME[=VALUE] or delete")

    async def run(session: Session) -> int:
        from .write import _targets

        targets = await _targets(session, list(args or []), selector=selector, all_=all_)
        if not targets:
            raise CLIError("no matching resources found")
        deadline = time.monotonic() + seconds
        for res, name, ns in targets:
            label = f"{printers.kind_prefix(res.kind, res.group)}/{name}"
            while True:
                obj = await session.get_or_none(res, name, namespace=ns)
                if for_ == "delete" and obj is None:
                    break
                if for_ != "delete":
                    if obj is None:
                        raise client_errors.NotFound(f"{res.name} \"{name}\" not found")
                    if _condition_met(obj, cond, want):
                        break
                if time.monotonic() >= deadline:
                    raise CLIError(f"timed out waiting for the condition on {res.name}/{name}")
                await asyncio.sleep(0.2)
            session.print(f"{label} condition met")
        return 0

    execute(Common(server, namespace, kubeconfig), run)


# ----------------------------------------------------------------------------- cluster


def cluster_info(server: ServerOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Display the address of the control plane and of cluster services."""

    async def run(session: Session) -> int:
        await session.client.request("GET", "/version")
        out = session.out
        head = printers.paint("Kubernetes control plane", "32", out)
        session.print(f"{head} is running at {printers.paint(session.target.server, '33', out)}")
        svcs = await session.list_objects(session.resource("services"), namespace="kube-system",
                                          label_selector="kubernetes.io/cluster-service=true")
        for svc in svcs["items"]:
            md = svc.get("metadata") or {}
            name = (md.get("labels") or {}).get("kubernetes.io/name") or md.get("name")
            url = (f"{session.target.server}/api/v1/namespaces/kube-system/services/"
                   f"{md.get('name')}/proxy")
            session.print(f"{printers.paint(str(name), '32', out)} is running at "
                          f"{printers.paint(url, '33', out)}")
        session.print("\nTo see the nodes and what runs on them, use 'minikube8s get "
                      "nodes,pods -A'.")
        return 0

    execute(Common(server, None, kubeconfig), run)


def version(
    client: Annotated[bool, typer.Option("--client", help="Client version only.")] = False,
    output: Annotated[str, typer.Option("-o", "--output", help="json or yaml.",
                                        show_default=False)] = "",
    server: ServerOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Print the client and server version information."""
    client_info = {"gitVersion": CLIENT_VERSION, "platform": sys.platform,
                   "pythonVersion": sys.version.split()[0], "program": _pkg}

    async def run(session: Session) -> int:
        doc: Object = {"clientVersion": client_info}
        if not client:
            doc["serverVersion"] = (await session.client.request("GET", "/version")).json()
        if output == "json":
            session.out.write(printers.to_json(doc))
        elif output == "yaml":
            session.out.write(printers.to_yaml(doc))
        elif output:
            raise CLIError("--output must be 'yaml' or 'json'")
        else:
            session.print(f"Client Version: {CLIENT_VERSION}")
            if not client:
                session.print(f"Server Version: {doc['serverVersion'].get('gitVersion', '')}")
        return 0

    execute(Common(server, None, kubeconfig), run)


async def _discovery(session: Session) -> list[tuple[str, Object]]:
    """(groupVersion, APIResource) for every listed resource, core first."""
    out: list[tuple[str, Object]] = []
    core = (await session.client.request("GET", "/api/v1")).json() or {}
    out += [("v1", r) for r in core.get("resources") or []]
    groups = (await session.client.request("GET", "/apis")).json() or {}
    for g in sorted(groups.get("groups") or [], key=lambda g: str(g.get("name"))):
        gv = str((g.get("preferredVersion") or {}).get("groupVersion") or "")
        if not gv:
            continue
        doc = (await session.client.request("GET", f"/apis/{gv}")).json() or {}
        out += [(gv, r) for r in doc.get("resources") or []]
    return [(gv, r) for gv, r in out if "/" not in str(r.get("name"))]


def api_resources(
    output: Annotated[str, typer.Option("-o", "--output", help="wide or name.",
                                        show_default=False)] = "",
    namespaced: Annotated[str, typer.Option(
        "--namespaced", help="true or false: only (non-)namespaced resources.",
        show_default=False)] = "",
    no_headers: Annotated[bool, typer.Option("--no-headers")] = False,
    server: ServerOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Print the supported API resources on the server."""

    async def run(session: Session) -> int:
        rows = await _discovery(session)
        if namespaced:
            want = namespaced.lower() == "true"
            rows = [(gv, r) for gv, r in rows if bool(r.get("namespaced")) == want]
        rows.sort(key=lambda x: (x[0].split("/")[0] if "/" in x[0] else "", x[1].get("name")))
        if output == "name":
            for gv, r in rows:
                group = gv.split("/")[0] if "/" in gv else ""
                session.print(f"{r.get('name')}.{group}" if group else str(r.get("name")))
            return 0
        writer = printers.TabWriter(session.out)
        head = ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
        if output == "wide":
            head += ["VERBS", "CATEGORIES"]
        if not no_headers:
            writer.add(head)
        for gv, r in rows:
            line = [str(r.get("name")), ",".join(r.get("shortNames") or []), gv,
                    "true" if r.get("namespaced") else "false", str(r.get("kind"))]
            if output == "wide":
                line += [",".join(r.get("verbs") or []), ",".join(r.get("categories") or [])]
            writer.add(line)
        writer.flush()
        return 0

    execute(Common(server, None, kubeconfig), run)


# ----------------------------------------------------------------------------- config


config_app = typer.Typer(name="config", help="Show kubeconfig settings.",
                         no_args_is_help=True)


@config_app.command("view")
def config_view(
    minify: Annotated[bool, typer.Option(
        "--minify", help="Only the current context and what it uses.")] = False,
    raw: Annotated[bool, typer.Option("--raw", help="Show credentials too.")] = False,
    output: Annotated[str, typer.Option("-o", "--output", help="yaml or json.")] = "yaml",
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Display the merged kubeconfig settings ($KUBECONFIG or ~/.kube/config)."""
    from pathlib import Path

    try:
        paths = [Path(kubeconfig)] if kubeconfig else None
        cfg = kubeconfig_mod.load(paths)
    except kubeconfig_mod.KubeconfigError as e:
        raise CLIError(str(e)) from e
    doc = cfg.to_dict(minify=minify)
    if raw:
        doc["users"] = [{"name": k, "user": v} for k, v in cfg.users.items()
                        if not minify or k == cfg.context().get("user")]
        doc["clusters"] = [{"cluster": v, "name": k} for k, v in cfg.clusters.items()
                           if not minify or k == cfg.context().get("cluster")]
    if output == "json":
        sys.stdout.write(printers.to_json(doc))
    elif output == "yaml":
        sys.stdout.write(printers.to_yaml(doc))
    else:
        raise CLIError("--output must be 'yaml' or 'json'")


@config_app.command("current-context")
def current_context(kubeconfig: KubeconfigOpt = None) -> None:
    """Display the current context."""
    from pathlib import Path

    try:
        cfg = kubeconfig_mod.load([Path(kubeconfig)] if kubeconfig else None)
    except kubeconfig_mod.KubeconfigError as e:
        raise CLIError(str(e)) from e
    if not cfg.current_context:
        raise CLIError("current-context is not set")
    sys.stdout.write(cfg.current_context + "\n")


def register(app: typer.Typer) -> None:
    app.command("logs", epilog="Examples:\n\n  minikube8s logs nginx-3gii4\n\n"
                "  minikube8s logs -f nginx-3gii4 -c nginx --tail=20")(logs)
    app.command("exec", epilog="Example:\n\n  minikube8s exec nginx-3gii4 -- "
                "curl -s http://192.168.3.66")(exec_)
    app.command("wait", epilog="Examples:\n\n  minikube8s wait --for=condition=Ready "
                "pod/nginx-3gii4\n\n  minikube8s wait --for=delete rc/nginx "
                "--timeout=60s")(wait)
    app.command("cluster-info", epilog="Example (the seed's kube-up.sh ends with it):\n\n"
                "  minikube8s cluster-info -s http://192.168.0.10:8080")(cluster_info)
    app.command("version", epilog="Example:\n\n  minikube8s version "
                "-s http://192.168.0.10:8080")(version)
    app.command("api-resources", epilog="Example:\n\n  minikube8s api-resources "
                "--namespaced=true")(api_resources)
    app.add_typer(config_app, name="config")
