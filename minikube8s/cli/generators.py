"""Verbs that build objects from flags: the seed's ``run-container`` and ``expose``, and ``run``.

``run-container NAME --image=I --port=P --replicas=N`` makes the replication controller the
seed shows: pods labelled ``run-container=NAME`` selected by that label, one container called
NAME with the given ports. ``expose rc NAME --port --target-port --service-name`` makes a
Service selecting what the RC selects (kubectl copies ``spec.selector``). ``run NAME
--image=I`` makes a single pod labelled ``run=NAME``, as kubectl run does today. Objects are
sent as v1 through the shared REST client; ``--dry-run -o yaml`` prints them instead.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from . import printers
from .app import Common, KubeconfigOpt, NamespaceOpt, ServerOpt, execute
from .completion import complete_resource
from .errors import CLIError
from .session import Session

Object = dict[str, Any]

ImageOpt = Annotated[str, typer.Option("--image", help="The container image (e.g. nginx).")]
PortsOpt = Annotated[list[int] | None, typer.Option(
    "--port", help="A port the container listens on (repeatable).", show_default=False)]
LabelsOpt = Annotated[str, typer.Option(
    "--labels", help="Labels for the pods, KEY=VALUE[,KEY=VALUE] (replaces the default).",
    show_default=False)]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Only print the object that would be sent.")]
OutputOpt = Annotated[str, typer.Option(
    "-o", "--output", help="With --dry-run: yaml or json (default yaml).",
    show_default=False)]


def parse_labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if "=" not in part:
            raise CLIError(f"invalid label spec: {part}")
        k, _, v = part.partition("=")
        out[k] = v
    return out


def container(name: str, image: str, ports: list[int], *, env: list[str] | None = None,
              command: list[str] | None = None) -> Object:
    c: Object = {"name": name, "image": image}
    if ports:
        c["ports"] = [{"containerPort": p} for p in ports]
    if env:
        c["env"] = [{"name": k, "value": v} for k, _, v in (e.partition("=") for e in env)]
    if command:
        c["command"] = list(command)
    return c


def run_container_rc(name: str, *, image: str, ports: list[int], replicas: int,
                     labels: dict[str, str] | None = None) -> Object:
    """The replication controller the seed's ``run-container`` creates."""
    labels = labels or {"run-container": name}
    return {
        "apiVersion": "v1", "kind": "ReplicationController",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": dict(labels),
            "template": {"metadata": {"labels": dict(labels)},
                         "spec": {"containers": [container(name, image, ports)]}},
        },
    }


def _emit(session: Session, obj: Object, output: str) -> None:
    printers.print_objects([obj], output or "yaml", session.out, single=True)


async def _create_or_emit(session: Session, resource: str, obj: Object, *, dry_run: bool,
                          output: str, label: str) -> int:
    """What the generators share: print the object (--dry-run) or create it and say so."""
    if dry_run:
        _emit(session, obj, output)
        return 0
    res = session.resource(resource)
    await session.client.create(res, obj, namespace=session.ns(res))
    session.print(f"{label}/{obj['metadata']['name']} created")
    return 0


