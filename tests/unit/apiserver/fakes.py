"""An in-memory RegistryView for unit tests of admission plugins, strategies and bootstrap.

It keeps the contract of interfaces.RegistryView that those modules rely on: objects carry
metadata.namespace and a resourceVersion; ``update`` is compare-and-swap on it (errors.Conflict);
``create``/``update``/``delete`` run the resource's Strategy like the real registry, minus
admission. Every call yields to the loop first, so concurrent callers really interleave. The
real registry (minikube8s/roles/apiserver/registry.py) is exercised by tests/apiserver/.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import uuid
from typing import Any

from minikube8s.api import errors
from minikube8s.api.resources import Resource
from minikube8s.roles.apiserver.interfaces import DefaultStrategy, Object, Strategy


class FakeRegistry:
    def __init__(self, strategies: dict[str, Strategy] | None = None) -> None:
        self.objects: dict[tuple[str, str, str], Object] = {}
        self.strategies: dict[str, Strategy] = dict(strategies or {})
        self._rv = itertools.count(1)
        self.calls: list[tuple[str, str, str, str]] = []

    def _strategy(self, resource: Resource) -> Strategy:
        return self.strategies.get(resource.name, DefaultStrategy())

    @staticmethod
    def _key(resource: Resource, namespace: str, name: str) -> tuple[str, str, str]:
        return (resource.name, namespace if resource.namespaced else "", name)

    async def get(self, resource: Resource, namespace: str, name: str) -> Object:
        await asyncio.sleep(0)
        self.calls.append(("get", resource.name, namespace, name))
        obj = self.objects.get(self._key(resource, namespace, name))
        if obj is None:
            raise errors.NotFound.of(resource.name, name)
        return copy.deepcopy(obj)

    async def list(
        self, resource: Resource, namespace: str = "", *, label_selector: str = ""
    ) -> list[Object]:
        await asyncio.sleep(0)
        wanted = dict(p.split("=", 1) for p in label_selector.split(",") if p)
        out = []
        for (rname, ns, _), obj in sorted(self.objects.items()):
            if rname != resource.name or (namespace and ns != namespace):
                continue
            labels = obj.get("metadata", {}).get("labels") or {}
            if all(labels.get(k) == v for k, v in wanted.items()):
                out.append(copy.deepcopy(obj))
        return out

    async def create(self, resource: Resource, namespace: str, obj: Object) -> Object:
        await asyncio.sleep(0)
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        if resource.namespaced:
            md["namespace"] = namespace
        await self._strategy(resource).prepare_create(obj, self)
        key = self._key(resource, namespace, md["name"])
        if key in self.objects:
            raise errors.AlreadyExists.of(resource.name, md["name"])
        md["uid"] = str(uuid.uuid4())
        md["resourceVersion"] = str(next(self._rv))
        self.objects[key] = obj
        self.calls.append(("create", resource.name, namespace, md["name"]))
        return copy.deepcopy(obj)

    async def update(self, resource: Resource, namespace: str, obj: Object) -> Object:
        await asyncio.sleep(0)
        obj = copy.deepcopy(obj)
        md = obj.setdefault("metadata", {})
        key = self._key(resource, namespace, md["name"])
        old = self.objects.get(key)
        if old is None:
            raise errors.NotFound.of(resource.name, md["name"])
        if md.get("resourceVersion") and md["resourceVersion"] != old["metadata"][
                "resourceVersion"]:
            raise errors.Conflict.of(resource.name, md["name"])
        await self._strategy(resource).prepare_update(obj, copy.deepcopy(old), self)
        # The strategy awaited: a concurrent writer may have won meanwhile.
        if self.objects.get(key) is not old:
            raise errors.Conflict.of(resource.name, md["name"])
        md["resourceVersion"] = str(next(self._rv))
        self.objects[key] = obj
        self.calls.append(("update", resource.name, namespace, md["name"]))
        return copy.deepcopy(obj)

    async def update_status(self, resource: Resource, namespace: str, obj: Object) -> Object:
        """PUT .../status: CAS on resourceVersion, only .status changes."""
        await asyncio.sleep(0)
        md = obj.get("metadata") or {}
        key = self._key(resource, namespace, md["name"])
        old = self.objects.get(key)
        if old is None:
            raise errors.NotFound.of(resource.name, md["name"])
        if md.get("resourceVersion") != old["metadata"]["resourceVersion"]:
            raise errors.Conflict.of(resource.name, md["name"])
        new = copy.deepcopy(old)
        new["status"] = copy.deepcopy(obj.get("status"))
        new["metadata"]["resourceVersion"] = str(next(self._rv))
        self.objects[key] = new
        self.calls.append(("update_status", resource.name, namespace, md["name"]))
        return copy.deepcopy(new)

    async def delete(self, resource: Resource, namespace: str, name: str) -> None:
        await asyncio.sleep(0)
        key = self._key(resource, namespace, name)
        obj = self.objects.pop(key, None)
        if obj is None:
            raise errors.NotFound.of(resource.name, name)
        self.calls.append(("delete", resource.name, namespace, name))
        await self._strategy(resource).after_delete(obj, self)

    # Conveniences for tests.
    def put(self, resource: Resource, obj: Any) -> Object:
        md = obj.setdefault("metadata", {})
        md.setdefault("resourceVersion", str(next(self._rv)))
        self.objects[self._key(resource, md.get("namespace", ""), md["name"])] = obj
        return obj
