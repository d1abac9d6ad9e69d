"""Verbs that change objects: create, replace, delete, stop, scale/resize, patch, label,
annotate.

``create configmap|secret generic NAME --from-...`` builds its object in configdata.py.

``create -f`` and ``stop rc`` are the seed's; the rest are what kubectl users type today. Each
object is reported on its own line in kubectl's words (``replicationcontroller/nginx
created``, ``service "nginx-http" deleted``); a failure for one object is printed and the
others still go ahead, and the exit code is 1 if anything failed, as kubectl does. Manifests
come from manifests.py; resource rows and namespaces from session.py; apply lives in apply.py.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, cast

import typer

from ..api.resources import Resource
from ..client import errors as client_errors
from ..client.rest import PatchType
from . import configdata, locate, manifests
from .app import (
    Common,
    FilenameOpt,
    KubeconfigOpt,
    NamespaceOpt,
    SelectorOpt,
    ServerOpt,
    execute,
)
from .completion import complete_resource
from .errors import CLIError, describe
from .printers import kind_prefix, print_objects
from .session import Session

Object = dict[str, Any]

ArgsArg = Annotated[list[str] | None, typer.Argument(
    help="TYPE NAME... or TYPE/NAME...", show_default=False, autocompletion=complete_resource)]
RecursiveOpt = Annotated[bool, typer.Option(
    "-R", "--recursive", help="Process the directory used in -f recursively.")]
TimeoutOpt = Annotated[float, typer.Option(
    "--timeout", help="Seconds to wait before giving up (0: the default of the verb).")]


def _kind_of(res: Resource) -> str:
    return kind_prefix(res.kind, res.group)


def _report(session: Session, exc: BaseException, action: str, source: str, *,
            manifest: manifests.Manifest | None = None) -> None:
    # a 422 on an object from a YAML file: the file's line of each refused field instead
    lines = locate.located(exc, manifest) if manifest is not None else None
    if lines:
        for text in lines:
            session.warn(text)
        return
    line = describe(exc, server=session.target.server)
    if source and line.startswith("Error from server"):
        head, _, rest = line.partition(": ")
        line = f"{head}: error when {action} \"{source}\": {rest}"
    session.warn(line)


async def each_manifest(session: Session, items: list[manifests.Manifest], *, action: str,
                        one: Callable[[manifests.Manifest], Awaitable[str]]) -> int:
    """kubectl's rule for ``-f``: every manifest on its own; a failure is reported (the file's
    line of each refused field for a 422) and counted, and the rest go on. ``one`` returns
    the line to print for a manifest it handled; the exit code is 1 if any failed."""
    failures = 0
    for m in items:
        try:
            line = await one(m)
        except client_errors.ClientError as e:
            failures += 1
            _report(session, e, action, m.source, manifest=m)
            continue
        session.print(line)
    return 1 if failures else 0


# ----------------------------------------------------------------------------- create


def create(
    args: Annotated[list[str] | None, typer.Argument(
        help="configmap NAME, or secret generic NAME (with --from-*); else use -f.",
        show_default=False)] = None,
    filename: FilenameOpt = None,
    recursive: RecursiveOpt = False,
    from_literal: Annotated[list[str] | None, typer.Option(
        "--from-literal", help="configmap/secret: key=value (repeatable).",
        show_default=False)] = None,
    from_file: Annotated[list[str] | None, typer.Option(
        "--from-file", help="configmap/secret: [key=]path, a file or a directory's files "
        "(repeatable).", show_default=False)] = None,
    from_env_file: Annotated[list[str] | None, typer.Option(
        "--from-env-file", help="configmap/secret: a file of KEY=VALUE lines (repeatable).",
        show_default=False)] = None,
    secret_type: Annotated[str, typer.Option(
        "--type", help="secret generic: the Secret's type (default Opaque).",
        show_default=False)] = "",
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="configmap/secret: only print the object that would be sent.")
    ] = False,
    output: Annotated[str, typer.Option(
        "-o", "--output", help="With --dry-run: yaml or json (default yaml).",
        show_default=False)] = "",
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Create resources from files or stdin (YAML or JSON, several documents, a directory),
    or a ConfigMap or generic Secret from literals and files."""
    if args:
        if filename:
            raise CLIError("create takes -f or a generator (configmap, secret generic), "
                           "not both")
        resource, obj = configdata.generated(
            list(args), files=list(from_file or []), literals=list(from_literal or []),
            env_files=list(from_env_file or []), secret_type=secret_type)
        execute(Common(server, namespace, kubeconfig), functools.partial(
            _create_generated, resource=resource, obj=obj, dry_run=dry_run, output=output))
    items = manifests.load(list(filename or []), recursive=recursive)

    async def run(session: Session) -> int:
        async def one(m: manifests.Manifest) -> str:
            res = session.for_manifest(m)
            obj = await session.client.create(res, m.obj, namespace=session.manifest_ns(
                res, m), field_manager="kubectl-create")
            name = (obj.get("metadata") or {}).get("name", m.name)
            return f"{_kind_of(res)}/{name} created"

        return await each_manifest(session, items, action="creating", one=one)

    execute(Common(server, namespace, kubeconfig), run)


