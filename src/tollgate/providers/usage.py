"""Metering a whole (non-streaming) response body: usage, model, stated cost, error.

``meter_body`` never raises: a body of the wrong shape gives ``MeterResult(usage=None)``.
The readers here are shared with the stream meters, which see the same objects chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tollgate.providers.base import MeterResult, Operation
from tollgate.providers.error_codes import finish_error
from tollgate.providers.normalize import NORMALISERS, Family, family_of, obj, reported_cost, text

# Where each family keeps its usage object in a response body.
_USAGE_FIELD: Mapping[Family, str] = MappingProxyType(
    {Family.GEMINI: "usageMetadata", Family.COHERE_EMBEDDINGS: "meta"}
)


def meter_body(provider: str, operation: Operation, body: object) -> MeterResult:
    """Read a parsed JSON response body. An error body gives ``usage=None`` and ``error``; an answer
    whose finish reason says the generation failed (``error_codes.FAILED_FINISH``) gives its usage
    and an ``error`` coded ``upstream_finish_<reason>``."""
    if not isinstance(body, dict):
        return MeterResult(usage=None)
    family = family_of(provider, operation)
    model = model_of(family, body)
    error = error_of(body)
    if error is None and provider == "cohere":
        error = cohere_error(body)
    if error is not None or family is None:
        return MeterResult(usage=None, upstream_model=model, error=error)
    container = body.get(_USAGE_FIELD.get(family, "usage"))
    finish = finish_reason_of(family, body)
    return MeterResult(
        usage=NORMALISERS[family](provider, container),
        upstream_model=model,
        reported_cost_usd=reported_cost(provider, container),
        error=finish_error(family, finish),  # a generation that failed was still billed
        finish_reason=finish,
        price_context=price_context_of(family, body, container),
    )


def price_context_of(
    family: Family | None, payload: Mapping[str, Any], usage: object
) -> Mapping[str, str] | None:
    """The price variant the provider says it served: OpenAI's ``service_tier`` (flex and
    priority are priced differently), Anthropic's ``usage.speed`` (fast mode)."""
    if family in (Family.OPENAI_CHAT, Family.OPENAI_RESPONSES):
        tier = text(payload.get("service_tier"))
        return {"service_tier": tier} if tier else None
    if family is Family.ANTHROPIC:
        speed = text(obj(usage).get("speed"))
        return {"speed": speed} if speed else None
    return None


def error_of(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The error object of an error body or stream event, else None.

    ``{"error": {...}}`` (OpenAI, Gemini, OpenRouter, Anthropic's ``{"type": "error", "error":
    {...}}``) gives the inner object; a bare string error is wrapped as ``{"message": ...}``;
    a body that is itself the error (``"type": "error"`` without an inner object, Mistral's
    ``"object": "error"``) is returned whole. A successful Responses body has ``"error": null``.
    """
    err = payload.get("error")
    if isinstance(err, dict) and err:
        return err
    if isinstance(err, str) and err:
        return {"message": err}
    if payload.get("type") == "error" or payload.get("object") == "error":
        return payload
    return None


def cohere_error(payload: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """Cohere's error body, ``{"id": ..., "message": "<text>"}``, whole; else None. A successful
    chat body's ``message`` is an object, never a string."""
    return payload if text(payload.get("message")) is not None else None


def model_of(family: Family | None, payload: Mapping[str, Any]) -> str | None:
    if family is Family.GEMINI:
        return text(payload.get("modelVersion")) or text(payload.get("model"))
    return text(payload.get("model"))


def _first(items: object) -> Mapping[str, Any]:
    return obj(items[0]) if isinstance(items, list) and items else obj(None)


def finish_reason_of(family: Family | None, payload: Mapping[str, Any]) -> str | None:
    """Why generation stopped, in the provider's own words. For the Responses API: the
    ``incomplete_details.reason`` of an incomplete response, else its ``status``."""
    match family:
        case Family.OPENAI_CHAT:
            choices = payload.get("choices")
            for choice in choices if isinstance(choices, list) else ():
                if reason := text(obj(choice).get("finish_reason")):
                    return reason
            return None
        case Family.GEMINI:
            return text(_first(payload.get("candidates")).get("finishReason"))
        case Family.OPENAI_RESPONSES:
            reason = text(obj(payload.get("incomplete_details")).get("reason"))
            return reason or text(payload.get("status"))
        case Family.ANTHROPIC:
            return text(payload.get("stop_reason"))
        case Family.COHERE:
            return text(payload.get("finish_reason"))
        case Family.BEDROCK_CONVERSE:
            return text(payload.get("stopReason"))
        case _:
            return None
