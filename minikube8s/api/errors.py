"""API errors as Kubernetes ``Status`` objects: the one exception hierarchy of the API boundary.

Every failure the API server reports is one of these, turned into a ``metav1.Status`` body with
the matching HTTP code by ``to_status()``. kubectl reads ``reason``, ``details.kind``,
``details.name`` and ``details.causes`` to print ``Error from server (NotFound): pods "x" not
found`` or one bullet per invalid field, so the wording follows Kubernetes'
(staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go). Pure data: no I/O here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Cause:
    """One field-level cause; ``reason`` is a CauseType such as FieldValueRequired."""

    reason: str
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        d = {"reason": self.reason, "message": self.message}
        if self.field:
            d["field"] = self.field
        return d


class APIError(Exception):
    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        name: str = "",
        group: str = "",
        causes: list[Cause] | None = None,
        retry_after: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = list(causes or [])
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after:
            details["retryAfterSeconds"] = self.retry_after
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if details:
            status["details"] = details
        return status


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


class BadRequest(APIError):
    code = 400
    reason = "BadRequest"


class Unauthorized(APIError):
    code = 401
    reason = "Unauthorized"


class Forbidden(APIError):
    code = 403
    reason = "Forbidden"


class NotFound(APIError):
    code = 404
    reason = "NotFound"

    @classmethod
    def of(cls, resource: str, name: str, *, group: str = "") -> NotFound:
        """``pods "x" not found``, as Kubernetes words it."""
        return cls(f'{_qualified(resource, group)} "{name}" not found',
                   kind=resource, name=name, group=group)


class MethodNotAllowed(APIError):
    code = 405
    reason = "MethodNotAllowed"


class NotAcceptable(APIError):
    code = 406
    reason = "NotAcceptable"


class AlreadyExists(APIError):
    code = 409
    reason = "AlreadyExists"

    @classmethod
    def of(cls, resource: str, name: str, *, group: str = "") -> AlreadyExists:
        return cls(f'{_qualified(resource, group)} "{name}" already exists',
                   kind=resource, name=name, group=group)


class Conflict(APIError):
    code = 409
    reason = "Conflict"

    @classmethod
    def of(cls, resource: str, name: str, *, group: str = "") -> Conflict:
        return cls(
            f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": '
            "the object has been modified; please apply your changes to the latest version "
            "and try again",
            kind=resource, name=name, group=group,
        )


class Gone(APIError):
    """410 with reason Expired: the resourceVersion is older than the store's history."""

    code = 410
    reason = "Expired"


class RequestEntityTooLarge(APIError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(APIError):
    code = 422
    reason = "Invalid"

    @classmethod
    def of(cls, kind: str, name: str, causes: list[Cause], *, group: str = "") -> Invalid:
        """``Pod "x" is invalid: [spec.containers[0].image: Required value, ...]``."""
        # field.Error.Error() is "%s: %s" even for the whole object's empty path (a
        # ConfigMap over 1 MiB: ``is invalid: : Too long: ...``).
        parts = [f"{c.field}: {c.message}" for c in causes]
        joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        label = f"{kind}.{group}" if group else kind
        return cls(f'{label} "{name}" is invalid: {joined}',
                   kind=kind, name=name, group=group, causes=causes)


class TooManyRequests(APIError):
    code = 429
    reason = "TooManyRequests"


class InternalError(APIError):
    code = 500
    reason = "InternalError"


class ServiceUnavailable(APIError):
    code = 503
    reason = "ServiceUnavailable"


class Timeout(APIError):
    code = 504
    reason = "Timeout"


# Field error helpers, named after field.ErrorType in apimachinery/pkg/util/validation/field.
def required(field: str, detail: str = "") -> Cause:
    return Cause("FieldValueRequired", "Required value" + (f": {detail}" if detail else ""), field)


def invalid(field: str, value: Any, detail: str) -> Cause:
    return Cause("FieldValueInvalid", f"Invalid value: {_fmt(value)}: {detail}", field)


def not_supported(field: str, value: Any, supported: list[str]) -> Cause:
    opts = ", ".join(f'"{s}"' for s in supported)
    return Cause("FieldValueNotSupported",
                 f"Unsupported value: {_fmt(value)}: supported values: {opts}", field)


def duplicate(field: str, value: Any) -> Cause:
    return Cause("FieldValueDuplicate", f"Duplicate value: {_fmt(value)}", field)


def forbidden(field: str, detail: str) -> Cause:
    return Cause("FieldValueForbidden", f"Forbidden: {detail}", field)


def too_long(field: str, value: Any, max_len: int) -> Cause:
    return Cause("FieldValueTooLong",
                 f"Too long: may not be more than {max_len} bytes", field)


def not_found(field: str, value: Any) -> Cause:
    return Cause("FieldValueNotFound", f"Not found: {_fmt(value)}", field)


def _fmt(value: Any) -> str:
    # Go's %q for strings and %v for simple types, as field.Error.ErrorBody prints them.
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
