"""A joined node may not create namespaces: when kube-node-lease is missing, the heartbeat's
403 on creating it must not fail the beat (the control plane's bootstrap makes it)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

from minikube8s.client import Client, Forbidden, NotFound
from minikube8s.client.clock import RealClock
from minikube8s.roles.kubelet.heartbeat import Heartbeat
from minikube8s.roles.kubelet.registration import NodeFacts
from minikube8s.roles.kubelet.runtime import Runtime


class NodeClient:
    """Answers as the secure port answers a node: no lease yet, no namespace, no right to
    create one."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def patch(self, res: Any, name: str, patch: Any, **kw: Any) -> Any:
        self.calls.append(f"patch {res.name}")
        raise NotFound("leases.coordination.k8s.io \"n1\" not found")

    async def create(self, res: Any, obj: Any, **kw: Any) -> Any:
        self.calls.append(f"create {res.name}")
        if res.name == "namespaces":
            raise Forbidden('namespaces is forbidden: User "system:node:n1" cannot create '
                            'resource "namespaces" in API group "" at the cluster scope')
        raise NotFound("namespaces \"kube-node-lease\" not found")


async def test_lease_namespace_forbidden_is_not_a_failure() -> None:
    client = NodeClient()
    hb = Heartbeat(cast(Client, client), cast(NodeFacts, SimpleNamespace(name="n1")),
                   cast(Runtime, None), clock=RealClock())
    await hb.renew_lease()
    assert client.calls == ["patch leases", "create leases", "create namespaces"]
