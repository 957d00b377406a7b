"""Cohere v2: which calls are metered, how usage and errors are read, what ``/v1/chat`` sends,
and the error shapes a Cohere client gets from the gateway."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import genai_prices
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.providers.shapes import sse
from tollgate.core import jsonx
from tollgate.core.errors import UpstreamError
from tollgate.core.money import usd_to_nanos
from tollgate.gateway.relay import stream_error_event
from tollgate.pricing.prices import PriceBook
from tollgate.pricing.usage import NormalizedUsage as U
from tollgate.providers.base import MeterResult, Operation
from tollgate.providers.chat_requests import build_native_chat
from tollgate.providers.registry import PROVIDERS, detect_operation
from tollgate.providers.sse import SseDecoder
from tollgate.providers.streams import open_stream_meter
from tollgate.providers.usage import meter_body
from tollgate.routes.errors import family_error

COHERE = PROVIDERS["cohere"]
AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DELTA = (
    "content-delta",
    {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "a"}}}},
)


def meter_stream(data: bytes) -> tuple[MeterResult, bool]:
    meter = open_stream_meter("cohere", Operation.CHAT, drop_usage_chunk=False)
    decoder = SseDecoder()
    for event in [*decoder.feed(data), *decoder.flush()]:
        assert meter.observe(event) is True  # nothing of a Cohere stream is held back
    return meter.result(), meter.complete


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "v2/chat", Operation.CHAT),
        ("POST", "v2/chat/", Operation.CHAT),
        ("POST", "v2/embed", Operation.EMBEDDINGS),
        ("POST", "v1/chat", Operation.OTHER),  # v1 reports usage elsewhere: not metered as chat
        ("POST", "v2/rerank", Operation.OTHER),
        ("GET", "v1/models", Operation.OTHER),
    ],
)
def test_detect_operation(method: str, path: str, operation: Operation) -> None:
    assert detect_operation(COHERE, method, path) is operation


def test_billed_units_are_priced_and_cached_tokens_are_the_cache_read_part() -> None:
    body = {
        "id": "c1",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi"}]},
        "usage": {
            "billed_units": {"input_tokens": 500, "output_tokens": 40},
            "tokens": {"input_tokens": 580, "output_tokens": 42},
            "cached_tokens": 120,
        },
    }
    result = meter_body("cohere", Operation.CHAT, body)
    assert result.usage == U(input_tokens=380, cache_read_tokens=120, output_tokens=40)
    assert result.error is None and result.finish_reason == "COMPLETE"
    # A cache count above the billed input cannot make the input negative.
    body["usage"]["cached_tokens"] = 9000
    assert meter_body("cohere", Operation.CHAT, body).usage == U(cache_read_tokens=500, output_tokens=40)


def test_embed_usage_comes_from_meta_billed_units() -> None:
    body = {"id": "e1", "embeddings": {"float": [[0.1]]}, "meta": {"billed_units": {"input_tokens": 17}}}
    assert meter_body("cohere", Operation.EMBEDDINGS, body).usage == U(input_tokens=17)


def test_an_error_body_is_read_as_an_error() -> None:
    body = {"id": "0b1e", "message": "invalid api token"}
    result = meter_body("cohere", Operation.CHAT, body)
    assert result.usage is None and result.error == body


@settings(max_examples=60, deadline=None)
@given(
    billed_in=st.integers(0, 2_000_000),
    billed_out=st.integers(0, 200_000),
    cached=st.integers(0, 2_000_000),
    raw_extra=st.integers(0, 5_000),
    floats=st.booleans(),
)
def test_cost_equals_genai_prices_default_cohere_extractor(
    billed_in: int, billed_out: int, cached: int, raw_extra: int, floats: bool
) -> None:
    number: Any = float if floats else int  # the SDK types these as floats
    body = {
        "model": "command-a-03-2025",
        "usage": {
            "billed_units": {"input_tokens": number(billed_in), "output_tokens": number(billed_out)},
            "tokens": {"input_tokens": billed_in + raw_extra, "output_tokens": billed_out + raw_extra},
            "cached_tokens": number(cached),
        },
    }
    usage = meter_body("cohere", Operation.CHAT, body).usage
    assert usage is not None
    cost = PriceBook().cost("cohere", "command-a-03-2025", usage, at=AT)
    extracted = genai_prices.extract_usage(body, provider_id="cohere")
    assert cost.nanos == usd_to_nanos(extracted.calc_price(genai_request_timestamp=AT).total_price)


def test_stream_is_complete_at_message_end_with_its_usage() -> None:
    usage = {"billed_units": {"input_tokens": 9, "output_tokens": 3}, "cached_tokens": 4}
    data = sse(
        ("message-start", {"type": "message-start", "id": "c1", "delta": {"message": {"role": "assistant"}}}),
        DELTA,
        ("message-end", {"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS", "usage": usage}}),
    )
    result, complete = meter_stream(data)
    assert complete and result.error is None and result.finish_reason == "MAX_TOKENS"
    assert result.usage == U(input_tokens=5, cache_read_tokens=4, output_tokens=3)


@pytest.mark.parametrize(
    ("end", "message"),
    [
        ({"finish_reason": "ERROR", "error": "model crashed"}, "model crashed"),
        ({"finish_reason": "TIMEOUT"}, "generation failed"),
    ],
)
def test_a_failed_generation_is_the_streams_error(end: dict[str, Any], message: str) -> None:
    data = sse(
        DELTA,
        ("message-end", {"type": "message-end", "delta": end}),
    )
    result, complete = meter_stream(data)
    assert complete and result.usage is None
    assert result.error is not None and result.error["message"] == message


def test_an_error_object_in_place_of_an_event_is_the_streams_error() -> None:
    data = sse(
        DELTA,
        {"id": "f00", "message": "internal server error"},
    )
    result, complete = meter_stream(data)
    assert not complete and result.error == {"id": "f00", "message": "internal server error"}


def test_the_gateways_own_stream_error_is_what_cohere_sends_and_meters_as_one() -> None:
    event = stream_error_event("cohere", UpstreamError("upstream went away", code="upstream_stream_broken"))
    assert event.startswith(b"event: message-end\ndata: ")
    payload = jsonx.loads(event.split(b"data: ", 1)[1])
    assert payload == {
        "type": "message-end",
        "delta": {"finish_reason": "ERROR", "error": "upstream went away"},
    }
    result, complete = meter_stream(event)
    assert complete and result.error is not None and result.error["message"] == "upstream went away"


def test_pass_through_errors_take_coheres_shape() -> None:
    response = family_error("cohere")(UpstreamError("the provider timed out", code="upstream_timeout"))
    assert response.status_code == 502
    assert jsonx.loads(bytes(response.body)) == {
        "message": "the provider timed out",
        "code": "upstream_timeout",
    }


def test_v1_chat_builds_a_v2_chat_body() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "developer", "content": "Be terse"},
        {"role": "user", "name": "ana", "content": [{"type": "text", "text": "Weather?"}]},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "t1", "type": "function", "function": {"name": "wx", "arguments": '{"city":"Oslo"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
    ]
    options = {"top_p": 0.9, "top_k": 40, "stop": ["END"], "max_completion_tokens": 50, "seed": 7}
    native = build_native_chat(COHERE, "command-a-03-2025", messages, options, stream=True)
    assert (native.path, native.query, native.operation) == ("v2/chat", "", Operation.CHAT)
    assert native.body == {
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "Be terse"},
            {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
            {"role": "assistant", "tool_calls": messages[2]["tool_calls"]},
            {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
        ],
        "p": 0.9,
        "k": 40,
        "stop_sequences": ["END"],
        "max_tokens": 50,
        "seed": 7,
        "stream": True,
    }
    plain = build_native_chat(COHERE, "command-r-08-2024", messages[1:2], {}, stream=False)
    assert plain.body["stream"] is False
