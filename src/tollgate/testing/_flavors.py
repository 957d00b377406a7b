"""The OpenAI-compatible family's quirks (PROVIDERS.md §0, A.1, A.8, A.10): usage semantics and placement.

Every member speaks the Chat Completions shape; what differs is how usage is counted, where it sits in
a stream, whether it must be asked for, and a few extra fields or comment lines.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

from tollgate.testing._errors import ErrorStyle
from tollgate.testing._tokens import Tally


class UsagePlacement(Enum):
    EXTRA_CHUNK_IF_ASKED = "extra_chunk_if_asked"  # an extra `choices: []` chunk, only with include_usage
    EXTRA_CHUNK_ALWAYS = "extra_chunk_always"  # the same, whether asked or not (OpenRouter)
    FINISH_CHUNK = "finish_chunk"  # on the finish_reason chunk, always (Mistral, Together, Perplexity)
    BEFORE_FINAL_IF_ASKED = "before_final_if_asked"  # on the finish chunk, then a final empty chunk (xAI)


UsageBuilder = Callable[[Tally], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ChatFlavor:
    provider: str
    usage: UsageBuilder
    placement: UsagePlacement
    errors: ErrorStyle = ErrorStyle.OPENAI
    id_prefix: str = "chatcmpl-"
    null_usage: bool = False  # when usage was asked for, every other chunk says `"usage": null`
    obfuscation: bool = False  # content deltas carry an `obfuscation` padding string
    comments: tuple[bytes, ...] = ()  # SSE comment frames sent before any content
    extras: Callable[[], dict[str, Any]] = dict  # top-level fields of every body and chunk
    message_extras: Mapping[str, Any] = field(default_factory=dict)  # fields of a non-stream message
    id_header: bytes | None = None  # a response header carrying the id
    # Azure: prompt_filter_results on the body (in streams, a first chunk with empty choices) and
    # content_filter_results on each choice.
    content_filters: bool = False


def _base(t: Tally) -> dict[str, Any]:
    return {
        "prompt_tokens": t.input_total,
        "completion_tokens": t.output_total,
        "total_tokens": t.input_total + t.output_total,
    }


def openai_usage(t: Tally) -> dict[str, Any]:
    """prompt_tokens ⊇ cached_tokens and cache_write_tokens; completion_tokens ⊇ reasoning_tokens."""
    usage = _base(t)
    usage["prompt_tokens_details"] = {
        "cached_tokens": t.cache_read,
        "cache_write_tokens": t.cache_write,
        "audio_tokens": 0,
    }
    usage["completion_tokens_details"] = {
        "reasoning_tokens": t.reasoning,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }
    return usage


def plain_usage(t: Tally) -> dict[str, Any]:
    """Mistral and self-hosted servers: the base counts, details only when there is something to say."""
    usage = _base(t)
    if t.cache_read:
        usage["prompt_tokens_details"] = {"cached_tokens": t.cache_read}
    if t.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": t.reasoning}
    return usage


def deepseek_usage(t: Tally) -> dict[str, Any]:
    """prompt_tokens = prompt_cache_hit_tokens + prompt_cache_miss_tokens (cache writes count as misses)."""
    usage = _base(t)
    usage["prompt_tokens_details"] = {"cached_tokens": t.cache_read}
    usage["prompt_cache_hit_tokens"] = t.cache_read
    usage["prompt_cache_miss_tokens"] = t.uncached + t.cache_write
    if t.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": t.reasoning}
    return usage


def xai_usage(t: Tally) -> dict[str, Any]:
    """completion_tokens EXCLUDES reasoning_tokens while total_tokens includes them."""
    return {
        "prompt_tokens": t.input_total,
        "completion_tokens": t.visible,
        "total_tokens": t.input_total + t.visible + t.reasoning,
        "prompt_tokens_details": {
            "text_tokens": t.input_total,
            "audio_tokens": 0,
            "image_tokens": 0,
            "cached_tokens": t.cache_read,
        },
        "completion_tokens_details": {
            "reasoning_tokens": t.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        "num_sources_used": 0,
        "cost_in_usd_ticks": round(t.cost_usd() * 10_000_000_000),
    }


def openrouter_usage(t: Tally) -> dict[str, Any]:
    """OpenAI semantics plus `cost` (credits charged); cache writes are not reported."""
    usage = _base(t)
    usage["cost"] = t.cost_usd()
    usage["is_byok"] = False
    usage["prompt_tokens_details"] = {"cached_tokens": t.cache_read, "audio_tokens": 0}
    usage["cost_details"] = {"upstream_inference_cost": None}
    usage["completion_tokens_details"] = {"reasoning_tokens": t.reasoning}
    return usage


def together_usage(t: Tally) -> dict[str, Any]:
    usage = _base(t)
    usage["cached_tokens"] = t.cache_read
    return usage


PERPLEXITY_REQUEST_FEE_USD = 0.005


def perplexity_usage(t: Tally) -> dict[str, Any]:
    """`cost.total_cost` already includes the per-request search fee."""
    usage = _base(t)
    usage["search_context_size"] = "low"
    usage["citation_tokens"] = 0
    usage["num_search_queries"] = 1
    if t.reasoning:
        usage["reasoning_tokens"] = t.reasoning
    input_cost = round(t.input_total * 1e-6, 9)
    output_cost = round(t.output_total * 2e-6, 9)
    usage["cost"] = {
        "input_tokens_cost": input_cost,
        "output_tokens_cost": output_cost,
        "request_cost": PERPLEXITY_REQUEST_FEE_USD,
        "total_cost": round(input_cost + output_cost + PERPLEXITY_REQUEST_FEE_USD, 9),
    }
    return usage


_OPENAI_MESSAGE = MappingProxyType({"refusal": None, "annotations": ()})
_CITATIONS = ("https://example.com/simulated/1", "https://example.com/simulated/2")


def _perplexity_extras() -> dict[str, Any]:
    return {
        "citations": _CITATIONS,
        "search_results": [
            {"title": f"Simulated source {i}", "url": url} for i, url in enumerate(_CITATIONS, 1)
        ],
    }


def _fixed(**fields: str) -> Callable[[], dict[str, Any]]:
    def extras() -> dict[str, Any]:
        return dict(fields)

    return extras


OPENAI = ChatFlavor(
    "openai",
    openai_usage,
    UsagePlacement.EXTRA_CHUNK_IF_ASKED,
    null_usage=True,
    obfuscation=True,
    extras=_fixed(service_tier="default", system_fingerprint="fp_simulated"),
    message_extras=_OPENAI_MESSAGE,
    id_header=b"x-request-id",
)
COMPATIBLE = ChatFlavor("openai_compatible", plain_usage, UsagePlacement.EXTRA_CHUNK_IF_ASKED)
MISTRAL = ChatFlavor(
    "mistral", plain_usage, UsagePlacement.FINISH_CHUNK, errors=ErrorStyle.MISTRAL, id_prefix="cmpl-"
)
DEEPSEEK = ChatFlavor(
    "deepseek",
    deepseek_usage,
    UsagePlacement.EXTRA_CHUNK_IF_ASKED,
    comments=(b": keep-alive\n\n", b": keep-alive\n\n"),
    extras=_fixed(system_fingerprint="fp_simulated"),
)
XAI = ChatFlavor(
    "xai",
    xai_usage,
    UsagePlacement.BEFORE_FINAL_IF_ASKED,
    extras=_fixed(system_fingerprint="fp_simulated"),
    message_extras=MappingProxyType({"refusal": None}),
)
OPENROUTER = ChatFlavor(
    "openrouter",
    openrouter_usage,
    UsagePlacement.EXTRA_CHUNK_ALWAYS,
    errors=ErrorStyle.OPENROUTER,
    id_prefix="gen-",
    comments=(b": OPENROUTER PROCESSING\n\n", b": OPENROUTER PROCESSING\n\n"),
    extras=_fixed(provider="Simulated"),
    id_header=b"x-generation-id",
)
TOGETHER = ChatFlavor("together", together_usage, UsagePlacement.FINISH_CHUNK)
AZURE = ChatFlavor(
    "azure_openai",
    openai_usage,
    UsagePlacement.EXTRA_CHUNK_IF_ASKED,
    extras=_fixed(system_fingerprint="fp_simulated"),
    message_extras=_OPENAI_MESSAGE,
    id_header=b"apim-request-id",
    content_filters=True,
)
PERPLEXITY = ChatFlavor(
    "perplexity", perplexity_usage, UsagePlacement.FINISH_CHUNK, extras=_perplexity_extras
)
