"""The ``minikube8s`` executable: ``minikube8s --role a|i|ai`` starts a node.

With no sub-command it runs a node (``roles.run_node``); sub-commands are the bundled
kubectl-like CLI (``cli/``) and tools such as ``hollow-nodes``. Option names are the ones
../shared/ARCHITECTURE.md fixes, since tests and scripts rely on them.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import typer

from .cli import register as register_cli
from .config import COMPONENTS, DEFAULT_ADMISSION, NodeConfig, Role

app = typer.Typer(
    name="minikube8s",
    help="A small, real Kubernetes in one asyncio executable.",
    no_args_is_help=False,
    add_completion=True,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def node(
    ctx: typer.Context,
    role: Role = typer.Option(Role.AI, "--role", help="a: control plane, i: node, ai: both."),
    data_dir: Path = typer.Option(
        Path("/var/lib/minikube8s"), "--data-dir", envvar="MINIKUBE8S_DATA_DIR",
        help="State: embedded store, certificates, kubeconfig, volumes."),
    store: str = typer.Option(
        "", "--store", envvar="MINIKUBE8S_STORE",
        help="sqlite:///path (default: inside --data-dir) | etcd://host:port[,host:port]."),
    insecure_port: int = typer.Option(8080, "--insecure-port"),
    insecure_bind_address: str = typer.Option("127.0.0.1", "--insecure-bind-address"),
    server: str = typer.Option(
        "", "--server", "-s",
        help="API server a role-i node talks to (and the CLI verbs' default: -s URL get pods)."),
    node_name: str = typer.Option("", "--node-name"),
    node_ip: str = typer.Option("", "--node-ip"),
    runtime: str = typer.Option("docker", "--runtime", help="docker | hollow"),
    docker_host: str = typer.Option(
        "unix:///var/run/docker.sock", "--docker-host", envvar="DOCKER_HOST"),
    portal_net: str = typer.Option("192.168.3.0/24", "--portal-net"),
    flannel_net: str = typer.Option("172.16.0.0/16", "--flannel-net"),
    admission_control: str = typer.Option(DEFAULT_ADMISSION, "--admission-control"),
    node_monitor_grace_period: float = typer.Option(
        40.0, "--node-monitor-grace-period",
        help="Seconds without a heartbeat before a node goes Ready=Unknown."),
    pod_eviction_timeout: float = typer.Option(
        300.0, "--pod-eviction-timeout",
        help="Seconds a node may stay not-ready before its pods are evicted."),
    node_cpu: str = typer.Option("", "--node-cpu", help="Node cpu capacity (default: machine)."),
    node_memory: str = typer.Option(
        "", "--node-memory", help="Node memory capacity, e.g. 4Gi (default: machine)."),
    max_pods: int = typer.Option(110, "--max-pods"),
    allow_privileged: bool = typer.Option(
        False, "--allow-privileged", help="Let privileged containers run on this node."),
    kubelet_port: int = typer.Option(
        10250, "--kubelet-port", help="The kubelet server's port (logs, exec); 0: any free."),
    disable: str = typer.Option(
        "", "--disable",
        help="Comma-separated components not to run: scheduler, controllers, proxy."),
    log_level: str = typer.Option("INFO", "--log-level", envvar="MINIKUBE8S_LOG_LEVEL"),
) -> None:
    """Start a node with the given roles (default ``ai``: everything on one machine)."""
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    disabled = frozenset(c.strip() for c in disable.split(",") if c.strip())
    unknown = sorted(disabled - set(COMPONENTS))
    if unknown:
        typer.echo(f"error: --disable: unknown component(s) {', '.join(unknown)}; "
                   f"choose from {', '.join(COMPONENTS)}", err=True)
        raise typer.Exit(2)
    cfg = NodeConfig(
        role=role, data_dir=data_dir, store=store, insecure_port=insecure_port,
        insecure_bind_address=insecure_bind_address, server=server, node_ip=node_ip,
        runtime=runtime, docker_host=docker_host, portal_net=portal_net,
        flannel_net=flannel_net, admission_control=admission_control,
        node_monitor_grace_period=node_monitor_grace_period,
        pod_eviction_timeout=pod_eviction_timeout, node_cpu=node_cpu,
        node_memory=node_memory, max_pods=max_pods, disable=disabled,
        allow_privileged=allow_privileged,
        kubelet_port=kubelet_port,
    )
    if node_name:
        cfg.node_name = node_name
    from .roles import run_node
    from .store import StoreError

    try:
        code = asyncio.run(run_node(cfg))
    except StoreError as e:
        # Bad --store URL, unreadable database, unreachable etcd: one line, not a traceback.
        logging.getLogger("minikube8s").error("cannot open the store: %s", e)
        code = 2
    raise typer.Exit(code)


@app.command("hollow-nodes")
def hollow_nodes(
    count: int = typer.Option(1, "--count", min=1, help="How many hollow kubelets."),
    server: str = typer.Option("http://127.0.0.1:8080", "--server", help="The API server."),
    name_prefix: str = typer.Option("hollow-", "--name-prefix"),
    first_index: int = typer.Option(0, "--first-index", help="Number of the first node."),
    cpu: str = typer.Option("4", "--cpu"),
    memory: str = typer.Option("8Gi", "--memory"),
    pods: int = typer.Option(110, "--pods"),
    node_ip: str = typer.Option("", "--node-ip", help="InternalIP (default: this host's)."),
    start_delay: str = typer.Option("0.1-0.5", "--start-delay",
                                    help="Seconds a container takes to start: S or MIN-MAX."),
    heartbeat_interval: float = typer.Option(10.0, "--heartbeat-interval"),
    log_level: str = typer.Option("INFO", "--log-level", envvar="MINIKUBE8S_LOG_LEVEL"),
) -> None:
    """Run COUNT simulated (hollow) kubelets in one process, for scale tests."""
    from .roles.kubelet import hollow_nodes as hn

    logging.basicConfig(level=log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        delay = hn.parse_delay(start_delay)
    except ValueError as e:
        typer.echo(f"error: --start-delay: {e}", err=True)
        raise typer.Exit(2) from e
    raise typer.Exit(hn.main(hn.HollowNodesConfig(
        server=server, count=count, name_prefix=name_prefix, first_index=first_index,
        cpu=cpu, memory=memory, pods=pods, node_ip=node_ip, start_delay=delay,
        heartbeat_interval=heartbeat_interval)))


# The bundled kubectl-like CLI (`minikube8s get pods,rc`, ...): its verbs live in cli/.
register_cli(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
