"""Types every provider module shares: operations, SSE events, meter results, stream meters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

from tollgate.pricing.usage import NormalizedUsage


class Operation(StrEnum):
    CHAT = "chat"  # OpenAI-style /chat/completions (also the whole OpenAI-compatible family)
    RESPONSES = "responses"  # OpenAI /responses
    EMBEDDINGS = "embeddings"  # OpenAI-style /embeddings
    MESSAGES = "messages"  # Anthropic /v1/messages
    GENERATE = "generate"  # Gemini :generateContent / :streamGenerateContent
    CONVERSE = "converse"  # Bedrock model/{id}/converse and model/{id}/converse-stream
    OTHER = "other"  # anything else passed through (model lists, files, ...)


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched server-sent event.

    ``raw`` is the exact bytes of the event as received, blank-line terminator included,
    so a relay can forward it unchanged.
    """

    event: str | None
    data: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class MeterResult:
    """What metering learned from a response body or a whole stream."""

    usage: NormalizedUsage | None  # None: the provider reported no usage
    upstream_model: str | None = None
    reported_cost_usd: Decimal | None = None  # a provider-stated charge (OpenRouter, Perplexity, xAI)
    error: Mapping[str, Any] | None = None  # an error object seen in the body or stream
    finish_reason: str | None = None
    # What selects a price variant, as the provider reported it: {"service_tier": "flex"},
    # {"speed": "fast"} (genai-prices' price_context).
    price_context: Mapping[str, str] | None = None


class StreamMeter(Protocol):
    """Reads a stream's events as they pass, to find usage. One instance per stream."""

    def observe(self, event: SseEvent) -> bool:
        """Read one event. Return ``False`` when the event must not be forwarded to the client
        (the usage-only chunk the gateway asked for on the client's behalf)."""
        ...

    @property
    def complete(self) -> bool:
        """True once the terminal event has been observed: the response is whole."""
        ...

    def result(self) -> MeterResult: ...
