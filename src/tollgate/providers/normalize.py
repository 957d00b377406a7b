"""Provider usage objects -> ``NormalizedUsage`` (PROVIDERS.md §0). Pure, never raises.

Each wire family has one normaliser taking the provider's usage object (any JSON value) and
returning ``None`` when it carries no token counts. Counts are read defensively: only ints and
finite floats count (floats are rounded: Cohere's ``billed_units`` are floats), negatives clamp
to 0, and huge values clamp to a signed 64-bit integer so they can always be stored.

Normalisation rules, per family:

- OpenAI chat (every OpenAI-compatible provider): ``prompt_tokens`` includes
  ``prompt_tokens_details.cached_tokens`` and ``.cache_write_tokens``; DeepSeek's
  ``prompt_cache_hit_tokens`` is the cache read when present. ``completion_tokens`` includes
  reasoning -- except on xAI, detected as litellm does: reasoning is folded into output only when
  ``total_tokens == prompt + completion + reasoning``. Perplexity bills ``reasoning_tokens`` and
  ``citation_tokens`` on top of ``completion_tokens``, so both are added (as genai-prices does).
- OpenAI Responses: as chat, with the ``input_*``/``output_*`` names.
- Anthropic Messages: ``input_tokens`` excludes cache reads and writes; 1h writes come from
  ``cache_creation.ephemeral_1h_input_tokens``; web searches from ``server_tool_use``.
- Gemini: ``promptTokenCount`` includes the cache; ``toolUsePromptTokenCount`` is added to
  input; output is candidates + thoughts.
- Cohere: price from ``billed_units`` (not the larger raw ``tokens``); ``cached_tokens`` is the
  cache-read part of the billed input. Bedrock Converse: input excludes the cache.

``extras`` carries other genai-prices usage keys (web searches, citation tokens, and
non-text modality breakdowns such as ``input_audio_tokens``, which some models price apart).
Those keys follow genai-prices' meaning: token breakdowns are parts of *total* input/output.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.base import Operation

MAX_COUNT = 2**63 - 1
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Family(StrEnum):
    """A wire format for usage. Several providers share one."""

    OPENAI_CHAT = "openai_chat"
    OPENAI_RESPONSES = "openai_responses"
    OPENAI_EMBEDDINGS = "openai_embeddings"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"
    COHERE = "cohere"
    COHERE_EMBEDDINGS = "cohere_embeddings"
    BEDROCK_CONVERSE = "bedrock_converse"


def family_of(provider: str, operation: Operation) -> Family | None:
    """The operation decides the wire format; a few providers have their own dialect of it.

    Anthropic-shaped ``messages`` covers Anthropic, Claude on Vertex and Bedrock ``/invoke``;
    ``generate`` is Gemini (also on Vertex) except on Bedrock, where it and ``chat`` are Converse.
    """
    match operation:
        case Operation.CHAT:
            if provider == "cohere":
                return Family.COHERE
            return Family.BEDROCK_CONVERSE if provider == "aws_bedrock" else Family.OPENAI_CHAT
        case Operation.RESPONSES:
            return Family.OPENAI_RESPONSES
        case Operation.EMBEDDINGS:
            return Family.COHERE_EMBEDDINGS if provider == "cohere" else Family.OPENAI_EMBEDDINGS
        case Operation.MESSAGES:
            return Family.ANTHROPIC
        case Operation.GENERATE:
            return Family.BEDROCK_CONVERSE if provider == "aws_bedrock" else Family.GEMINI
        case Operation.CONVERSE:
            return Family.BEDROCK_CONVERSE
        case _:
            return None


# -- defensive readers -------------------------------------------------------------------------


def count(value: object) -> int | None:
    """A token count, or None when ``value`` is not a number (bools are not numbers here)."""
    if type(value) is int:
        return min(max(value, 0), MAX_COUNT)
    if type(value) is float:
        if not math.isfinite(value):
            return None
        return min(max(round(value), 0), MAX_COUNT)
    return None


def obj(value: object) -> Mapping[str, Any]:
    """``value`` if it is a JSON object, else an empty mapping."""
    return value if isinstance(value, dict) else _EMPTY


def text(value: object) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def usd(value: object) -> Decimal | None:
    """A finite, non-negative dollar amount from a JSON number."""
    if type(value) is int:
        return Decimal(value) if value >= 0 else None
    if type(value) is float and math.isfinite(value) and value >= 0:
        return Decimal(repr(value))  # the shortest repr is the number the provider wrote
    return None


def _extras(**values: int | None) -> Mapping[str, int]:
    return {key: value for key, value in values.items() if value}


# -- normalisers ------------------------------------------------------------------------------


def _split_input(total: int, cache_read: int, cache_write: int) -> tuple[int, int, int]:
    """(uncached, read, write) from an input total that includes the cache; parts are clamped."""
    cache_read = min(cache_read, total)
    cache_write = min(cache_write, total - cache_read)
    return total - cache_read - cache_write, cache_read, cache_write


def openai_chat(provider: str, usage: object) -> NormalizedUsage | None:
    u = obj(usage)
    prompt, completion = count(u.get("prompt_tokens")), count(u.get("completion_tokens"))
    if prompt is None and completion is None:
        return None
    prompt, completion = prompt or 0, completion or 0
    ptd, ctd = obj(u.get("prompt_tokens_details")), obj(u.get("completion_tokens_details"))
    cached = count(u.get("prompt_cache_hit_tokens"))  # DeepSeek: authoritative when present
    if cached is None:
        cached = count(ptd.get("cached_tokens"))
    if cached is None:
        cached = count(u.get("cached_prompt_text_tokens"))  # xAI's older shape
    reasoning = count(ctd.get("reasoning_tokens"))
    if reasoning is None:
        reasoning = count(u.get("reasoning_tokens"))
    reasoning = reasoning or 0
    output = completion
    extras: Mapping[str, int]
    if provider == "perplexity":
        citations = count(u.get("citation_tokens")) or 0
        output = completion + reasoning + citations
        extras = _extras(output_citation_tokens=citations, web_searches=count(u.get("num_search_queries")))
    else:
        if reasoning and count(u.get("total_tokens")) == prompt + completion + reasoning:
            output = completion + reasoning  # xAI: completion_tokens excludes reasoning
        extras = _extras(
            input_audio_tokens=count(ptd.get("audio_tokens")),
            output_audio_tokens=count(ctd.get("audio_tokens")),
        )
    uncached, cached, written = _split_input(prompt, cached or 0, count(ptd.get("cache_write_tokens")) or 0)
    return NormalizedUsage(
        input_tokens=uncached,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        output_tokens=output,
        reasoning_tokens=min(reasoning, output),
        extras=extras,
    )


def openai_responses(provider: str, usage: object) -> NormalizedUsage | None:
    u = obj(usage)
    total_in, output = count(u.get("input_tokens")), count(u.get("output_tokens"))
    if total_in is None and output is None:
        return None
    total_in, output = total_in or 0, output or 0
    itd, otd = obj(u.get("input_tokens_details")), obj(u.get("output_tokens_details"))
    cached = count(itd.get("cached_tokens"))
    if cached is None:
        cached = count(itd.get("cache_read_input_tokens"))  # Perplexity's Agent API
    reasoning = count(otd.get("reasoning_tokens")) or 0
    if reasoning and count(u.get("total_tokens")) == total_in + output + reasoning:
        output += reasoning  # same guard as chat, for xAI
    searches = count(obj(obj(u.get("tool_calls_details")).get("search_web")).get("invocation"))
    uncached, cached, written = _split_input(total_in, cached or 0, count(itd.get("cache_write_tokens")) or 0)
    return NormalizedUsage(
        input_tokens=uncached,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        output_tokens=output,
        reasoning_tokens=min(reasoning, output),
        extras=_extras(web_searches=searches),
    )


def openai_embeddings(provider: str, usage: object) -> NormalizedUsage | None:
    u = obj(usage)
    prompt = count(u.get("prompt_tokens"))
    if prompt is None:
        prompt = count(u.get("total_tokens"))
    return None if prompt is None else NormalizedUsage(input_tokens=prompt)


def anthropic(provider: str, usage: object) -> NormalizedUsage | None:
    u = obj(usage)
    uncached, output = count(u.get("input_tokens")), count(u.get("output_tokens"))
    if uncached is None and output is None:
        return None
    output = output or 0
    ttl = obj(u.get("cache_creation"))
    write_5m = count(ttl.get("ephemeral_5m_input_tokens")) or 0
    write_1h = count(ttl.get("ephemeral_1h_input_tokens")) or 0
    written = count(u.get("cache_creation_input_tokens"))
    if written is None:
        written = write_5m + write_1h
    thinking = count(obj(u.get("output_tokens_details")).get("thinking_tokens")) or 0
    return NormalizedUsage(
        input_tokens=uncached or 0,
        cache_read_tokens=count(u.get("cache_read_input_tokens")) or 0,
        cache_write_tokens=written,
        output_tokens=output,
        reasoning_tokens=min(thinking, output),
        cache_write_1h_tokens=min(write_1h, written),
        extras=_extras(web_searches=count(obj(u.get("server_tool_use")).get("web_search_requests"))),
    )


_GEMINI_MODALITIES: Mapping[str, str] = MappingProxyType(
    {"AUDIO": "audio", "IMAGE": "image", "DOCUMENT": "image", "VIDEO": "video"}
)
_GEMINI_DETAILS = (
    ("promptTokensDetails", "input_{}_tokens"),
    ("toolUsePromptTokensDetails", "input_{}_tokens"),
    ("cacheTokensDetails", "cache_{}_read_tokens"),
    ("candidatesTokensDetails", "output_{}_tokens"),
)


def _gemini_modalities(u: Mapping[str, Any]) -> dict[str, int]:
    """Non-text modality breakdowns, keyed as genai-prices names them (first entry per modality)."""
    extras: dict[str, int] = {}
    for field, pattern in _GEMINI_DETAILS:
        details = u.get(field)
        if not isinstance(details, list):
            continue
        seen: set[str] = set()
        for item in details:
            modality = obj(item).get("modality")
            if not isinstance(modality, str) or modality not in _GEMINI_MODALITIES or modality in seen:
                continue
            seen.add(modality)
            tokens = count(obj(item).get("tokenCount"))
            if tokens:
                key = pattern.format(_GEMINI_MODALITIES[modality])
                extras[key] = extras.get(key, 0) + tokens
    return extras


def gemini(provider: str, usage: object) -> NormalizedUsage | None:
    u = obj(usage)
    prompt, tool = count(u.get("promptTokenCount")), count(u.get("toolUsePromptTokenCount"))
    candidates, thoughts = count(u.get("candidatesTokenCount")), count(u.get("thoughtsTokenCount"))
    if prompt is None and tool is None and candidates is None and thoughts is None:
        return None
    total_in = (prompt or 0) + (tool or 0)
    uncached, cached, _ = _split_input(total_in, count(u.get("cachedContentTokenCount")) or 0, 0)
    return NormalizedUsage(
        input_tokens=uncached,
        cache_read_tokens=cached,
        output_tokens=(candidates or 0) + (thoughts or 0),
        reasoning_tokens=thoughts or 0,
        extras=_gemini_modalities(u),
    )


def cohere(provider: str, usage: object) -> NormalizedUsage | None:
    """Priced from ``billed_units`` only, as genai-prices' default Cohere extractor does; the raw
    ``tokens`` counts (template and system tokens included) are not what is charged.

    ``cached_tokens`` is reported as the cache-read part of the billed input (clamped to it), so
    the total input stays the billed one: no Cohere model has a cache-read price, so the cost is
    unchanged while the record still shows how much of the prompt hit the cache.
    """
    u = obj(usage)
    billed = obj(u.get("billed_units"))
    total_in, output = count(billed.get("input_tokens")), count(billed.get("output_tokens"))
    if total_in is None and output is None:
        return None
    uncached, cached, _ = _split_input(total_in or 0, count(u.get("cached_tokens")) or 0, 0)
    return NormalizedUsage(input_tokens=uncached, cache_read_tokens=cached, output_tokens=output or 0)


def cohere_embeddings(provider: str, meta: object) -> NormalizedUsage | None:
    total_in = count(obj(obj(meta).get("billed_units")).get("input_tokens"))
    return None if total_in is None else NormalizedUsage(input_tokens=total_in)


def bedrock_converse(provider: str, usage: object) -> NormalizedUsage | None:
    u = obj(usage)
    uncached, output = count(u.get("inputTokens")), count(u.get("outputTokens"))
    if uncached is None and output is None:
        return None
    written = count(u.get("cacheWriteInputTokens")) or 0
    write_1h = 0
    details = u.get("cacheDetails")
    for item in details if isinstance(details, list) else ():
        if obj(item).get("ttl") == "1h":
            write_1h += count(obj(item).get("inputTokens")) or 0
    return NormalizedUsage(
        input_tokens=uncached or 0,
        cache_read_tokens=count(u.get("cacheReadInputTokens")) or 0,
        cache_write_tokens=written,
        output_tokens=output or 0,
        cache_write_1h_tokens=min(write_1h, written),
    )


Normaliser = Callable[[str, object], NormalizedUsage | None]

NORMALISERS: Mapping[Family, Normaliser] = MappingProxyType(
    {
        Family.OPENAI_CHAT: openai_chat,
        Family.OPENAI_RESPONSES: openai_responses,
        Family.OPENAI_EMBEDDINGS: openai_embeddings,
        Family.ANTHROPIC: anthropic,
        Family.GEMINI: gemini,
        Family.COHERE: cohere,
        Family.COHERE_EMBEDDINGS: cohere_embeddings,
        Family.BEDROCK_CONVERSE: bedrock_converse,
    }
)


def reported_cost(provider: str, usage: object) -> Decimal | None:
    """A charge the provider states itself, in USD. Trusted only from providers whose unit is
    documented: an arbitrary OpenAI-compatible server's ``cost`` could be in anything."""
    u = obj(usage)
    match provider:
        case "openrouter":
            return usd(u.get("cost"))
        case "perplexity":
            return usd(obj(u.get("cost")).get("total_cost"))
        case "xai":
            ticks = u.get("cost_in_usd_ticks")
            if type(ticks) is int and ticks >= 0:
                return Decimal(ticks).scaleb(-10)  # a tick is 1e-10 USD; scaleb is exact
            return None
        case _:
            return None
