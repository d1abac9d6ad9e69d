"""What every role gets from ``run_node``: the one REST client and the shared informers.

Components that share a process share one ``InformerFactory``, so each resource kind is watched
once per process whatever the roles (``--role ai`` runs scheduler, controllers and kubelet over
the same pod informer). Each role package exposes ``async def start(ctx: RoleContext) -> None``:
it asks the factory for the informers it needs, starts its tasks under ``ctx.supervisor`` and
returns; ``run_node`` starts the informers after every role has asked for its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..client import Client, InformerFactory
from ..client.clock import Clock
from ..config import NodeConfig
from ..tasks import Supervisor

if TYPE_CHECKING:
    from .kubelet.server import KubeletTLS


@dataclass(slots=True)
class RoleContext:
    config: NodeConfig
    client: Client
    informers: InformerFactory
    supervisor: Supervisor
    clock: Clock
    server_url: str
    kubelet_tls: KubeletTLS | None = None
    """The kubelet server's certificate (HTTPS, the API server only); None: plain HTTP."""
