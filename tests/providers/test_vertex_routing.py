"""Vertex AI through tollgate's provider seam: which operation a path is, its model, the path in
Vertex's layout, the native ``/v1/chat`` request, and metering by operation (Gemini or Anthropic shape).
"""

from __future__ import annotations

from typing import Any

import pytest
from genai_prices import calc_price, extract_usage

from tests.providers import shapes
from tests.providers.shapes import sse
from tollgate.core.errors import BadRequest
from tollgate.core.money import usd_to_nanos
from tollgate.pricing.prices import PriceBook
from tollgate.providers.base import Operation
from tollgate.providers.chat_requests import build_native_chat
from tollgate.providers.endpoints import route_path
from tollgate.providers.registry import PROVIDERS, detect_operation, model_in_path, streams_by_path
from tollgate.providers.sse import SseDecoder
from tollgate.providers.streams import open_stream_meter
from tollgate.providers.usage import meter_body
from tollgate.providers.vertex_urls import publisher_path, resource_path, secure_url, vertex_config

VERTEX = PROVIDERS["google_vertex"]
CONFIG = {"projectId": "my-proj", "location": "us-east5", "defaultModel": "gemini-2.5-flash"}
SCOPE = "projects/my-proj/locations/us-east5"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
GOOGLE = f"v1/{SCOPE}/publishers/google/models"
ANTHROPIC = f"v1/{SCOPE}/publishers/anthropic/models"


@pytest.mark.parametrize(
    ("path", "operation", "model", "stream"),
    [
        (f"{GOOGLE}/gemini-2.5-flash:generateContent", "generate", "gemini-2.5-flash", False),
        (f"{GOOGLE}/gemini-2.5-pro:streamGenerateContent", "generate", "gemini-2.5-pro", True),
        ("v1beta1/publishers/google/models/g-1:generateContent", "generate", "g-1", False),
        (f"{ANTHROPIC}/claude-sonnet-4@20250514:rawPredict", "messages", "claude-sonnet-4@20250514", False),
        (
            f"{ANTHROPIC}/claude-haiku-4-5@20251001:streamRawPredict",
            "messages",
            "claude-haiku-4-5@20251001",
            True,
        ),
        (f"{ANTHROPIC}/count-tokens:rawPredict", "other", None, False),
        (f"{GOOGLE}/gemini-2.5-flash:countTokens", "other", "gemini-2.5-flash", False),
        # Other publishers' rawPredict bodies are not Anthropic's: passed through, not metered.
        (f"v1/{SCOPE}/publishers/mistralai/models/mistral-large:rawPredict", "other", "mistral-large", False),
    ],
)
def test_operation_model_and_stream_come_from_the_path(
    path: str, operation: str, model: str | None, stream: bool
) -> None:
    assert detect_operation(VERTEX, "POST", path) == Operation(operation)
    assert model_in_path(path) == model
    assert streams_by_path(path) is stream
    assert detect_operation(VERTEX, "GET", path) is Operation.OTHER


OTHER_SCOPE = "v1beta1/projects/other/locations/eu/publishers/google/models"


@pytest.mark.parametrize(
    ("path", "routed"),
    [
        # Door-built: below the credential's project and location, on v1.
        ("publishers/google/models/m:generateContent", f"{GOOGLE}/m:generateContent"),
        # A pass-through client's whole path: as it is, its version and project kept.
        (f"{OTHER_SCOPE}/m:generateContent", f"{OTHER_SCOPE}/m:generateContent"),
        # google-genai's express mode names no project: the credential's goes in after the version.
        (
            "v1beta1/publishers/google/models/m:streamGenerateContent",
            f"v1beta1/{SCOPE}/publishers/google/models/m:streamGenerateContent",
        ),
        # The model garden's lists need no project.
        ("v1beta1/publishers/google/models", "v1beta1/publishers/google/models"),
    ],
)
def test_paths_in_vertex_layout(path: str, routed: str) -> None:
    assert resource_path(vertex_config(CONFIG), path) == routed
    assert route_path(VERTEX, CONFIG, path, "alt=sse", "m") == (routed, "alt=sse")


def test_chat_builds_a_gemini_body_for_gemini_models() -> None:
    plain = build_native_chat(VERTEX, "gemini-2.5-flash", MESSAGES, {"max_tokens": 9}, stream=False)
    assert (plain.path, plain.query, plain.operation) == (
        "publishers/google/models/gemini-2.5-flash:generateContent",
        "",
        Operation.GENERATE,
    )
    assert plain.body == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 9},
    }
    streamed = build_native_chat(VERTEX, "gemini-2.5-flash", MESSAGES, {}, stream=True)
    assert (streamed.path, streamed.query) == (
        "publishers/google/models/gemini-2.5-flash:streamGenerateContent",
        "alt=sse",
    )


def test_chat_builds_the_vertex_anthropic_body_for_claude_models() -> None:
    plain = build_native_chat(VERTEX, "claude-sonnet-4@20250514", MESSAGES, {}, stream=False)
    assert plain.path == "publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
    assert plain.operation is Operation.MESSAGES
    assert plain.body == {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4096,
        "system": "Be brief.",
        "anthropic_version": "vertex-2023-10-16",
    }
    streamed = build_native_chat(VERTEX, "claude-sonnet-4@20250514", MESSAGES, {}, stream=True)
    assert streamed.path.endswith(":streamRawPredict") and streamed.body["stream"] is True


