"""The one error tree of tollgate.

Every error knows its HTTP status, its stable machine ``code`` and whether it is the
caller's fault. Doors render these in their own format; lower-level errors (drivers,
HTTP clients, crypto) are translated at the boundary with ``raise ... from exc``.

    TollgateError                     500 internal_error
    ├── CallerError                   caller_fault = True
    │   ├── BadRequest                400 invalid_request
    │   ├── Unauthorized              401 invalid_api_key
    │   ├── Forbidden                 403 forbidden
    │   ├── NotFound                  404 not_found
    │   ├── PaymentRequired           402 payment_required
    │   ├── Conflict                  409 conflict
    │   ├── PayloadTooLarge           413 payload_too_large
    │   ├── Unprocessable             422 unprocessable
    │   └── RateLimited               429 rate_limited
    ├── UpstreamError                 502 upstream_error
    │   └── UpstreamTimeout           504 upstream_timeout
    └── StateUnavailable              503 state_unavailable
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class TollgateError(Exception):
    """Base of every error tollgate raises on purpose."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    caller_fault: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Mapping[str, Any] | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.http_status = status or self.status
        self.details: Mapping[str, Any] = details or {}
        self.headers = headers  # sent with the error response in every door's format

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = dict(self.details)
        return body


class CallerError(TollgateError):
    caller_fault = True
    status = 400
    default_code = "invalid_request"


class BadRequest(CallerError):
    status = 400
    default_code = "invalid_request"


class Unauthorized(CallerError):
    status = 401
    default_code = "invalid_api_key"


class Forbidden(CallerError):
    status = 403
    default_code = "forbidden"


class NotFound(CallerError):
    status = 404
    default_code = "not_found"


class Conflict(CallerError):
    status = 409
    default_code = "conflict"


class PaymentRequired(CallerError):
    """A budget or a plan quota does not allow the call."""

    status = 402
    default_code = "payment_required"


class PayloadTooLarge(CallerError):
    status = 413
    default_code = "payload_too_large"


class Unprocessable(CallerError):
    status = 422
    default_code = "unprocessable"


class RateLimited(CallerError):
    status = 429
    default_code = "rate_limited"


class UpstreamError(TollgateError):
    """The provider could not be reached or broke the protocol."""

    status = 502
    default_code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    default_code = "upstream_timeout"


class StateUnavailable(TollgateError):
    """Shared state (Redis) cannot be reached: the gateway cannot vouch for keys right now."""

    status = 503
    default_code = "state_unavailable"
