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
from .config_file import ENV_PREFIX, ConfigError

PRECEDENCE = (
    "Every setting is a flag, an environment variable MINIKUBE8S_<FLAG> (MINIKUBE8S_PORTAL_NET "
    "for --portal-net) and a --config file entry; precedence: flag > environment > config file "
    "> default."
)

app = typer.Typer(
    name="minikube8s",
    help="A small, real Kubernetes in one asyncio executable.",
    no_args_is_help=False,
    add_completion=True,
    pretty_exceptions_enable=False,
)


def _env(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


@app.callback(invoke_without_command=True, epilog=PRECEDENCE)
def node(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None, "--config", envvar=_env("config"),
        help="Settings file: the seed's config-default.sh (nodes, roles, PORTAL_NET, ...) or "
             "YAML with flag names as keys. This node's role, address and master come from "
             "nodes/roles."),
    role: Role = typer.Option(Role.AI, "--role", envvar=_env("role"),
                              help="a: control plane, i: node, ai: both."),
    data_dir: Path = typer.Option(
        Path("/var/lib/minikube8s"), "--data-dir", envvar=_env("data_dir"),
        help="State: embedded store, certificates, kubeconfig, volumes."),
    store: str = typer.Option(
        "", "--store", envvar=_env("store"),
        help="sqlite:///path (default: inside --data-dir) | etcd://host:port[,host:port]."),
    insecure_port: int = typer.Option(8080, "--insecure-port", envvar=_env("insecure_port")),
    insecure_bind_address: str = typer.Option(
        "127.0.0.1", "--insecure-bind-address", envvar=_env("insecure_bind_address"),
        help="The insecure port serves the whole API WITHOUT authentication: keep it on "
             "loopback (a warning is logged otherwise)."),
    secure_port: int = typer.Option(
        6443, "--secure-port", envvar=_env("secure_port"),
        help="HTTPS API port (bearer tokens; CA and tokens in --data-dir). 0: any free "
             "port; -1: no HTTPS port."),
    bind_address: str = typer.Option(
        "0.0.0.0", "--bind-address", envvar=_env("bind_address"),
        help="Address the HTTPS port listens on."),
    tls_san: str = typer.Option(
        "", "--tls-san", envvar=_env("tls_san"),
        help="Comma-separated extra names/IPs for the API server's certificate."),
    server: str = typer.Option(
        "", "--server", "-s", envvar=_env("server"),
        help="API server a role-i node talks to (and the CLI verbs' default: -s URL get pods)."),
    token: str = typer.Option(
        "", "--token", envvar=_env("token"),
        help="Role i: the join token the master printed (DATA_DIR/token on it). A control "
             "plane: the join secret to use when the cluster is first created."),
    node_name: str = typer.Option("", "--node-name", envvar=_env("node_name"),
                                  help="Default: the host name (the node's IP with --config)."),
    node_ip: str = typer.Option("", "--node-ip", envvar=_env("node_ip")),
    runtime: str = typer.Option("docker", "--runtime", envvar=_env("runtime"),
                                help="docker | hollow"),
    docker_host: str = typer.Option(
        "unix:///var/run/docker.sock", "--docker-host",
        envvar=[_env("docker_host"), "DOCKER_HOST"]),
    portal_net: str = typer.Option("192.168.3.0/24", "--portal-net", envvar=_env("portal_net")),
    flannel_net: str = typer.Option("172.16.0.0/16", "--flannel-net",
                                    envvar=_env("flannel_net")),
    admission_control: str = typer.Option(DEFAULT_ADMISSION, "--admission-control",
                                          envvar=_env("admission_control")),
    node_monitor_grace_period: float = typer.Option(
        40.0, "--node-monitor-grace-period", envvar=_env("node_monitor_grace_period"),
        help="Seconds without a heartbeat before a node goes Ready=Unknown."),
    pod_eviction_timeout: float = typer.Option(
        300.0, "--pod-eviction-timeout", envvar=_env("pod_eviction_timeout"),
        help="Seconds a node may stay not-ready before its pods are evicted."),
    node_status_update_frequency: float = typer.Option(
        10.0, "--node-status-update-frequency", min=0.1,
        envvar=_env("node_status_update_frequency"),
        help="Seconds between this node's heartbeats (keep well under the grace period)."),
    sync_frequency: float = typer.Option(
        60.0, "--sync-frequency", min=0.5, envvar=_env("sync_frequency"),
        help="Seconds between the kubelet's refreshes of secret and configMap volumes."),
    node_cpu: str = typer.Option("", "--node-cpu", envvar=_env("node_cpu"),
                                 help="Node cpu capacity (default: machine)."),
    node_memory: str = typer.Option(
        "", "--node-memory", envvar=_env("node_memory"),
        help="Node memory capacity, e.g. 4Gi (default: machine)."),
    max_pods: int = typer.Option(110, "--max-pods", envvar=_env("max_pods")),
    allow_privileged: bool = typer.Option(
        False, "--allow-privileged", envvar=_env("allow_privileged"),
        help="Let privileged containers run on this node."),
    kubelet_port: int = typer.Option(
        10250, "--kubelet-port", envvar=_env("kubelet_port"),
        help="The kubelet server's port (logs, exec); 0: any free."),
    disable: str = typer.Option(
        "", "--disable", envvar=_env("disable"),
        help="Comma-separated components not to run: scheduler, controllers, proxy."),
    drain_on_exit: bool = typer.Option(
        False, "--drain-on-exit", envvar=_env("drain_on_exit"),
        help="On SIGTERM/SIGINT remove this node's pod containers (default: leave them "
             "running, as a kubelet does)."),
    leader_elect: str = typer.Option(
        "auto", "--leader-elect", envvar=_env("leader_elect"),
        help="true | false | auto (true on an etcd:// store): scheduler and controllers run "
             "only while this process holds their coordination Lease."),
    leader_elect_lease_duration: float = typer.Option(
        15.0, "--leader-elect-lease-duration", envvar=_env("leader_elect_lease_duration")),
    leader_elect_renew_deadline: float = typer.Option(
        10.0, "--leader-elect-renew-deadline", envvar=_env("leader_elect_renew_deadline")),
    leader_elect_retry_period: float = typer.Option(
        2.0, "--leader-elect-retry-period", envvar=_env("leader_elect_retry_period")),
    proxy_mode: str = typer.Option(
        "nftables", "--proxy-mode", envvar=_env("proxy_mode"),
        help="nftables: portal IPs via nftables rules (needs root) | userspace: listeners "
             "only. No proxy at all: --disable proxy."),
    proxy_table: str = typer.Option(
        "minikube8s", "--proxy-table", envvar=_env("proxy_table"),
        help="The proxy's nftables table (one per network namespace)."),
    log_level: str = typer.Option("INFO", "--log-level", envvar=_env("log_level")),
) -> None:
    """Start a node with the given roles (default ``ai``: everything on one machine)."""
    if ctx.invoked_subcommand is not None:
        return
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if config is not None:
        try:
            _apply_config_file(ctx, config)
        except ConfigError as e:
            typer.echo(f"error: --config: {e}", err=True)
            raise typer.Exit(2) from e
    p = ctx.params
    disabled = frozenset(c.strip() for c in p["disable"].split(",") if c.strip())
    unknown = sorted(disabled - set(COMPONENTS))
    if unknown:
        typer.echo(f"error: --disable: unknown component(s) {', '.join(unknown)}; "
                   f"choose from {', '.join(COMPONENTS)}", err=True)
        raise typer.Exit(2)
    cfg = NodeConfig(
        role=Role(p["role"]), data_dir=Path(p["data_dir"]), store=p["store"],
        insecure_port=p["insecure_port"], insecure_bind_address=p["insecure_bind_address"],
        secure_port=p["secure_port"], bind_address=p["bind_address"],
        tls_san=tuple(s.strip() for s in p["tls_san"].split(",") if s.strip()),
        server=p["server"], token=p["token"], node_ip=p["node_ip"], runtime=p["runtime"],
        docker_host=p["docker_host"], portal_net=p["portal_net"],
        flannel_net=p["flannel_net"], admission_control=p["admission_control"],
        node_monitor_grace_period=p["node_monitor_grace_period"],
        pod_eviction_timeout=p["pod_eviction_timeout"], node_cpu=p["node_cpu"],
        node_memory=p["node_memory"], max_pods=p["max_pods"], disable=disabled,
        node_status_update_frequency=p["node_status_update_frequency"],
        sync_frequency=p["sync_frequency"],
        allow_privileged=p["allow_privileged"], kubelet_port=p["kubelet_port"],
        drain_on_exit=p["drain_on_exit"], proxy_mode=p["proxy_mode"],
        proxy_table=p["proxy_table"],
    )
    elect = str(p["leader_elect"]).strip().lower()
    durations = (p["leader_elect_lease_duration"], p["leader_elect_renew_deadline"],
                 p["leader_elect_retry_period"])
    if elect not in ("auto", "true", "false") or not (
            durations[0] > durations[1] > durations[2] > 0):
        typer.echo("error: --leader-elect is true, false or auto, and --leader-elect-lease-"
                   "duration > --leader-elect-renew-deadline > --leader-elect-retry-period > 0",
                   err=True)
        raise typer.Exit(2)
    cfg.leader_elect = None if elect == "auto" else elect == "true"
    (cfg.leader_elect_lease_duration, cfg.leader_elect_renew_deadline,
     cfg.leader_elect_retry_period) = durations
    if p["node_name"]:
        cfg.node_name = p["node_name"]
    from .auth.credentials import CredentialsError
    from .auth.pki import PKIError
    from .roles import run_node
    from .store import StoreError

    try:
        code = asyncio.run(run_node(cfg))
    except StoreError as e:
        # Bad --store URL, unreadable database, unreachable etcd: one line, not a traceback.
        logging.getLogger("minikube8s").error("cannot open the store: %s", e)
        code = 2
    except (CredentialsError, PKIError) as e:
        # A damaged CA, certificate or credentials record: one line naming it.
        logging.getLogger("minikube8s").error("cluster credentials: %s", e)
        code = 2
    raise typer.Exit(code)


