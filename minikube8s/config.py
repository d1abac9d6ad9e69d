"""Node configuration: what ``minikube8s --role ...`` was asked to run, as one dataclass.

The command line (``__main__``) fills it; ``roles`` reads it. Defaults follow the seed's
config-default.sh (PORTAL_NET 192.168.3.0/24, FLANNEL_NET 172.16.0.0/16, the admission chain)
and its plain-HTTP API on port 8080.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

DEFAULT_ADMISSION = "NamespaceLifecycle,NamespaceAutoProvision,LimitRanger,ResourceQuota"


COMPONENTS = ("scheduler", "controllers", "proxy")
"""What ``--disable`` may switch off (k3s has --disable-scheduler and friends)."""


class Role(StrEnum):
    A = "a"
    I = "i"  # noqa: E741 - the seed's role letters
    AI = "ai"

    @property
    def control_plane(self) -> bool:
        return "a" in self.value

    @property
    def node(self) -> bool:
        return "i" in self.value


@dataclass(slots=True)
class NodeConfig:
    role: Role = Role.AI
    data_dir: Path = Path("/var/lib/minikube8s")
    store: str = ""
    """Store URL; empty means the embedded SQLite file inside data_dir."""
    insecure_port: int = 8080
    insecure_bind_address: str = "127.0.0.1"
    secure_port: int = 6443
    """The HTTPS API port (bearer tokens, docs/security.md); 0: any free port; -1: none."""
    bind_address: str = "0.0.0.0"
    """Where the HTTPS port listens."""
    tls_san: tuple[str, ...] = ()
    """Extra names and addresses for the serving certificate (--tls-san)."""
    server: str = ""
    token: str = ""
    """Role i: the cluster's join token (K10<sha256 of the CA>::server:<secret>, auth/join.py).
    On a control plane: the join secret to use when the cluster is first created."""
    node_name: str = field(default_factory=socket.gethostname)
    node_ip: str = ""
    runtime: str = "docker"
    docker_host: str = "unix:///var/run/docker.sock"
    portal_net: str = "192.168.3.0/24"
    flannel_net: str = "172.16.0.0/16"
    admission_control: str = DEFAULT_ADMISSION
    node_monitor_grace_period: float = 40.0
    """Seconds without a heartbeat before the node controller marks a node Ready=Unknown."""
    pod_eviction_timeout: float = 300.0
    """Seconds a node may stay not-ready before its pods are deleted."""
    node_cpu: str = ""
    """Node capacity overrides (quantities); empty means read from the machine."""
    node_memory: str = ""
    max_pods: int = 110
    node_status_update_frequency: float = 10.0
    """Seconds between the kubelet's heartbeats (Node status and Lease), as the kubelet's flag;
    keep it well under --node-monitor-grace-period."""
    sync_frequency: float = 60.0
    """Seconds between resyncs of a pod with secret or configMap volumes, so its files follow
    updates of the objects (the kubelet's --sync-frequency, 1m in Kubernetes)."""
    disable: frozenset[str] = frozenset()
    """Components of COMPONENTS not to run (an API-only control plane for API tests, say)."""
    allow_privileged: bool = False
    """Whether securityContext.privileged containers may run on this node."""
    kubelet_port: int = 10250
    """The kubelet server (logs, exec); bound to node_ip, or every address when that is empty."""
    leader_elect: bool | None = None
    """Scheduler and controllers only while holding their Lease (roles/leader.py); None: on
    when the store is etcd:// (the only store several API servers can share)."""
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    leader_elect_identity: str = ""
    """Empty: hostname_uuid, new for each process."""
    drain_on_exit: bool = False
    """On SIGTERM/SIGINT, remove this node's pod containers instead of leaving them running."""
    proxy_mode: str = "nftables"
    """nftables (listeners + portal rules) | userspace (listeners only); roles/proxy.py."""
    proxy_table: str = "minikube8s"
    """The proxy's own nftables table (ip family); one per network namespace."""

    @property
    def leader_election(self) -> bool:
        if self.leader_elect is not None:
            return self.leader_elect
        return self.store.startswith("etcd://")

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{(self.data_dir / 'store.db').resolve()}"


def is_loopback(host: str) -> bool:
    """Whether an address or host name stays on this machine (``localhost``, 127.0.0.0/8,
    ::1): the insecure port and plain-HTTP servers are only quiet about such hosts."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
