"""One command's view of the cluster: the REST client, the namespace, and resource names.

Every verb gets a ``Session``: it resolves what the user typed (``rc``, ``minions``,
``pods,rc``, ``pod/nginx``) and what a manifest declares (``kind`` plus ``apiVersion``,
including the seed's ``v1beta3``) to rows of minikube8s/api/resources.py, and talks to the API
server only through the shared REST client (minikube8s/client/rest.py). Server warnings are
printed as kubectl prints them (``Warning: ...`` on stderr).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from ..api import resources
from ..api.resources import Resource
from ..client import errors as client_errors
from ..client.rest import TABLE, Client, resource_path
from .config import Target
from .errors import CLIError
from .manifests import Manifest
from .printers import paint_error

Object = dict[str, Any]

CORE_VERSIONS = ("v1", "v1beta3")


@dataclass
class Session:
    target: Target
    client: Client
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    @classmethod
    def open(cls, target: Target, *, out: TextIO | None = None,
             err: TextIO | None = None) -> Session:
        err_stream = err or sys.stderr

        def warn(text: str) -> None:
            err_stream.write(f"Warning: {text}\n")
            err_stream.flush()

        client = Client(target.server, token=target.token or None,
                        ca_file=target.ca_file or None, ca_data=target.ca_data or None,
                        insecure_skip_tls_verify=target.insecure, on_warning=warn,
                        user_agent="minikube8s-cli/0.1.0")
        return cls(target, client, out or sys.stdout, err_stream)

    async def close(self) -> None:
        await self.client.close()

    @property
    def namespace(self) -> str:
        return self.target.namespace

    def ns(self, res: Resource, override: str = "") -> str:
        """The namespace a request about ``res`` goes to ('' for cluster-scoped kinds)."""
        return (override or self.namespace) if res.namespaced else ""

    # ------------------------------------------------------------------------- names

    @staticmethod
    def resource(name: str) -> Resource:
        res = resources.lookup(name.strip())
        if res is None:
            raise CLIError(f"the server doesn't have a resource type \"{name.strip()}\"")
        return res

    def split_args(self, args: list[str]) -> list[tuple[Resource, list[str]]]:
        """``pods,rc`` / ``rc nginx web`` / ``pod/a svc/b`` into (resource, names) groups."""
        if not args:
            raise CLIError("You must specify the type of resource to get. "
                           "Use \"minikube8s api-resources\" for a complete list of "
                           "supported resources.")
        if any("/" in a for a in args):
            groups: list[tuple[Resource, list[str]]] = []
            for a in args:
                if "/" not in a:
                    raise CLIError("there is no need to specify a resource type as a separate "
                                   "argument when passing arguments in resource/name form "
                                   "(e.g. 'minikube8s get resource/<resource_name>' instead "
                                   "of 'minikube8s get resource resource/<resource_name>')")
                kind, _, name = a.partition("/")
                res = self.resource(kind)
                if not name:
                    raise CLIError(f"arguments in resource/name form must have a single "
                                   f"resource and name: {a}")
                if groups and groups[-1][0] == res:
                    groups[-1][1].append(name)
                else:
                    groups.append((res, [name]))
            return groups
        kinds = [k for k in args[0].split(",") if k]
        names = args[1:]
        if len(kinds) > 1 and names:
            raise CLIError("you may only specify a single resource type when naming objects")
        out: list[tuple[Resource, list[str]]] = []
        for k in kinds:
            # a category (kubectl get all): every resource that lists it
            members = [r for r in resources.ALL if k.lower() in r.categories]
            for res in members or [self.resource(k)]:
                if all(res != r for r, _ in out):
                    out.append((res, list(names)))
        return out

    @staticmethod
    def for_manifest(m: Manifest) -> Resource:
        """The resource row for a manifest, served at the manifest's own apiVersion."""
        api_version = m.api_version
        group, _, version = api_version.rpartition("/")
        res = resources.by_kind(m.kind, group)
        if res is None or (not group and version not in CORE_VERSIONS) or (
                group and version != res.version):
            raise CLIError(f"resource mapping not found for name: \"{m.name}\" namespace: "
                           f"\"{m.namespace}\" from \"{m.source}\": no matches for kind "
                           f"\"{m.kind}\" in version \"{api_version}\"")
        if version != res.version:
            res = dataclasses.replace(res, version=version)
        return res

    def manifest_ns(self, res: Resource, m: Manifest) -> str:
        if not res.namespaced:
            return ""
        if m.namespace and self.target.namespace_explicit and m.namespace != self.namespace:
            raise CLIError(f"the namespace from the provided object \"{m.namespace}\" does not "
                           f"match the namespace \"{self.namespace}\". You must pass "
                           f"'--namespace={m.namespace}' to perform this operation.")
        return m.namespace or self.namespace

    # ------------------------------------------------------------------------- requests

    async def table(self, res: Resource, *, namespace: str, name: str = "",
                    label_selector: str = "", field_selector: str = "",
                    include_object: str = "Metadata") -> Object:
        """The server's Table for a list (or one object): what ``kubectl get`` prints."""
        params: dict[str, str | int | bool | None] = {
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "includeObject": include_object}
        if not name:
            params["limit"] = 500
        resp = await self.client.request(
            "GET", resource_path(res, namespace=namespace, name=name), params=params,
            accept=f"{TABLE},application/json")
        doc = resp.json()
        if not isinstance(doc, dict):
            raise CLIError(f"the server answered {res.name} with something that is not JSON")
        if doc.get("kind") != "Table":
            # An older server: build the NAME column ourselves rather than fail.
            items = doc.get("items") if "items" in doc else [doc]
            doc = {"kind": "Table", "columnDefinitions": [{"name": "Name", "priority": 0}],
                   "rows": [{"cells": [(i.get("metadata") or {}).get("name", "")],
                             "object": i} for i in items or []],
                   "metadata": doc.get("metadata") or {}}
        return doc

    async def list_objects(self, res: Resource, *, namespace: str, label_selector: str = "",
                           field_selector: str = "") -> Object:
        return await self.client.list_all(res, namespace=namespace,
                                          label_selector=label_selector,
                                          field_selector=field_selector)

    async def get(self, res: Resource, name: str, *, namespace: str) -> Object:
        return await self.client.get(res, name, namespace=namespace)

    async def get_or_none(self, res: Resource, name: str, *, namespace: str) -> Object | None:
        try:
            return await self.client.get(res, name, namespace=namespace)
        except client_errors.NotFound:
            return None

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def warn(self, text: str) -> None:
        """A line on stderr; an error's ``Error from server (R):``/``error:`` head in red when
        stderr is a terminal."""
        self.err.write(paint_error(text, self.err) + "\n")
        self.err.flush()

    @staticmethod
    def dumps(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"))
