"""Proof that tollgate's cost is genai-prices' cost.

For the same raw bodies, ``PriceBook.cost(meter_body(...).usage)`` must equal what
genai-prices' own extractor + ``calc_price`` give, to the nano-dollar. Where tollgate differs on
purpose (DeepSeek hit tokens, xAI reasoning already inside completion), the difference is pinned.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import genai_prices
import pytest

from tests.providers import shapes
from tollgate.core.money import usd_to_nanos
from tollgate.pricing.prices import PriceBook
from tollgate.providers.base import Operation
from tollgate.providers.usage import meter_body

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# (tollgate provider, operation, body, genai-prices provider id, api flavor)
SAME_AS_GENAI: list[tuple[str, Operation, dict[str, Any], str, str]] = [
    ("openai", Operation.CHAT, shapes.OPENAI_CHAT_CACHED, "openai", "chat"),
    ("openai", Operation.CHAT, shapes.OPENAI_CHAT_REASONING, "openai", "chat"),
    ("openai", Operation.CHAT, shapes.OPENAI_CHAT_CACHE_WRITE, "openai", "chat"),
    ("openai", Operation.EMBEDDINGS, shapes.OPENAI_EMBEDDINGS, "openai", "embeddings"),
    ("openai", Operation.RESPONSES, shapes.RESPONSES_COMPLETED, "openai", "responses"),
    ("azure_openai", Operation.CHAT, shapes.AZURE_CHAT, "azure", "chat"),
    ("anthropic", Operation.MESSAGES, shapes.ANTHROPIC_PLAIN, "anthropic", "default"),
    ("anthropic", Operation.MESSAGES, shapes.ANTHROPIC_CACHE_1H, "anthropic", "default"),
    ("google_vertex", Operation.MESSAGES, shapes.ANTHROPIC_CACHE_1H, "google", "anthropic"),
    ("gemini", Operation.GENERATE, shapes.GEMINI_THINKING, "google", "default"),
    ("gemini", Operation.GENERATE, shapes.GEMINI_AUDIO, "google", "default"),
    ("google_vertex", Operation.GENERATE, shapes.GEMINI_THINKING, "google", "default"),
    ("deepseek", Operation.CHAT, shapes.DEEPSEEK_HIT_AND_DETAILS, "deepseek", "chat"),
    ("xai", Operation.CHAT, shapes.XAI_REASONING_SEPARATE, "x-ai", "chat"),
    ("openrouter", Operation.CHAT, shapes.OPENROUTER_CHAT, "openrouter", "chat"),
    ("perplexity", Operation.CHAT, shapes.PERPLEXITY_SONAR, "perplexity", "default"),
    ("perplexity", Operation.CHAT, shapes.PERPLEXITY_DEEP_RESEARCH, "perplexity", "default"),
    ("mistral", Operation.CHAT, shapes.MISTRAL_CHAT, "mistral", "default"),
    ("cohere", Operation.CHAT, {**shapes.COHERE_CHAT, "model": "command-a"}, "cohere", "default"),
    (
        "aws_bedrock",
        Operation.CHAT,
        {**shapes.BEDROCK_CONVERSE, "model": "anthropic.claude-sonnet-4-5-20250929-v1:0"},
        "aws",
        "default",
    ),
]


def genai_nanos(body: dict[str, Any], provider_id: str, flavor: str) -> int:
    extracted = genai_prices.extract_usage(body, provider_id=provider_id, api_flavor=flavor)
    return usd_to_nanos(extracted.calc_price(genai_request_timestamp=AT).total_price)


def tollgate_nanos(book: PriceBook, provider: str, operation: Operation, body: dict[str, Any]) -> int:
    meter = meter_body(provider, operation, body)
    assert meter.usage is not None
    model = meter.upstream_model or body["model"]
    cost = book.cost(provider, model, meter.usage, at=AT)  # no reported cost: the genai-prices path
    assert cost.nanos is not None and cost.source is not None and cost.source.startswith("genai-prices ")
    return cost.nanos


@pytest.mark.parametrize(
    ("provider", "operation", "body", "genai_id", "flavor"),
    SAME_AS_GENAI,
    ids=[f"{c[0]}-{c[2].get('model', c[3])}" for c in SAME_AS_GENAI],
)
def test_cost_equals_genai_prices(
    provider: str, operation: Operation, body: dict[str, Any], genai_id: str, flavor: str
) -> None:
    nanos = tollgate_nanos(PriceBook(), provider, operation, body)
    assert nanos == genai_nanos(body, genai_id, flavor)
    assert nanos > 0


def test_deepseek_hit_tokens_are_cache_reads_where_genai_prices_misses_them() -> None:
    """genai-prices reads only ``prompt_tokens_details.cached_tokens``; DeepSeek's documented
    ``prompt_cache_hit_tokens`` is the cache read. Tollgate prices the bare body as genai-prices
    prices the same body with the hit count copied where it looks."""
    book = PriceBook()
    ours = tollgate_nanos(book, "deepseek", Operation.CHAT, shapes.DEEPSEEK_HIT)
    assert ours == genai_nanos(shapes.DEEPSEEK_HIT_AND_DETAILS, "deepseek", "chat")
    # 640 hit tokens at the cache-read rate instead of the input rate ($0.07 vs $0.27 per MTok at noon UTC)
    assert genai_nanos(shapes.DEEPSEEK_HIT, "deepseek", "chat") - ours == 640 * (270 - 70)


def test_xai_reasoning_inside_completion_is_not_counted_twice() -> None:
    """genai-prices always adds ``reasoning_tokens`` to ``completion_tokens`` for xAI. When
    ``total_tokens`` shows completion already holds them, tollgate does not (litellm's guard)."""
    ours = tollgate_nanos(PriceBook(), "xai", Operation.CHAT, shapes.XAI_REASONING_INCLUDED)
    theirs = genai_nanos(shapes.XAI_REASONING_INCLUDED, "x-ai", "chat")
    # the same 400 output tokens as the "separate" shape (100 + 300 reasoning)
    assert ours == genai_nanos(shapes.XAI_REASONING_SEPARATE, "x-ai", "chat")
    calc = genai_prices.calc_price(genai_prices.Usage(output_tokens=300), "grok-4-0709", provider_id="x-ai")
    assert theirs - ours == usd_to_nanos(calc.total_price)  # genai-prices bills the 300 twice


def test_together_has_prices_but_no_extractor() -> None:
    meter = meter_body("together", Operation.CHAT, shapes.TOGETHER_CHAT)
    assert meter.usage is not None and meter.upstream_model is not None
    cost = PriceBook().cost("together", meter.upstream_model, meter.usage, at=AT)
    expected = genai_prices.calc_price(
        genai_prices.Usage(input_tokens=500, output_tokens=60), meter.upstream_model, provider_id="together"
    )
    assert cost.nanos == usd_to_nanos(expected.total_price)
