"""meter_body: every provider's recorded body normalised per PROVIDERS.md §0."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.providers import shapes
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.base import Operation
from tollgate.providers.normalize import MAX_COUNT
from tollgate.providers.usage import meter_body

U = NormalizedUsage

CASES: list[tuple[str, str, Operation, dict[str, Any], NormalizedUsage, str | None, str | None]] = [
    # id, provider, operation, body, usage, upstream model, finish reason
    (
        "openai-cached",
        "openai",
        Operation.CHAT,
        shapes.OPENAI_CHAT_CACHED,
        U(input_tokens=86, cache_read_tokens=1920, output_tokens=300),
        "gpt-4o-2024-08-06",
        "stop",
    ),
    (
        "openai-reasoning-is-inside-completion",
        "openai",
        Operation.CHAT,
        shapes.OPENAI_CHAT_REASONING,
        U(input_tokens=150, output_tokens=900, reasoning_tokens=640),
        "o3-mini-2025-01-31",
        "stop",
    ),
    (
        "openai-cache-write-is-inside-prompt",
        "openai",
        Operation.CHAT,
        shapes.OPENAI_CHAT_CACHE_WRITE,
        U(input_tokens=1000, cache_read_tokens=4000, cache_write_tokens=5000, output_tokens=50),
        "gpt-5.6-cyber",
        "length",
    ),
    (
        "openai-embeddings",
        "openai",
        Operation.EMBEDDINGS,
        shapes.OPENAI_EMBEDDINGS,
        U(input_tokens=8),
        "text-embedding-3-small",
        None,
    ),
    (
        "openai-responses",
        "openai",
        Operation.RESPONSES,
        shapes.RESPONSES_COMPLETED,
        U(input_tokens=176, cache_read_tokens=1024, output_tokens=900, reasoning_tokens=640),
        "gpt-5-2025-08-07",
        "completed",
    ),
    (
        "anthropic-input-excludes-cache",
        "anthropic",
        Operation.MESSAGES,
        shapes.ANTHROPIC_PLAIN,
        U(input_tokens=1000, cache_read_tokens=2000, output_tokens=500),
        "claude-3-5-sonnet-20241022",
        "end_turn",
    ),
    (
        "anthropic-1h-writes-thinking-web-search",
        "anthropic",
        Operation.MESSAGES,
        shapes.ANTHROPIC_CACHE_1H,
        U(
            input_tokens=100,
            cache_read_tokens=5000,
            cache_write_tokens=3000,
            cache_write_1h_tokens=2000,
            output_tokens=700,
            reasoning_tokens=200,
            extras={"web_searches": 2},
        ),
        "claude-sonnet-4-5-20250929",
        "end_turn",
    ),
    (
        "gemini-thoughts-added-tool-prompt-added",
        "gemini",
        Operation.GENERATE,
        shapes.GEMINI_THINKING,
        U(input_tokens=1050, cache_read_tokens=4000, output_tokens=650, reasoning_tokens=250),
        "gemini-2.5-flash",
        "STOP",
    ),
    (
        "gemini-audio-breakdown",
        "gemini",
        Operation.GENERATE,
        shapes.GEMINI_AUDIO,
        U(input_tokens=1500, output_tokens=20, extras={"input_audio_tokens": 1200}),
        "gemini-2.5-flash",
        "STOP",
    ),
    (
        "vertex-gemini",
        "google_vertex",
        Operation.GENERATE,
        shapes.GEMINI_THINKING,
        U(input_tokens=1050, cache_read_tokens=4000, output_tokens=650, reasoning_tokens=250),
        "gemini-2.5-flash",
        "STOP",
    ),
    (
        "deepseek-hit-tokens",
        "deepseek",
        Operation.CHAT,
        shapes.DEEPSEEK_HIT,
        U(input_tokens=360, cache_read_tokens=640, output_tokens=200),
        "deepseek-chat",
        "stop",
    ),
    (
        "xai-reasoning-separate",
        "xai",
        Operation.CHAT,
        shapes.XAI_REASONING_SEPARATE,
        U(input_tokens=100, cache_read_tokens=600, output_tokens=400, reasoning_tokens=300),
        "grok-4-0709",
        "stop",
    ),
    (
        "xai-reasoning-already-included",
        "xai",
        Operation.CHAT,
        shapes.XAI_REASONING_INCLUDED,
        U(input_tokens=100, cache_read_tokens=600, output_tokens=400, reasoning_tokens=300),
        "grok-4-0709",
        "stop",
    ),
    (
        "openrouter",
        "openrouter",
        Operation.CHAT,
        shapes.OPENROUTER_CHAT,
        U(input_tokens=1200, output_tokens=80),
        "anthropic/claude-3.5-sonnet",
        "stop",
    ),
    (
        "perplexity-sonar",
        "perplexity",
        Operation.CHAT,
        shapes.PERPLEXITY_SONAR,
        U(input_tokens=30, output_tokens=400),
        "sonar-pro",
        "stop",
    ),
    (
        "perplexity-deep-research-bills-reasoning-and-citations",
        "perplexity",
        Operation.CHAT,
        shapes.PERPLEXITY_DEEP_RESEARCH,
        U(
            input_tokens=15,
            output_tokens=3821 + 96340 + 4985,
            reasoning_tokens=96340,
            extras={"output_citation_tokens": 4985, "web_searches": 18},
        ),
        "sonar-deep-research",
        "stop",
    ),
    (
        "mistral",
        "mistral",
        Operation.CHAT,
        shapes.MISTRAL_CHAT,
        U(input_tokens=900, output_tokens=120),
        "mistral-large-latest",
        "stop",
    ),
    (
        "together",
        "together",
        Operation.CHAT,
        shapes.TOGETHER_CHAT,
        U(input_tokens=500, output_tokens=60),
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "eos",
    ),
    (
        "openai-compatible",
        "openai_compatible",
        Operation.CHAT,
        shapes.MISTRAL_CHAT,
        U(input_tokens=900, output_tokens=120),
        "mistral-large-latest",
        "stop",
    ),
    (
        "azure",
        "azure_openai",
        Operation.CHAT,
        shapes.AZURE_CHAT,
        U(input_tokens=86, cache_read_tokens=1920, output_tokens=300),
        "gpt-4o-2024-08-06",
        "stop",
    ),
    (
        "cohere-billed-units-are-floats",
        "cohere",
        Operation.CHAT,
        shapes.COHERE_CHAT,
        U(input_tokens=1234, output_tokens=56),
        None,
        "COMPLETE",
    ),
    (
        "bedrock-converse",
        "aws_bedrock",
        Operation.CHAT,
        shapes.BEDROCK_CONVERSE,
        U(
            input_tokens=100,
            cache_read_tokens=2000,
            cache_write_tokens=3000,
            cache_write_1h_tokens=2000,
            output_tokens=300,
        ),
        None,
        "end_turn",
    ),
    (
        "claude-on-vertex",
        "google_vertex",
        Operation.MESSAGES,
        shapes.ANTHROPIC_PLAIN,
        U(input_tokens=1000, cache_read_tokens=2000, output_tokens=500),
        "claude-3-5-sonnet-20241022",
        "end_turn",
    ),
]


@pytest.mark.parametrize(
    ("provider", "operation", "body", "usage", "model", "finish"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_body_usage_is_normalised(
    provider: str,
    operation: Operation,
    body: dict[str, Any],
    usage: NormalizedUsage,
    model: str | None,
    finish: str | None,
) -> None:
    result = meter_body(provider, operation, body)
    assert result.usage == usage
    assert result.upstream_model == model
    assert result.finish_reason == finish
    assert result.error is None


@pytest.mark.parametrize(
    ("provider", "body", "cost"),
    [
        ("openrouter", shapes.OPENROUTER_CHAT, Decimal("0.00468")),
        ("perplexity", shapes.PERPLEXITY_SONAR, Decimal("0.01209")),
        ("xai", shapes.XAI_REASONING_SEPARATE, Decimal("0.005555")),  # 55_550_000 ticks of 1e-10 USD
        ("openai", shapes.OPENAI_CHAT_CACHED, None),
        # A generic OpenAI-compatible server's "cost" has no known unit: not trusted.
        ("openai_compatible", shapes.OPENROUTER_CHAT, None),
    ],
)
def test_reported_cost(provider: str, body: dict[str, Any], cost: Decimal | None) -> None:
    assert meter_body(provider, Operation.CHAT, body).reported_cost_usd == cost


def test_deepseek_hit_tokens_win_over_details() -> None:
    body = {
        **shapes.DEEPSEEK_HIT,
        "usage": {**shapes.DEEPSEEK_HIT["usage"], "prompt_tokens_details": {"cached_tokens": 1}},
    }
    usage = meter_body("deepseek", Operation.CHAT, body).usage
    assert usage is not None and usage.cache_read_tokens == 640


@pytest.mark.parametrize(
    ("provider", "operation", "body", "error"),
    [
        ("anthropic", Operation.MESSAGES, shapes.ANTHROPIC_ERROR, shapes.ANTHROPIC_ERROR["error"]),
        ("gemini", Operation.GENERATE, shapes.GEMINI_ERROR, shapes.GEMINI_ERROR["error"]),
        (
            "openai",
            Operation.CHAT,
            {
                "error": {
                    "message": "Rate limit",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
            {"message": "Rate limit", "type": "requests", "param": None, "code": "rate_limit_exceeded"},
        ),
        (
            "openrouter",
            Operation.CHAT,
            {"error": {"code": 402, "message": "Insufficient credits"}},
            {"code": 402, "message": "Insufficient credits"},
        ),
        (
            "mistral",
            Operation.CHAT,
            {"object": "error", "message": "bad", "type": "invalid_request_error", "code": None},
            {"object": "error", "message": "bad", "type": "invalid_request_error", "code": None},
        ),
        ("openai_compatible", Operation.CHAT, {"error": "boom"}, {"message": "boom"}),
        (
            "openai",
            Operation.RESPONSES,
            {"id": "r", "status": "failed", "error": {"code": "server_error", "message": "x"}, "usage": None},
            {"code": "server_error", "message": "x"},
        ),
    ],
)
def test_error_bodies_have_no_usage(
    provider: str, operation: Operation, body: dict[str, Any], error: dict[str, Any]
) -> None:
    result = meter_body(provider, operation, body)
    assert result.usage is None
    assert result.error == error


def test_a_successful_responses_body_with_null_error_is_not_an_error() -> None:
    assert meter_body("openai", Operation.RESPONSES, shapes.RESPONSES_COMPLETED).error is None


@pytest.mark.parametrize(
    "body",
    [
        {"model": "gpt-4o", "choices": []},
        {"model": "gpt-4o", "usage": None},
        {"model": "gpt-4o", "usage": {}},
        {"model": "gpt-4o", "usage": [1, 2]},
        {"model": "gpt-4o", "usage": {"prompt_tokens": "12", "completion_tokens": True}},
        [],
        "text",
        None,
        42,
    ],
)
def test_missing_or_unreadable_usage_is_none(body: object) -> None:
    assert meter_body("openai", Operation.CHAT, body).usage is None


def test_other_operations_are_not_metered() -> None:
    assert meter_body("openai", Operation.OTHER, shapes.OPENAI_CHAT_CACHED).usage is None


def test_odd_numbers_are_clamped() -> None:
    body = {
        "model": 7,
        "usage": {
            "prompt_tokens": 10.6,
            "completion_tokens": -5,
            "prompt_tokens_details": {"cached_tokens": 10**30, "cache_write_tokens": math.inf},
            "completion_tokens_details": {"reasoning_tokens": 3},
        },
    }
    result = meter_body("openai", Operation.CHAT, body)
    # cached is clamped to the prompt total; reasoning can never exceed output.
    assert result.usage == U(input_tokens=0, cache_read_tokens=11, output_tokens=0, reasoning_tokens=0)
    assert result.upstream_model is None
    huge = meter_body(
        "anthropic", Operation.MESSAGES, {"usage": {"input_tokens": 10**40, "output_tokens": 1}}
    )
    assert huge.usage is not None and huge.usage.input_tokens == MAX_COUNT


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(["error", "usage", "AUDIO", "1h", "message-end"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "usage",
                    "usageMetadata",
                    "meta",
                    "error",
                    "type",
                    "object",
                    "model",
                    "modelVersion",
                    "choices",
                    "candidates",
                    "prompt_tokens",
                    "completion_tokens",
                    "total_tokens",
                    "prompt_tokens_details",
                    "completion_tokens_details",
                    "cached_tokens",
                    "reasoning_tokens",
                    "input_tokens",
                    "output_tokens",
                    "cache_creation",
                    "ephemeral_1h_input_tokens",
                    "promptTokenCount",
                    "promptTokensDetails",
                    "modality",
                    "tokenCount",
                    "billed_units",
                    "cacheDetails",
                    "ttl",
                    "cost",
                    "total_cost",
                    "cost_in_usd_ticks",
                    "finish_reason",
                    "incomplete_details",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=400)
@given(
    provider=st.sampled_from(
        [
            "openai",
            "anthropic",
            "gemini",
            "deepseek",
            "xai",
            "openrouter",
            "perplexity",
            "cohere",
            "aws_bedrock",
            "x",
        ]
    ),
    operation=st.sampled_from(list(Operation)),
    body=_json,
    usage=_json,
)
def test_meter_body_never_raises(provider: str, operation: Operation, body: object, usage: object) -> None:
    for candidate in (body, {"usage": usage, "usageMetadata": usage, "meta": usage, "model": "m"}):
        result = meter_body(provider, operation, candidate)
        if result.usage is not None:
            u = result.usage
            counts = (u.input_tokens, u.cache_read_tokens, u.cache_write_tokens, u.output_tokens)
            assert all(0 <= n <= MAX_COUNT for n in counts)
            assert u.reasoning_tokens <= u.output_tokens
            assert u.cache_write_1h_tokens <= u.cache_write_tokens
