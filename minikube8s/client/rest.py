"""The async REST client: every component talks to the cluster through one of these.

``Client`` wraps one aiohttp ``ClientSession`` and speaks the Kubernetes REST dialect by
``Resource`` row (minikube8s/api/resources.py): get, list, create, update, patch (merge,
strategic, json, apply), delete, the status/binding/scale subresources, and ``watch`` as an
async iterator of ``WatchEvent(type, object)`` decoded line by line. Failures raise the typed
errors of client/errors.py (``NotFound``, ``Conflict``, ``Gone``, ``Unavailable``...), built
from the Status body the API server sends. ``request``/``stream`` are the raw doors the CLI uses
(its own Accept header, e.g. for Tables, and log streams).

Over ``https://`` the client verifies the server against the CA it is given (``ca_file`` or
``ca_data``, as a kubeconfig's ``certificate-authority[-data]``; the system CAs when none) and
sends ``Authorization: Bearer <token>``; a certificate that does not verify raises
``TLSVerifyError`` in Go's words. ``http://`` (the control plane's own loopback port) builds no
TLS context at all, so the in-process path costs what it always did.

Neighbours: reflector.py drives ``list``/``watch``; controllers, scheduler and kubelet call the
verbs; the CLI calls ``request``. Objects are plain dicts (the JSON as served).
"""

from __future__ import annotations

import asyncio
import contextlib
import json as jsonlib
import logging
import os
import ssl
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple
from urllib.parse import quote

import aiohttp

from ..api.resources import Resource, require
from . import errors

log = logging.getLogger(__name__)

Object = dict[str, Any]
PatchType = Literal["merge", "strategic", "json", "apply"]
ParamValue = str | int | bool | None

JSON = "application/json"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
PATCH_CONTENT_TYPES: dict[str, str] = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
DEFAULT_USER_AGENT = "minikube8s/0.1.0"


class WatchEvent(NamedTuple):
    """One line of a watch stream: ADDED, MODIFIED, DELETED or BOOKMARK, and the object."""

    type: str
    object: Object


