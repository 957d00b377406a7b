"""Error bodies in each provider's own shape (PROVIDERS.md A.1, A.3, A.4, A.6, A.8, A.9, A.10)."""

from __future__ import annotations

import uuid
from enum import Enum
from types import MappingProxyType
from typing import Any

from tollgate.core import jsonx
from tollgate.testing._types import Headers, Reply


class ErrorStyle(Enum):
    OPENAI = "openai"  # {"error": {"message", "type", "param", "code"}}
    MISTRAL = "mistral"  # {"object": "error", "message", "type", "param", "code"}; 422 {"detail": [...]}
    OPENROUTER = "openrouter"  # {"error": {"code": <status>, "message", "metadata"?}}
    ANTHROPIC = "anthropic"  # {"type": "error", "error": {"type", "message"}, "request_id"}
    GEMINI = "gemini"  # {"error": {"code", "message", "status", "details"}}
    COHERE = "cohere"  # {"id": <uuid>, "message"}
    BEDROCK = "bedrock"  # {"message"}, the exception named in the x-amzn-ErrorType header


_OPENAI_KINDS: MappingProxyType[int, tuple[str, str | None, str]] = MappingProxyType(
    {
        400: ("invalid_request_error", None, "Invalid request."),
        401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
        403: ("permission_error", None, "You are not allowed to make this request."),
        404: (
            "invalid_request_error",
            "model_not_found",
            "The model does not exist or you do not have access to it.",
        ),
        409: ("invalid_request_error", "conflict", "The request conflicts with the current state."),
        422: ("invalid_request_error", None, "Unprocessable request."),
        429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
        500: (
            "server_error",
            None,
            "The server had an error while processing your request. Sorry about that!",
        ),
        502: ("server_error", None, "Bad gateway."),
        503: (
            "server_error",
            "service_unavailable",
            "The engine is currently overloaded, please try again later.",
        ),
        504: ("server_error", None, "The server timed out."),
    }
)

_ANTHROPIC_KINDS: MappingProxyType[int, tuple[str, str]] = MappingProxyType(
    {
        400: ("invalid_request_error", "Invalid request."),
        401: ("authentication_error", "invalid x-api-key"),
        402: ("billing_error", "Your credit balance is too low."),
        403: ("permission_error", "Your API key does not have permission to use the specified resource."),
        404: ("not_found_error", "The requested resource could not be found."),
        413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
        429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
        500: ("api_error", "Internal server error"),
        504: ("timeout_error", "Request timed out."),
        529: ("overloaded_error", "Overloaded"),
    }
)

_GEMINI_STATUSES: MappingProxyType[int, tuple[str, str]] = MappingProxyType(
    {
        400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
        401: ("UNAUTHENTICATED", "API key not valid. Please pass a valid API key."),
        403: ("PERMISSION_DENIED", "The caller does not have permission."),
        404: ("NOT_FOUND", "Requested entity was not found."),
        409: ("ABORTED", "The operation was aborted."),
        429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        499: ("CANCELLED", "The operation was cancelled."),
        500: ("INTERNAL", "An internal error has occurred."),
        503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
        504: ("DEADLINE_EXCEEDED", "The request timed out."),
    }
)


# Cohere's own wording; 498 (invalid token) and 499 (cancelled) are its non-standard statuses.
_COHERE_MESSAGES: MappingProxyType[int, str] = MappingProxyType(
    {
        400: "invalid request",
        401: "invalid api token",
        402: "Please add or update your payment method.",
        403: "You do not have access to this resource.",
        404: "not found",
        422: "unprocessable entity",
        429: "You are past the rate limit for this API key. Please wait and try again.",
        498: "invalid api token",
        499: "request cancelled",
        500: "internal server error, this has been reported to our developers",
        503: "service unavailable",
        504: "the request timed out",
    }
)

