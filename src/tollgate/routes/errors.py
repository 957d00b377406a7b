"""Error bodies in each door's own format. Messages never carry a secret."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response

from tollgate.core.errors import TollgateError
from tollgate.routes.http import json_response

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES = {**_OPENAI_TYPES, 402: "billing_error", 413: "request_too_large", 529: "overloaded_error"}
_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    504: "DEADLINE_EXCEEDED",
}


def _status(error: TollgateError) -> int:
    if error.code == "provider_credential_required":
        return 400
    return error.http_status


def _headers(error: TollgateError) -> list[tuple[str, str]]:
    retry = error.details.get("retryAfter") if error.details else None
    headers = [("retry-after", str(retry))] if retry is not None else []
    return [*headers, *error.headers]


def native_error(error: TollgateError) -> Response:
    """tollgate's own API (``/v1/chat`` and management): ``{"error": {"code", "message"}}``."""
    return json_response({"error": error.to_dict()}, _status(error), _headers(error))


def proxy_error(error: TollgateError) -> Response:
    """Seed 000's ``/api/proxy`` table: ``{"error": "<sentence>"}``, plus a stable ``code``."""
    status = error.http_status
    if error.code == "provider_credential_required":
        provider = error.details.get("provider", "provider")
        return json_response({"error": f"No {provider} API key found.", "code": error.code}, 404)
    if status == 401:
        body = {"error": "Unauthorized.", "code": error.code}
    elif status >= 500:
        body = {"error": "Provider error.", "code": error.code, "message": error.message}
    else:
        body = {"error": error.message, "code": error.code}
    return json_response(body, status, _headers(error))


def openai_error(error: TollgateError) -> Response:
    status = _status(error)
    kind = _OPENAI_TYPES.get(status, "api_error")
    body = {"error": {"message": error.message, "type": kind, "param": None, "code": error.code}}
    return json_response(body, status, _headers(error))


def anthropic_error(error: TollgateError) -> Response:
    status = _status(error)
    kind = _ANTHROPIC_TYPES.get(status, "api_error")
    body = {"type": "error", "error": {"type": kind, "message": error.message, "code": error.code}}
    return json_response(body, status, _headers(error))


def gemini_error(error: TollgateError) -> Response:
    status = _status(error)
    body = {
        "error": {
            "code": status,
            "message": error.message,
            "status": _GOOGLE_STATUS.get(status, "UNAVAILABLE" if status >= 500 else "FAILED_PRECONDITION"),
            "details": [{"reason": error.code}],
        }
    }
    return json_response(body, status, _headers(error))


def cohere_error(error: TollgateError) -> Response:
    """Cohere's ``{"id", "message"}`` (the SDK keeps the body whole on its ``ApiError``); tollgate
    has no Cohere request id to give, so ``id`` is left out and the stable ``code`` added."""
    status = _status(error)
    return json_response({"message": error.message, "code": error.code}, status, _headers(error))


# The exception AWS names for each status: botocore's ``Error.Code``, and what its retries key on.
_AWS_TYPES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    402: "ServiceQuotaExceededException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    413: "ValidationException",
    422: "ValidationException",
    429: "ThrottlingException",
    503: "ServiceUnavailableException",
}


def bedrock_error(error: TollgateError) -> Response:
    """AWS's rest-json error: ``{"message"}`` with the exception in ``x-amzn-ErrorType``, plus
    tollgate's stable ``code``."""
    status = _status(error)
    kind = _AWS_TYPES.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    body = {"message": error.message, "code": error.code}
    return json_response(body, status, [*_headers(error), ("x-amzn-errortype", kind)])


def family_error(family: str) -> Callable[[TollgateError], Response]:
    """The error format a provider's own SDK understands (for pass-through clients)."""
    if family == "anthropic":
        return anthropic_error
    if family in ("gemini", "vertex"):  # Vertex AI answers in Google's error shape too
        return gemini_error
    if family == "cohere":
        return cohere_error
    if family == "bedrock":
        return bedrock_error
    return openai_error