@dataclass(slots=True)
class Response:
    """A raw response (``Client.request``): status, headers, body, Warning texts."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    warnings: list[str] = field(default_factory=list)

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def resource(name: str) -> Resource:
    """The Resource row for ``pods``, ``rc``, ``nodes``... (KeyError if unknown)."""
    return require(name)


def resource_path(res: Resource, *, namespace: str = "", name: str = "",
                  subresource: str = "") -> str:
    """``/api/v1/namespaces/NS/pods/NAME/status``; no namespace lists across all of them."""
    parts = [f"/apis/{res.group}/{res.version}" if res.group else f"/api/{res.version}"]
    if res.namespaced and namespace:
        parts.append(f"namespaces/{quote(namespace, safe='')}")
    parts.append(res.name)
    if name:
        parts.append(quote(name, safe=""))
    if subresource:
        parts.append(subresource)
    return "/".join(parts)


def parse_warning(value: str) -> str:
    """The text of an RFC 7234 Warning header: ``299 - "text" [date]`` -> ``text``."""
    parts = value.split(" ", 2)
    if len(parts) < 3 or not parts[2].startswith('"'):
        return value
    out: list[str] = []
    quoted = parts[2]
    i = 1
    while i < len(quoted):
        ch = quoted[i]
        if ch == "\\" and i + 1 < len(quoted):
            out.append(quoted[i + 1])
            i += 2
            continue
        if ch == '"':
            break
        out.append(ch)
        i += 1
    return "".join(out)


def _params(params: Mapping[str, ParamValue] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (params or {}).items():
        if v is None or v == "":
            continue
        out[k] = ("true" if v else "false") if isinstance(v, bool) else str(v)
    return out


def _namespace_of(res: Resource, obj: Object, namespace: str) -> str:
    if not res.namespaced:
        return ""
    ns = namespace or str((obj.get("metadata") or {}).get("namespace") or "")
    return ns or "default"


def _name_of(obj: Object) -> str:
    name = (obj.get("metadata") or {}).get("name")
    if not name:
        raise ValueError("the object has no metadata.name")
    return str(name)


def _need_namespace(res: Resource, namespace: str) -> None:
    if res.namespaced and not namespace:
        raise ValueError(f"{res.name} are namespaced: a namespace is required")


def ssl_context(*, ca_file: str | os.PathLike[str] | None = None,
                ca_data: str | bytes | None = None,
                insecure: bool = False) -> ssl.SSLContext:
    """The client TLS context: trust only the given CA (PEM file or PEM text), or the system
    CAs when neither is given; ``insecure`` checks nothing (kubectl's
    --insecure-skip-tls-verify)."""
    if insecure:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if isinstance(ca_data, bytes):
        ca_data = ca_data.decode("ascii")  # ssl reads bytes as DER, a kubeconfig holds PEM
    if ca_file is None and not ca_data:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=ca_file, cadata=ca_data or None)
    except (OSError, ssl.SSLError, ValueError) as e:
        where = f"{os.fspath(ca_file)}" if ca_file is not None else "certificate-authority-data"
        raise errors.TLSVerifyError(f"unable to load root certificates from {where}: "
                                    f"{getattr(e, 'strerror', None) or e}") from e


# OpenSSL verify codes -> Go's x509 wording (what kubectl prints for the same failure).
_UNKNOWN_AUTHORITY = {2, 7, 18, 19, 20, 21, 27}  # 7: another CA of the same name
_EXPIRED = {9, 10}
_NAME_MISMATCH = {62, 64}


def tls_message(err: BaseException, host: str = "") -> str:
    """``tls: failed to verify certificate: x509: ...`` for an ssl verification error."""
    code = getattr(err, "verify_code", None)
    if code in _UNKNOWN_AUTHORITY:
        why = "certificate signed by unknown authority"
    elif code in _EXPIRED:
        why = "certificate has expired or is not yet valid"
    elif code in _NAME_MISMATCH:
        why = f"certificate is not valid for {host}" if host else "certificate name mismatch"
    else:
        why = str(getattr(err, "verify_message", "") or getattr(err, "reason", "") or err)
    return f"tls: failed to verify certificate: x509: {why}"


def transport_error(what: str, e: BaseException) -> errors.Unavailable:
    """The client error for a failure below HTTP (refused, reset, timeout, TLS); ``what``
    names the request (``GET https://...``) for the log."""
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        return errors.TLSVerifyError(tls_message(e.certificate_error, e.host), host=e.host)
    if isinstance(e, aiohttp.ClientSSLError):
        inner = getattr(e, "os_error", None) or e
        if isinstance(inner, ssl.SSLError) and inner.reason == "WRONG_VERSION_NUMBER":
            return errors.Unavailable(f"{what}: http: server gave HTTP response to HTTPS "
                                      "client")
    return errors.Unavailable(f"{what}: {e or type(e).__name__}")


class Client:
    """One API server, one connection pool. Use as ``async with Client(url) as c:`` or call
    ``close()``. Safe to share between every component of a process.

    ``token`` goes out as ``Authorization: Bearer``; ``ca_file``/``ca_data`` (PEM) and
    ``insecure_skip_tls_verify`` matter only for an ``https://`` URL."""

    def __init__(self, server_url: str, *, token: str | None = None,
                 ca_file: str | os.PathLike[str] | None = None,
                 ca_data: str | bytes | None = None,
                 insecure_skip_tls_verify: bool = False,
                 user_agent: str = DEFAULT_USER_AGENT, timeout: float = 30.0,
                 max_connections: int = 0,
                 on_warning: Callable[[str], None] | None = None) -> None:
        self.base_url = server_url.rstrip("/")
        self.token = token
        self.ca_file = ca_file
        self.ca_data = ca_data
        self.insecure_skip_tls_verify = insecure_skip_tls_verify
        self._ssl: ssl.SSLContext | None = None
        if self.base_url.lower().startswith("https://"):
            self._ssl = ssl_context(ca_file=ca_file, ca_data=ca_data,
                                    insecure=insecure_skip_tls_verify)
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_connections = max_connections
        self.on_warning = on_warning
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"User-Agent": self.user_agent}
            if self.token:
                headers["Authorization"] = f"Bearer {self.token}"
            # No pool limit by default: long-lived watches hold connections, and a limit
            # would make every other request queue behind them.
            conn = aiohttp.TCPConnector(limit=self.max_connections,
                                        ssl=self._ssl if self._ssl is not None else True)
            self._session = aiohttp.ClientSession(headers=headers, connector=conn,
                                                  auto_decompress=True)
        return self._session

    async def wait_ready(self, *, interval: float = 0.5, within: float | None = None) -> None:
        """Poll /readyz until the API server answers 200 (components starting beside or
        before it); TimeoutError after ``within`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = None if within is None else loop.time() + within
        while True:
            try:
                resp = await self.request("GET", "/readyz", accept="*/*",
                                          raise_for_status=False, request_timeout=5.0)
                if resp.status == 200:
                    return
            except errors.TLSVerifyError:
                raise  # a wrong CA does not get better by waiting
            except errors.Unavailable:
                pass
            if deadline is not None and loop.time() >= deadline:
                raise TimeoutError(f"{self.base_url} not ready after {within}s")
            await asyncio.sleep(interval)

    # -- the raw door ---------------------------------------------------------------------------

    async def request(self, method: str, path: str, *,
                      params: Mapping[str, ParamValue] | None = None,
                      json: Any = None, data: bytes | str | None = None,
                      content_type: str | None = None, accept: str = JSON,
                      headers: Mapping[str, str] | None = None,
                      raise_for_status: bool = True,
                      request_timeout: float | None = None) -> Response:
        """Any request; ``path`` is relative to the server (``/api/v1/pods``). Raises the typed
        ClientError for 4xx/5xx unless ``raise_for_status=False``; Unavailable when the server
        cannot be reached."""
        hdrs = {"Accept": accept, **(headers or {})}
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            hdrs.setdefault("Content-Type", content_type or JSON)
        elif data is not None:
            body = data.encode() if isinstance(data, str) else data
            if content_type:
                hdrs.setdefault("Content-Type", content_type)
        url = self.base_url + path
        total = request_timeout if request_timeout is not None else self.timeout
        to = aiohttp.ClientTimeout(total=total)
        # A pooled keep-alive connection the server has closed fails on first use; a read
        # is safe to send again, a write is not.
        attempts = 2 if method.upper() == "GET" else 1
        for attempt in range(attempts):
            try:
                async with self._http().request(method, url, params=_params(params),
                                                data=body, headers=hdrs,
                                                timeout=to) as resp:
                    raw = await resp.read()
                    warnings = self._warnings(resp)
                    out = Response(resp.status, resp.headers, raw, warnings)
            except aiohttp.ServerDisconnectedError as e:
                if attempt + 1 < attempts:
                    continue
                raise errors.Unavailable(f"{method} {url}: {e}") from e
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise transport_error(f"{method} {url}", e) from e
            break
        if raise_for_status and out.status >= 400:
            raise errors.from_response(out.status, out.body, method=method, url=url)
        return out

    def _warnings(self, resp: aiohttp.ClientResponse) -> list[str]:
        texts = [parse_warning(v) for v in resp.headers.getall("Warning", [])]
        for t in texts:
            if self.on_warning is not None:
                self.on_warning(t)
            else:
                log.warning("API server warning: %s", t)
        return texts

    async def stream(self, method: str, path: str, *,
                     params: Mapping[str, ParamValue] | None = None,
                     accept: str = "*/*", read_timeout: float | None = None,
                     ) -> AsyncGenerator[bytes, None]:
        """The body as it arrives (``kubectl logs -f``). Close it with ``aclosing`` if you
        stop early."""
        url = self.base_url + path
        to = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=read_timeout)
        try:
            async with self._http().request(method, url, params=_params(params),
                                            headers={"Accept": accept}, timeout=to) as resp:
                if resp.status >= 400:
                    raise errors.from_response(resp.status, await resp.read(),
                                               method=method, url=url)
                self._warnings(resp)
                async for chunk in resp.content.iter_any():
                    yield chunk
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise transport_error(f"{method} {url}", e) from e

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        return (await self.request(method, path, **kw)).json()

    # -- verbs ----------------------------------------------------------------------------------

    async def get(self, resource: Resource, name: str, *, namespace: str = "",
                  subresource: str = "") -> Object:
        _need_namespace(resource, namespace)
        out: Object = await self._json("GET", resource_path(
            resource, namespace=namespace, name=name, subresource=subresource))
        return out

    async def list(self, resource: Resource, *, namespace: str = "", label_selector: str = "",
                   field_selector: str = "", limit: int = 0, continue_: str = "",
                   resource_version: str = "", timeout_seconds: int | None = None) -> Object:
        """One List (``items``, ``metadata.resourceVersion``, ``metadata.continue``)."""
        out: Object = await self._json("GET", resource_path(resource, namespace=namespace),
                                       params={
                                           "labelSelector": label_selector,
                                           "fieldSelector": field_selector,
                                           "limit": limit or None,
                                           "continue": continue_,
                                           "resourceVersion": resource_version,
                                           "timeoutSeconds": timeout_seconds,
                                       })
        out.setdefault("items", None)
        if out["items"] is None:
            out["items"] = []
        return out

    async def list_all(self, resource: Resource, *, namespace: str = "",
                       label_selector: str = "", field_selector: str = "",
                       page_size: int = 500) -> Object:
        """Every page of a list joined into one List; its resourceVersion is the snapshot's
        (the first page's). Falls back to one unpaged list if a continue token expires."""
        first = await self.list(resource, namespace=namespace, label_selector=label_selector,
                                field_selector=field_selector, limit=page_size)
        items: list[Object] = list(first["items"])
        token = str((first.get("metadata") or {}).get("continue") or "")
        while token:
            try:
                page = await self.list(resource, namespace=namespace,
                                       label_selector=label_selector,
                                       field_selector=field_selector, limit=page_size,
                                       continue_=token)
            except errors.Gone:
                return await self.list(resource, namespace=namespace,
                                       label_selector=label_selector,
                                       field_selector=field_selector)
            items.extend(page["items"])
            token = str((page.get("metadata") or {}).get("continue") or "")
        first["items"] = items
        first.setdefault("metadata", {}).pop("continue", None)
        return first

    async def create(self, resource: Resource, obj: Object, *, namespace: str = "",
                     dry_run: bool = False, field_manager: str = "") -> Object:
        """POST; the namespace defaults to the object's, then ``default``."""
        ns = _namespace_of(resource, obj, namespace)
        out: Object = await self._json("POST", resource_path(resource, namespace=ns), json=obj,
                                       params={"dryRun": "All" if dry_run else None,
                                               "fieldManager": field_manager})
        return out

    async def update(self, resource: Resource, obj: Object, *, namespace: str = "",
                     subresource: str = "", dry_run: bool = False) -> Object:
        """PUT the whole object; its metadata.resourceVersion makes it a compare-and-swap."""
        ns = _namespace_of(resource, obj, namespace)
        out: Object = await self._json(
            "PUT", resource_path(resource, namespace=ns, name=_name_of(obj),
                                 subresource=subresource),
            json=obj, params={"dryRun": "All" if dry_run else None})
        return out

    async def update_status(self, resource: Resource, obj: Object, *,
                            namespace: str = "") -> Object:
        return await self.update(resource, obj, namespace=namespace, subresource="status")

    async def patch(self, resource: Resource, name: str, patch: Any, *, namespace: str = "",
                    patch_type: PatchType = "merge", field_manager: str = "",
                    force: bool = False, subresource: str = "",
                    dry_run: bool = False) -> Object:
        """PATCH; ``patch_type`` picks merge (RFC 7386), strategic, json (RFC 6902) or apply
        (server-side apply, which needs ``field_manager``)."""
        _need_namespace(resource, namespace)
        if patch_type == "apply" and not field_manager:
            raise ValueError("an apply patch needs a field_manager")
        out: Object = await self._json(
            "PATCH", resource_path(resource, namespace=namespace, name=name,
                                   subresource=subresource),
            json=patch, content_type=PATCH_CONTENT_TYPES[patch_type],
            params={"fieldManager": field_manager, "force": True if force else None,
                    "dryRun": "All" if dry_run else None})
        return out

    async def patch_status(self, resource: Resource, name: str, patch: Any, *,
                           namespace: str = "", patch_type: PatchType = "merge") -> Object:
        return await self.patch(resource, name, patch, namespace=namespace,
                                patch_type=patch_type, subresource="status")

    async def delete(self, resource: Resource, name: str, *, namespace: str = "",
                     grace_period_seconds: int | None = None,
                     propagation_policy: str | None = None,
                     preconditions: Mapping[str, str] | None = None,
                     dry_run: bool = False) -> Object:
        """DELETE with DeleteOptions; returns what the server returns (the object, with a
        deletionTimestamp when deletion is graceful, or a Status)."""
        _need_namespace(resource, namespace)
        opts: Object = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        if propagation_policy:
            opts["propagationPolicy"] = propagation_policy
        if preconditions:
            opts["preconditions"] = dict(preconditions)
        if dry_run:
            opts["dryRun"] = ["All"]
        out: Object = await self._json(
            "DELETE", resource_path(resource, namespace=namespace, name=name), json=opts)
        return out

    async def delete_collection(self, resource: Resource, *, namespace: str = "",
                                label_selector: str = "", field_selector: str = "",
                                grace_period_seconds: int | None = None) -> Object:
        opts: Object = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period_seconds is not None:
            opts["gracePeriodSeconds"] = grace_period_seconds
        out: Object = await self._json(
            "DELETE", resource_path(resource, namespace=namespace), json=opts,
            params={"labelSelector": label_selector, "fieldSelector": field_selector})
        return out

    # -- subresources ---------------------------------------------------------------------------

    async def bind(self, namespace: str, pod: str, node: str, *, uid: str = "") -> None:
        """POST pods/NAME/binding: the scheduler's one write. 409 Conflict if already bound."""
        pods = resource("pods")
        md: Object = {"name": pod, "namespace": namespace}
        if uid:
            md["uid"] = uid
        body = {"kind": "Binding", "apiVersion": "v1", "metadata": md,
                "target": {"kind": "Node", "apiVersion": "v1", "name": node}}
        await self.request("POST", resource_path(pods, namespace=namespace, name=pod,
                                                 subresource="binding"), json=body)

    async def get_scale(self, resource: Resource, name: str, *, namespace: str = "") -> Object:
        return await self.get(resource, name, namespace=namespace, subresource="scale")

    async def update_scale(self, resource: Resource, name: str, replicas: int, *,
                           namespace: str = "") -> Object:
        _need_namespace(resource, namespace)
        body = {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"replicas": replicas}}
        out: Object = await self._json("PUT", resource_path(
            resource, namespace=namespace, name=name, subresource="scale"), json=body)
        return out

    # -- watch ----------------------------------------------------------------------------------

    async def watch(self, resource: Resource, *, namespace: str = "", name: str = "",
                    resource_version: str = "", label_selector: str = "",
                    field_selector: str = "", allow_bookmarks: bool = True,
                    timeout_seconds: int | None = None, read_timeout: float | None = None,
                    ) -> AsyncGenerator[WatchEvent, None]:
        """Stream ``WatchEvent``s until the server ends the watch (its timeout) or fails.

        An ERROR event raises its typed error (``Gone`` for a compacted resourceVersion).
        Transport failures raise ``Unavailable``. ``read_timeout`` bounds the silence between
        lines (bookmarks keep an idle watch talking). Wrap in ``contextlib.aclosing`` when you
        stop early, so the connection is released at once."""
        if name:
            field_selector = f"metadata.name={name}" + (f",{field_selector}"
                                                        if field_selector else "")
        url = self.base_url + resource_path(resource, namespace=namespace)
        params = _params({
            "watch": True, "resourceVersion": resource_version,
            "labelSelector": label_selector, "fieldSelector": field_selector,
            "allowWatchBookmarks": True if allow_bookmarks else None,
            "timeoutSeconds": timeout_seconds,
        })
        to = aiohttp.ClientTimeout(total=None, sock_connect=self.timeout, sock_read=read_timeout)
        try:
            async with self._http().get(url, params=params, headers={"Accept": JSON},
                                        timeout=to) as resp:
                if resp.status >= 400:
                    raise errors.from_response(resp.status, await resp.read(),
                                               method="GET", url=url)
                self._warnings(resp)
                buf = bytearray()
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    if b"\n" not in chunk:
                        continue
                    lines = bytes(buf).split(b"\n")
                    buf = bytearray(lines.pop())
                    for line in lines:
                        if line.strip():
                            yield _decode_event(line)
                if buf.strip():
                    yield _decode_event(bytes(buf))
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise transport_error(f"watch {url}", e) from e


def _decode_event(line: bytes) -> WatchEvent:
    try:
        ev = jsonlib.loads(line)
    except ValueError as e:
        raise errors.ServerError(f"undecodable watch event: {line[:200]!r}") from e
    if not isinstance(ev, dict) or not isinstance(ev.get("object"), dict):
        raise errors.ServerError(f"malformed watch event: {line[:200]!r}")
    etype = str(ev.get("type") or "")
    obj: Object = ev["object"]
    if etype == "ERROR":
        raise errors.from_status(obj)
    return WatchEvent(etype, obj)


@contextlib.asynccontextmanager
async def connect(server_url: str, **kw: Any) -> AsyncIterator[Client]:
    """``async with connect(url) as client:`` (closes the session at the end)."""
    client = Client(server_url, **kw)
    try:
        yield client
    finally:
        await client.close()