# AWS Bedrock runtime (A.6): the exception each status names, and its message.
_BEDROCK_TYPES: MappingProxyType[int, tuple[str, str]] = MappingProxyType(
    {
        400: ("ValidationException", "Malformed input request, please reformat your input and try again."),
        403: ("AccessDeniedException", "You don't have access to the model with the specified model ID."),
        404: ("ResourceNotFoundException", "The requested resource could not be found."),
        408: ("ModelTimeoutException", "Model has timed out in processing the request."),
        424: ("ModelErrorException", "The model produced an error."),
        429: ("ThrottlingException", "Too many requests, please wait before trying again."),
        500: ("InternalServerException", "The server encountered an internal error."),
        503: ("ServiceUnavailableException", "The service is temporarily unable to handle the request."),
    }
)
BEDROCK_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"


def bedrock_kind(status: int) -> tuple[str, str]:
    """(exception name, default message) Bedrock answers ``status`` with."""
    default = ("InternalServerException" if status >= 500 else "ValidationException", "")
    return _BEDROCK_TYPES.get(status, default)


def _openai_kind(status: int) -> tuple[str, str | None, str]:
    default = (
        ("server_error", None, "Upstream error.") if status >= 500 else ("invalid_request_error", None, "")
    )
    return _OPENAI_KINDS.get(status, default)


def error_payload(
    style: ErrorStyle,
    status: int,
    message: str | None = None,
    *,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """The provider-shaped error object for ``status``; the keyword arguments override its defaults."""
    if style is ErrorStyle.ANTHROPIC:
        kind, text = _ANTHROPIC_KINDS.get(
            status, ("api_error" if status >= 500 else "invalid_request_error", "")
        )
        return {"type": "error", "error": {"type": kind, "message": message or text}}
    if style is ErrorStyle.GEMINI:
        name, text = _GEMINI_STATUSES.get(
            status, ("INTERNAL" if status >= 500 else "FAILED_PRECONDITION", "")
        )
        return {"error": {"code": status, "message": message or text, "status": name, "details": []}}
    if style is ErrorStyle.BEDROCK:
        return {"message": message or bedrock_kind(status)[1]}
    if style is ErrorStyle.COHERE:
        text = _COHERE_MESSAGES.get(status, "internal server error" if status >= 500 else "invalid request")
        return {"id": str(uuid.uuid4()), "message": message or text}
    kind, default_code, text = _openai_kind(status)
    if style is ErrorStyle.OPENROUTER:
        return {
            "error": {"code": status, "message": message or text, "metadata": {"provider_name": "Simulated"}}
        }
    if style is ErrorStyle.MISTRAL:
        if status == 422:
            return {
                "detail": [{"type": "value_error", "loc": ["body", param or "body"], "msg": message or text}]
            }
        return {"object": "error", "message": message or text, "type": kind, "param": param, "code": code}
    return {"error": {"message": message or text, "type": kind, "param": param, "code": code or default_code}}


def format_retry_after(seconds: float) -> bytes:
    return str(int(seconds) if float(seconds).is_integer() else seconds).encode()


def error_reply(
    style: ErrorStyle,
    status: int,
    message: str | None = None,
    *,
    retry_after: float | None = None,
    param: str | None = None,
    code: str | None = None,
    headers: Headers = (),
) -> Reply:
    if retry_after is not None:
        headers = (*headers, (b"retry-after", format_retry_after(retry_after)))
    if style is ErrorStyle.BEDROCK:  # ``code`` names the exception
        kind = code or bedrock_kind(status)[0]
        headers = ((b"x-amzn-errortype", f"{kind}:{BEDROCK_ERROR_NAMESPACE}".encode()), *headers)
    body = error_payload(style, status, message, param=param, code=code)
    if style is ErrorStyle.ANTHROPIC:
        for name, value in headers:
            if name == b"request-id":
                body["request_id"] = value.decode()
    return Reply(status, jsonx.dumps(body), headers)


def bad_request(
    style: ErrorStyle, message: str, *, param: str | None = None, code: str | None = None
) -> Reply:
    """A request the provider would refuse as invalid (Mistral answers those with 422)."""
    status = 422 if style is ErrorStyle.MISTRAL else 400
    return error_reply(style, status, message, param=param, code=code)