async def _create_generated(session: Session, *, resource: str, obj: Object, dry_run: bool,
                            output: str) -> int:
    if dry_run:
        print_objects([obj], output or "yaml", session.out, single=True)
        return 0
    res = session.resource(resource)
    created = await session.client.create(res, obj, namespace=session.ns(res),
                                          field_manager="kubectl-create")
    name = (created.get("metadata") or {}).get("name", "")
    session.print(f"{_kind_of(res)}/{name} created")
    return 0


# ----------------------------------------------------------------------------- replace


def replace(
    filename: FilenameOpt = None,
    recursive: RecursiveOpt = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Delete and re-create the objects.")] = False,
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Replace resources by file name or stdin (the whole object is sent)."""
    items = manifests.load(list(filename or []), recursive=recursive)

    async def run(session: Session) -> int:
        async def one(m: manifests.Manifest) -> str:
            res = session.for_manifest(m)
            ns = session.manifest_ns(res, m)
            if force:
                await _delete_and_wait(session, res, m.name, ns, wait_seconds=60)
                await session.client.create(res, m.obj, namespace=ns)
                return f"{_kind_of(res)}/{m.name} replaced"
            body = dict(m.obj)
            md = dict(body.get("metadata") or {})
            if not md.get("resourceVersion"):
                live = await session.get(res, m.name, namespace=ns)
                md["resourceVersion"] = (live.get("metadata") or {}).get("resourceVersion")
            body["metadata"] = md
            await session.client.update(res, body, namespace=ns)
            return f"{_kind_of(res)}/{m.name} replaced"

        return await each_manifest(session, items, action="replacing", one=one)

    execute(Common(server, namespace, kubeconfig), run)


# ----------------------------------------------------------------------------- delete


async def _gone(session: Session, res: Resource, name: str, ns: str, *,
                deadline: float) -> bool:
    while True:
        if await session.get_or_none(res, name, namespace=ns) is None:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.2)


async def _delete_and_wait(session: Session, res: Resource, name: str, ns: str, *,
                           wait_seconds: float, wait: bool = True) -> None:
    await session.client.delete(res, name, namespace=ns, propagation_policy="Background")
    if wait and not await _gone(session, res, name, ns,
                                deadline=time.monotonic() + wait_seconds):
        raise CLIError(f"timed out waiting for the condition on {res.name}/{name}")


async def _targets(session: Session, args: list[str], *, selector: str, all_: bool,
                   ) -> list[tuple[Resource, str, str]]:
    """(resource, name, namespace) for ``TYPE NAME...``, ``TYPE/NAME`` or ``TYPE -l SEL``."""
    out: list[tuple[Resource, str, str]] = []
    for res, names in session.split_args(args):
        ns = session.ns(res)
        if names:
            if selector:
                raise CLIError("name cannot be provided when a selector is specified")
            out.extend((res, n, ns) for n in names)
            continue
        if not selector and not all_:
            raise CLIError("resource(s) were provided, but no name was specified")
        items = (await session.list_objects(res, namespace=ns, label_selector=selector))["items"]
        out.extend((res, str((o.get("metadata") or {}).get("name")), ns) for o in items)
    return out


def delete(
    args: ArgsArg = None,
    filename: FilenameOpt = None,
    recursive: RecursiveOpt = False,
    selector: SelectorOpt = "",
    all_: Annotated[bool, typer.Option("--all", help="Delete every object of the type.")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="Wait until the objects are gone.")] = True,
    timeout: TimeoutOpt = 60.0,
    grace_period: Annotated[int, typer.Option(
        "--grace-period", help="Seconds given to the object to terminate (-1: its own).")] = -1,
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Delete resources by file names, stdin, resources and names, or label selector."""
    items = manifests.load(list(filename), recursive=recursive) if filename else []

    async def run(session: Session) -> int:
        targets: list[tuple[Resource, str, str, str]] = []
        for m in items:
            res = session.for_manifest(m)
            targets.append((res, m.name, session.manifest_ns(res, m), m.source))
        if args or not items:
            targets.extend((r, n, ns, "") for r, n, ns in await _targets(
                session, list(args or []), selector=selector, all_=all_))
        if not targets and not items:
            session.warn("No resources found")
            return 0
        failures = 0
        deleted: list[tuple[Resource, str, str]] = []
        for res, name, ns, _source in targets:
            try:
                await session.client.delete(
                    res, name, namespace=ns, propagation_policy="Background",
                    grace_period_seconds=grace_period if grace_period >= 0 else None)
            except client_errors.ClientError as e:
                failures += 1
                session.warn(describe(e, server=session.target.server))
                continue
            session.print(f"{_kind_of(res)} \"{name}\" deleted")
            deleted.append((res, name, ns))
        if wait:
            deadline = time.monotonic() + timeout
            for res, name, ns in deleted:
                if not await _gone(session, res, name, ns, deadline=deadline):
                    failures += 1
                    session.warn(f"error: timed out waiting for the condition on "
                                 f"{res.name}/{name}")
        return 1 if failures else 0

    execute(Common(server, namespace, kubeconfig), run)


# ----------------------------------------------------------------------------- stop


async def stop_rc(session: Session, res: Resource, name: str, ns: str, *,
                  wait_seconds: float) -> str:
    """The v0.17 reaper: scale to 0, wait until no replicas remain, then delete.

    The wait ends when the RC reports ``status.replicas == 0`` and no pod matching its
    selector is left. With no controller manager nothing ever creates those pods, so this
    returns at once; if one is running but slow, the wait gives up after ``wait_seconds``
    and deletes the RC anyway (with a warning) rather than hang.
    """
    rc = await session.get(res, name, namespace=ns)
    await session.client.patch(res, name, {"spec": {"replicas": 0}}, namespace=ns,
                               subresource="scale")
    selector = ",".join(f"{k}={v}" for k, v in sorted(
        ((rc.get("spec") or {}).get("selector") or {}).items()))
    pods = session.resource("pods")
    deadline = time.monotonic() + wait_seconds
    while True:
        live = await session.get(res, name, namespace=ns)
        replicas = int((live.get("status") or {}).get("replicas") or 0)
        left = []
        if selector:
            left = [p for p in (await session.list_objects(
                pods, namespace=ns, label_selector=selector))["items"]
                if not (p.get("metadata") or {}).get("deletionTimestamp")]
        if replicas == 0 and not left:
            break
        if time.monotonic() >= deadline:
            session.warn(f"Warning: timed out after {wait_seconds:g}s waiting for "
                         f"{res.name}/{name} to have 0 replicas ({replicas} reported, "
                         f"{len(left)} pods left); deleting it anyway")
            break
        await asyncio.sleep(0.25)
    await session.client.delete(res, name, namespace=ns, propagation_policy="Background")
    return f"{_kind_of(res)}/{name} stopped"


def stop(
    args: ArgsArg = None,
    filename: FilenameOpt = None,
    selector: SelectorOpt = "",
    all_: Annotated[bool, typer.Option("--all", help="Stop every object of the type.")] = False,
    timeout: TimeoutOpt = 60.0,
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Gracefully shut down a resource (the seed's verb): an rc is scaled to 0, then deleted.

    For a replication controller, waits (at most --timeout seconds) until it reports 0
    replicas and no pod it selects is left, then deletes it; after the timeout it is deleted
    anyway, with a warning. Other kinds are deleted and waited for.
    """
    items = manifests.load(list(filename)) if filename else []

    async def run(session: Session) -> int:
        targets = [(session.for_manifest(m), m.name,
                    session.manifest_ns(session.for_manifest(m), m)) for m in items]
        if args or not items:
            targets += await _targets(session, list(args or []), selector=selector, all_=all_)
        failures = 0
        for res, name, ns in targets:
            try:
                if res.kind == "ReplicationController":
                    session.print(await stop_rc(session, res, name, ns, wait_seconds=timeout))
                else:
                    await _delete_and_wait(session, res, name, ns, wait_seconds=timeout)
                    session.print(f"{_kind_of(res)}/{name} stopped")
            except (client_errors.ClientError, CLIError) as e:
                failures += 1
                session.warn(describe(e, server=session.target.server))
        return 1 if failures else 0

    execute(Common(server, namespace, kubeconfig), run)


# ----------------------------------------------------------------------------- scale


def _scale(verb: str, args: list[str], replicas: int, current: int, server: str | None,
           namespace: str | None, kubeconfig: str | None) -> None:
    if replicas < 0:
        raise CLIError("The --replicas=COUNT flag is required, and COUNT must be "
                       "greater than or equal to 0")

    async def run(session: Session) -> int:
        failures = 0
        for res, names in session.split_args(args):
            if "scale" not in res.subresources:
                raise CLIError(f"cannot {verb} {res.name}: it has no scale subresource")
            if not names:
                raise CLIError("resource(s) were provided, but no name was specified")
            ns = session.ns(res)
            for name in names:
                try:
                    if current >= 0:
                        scale = await session.client.get_scale(res, name, namespace=ns)
                        have = int((scale.get("spec") or {}).get("replicas") or 0)
                        if have != current:
                            raise CLIError(f"Expected replicas to be {current}, was {have}")
                    await session.client.patch(res, name, {"spec": {"replicas": replicas}},
                                               namespace=ns, subresource="scale")
                except (client_errors.ClientError, CLIError) as e:
                    failures += 1
                    session.warn(describe(e, server=session.target.server))
                    continue
                session.print(f"{_kind_of(res)}/{name} {verb}d")
        return 1 if failures else 0

    execute(Common(server, namespace, kubeconfig), run)


ReplicasOpt = Annotated[int, typer.Option("--replicas", help="The new number of replicas.")]
CurrentOpt = Annotated[int, typer.Option(
    "--current-replicas", help="Only scale if the current number is this (-1: any).")]


def scale(args: ArgsArg = None, replicas: ReplicasOpt = -1, current_replicas: CurrentOpt = -1,
          server: ServerOpt = None, namespace: NamespaceOpt = None,
          kubeconfig: KubeconfigOpt = None) -> None:
    """Set a new size for a replication controller."""
    _scale("scale", list(args or []), replicas, current_replicas, server, namespace,
           kubeconfig)


def resize(args: ArgsArg = None, replicas: ReplicasOpt = -1, current_replicas: CurrentOpt = -1,
           server: ServerOpt = None, namespace: NamespaceOpt = None,
           kubeconfig: KubeconfigOpt = None) -> None:
    """Set a new size for a replication controller (the seed-era name of scale)."""
    _scale("resize", list(args or []), replicas, current_replicas, server, namespace,
           kubeconfig)


# ----------------------------------------------------------------------------- label, annotate


def _metadata_patch(field: str, verb: str, args: list[str], *, overwrite: bool,
                    selector: str, all_: bool, common: Common) -> None:
    # kubectl's split: KEY=VALUE and KEY- are changes (names can neither hold '=' nor end
    # in '-'), everything else names the objects.
    changes: dict[str, str | None] = {}
    rest: list[str] = []
    for a in args:
        if "=" in a:
            k, _, v = a.partition("=")
            changes[k] = v
        elif a.endswith("-"):
            changes[a[:-1]] = None
        else:
            rest.append(a)
    if not changes:
        raise CLIError(f"at least one {field[:-1]} update is required")

    async def run(session: Session) -> int:
        failures = 0
        for res, name, ns in await _targets(session, rest, selector=selector, all_=all_):
            try:
                live = await session.get(res, name, namespace=ns)
                current = (live.get("metadata") or {}).get(field) or {}
                for k, v in changes.items():
                    if v is not None and k in current and current[k] != v and not overwrite:
                        raise CLIError(f"'{k}' already has a value ({current[k]}), and "
                                       f"--overwrite is false")
                await session.client.patch(res, name, {"metadata": {field: changes}},
                                           namespace=ns, patch_type="merge")
            except (client_errors.ClientError, CLIError) as e:
                failures += 1
                session.warn(describe(e, server=session.target.server))
                continue
            session.print(f"{_kind_of(res)}/{name} {verb}")
        return 1 if failures else 0

    execute(common, run)


# ----------------------------------------------------------------------------- patch


def patch(
    args: ArgsArg = None,
    patch_text: Annotated[str, typer.Option(
        "-p", "--patch", help="The patch, JSON or YAML.", show_default=False)] = "",
    patch_file: Annotated[str, typer.Option(
        "--patch-file", help="A file holding the patch.", show_default=False)] = "",
    patch_type: Annotated[str, typer.Option(
        "--type", help="strategic, merge or json.")] = "strategic",
    subresource: Annotated[str, typer.Option(
        "--subresource", help="status or scale.", show_default=False)] = "",
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Update fields of a resource with a strategic merge, JSON merge or JSON patch."""
    import yaml

    if patch_type not in ("strategic", "merge", "json"):
        raise CLIError(f"--type must be one of [json merge strategic], not \"{patch_type}\"")
    if patch_file:
        try:
            with open(patch_file, encoding="utf-8") as f:
                patch_text = f.read()
        except OSError as e:
            raise CLIError(f"unable to read patch file: {e.strerror}") from e
    if not patch_text:
        raise CLIError("must specify -p to patch")
    try:
        body = yaml.safe_load(patch_text)
    except yaml.YAMLError as e:
        raise CLIError(f"unable to parse \"{patch_text}\": {e}") from e

    async def run(session: Session) -> int:
        failures = 0
        for res, name, ns in await _targets(session, list(args or []), selector="",
                                            all_=False):
            try:
                before = await session.get(res, name, namespace=ns)
                after = await session.client.patch(
                    res, name, body, namespace=ns, patch_type=cast(PatchType, patch_type),
                    subresource=subresource, field_manager="kubectl-patch")
            except client_errors.ClientError as e:
                failures += 1
                session.warn(describe(e, server=session.target.server))
                continue
            same = (before.get("metadata") or {}).get("resourceVersion") == \
                (after.get("metadata") or {}).get("resourceVersion")
            session.print(f"{_kind_of(res)}/{name} patched{' (no change)' if same else ''}")
        return 1 if failures else 0

    execute(Common(server, namespace, kubeconfig), run)


OverwriteOpt = Annotated[bool, typer.Option(
    "--overwrite", help="Allow replacing an existing value.")]


def label(args: ArgsArg = None, overwrite: OverwriteOpt = False, selector: SelectorOpt = "",
          all_: Annotated[bool, typer.Option("--all")] = False, server: ServerOpt = None,
          namespace: NamespaceOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Update the labels on a resource: KEY=VALUE adds, KEY- removes."""
    _metadata_patch("labels", "labeled", list(args or []), overwrite=overwrite,
                    selector=selector, all_=all_, common=Common(server, namespace, kubeconfig))


def annotate(args: ArgsArg = None, overwrite: OverwriteOpt = False, selector: SelectorOpt = "",
             all_: Annotated[bool, typer.Option("--all")] = False, server: ServerOpt = None,
             namespace: NamespaceOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Update the annotations on a resource: KEY=VALUE adds, KEY- removes."""
    _metadata_patch("annotations", "annotated", list(args or []), overwrite=overwrite,
                    selector=selector, all_=all_, common=Common(server, namespace, kubeconfig))


def register(app: typer.Typer) -> None:
    seed = "Example (the seed's session):\n\n  "
    app.command("create", epilog=seed + "minikube8s create -f ./nginx_rc.yaml "
                "-s http://192.168.0.10:8080\n\n  cat nginx_service.yaml | "
                "minikube8s create -f -\n\n  minikube8s create configmap web "
                "--from-literal=mode=fast --from-file=nginx.conf\n\n  minikube8s create "
                "secret generic db --from-literal=password=s3cret")(create)
    app.command("replace", epilog=seed + "minikube8s replace -f ./nginx_rc.yaml")(replace)
    app.command("delete", epilog=seed + "minikube8s delete services nginx-http nginx-https "
                "-s http://192.168.0.10:8080\n\n  minikube8s delete -f ./nginx_service.yaml"
                "\n\n  minikube8s delete pods -l run-container=nginx")(delete)
    app.command("stop", epilog=seed + "minikube8s stop rc nginx "
                "-s http://192.168.0.10:8080")(stop)
    app.command("scale", epilog=seed + "minikube8s scale rc nginx --replicas=3")(scale)
    app.command("resize", epilog=seed + "minikube8s resize rc nginx --replicas=3")(resize)
    app.command("patch", epilog="Examples:\n\n  minikube8s patch rc nginx -p "
                "'{\"spec\":{\"replicas\":3}}'\n\n  minikube8s patch svc nginx-http "
                "--type=json -p '[{\"op\":\"add\",\"path\":\"/spec/externalIPs\","
                "\"value\":[\"12.0.0.5\"]}]'")(patch)
    app.command("label", epilog=seed + "minikube8s label rc nginx tier=web\n\n  "
                "minikube8s label pods -l run-container=nginx tier-")(label)
    app.command("annotate", epilog=seed + "minikube8s annotate rc nginx "
                "description='the seed nginx'")(annotate)
