"""The plug points inside the API server: admission plugins, per-resource strategies, and the
registry view they may use.

The REST layer (handlers.py, registry.py) calls, for every write:
  1. ``Strategy.prepare_create`` / ``prepare_update`` (resource-specific fields: a Service's
     clusterIP, a Pod's graceful-deletion rules) after defaulting and before validation;
  2. validation (minikube8s.api.validation);
  3. each ``AdmissionPlugin.admit`` in --admission-control order (NamespaceLifecycle,
     NamespaceAutoProvision, LimitRanger, ResourceQuota);
  4. the store write;
  5. ``Strategy.after_delete`` once an object is really gone (release a clusterIP).
Admission and strategies reach other objects only through ``RegistryView``, so they never touch
the store directly and see the same resourceVersion rules as every client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from ...api.resources import Resource

if TYPE_CHECKING:
    from ...auth.authz import Caller

Object = dict[str, Any]


class Operation(StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


@dataclass(slots=True)
class Attributes:
    """What an admission plugin is asked about. ``obj`` may be mutated (defaults, limits)."""

    operation: Operation
    resource: Resource
    namespace: str
    name: str
    obj: Object | None = None
    old: Object | None = None
    subresource: str = ""
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    caller: Caller | None = None
    """Who asked, on the HTTPS port (None: the insecure port or the server itself)."""


class RegistryView(Protocol):
    """Typed access to stored objects, through the same code paths as REST requests
    (defaulting, resourceVersion checks), minus admission. Raises minikube8s.api.errors."""

    async def get(self, resource: Resource, namespace: str, name: str) -> Object: ...

    async def list(
        self, resource: Resource, namespace: str = "", *, label_selector: str = ""
    ) -> list[Object]: ...

    async def create(self, resource: Resource, namespace: str, obj: Object) -> Object: ...

    async def update(self, resource: Resource, namespace: str, obj: Object) -> Object:
        """Compare-and-swap on obj.metadata.resourceVersion (errors.Conflict otherwise)."""
        ...

    async def delete(self, resource: Resource, namespace: str, name: str) -> None: ...


class AdmissionPlugin(Protocol):
    name: str

    async def admit(self, attrs: Attributes, registry: RegistryView) -> None:
        """Mutate attrs.obj or raise an APIError (Forbidden for quota, NotFound, ...)."""
        ...


class Strategy(Protocol):
    """Resource-specific behaviour; the default strategy does nothing."""

    async def prepare_create(self, obj: Object, registry: RegistryView) -> None: ...

    async def prepare_update(self, obj: Object, old: Object, registry: RegistryView) -> None: ...

    async def after_delete(self, obj: Object, registry: RegistryView) -> None: ...


class DefaultStrategy:
    async def prepare_create(self, obj: Object, registry: RegistryView) -> None:
        return None

    async def prepare_update(self, obj: Object, old: Object, registry: RegistryView) -> None:
        return None

    async def after_delete(self, obj: Object, registry: RegistryView) -> None:
        return None