@pytest.mark.parametrize("model", ["../m", "m/x", "m:rawPredict", "m?alt=json"])
def test_chat_refuses_model_names_that_would_change_the_path(model: str) -> None:
    with pytest.raises(BadRequest) as caught:
        build_native_chat(VERTEX, model, MESSAGES, {}, stream=False)
    assert caught.value.code == "invalid_model"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("https://oauth2.googleapis.com/token", True),
        ("http://127.0.0.1:8080/token", True),
        ("http://[::1]:8080/token", True),
        ("http://localhost/token", True),
        ("http://oauth2.example.com/token", False),
        ("https://oauth2.example.com/token#x", False),
        ("https://oauth2.example.com:99999/token", False),
        ("https:///token", False),
        ("https://h.example.com/to ken", False),
        (5, False),
    ],
)
def test_token_uri_rule(value: Any, ok: bool) -> None:
    if ok:
        assert secure_url(value, "tokenUri") == value
        return
    with pytest.raises(BadRequest) as caught:
        secure_url(value, "tokenUri")
    assert caught.value.code == "invalid_config" and caught.value.details["field"] == "tokenUri"


def test_publisher_path_checks_the_model() -> None:
    assert publisher_path("google", "gemini-2.5-flash", "countTokens") == (
        "publishers/google/models/gemini-2.5-flash:countTokens"
    )
    with pytest.raises(BadRequest):
        publisher_path("google", "a/b", "countTokens")


# -- metering and pricing -------------------------------------------------------------------------


def test_a_gemini_body_from_vertex_is_metered_as_gemini() -> None:
    result = meter_body("google_vertex", Operation.GENERATE, shapes.GEMINI_THINKING)
    assert result.usage == meter_body("gemini", Operation.GENERATE, shapes.GEMINI_THINKING).usage
    assert result.usage is not None and result.usage.reasoning_tokens > 0


def test_a_claude_body_from_vertex_is_metered_as_anthropic() -> None:
    result = meter_body("google_vertex", Operation.MESSAGES, shapes.ANTHROPIC_PLAIN)
    assert result.usage == meter_body("anthropic", Operation.MESSAGES, shapes.ANTHROPIC_PLAIN).usage
    assert result.upstream_model == shapes.ANTHROPIC_PLAIN["model"]


def _stream(operation: Operation, data: bytes) -> Any:
    decoder, meter = SseDecoder(), open_stream_meter("google_vertex", operation, drop_usage_chunk=False)
    for event in [*decoder.feed(data), *decoder.flush()]:
        assert meter.observe(event)
    return meter


START_USAGE = {"input_tokens": 9, "cache_read_input_tokens": 4, "output_tokens": 1}


def test_vertex_streams_are_metered_by_operation() -> None:
    gemini = _stream(
        Operation.GENERATE,
        sse(
            {
                "candidates": [{"content": {"parts": [{"text": "a"}]}}],
                "usageMetadata": {"promptTokenCount": 7},
            },
            {
                "candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 3, "thoughtsTokenCount": 2},
            },
            crlf=True,
        ),
    )
    assert gemini.complete and gemini.result().usage.output_tokens == 5
    claude = _stream(
        Operation.MESSAGES,
        sse(
            ("message_start", {"type": "message_start", "message": {"model": "m", "usage": START_USAGE}}),
            ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 6}}),
            ("message_stop", {"type": "message_stop"}),
        ),
    )
    usage = claude.result().usage
    assert claude.complete and (usage.input_tokens, usage.cache_read_tokens, usage.output_tokens) == (9, 4, 6)


@pytest.mark.parametrize(
    ("model", "anthropic_id"),
    [
        ("claude-sonnet-4@20250514", "claude-sonnet-4-20250514"),
        ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5-20250929"),
        ("claude-haiku-4-5@20251001", "claude-haiku-4-5-20251001"),
        ("claude-opus-4-1@20250805", "claude-opus-4-1-20250805"),
        ("claude-3-5-haiku@20241022", "claude-3-5-haiku-20241022"),
    ],
)
def test_claude_on_vertex_costs_what_genai_prices_says(model: str, anthropic_id: str) -> None:
    usage = meter_body("google_vertex", Operation.MESSAGES, {**shapes.ANTHROPIC_PLAIN, "model": model}).usage
    assert usage is not None
    cost = PriceBook().cost("google_vertex", model, usage)
    body = {**shapes.ANTHROPIC_PLAIN, "model": model}
    want = calc_price(extract_usage(body, provider_id="anthropic").usage, model, provider_id="google")
    assert cost.nanos == usd_to_nanos(want.total_price) > 0
    assert cost.source is not None and cost.source.startswith("genai-prices")
    # Vertex names Claude versions with "@": the same model, at the same price, as on Anthropic's API.
    direct = calc_price(
        extract_usage(body, provider_id="anthropic").usage, anthropic_id, provider_id="anthropic"
    )
    assert want.total_price == direct.total_price


def test_gemini_on_vertex_costs_what_genai_prices_says() -> None:
    usage = meter_body("google_vertex", Operation.GENERATE, shapes.GEMINI_THINKING).usage
    assert usage is not None
    model = shapes.GEMINI_THINKING["modelVersion"]
    cost = PriceBook().cost("google_vertex", model, usage)
    want = extract_usage(shapes.GEMINI_THINKING, provider_id="google").calc_price()
    assert cost.nanos == usd_to_nanos(want.total_price) > 0