def run_container(
    name: Annotated[str, typer.Argument(help="The name of the replication controller.")],
    image: ImageOpt = "",
    port: PortsOpt = None,
    replicas: Annotated[int, typer.Option("-r", "--replicas", help="Number of pods.")] = 1,
    labels: LabelsOpt = "",
    dry_run: DryRunOpt = False,
    output: OutputOpt = "",
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Run an image on the cluster as a replication controller (the seed's verb)."""
    if not image:
        raise CLIError("--image is required")
    rc = run_container_rc(name, image=image, ports=list(port or []), replicas=replicas,
                          labels=parse_labels(labels) if labels else None)

    async def run(session: Session) -> int:
        return await _create_or_emit(session, "rc", rc, dry_run=dry_run, output=output,
                                     label="replicationcontroller")

    execute(Common(server, namespace, kubeconfig), run)


def run_pod(
    name: Annotated[str, typer.Argument(help="The name of the pod.")],
    command: Annotated[list[str] | None, typer.Argument(
        help="After --: the command to run instead of the image's.", show_default=False)
    ] = None,
    image: ImageOpt = "",
    port: Annotated[int, typer.Option("--port", help="The port the container exposes.")] = 0,
    labels: LabelsOpt = "",
    env: Annotated[list[str] | None, typer.Option(
        "--env", help="KEY=VALUE environment variables (repeatable).", show_default=False)
    ] = None,
    restart: Annotated[str, typer.Option(
        "--restart", help="Always, OnFailure or Never.")] = "Always",
    dry_run: DryRunOpt = False,
    output: OutputOpt = "",
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Run a particular image in a pod (kubectl run)."""
    if not image:
        raise CLIError("--image is required")
    if restart not in ("Always", "OnFailure", "Never"):
        raise CLIError(f"invalid restart policy: {restart}")
    pod_labels = parse_labels(labels) if labels else {"run": name}
    pod: Object = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": pod_labels},
        "spec": {"containers": [container(name, image, [port] if port else [], env=env,
                                          command=command)],
                 "restartPolicy": restart},
    }

    async def run(session: Session) -> int:
        return await _create_or_emit(session, "pods", pod, dry_run=dry_run, output=output,
                                     label="pod")

    execute(Common(server, namespace, kubeconfig), run)


def _selector_of(obj: Object) -> dict[str, str]:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind in ("ReplicationController", "Service"):
        sel = spec.get("selector") or {}
    elif kind == "Pod":
        sel = (obj.get("metadata") or {}).get("labels") or {}
    else:
        raise CLIError(f"cannot expose a {kind}")
    if not sel:
        raise CLIError(f"couldn't retrieve selectors via --selector flag or introspection: "
                       f"the {kind} has no selector")
    return dict(sel)


def _container_ports(obj: Object) -> list[Object]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "Service":
        return [dict(p) for p in spec.get("ports") or []]
    pod_spec = (spec.get("template") or {}).get("spec") or {} \
        if obj.get("kind") == "ReplicationController" else spec
    return [{"port": p.get("containerPort"), "protocol": p.get("protocol", "TCP")}
            for c in pod_spec.get("containers") or [] for p in c.get("ports") or []]


def expose(
    args: Annotated[list[str], typer.Argument(
        help="TYPE NAME or TYPE/NAME (rc, pod or service).", autocompletion=complete_resource)],
    port: Annotated[int, typer.Option("--port", help="The port the service listens on.")] = 0,
    target_port: Annotated[str, typer.Option(
        "--target-port", help="The container port (number or name) traffic goes to.",
        show_default=False)] = "",
    service_name: Annotated[str, typer.Option(
        "--service-name", "--name", help="The service's name (default: the object's).",
        show_default=False)] = "",
    protocol: Annotated[str, typer.Option("--protocol", help="TCP or UDP.")] = "TCP",
    public_ip: Annotated[list[str] | None, typer.Option(
        "--public-ip", "--external-ip", help="An extra IP the service answers on.",
        show_default=False)] = None,
    selector: Annotated[str, typer.Option(
        "--selector", help="Select pods with this instead of the object's selector.",
        show_default=False)] = "",
    service_type: Annotated[str, typer.Option(
        "--type", help="ClusterIP (default) or NodePort.", show_default=False)] = "",
    dry_run: DryRunOpt = False,
    output: OutputOpt = "",
    server: ServerOpt = None,
    namespace: NamespaceOpt = None,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Expose a replication controller, pod or service as a new service."""
    if protocol.upper() not in ("TCP", "UDP", "SCTP"):
        raise CLIError(f"invalid protocol {protocol}: use TCP or UDP")

    async def run(session: Session) -> int:
        groups = session.split_args(list(args))
        if len(groups) != 1 or len(groups[0][1]) != 1:
            raise CLIError("expose takes one object: TYPE NAME or TYPE/NAME")
        res, (name,) = groups[0]
        obj = await session.get(res, name, namespace=session.ns(res))
        obj.setdefault("kind", res.kind)
        sel = parse_labels(selector) if selector else _selector_of(obj)
        if port:
            target: int | str = int(target_port) if target_port.isdigit() else (
                target_port or port)
            ports: list[Object] = [{"port": port, "targetPort": target,
                                    "protocol": protocol.upper()}]
        else:
            found = _container_ports(obj)
            if not found:
                raise CLIError(f"couldn't find port via --port flag or introspection: "
                               f"the {res.kind} declares no ports")
            ports = [{"name": f"port-{i + 1}", "port": p["port"],
                      "targetPort": p.get("targetPort", p["port"]),
                      "protocol": p.get("protocol", "TCP")} for i, p in enumerate(found)]
            if len(ports) == 1:
                ports[0].pop("name")
        svc: Object = {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": service_name or name},
            "spec": {"selector": sel, "ports": ports},
        }
        labels = (obj.get("metadata") or {}).get("labels")
        if labels:
            svc["metadata"]["labels"] = dict(labels)
        if public_ip:
            svc["spec"]["externalIPs"] = list(public_ip)
        if service_type:
            svc["spec"]["type"] = service_type
        if dry_run:
            _emit(session, svc, output)
            return 0
        svc_res = session.resource("services")
        await session.client.create(svc_res, svc, namespace=session.ns(svc_res))
        session.print(f"service/{service_name or name} exposed")
        return 0

    execute(Common(server, namespace, kubeconfig), run)


def register(app: typer.Typer) -> None:
    app.command("run-container", epilog=(
        "Example (the seed's session):\n\n  minikube8s run-container nginx --port=80 "
        "--port=443 --image=nginx --replicas=6 -s http://192.168.0.10:8080"))(run_container)
    app.command("run", epilog=(
        "Examples:\n\n  minikube8s run nginx --image=nginx --port=80\n\n"
        "  minikube8s run busybox --image=busybox --restart=Never -- sleep 3600"))(run_pod)
    app.command("expose", epilog=(
        "Examples (the seed's session):\n\n  minikube8s expose rc nginx --port=80 "
        "--target-port=80 --service-name=nginx-http -s http://192.168.0.10:8080\n\n"
        "  minikube8s expose rc nginx --port=443 --target-port=443 "
        "--service-name=nginx-https --public-ip=12.0.0.5"))(expose)
