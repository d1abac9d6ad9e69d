"""Client-side errors: the one exception hierarchy of the REST client boundary.

The API server answers failures with a ``metav1.Status`` body (minikube8s/api/errors.py builds
them); ``from_response`` turns one back into a typed exception keyed by the Status ``reason``
(falling back on the HTTP code), so callers write ``except NotFound`` the way client-go code
writes ``apierrors.IsNotFound(err)``. Every exception keeps the Status dict (``.status``), the
code and the reason. Transport failures (refused, reset, timed out) are ``Unavailable``,
chained to aiohttp's error. The reflector, controllers and the CLI all catch these.
"""

from __future__ import annotations

from typing import Any

Status = dict[str, Any]


class ClientError(Exception):
    """Base: ``status`` is the server's Status dict (synthesised when there was none)."""

    code = 0
    reason = ""

    def __init__(self, message: str, *, status: Status | None = None, code: int | None = None,
                 reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status: Status = status or {}
        if code is not None:
            self.code = code
        if reason is not None:
            self.reason = reason

    @property
    def details(self) -> dict[str, Any]:
        d = self.status.get("details")
        return d if isinstance(d, dict) else {}

    @property
    def causes(self) -> list[dict[str, Any]]:
        c = self.details.get("causes")
        return c if isinstance(c, list) else []

    @property
    def retry_after(self) -> int:
        v = self.details.get("retryAfterSeconds")
        return v if isinstance(v, int) else 0

    @property
    def retriable(self) -> bool:
        """Worth trying again later without changing the request."""
        return False


class BadRequest(ClientError):
    code, reason = 400, "BadRequest"


class Unauthorized(ClientError):
    code, reason = 401, "Unauthorized"


class Forbidden(ClientError):
    code, reason = 403, "Forbidden"


class NotFound(ClientError):
    code, reason = 404, "NotFound"


class MethodNotAllowed(ClientError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptable(ClientError):
    code, reason = 406, "NotAcceptable"


class AlreadyExists(ClientError):
    code, reason = 409, "AlreadyExists"


class Conflict(ClientError):
    """409 Conflict: a stale resourceVersion (optimistic concurrency) or a precondition."""

    code, reason = 409, "Conflict"


class Gone(ClientError):
    """410: the resourceVersion (or continue token) is older than the server's history."""

    code, reason = 410, "Expired"


Expired = Gone


class UnsupportedMediaType(ClientError):
    code, reason = 415, "UnsupportedMediaType"


class Invalid(ClientError):
    """422: ``causes`` lists the offending fields."""

    code, reason = 422, "Invalid"


class TooManyRequests(ClientError):
    code, reason = 429, "TooManyRequests"

    @property
    def retriable(self) -> bool:
        return True


class ServerError(ClientError):
    """5xx, or a response the client could not make sense of."""

    code, reason = 500, "InternalError"

    @property
    def retriable(self) -> bool:
        return True


class ServiceUnavailable(ServerError):
    code, reason = 503, "ServiceUnavailable"


class ServerTimeout(ServerError):
    code, reason = 504, "Timeout"


class Unavailable(ClientError):
    """The server could not be reached: connection refused or reset, DNS, timeout.
    ``__cause__`` is aiohttp's (or asyncio's) error."""

    code, reason = 0, "Unavailable"

    @property
    def retriable(self) -> bool:
        return True


class TLSVerifyError(Unavailable):
    """The server's certificate did not verify (unknown authority, wrong name, expired); the
    message is Go's wording (``tls: failed to verify certificate: x509: ...``), as kubectl
    prints it. ``host`` is the name or address that was checked."""

    reason = "TLSVerifyFailed"

    def __init__(self, message: str, *, host: str = "") -> None:
        super().__init__(message)
        self.host = host

    @property
    def retriable(self) -> bool:
        return False


_BY_REASON: dict[str, type[ClientError]] = {
    "BadRequest": BadRequest,
    "Unauthorized": Unauthorized,
    "Forbidden": Forbidden,
    "NotFound": NotFound,
    "MethodNotAllowed": MethodNotAllowed,
    "NotAcceptable": NotAcceptable,
    "AlreadyExists": AlreadyExists,
    "Conflict": Conflict,
    "Gone": Gone,
    "Expired": Gone,
    "ResourceExpired": Gone,
    "UnsupportedMediaType": UnsupportedMediaType,
    "Invalid": Invalid,
    "TooManyRequests": TooManyRequests,
    "InternalError": ServerError,
    "ServiceUnavailable": ServiceUnavailable,
    "Timeout": ServerTimeout,
    "ServerTimeout": ServerTimeout,
}

_BY_CODE: dict[int, type[ClientError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 405: MethodNotAllowed,
    406: NotAcceptable, 409: Conflict, 410: Gone, 415: UnsupportedMediaType, 422: Invalid,
    429: TooManyRequests, 503: ServiceUnavailable, 504: ServerTimeout,
}


def from_status(status: Status, *, code: int | None = None) -> ClientError:
    """The typed error for a Status dict (an HTTP error body or a watch ERROR event)."""
    if code is None:
        c = status.get("code")
        code = c if isinstance(c, int) else 500
    reason = str(status.get("reason") or "")
    cls = _BY_REASON.get(reason) or _BY_CODE.get(code)
    if cls is None:
        cls = ServerError if code >= 500 or code == 0 else ClientError
    message = str(status.get("message") or reason or f"HTTP {code}")
    return cls(message, status=status, code=code, reason=reason or cls.reason)


def from_response(code: int, body: bytes, *, method: str = "", url: str = "") -> ClientError:
    """The typed error for an HTTP error response; a non-Status body is wrapped in one."""
    import json

    status: Any = None
    try:
        status = json.loads(body) if body else None
    except ValueError:
        status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        text = body.decode(errors="replace").strip()[:500]
        where = f" ({method} {url})" if method else ""
        status = {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                  "message": (text or f"HTTP {code}") + where, "code": code}
    return from_status(status, code=code)