def _apply_config_file(ctx: typer.Context, path: Path) -> None:
    """Fill ``ctx.params`` from the file where neither a flag nor an environment variable
    spoke (precedence: flag > env > file > default), then place this node in ``nodes``."""
    from .config_file import CLUSTER_KEYS, host_addresses, load, place

    values = load(path)
    params = {p.name: p for p in ctx.command.params if p.name}
    log = logging.getLogger("minikube8s")

    def from_default(name: str) -> bool:
        source = ctx.get_parameter_source(name)
        return source is None or source.name in ("DEFAULT", "DEFAULT_MAP")

    for name, value in values.items():
        if name in CLUSTER_KEYS:
            continue
        if name not in params or name == "config":
            raise ConfigError(f"{path}: unknown setting {name!r}")
        if not from_default(name):
            continue
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        try:
            ctx.params[name] = params[name].process_value(ctx, value)
        except Exception as e:  # the parser's own BadParameter, as one line
            raise ConfigError(f"{path}: {name}: {e}") from e
    if values.get("docker_opts"):
        log.info("config: DOCKER_OPTS is dockerd's; minikube8s does not start dockerd")
    if "nodes" not in values and "roles" not in values:
        return
    nodes, roles = list(values.get("nodes") or []), list(values.get("roles") or [])
    my_ips = [ctx.params["node_ip"]] if ctx.params["node_ip"] else host_addresses()
    here = place(nodes, roles, my_ips)
    minions = sum("i" in r for r in roles)
    if "num_minions" in values and str(values["num_minions"]) != str(minions):
        log.warning("config: NUM_MINIONS=%s but roles name %d minions", values["num_minions"],
                    minions)
    if from_default("role"):
        ctx.params["role"] = Role(here.role)
    if not ctx.params["node_ip"]:
        ctx.params["node_ip"] = here.ip
    if not ctx.params["node_name"]:
        ctx.params["node_name"] = here.ip  # the seed's nodes are named by address
    role = Role(ctx.params["role"])
    # The other nodes reach the master on its HTTPS port (--bind-address, every address by
    # default); the insecure port stays where --insecure-bind-address puts it (loopback).
    if not role.control_plane and not ctx.params["server"]:
        # The master's HTTPS port; the node joins with --token (auth/join.py).
        port = ctx.params.get("secure_port") or 6443
        ctx.params["server"] = f"https://{here.master_ip}:{port if port > 0 else 6443}"
    log.info("config %s: this node is %s (role %s), master %s", path, here.ip,
             role.value, here.master_ip)


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
    token: str = typer.Option(
        "", "--token", envvar=_env("token"),
        help="With an https:// --server: the join token (DATA_DIR/token on the master); "
             "every hollow node joins with it under its own name."),
    data_dir: Path = typer.Option(
        Path("/var/lib/minikube8s/hollow-nodes"), "--data-dir",
        help="With an https:// --server: each node's token and CA go in DATA_DIR/<node>/."),
    join_concurrency: int = typer.Option(10, "--join-concurrency", min=1,
                                         help="How many nodes join at once."),
    log_level: str = typer.Option("INFO", "--log-level", envvar="MINIKUBE8S_LOG_LEVEL"),
) -> None:
    """Run COUNT simulated (hollow) kubelets in one process, for scale tests. Against an
    https:// server each one joins with --token as a node of its own."""
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
        heartbeat_interval=heartbeat_interval, token=token, data_dir=data_dir,
        join_concurrency=join_concurrency)))


# The bundled kubectl-like CLI (`minikube8s get pods,rc`, ...): its verbs live in cli/.
register_cli(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
