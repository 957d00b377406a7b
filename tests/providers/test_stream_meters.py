"""Stream meters fed real SSE bytes through SseDecoder, split in odd places."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.providers.shapes import sse
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.base import MeterResult, Operation
from tollgate.providers.sse import SseDecoder
from tollgate.providers.streams import NullMeter, open_stream_meter

U = NormalizedUsage


def relay(
    provider: str, operation: Operation, pieces: Iterable[bytes], *, drop: bool = False
) -> tuple[MeterResult, bytes, bool]:
    """What the gateway does: decode, let the meter see each event, forward what it keeps."""
    decoder, meter = SseDecoder(), open_stream_meter(provider, operation, drop_usage_chunk=drop)
    forwarded = bytearray()
    for piece in [*pieces, None]:
        for event in decoder.feed(piece) if piece is not None else decoder.flush():
            if meter.observe(event):
                forwarded += event.raw
    return meter.result(), bytes(forwarded), meter.complete


def splits(data: bytes) -> list[list[bytes]]:
    """Whole, byte by byte, odd-sized reads, and a cut inside every CRLF pair."""
    out = [
        [data],
        [data[i : i + 1] for i in range(len(data))],
        [data[i : i + 7] for i in range(0, len(data), 7)],
    ]
    crlf_cuts = [i + 1 for i in range(len(data) - 1) if data[i : i + 2] == b"\r\n"]
    if crlf_cuts:
        points = [0, *crlf_cuts, len(data)]
        out.append([data[a:b] for a, b in itertools.pairwise(points)])
    return out


def check_all_splits(provider: str, operation: Operation, data: bytes, *, drop: bool = False) -> MeterResult:
    results = [relay(provider, operation, pieces, drop=drop) for pieces in splits(data)]
    assert all(r == results[0] for r in results)
    return results[0][0]


# -- OpenAI chat family ---------------------------------------------------------------------------


def chunk(
    model: str = "gpt-4o-mini-2024-07-18",
    content: str | None = "Hi",
    finish: str | None = None,
    usage: Any = None,
    **extra: Any,
) -> dict[str, Any]:
    delta = {} if content is None else {"content": content, "obfuscation": "pad"}
    return {
        "id": "chatcmpl-AB",
        "object": "chat.completion.chunk",
        "created": 1763800000,
        "model": model,
        "system_fingerprint": "fp_1",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": usage,
        **extra,
    }


OPENAI_USAGE = {
    "prompt_tokens": 2006,
    "completion_tokens": 300,
    "total_tokens": 2306,
    "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
USAGE_ONLY = {**chunk(), "choices": [], "usage": OPENAI_USAGE}
OPENAI_STREAM = sse(
    chunk(content=""),
    chunk(content="Hel"),
    chunk(content="lo"),
    chunk(content=None, finish="stop"),
    USAGE_ONLY,
    "[DONE]",
)


def test_openai_stream_with_include_usage() -> None:
    result = check_all_splits("openai", Operation.CHAT, OPENAI_STREAM)
    assert result == MeterResult(
        usage=U(input_tokens=86, cache_read_tokens=1920, output_tokens=300),
        upstream_model="gpt-4o-mini-2024-07-18",
        finish_reason="stop",
    )


def test_usage_only_chunk_is_dropped_only_when_the_gateway_asked_for_it() -> None:
    usage_block = sse(USAGE_ONLY)
    result, forwarded, complete = relay("openai", Operation.CHAT, [OPENAI_STREAM], drop=True)
    assert forwarded == OPENAI_STREAM.replace(usage_block, b"")
    assert result.usage is not None and complete
    _, forwarded, _ = relay("openai", Operation.CHAT, [OPENAI_STREAM], drop=False)
    assert forwarded == OPENAI_STREAM


def test_stream_without_usage() -> None:
    data = sse(chunk(content="Hi"), chunk(content=None, finish="stop"), "[DONE]")
    result, forwarded, complete = relay("openai", Operation.CHAT, [data], drop=True)
    assert result.usage is None and result.finish_reason == "stop" and complete
    assert forwarded == data


def test_truncated_stream_is_not_complete() -> None:
    data = sse(chunk(content="Hi"), chunk(content="there"))
    result, _, complete = relay("openai", Operation.CHAT, [data[:-5]])
    assert not complete and result.usage is None


def test_xai_usage_on_a_non_final_chunk_with_reasoning_outside_completion() -> None:
    usage = {
        "prompt_tokens": 700,
        "completion_tokens": 100,
        "total_tokens": 1100,
        "prompt_tokens_details": {"text_tokens": 700, "cached_tokens": 600},
        "completion_tokens_details": {"reasoning_tokens": 300},
        "cost_in_usd_ticks": 55_550_000,
    }
    data = sse(
        chunk("grok-4-0709", "Hi"),
        chunk("grok-4-0709", None, finish="stop", usage=usage),
        {**chunk("grok-4-0709", None), "choices": []},  # the final, empty chunk: usage null
        "[DONE]",
    )
    result = check_all_splits("xai", Operation.CHAT, data, drop=True)
    assert result.usage == U(input_tokens=100, cache_read_tokens=600, output_tokens=400, reasoning_tokens=300)
    assert result.reported_cost_usd == Decimal("0.005555")
    # the usage chunk also carries a choice: never dropped
    assert relay("xai", Operation.CHAT, [data], drop=True)[1] == data


def test_together_usage_on_the_finish_chunk() -> None:
    usage = {"prompt_tokens": 500, "completion_tokens": 60, "total_tokens": 560}
    model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    data = sse(chunk(model, "Hi"), chunk(model, None, finish="eos", usage=usage), "[DONE]")
    result = check_all_splits("together", Operation.CHAT, data, drop=True)
    assert result.usage == U(input_tokens=500, output_tokens=60)
    assert result.finish_reason == "eos"


def test_deepseek_keep_alive_comments_and_hit_tokens() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 200,
        "total_tokens": 1200,
        "prompt_cache_hit_tokens": 640,
        "prompt_cache_miss_tokens": 360,
        "completion_tokens_details": {"reasoning_tokens": 150},
    }
    data = sse(
        ": keep-alive",
        ": keep-alive",
        chunk("deepseek-reasoner", None, reasoning_content="thinking"),
        chunk("deepseek-reasoner", "Hi"),
        chunk("deepseek-reasoner", None, finish="stop"),
        {**chunk("deepseek-reasoner", None), "choices": [], "usage": usage},
        "[DONE]",
    )
    result = check_all_splits("deepseek", Operation.CHAT, data)
    assert result.usage == U(input_tokens=360, cache_read_tokens=640, output_tokens=200, reasoning_tokens=150)
    assert relay("deepseek", Operation.CHAT, [data])[1] == data  # comments are forwarded untouched


def test_openrouter_comments_cost_and_mid_stream_error() -> None:
    model = "anthropic/claude-3.5-sonnet"
    usage = {"prompt_tokens": 1200, "completion_tokens": 80, "total_tokens": 1280, "cost": 0.00468}
    data = sse(
        ": OPENROUTER PROCESSING",
        chunk(model, "Hi"),
        chunk(model, None, finish="stop"),
        {**chunk(model, None), "choices": [], "usage": usage},
        "[DONE]",
    )
    result = check_all_splits("openrouter", Operation.CHAT, data)
    assert result.reported_cost_usd == Decimal("0.00468")
    assert result.usage == U(input_tokens=1200, output_tokens=80)

    error = {"code": "server_error", "message": "Provider disconnected"}
    failing = sse(chunk(model, "Hi"), {**chunk(model, "", finish="error"), "error": error})
    result, forwarded, complete = relay("openrouter", Operation.CHAT, [failing], drop=True)
    assert result.error == error and result.finish_reason == "error" and not complete
    assert forwarded == failing


def test_azure_filter_only_chunks_and_crlf() -> None:
    filters = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}],
    }
    data = sse(
        filters,
        chunk("gpt-4o-2024-08-06", "Hi", content_filter_results={}),
        chunk("gpt-4o-2024-08-06", None, finish="content_filter"),
        {**chunk("gpt-4o-2024-08-06", None), "choices": [], "usage": OPENAI_USAGE},
        "[DONE]",
        crlf=True,
    )
    result = check_all_splits("azure_openai", Operation.CHAT, data, drop=True)
    assert result.upstream_model == "gpt-4o-2024-08-06"
    assert result.finish_reason == "content_filter"
    assert result.usage == U(input_tokens=86, cache_read_tokens=1920, output_tokens=300)
    # the filter-only chunk has no usage: it is forwarded
    assert relay("azure_openai", Operation.CHAT, [data], drop=True)[1].startswith(sse(filters, crlf=True))


def test_spaced_json_takes_the_slow_path_to_the_same_answer() -> None:
    compact = sse(chunk(content="Hi"), chunk(content=None, finish="stop"), USAGE_ONLY, "[DONE]")
    spaced = sse(chunk(content="Hi"), chunk(content=None, finish="stop"), USAGE_ONLY, "[DONE]", spaced=True)
    assert relay("mistral", Operation.CHAT, [compact])[0] == relay("mistral", Operation.CHAT, [spaced])[0]


def test_last_usage_wins_never_summed() -> None:
    first = {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}
    last = {"prompt_tokens": 10, "completion_tokens": 9, "total_tokens": 19}
    data = sse(
        chunk(usage=first), chunk(content=None, finish="stop", usage=last), chunk(content=None), "[DONE]"
    )
    assert relay("together", Operation.CHAT, [data])[0].usage == U(input_tokens=10, output_tokens=9)


# -- OpenAI Responses -----------------------------------------------------------------------------

RESPONSE_USAGE = {
    "input_tokens": 1200,
    "input_tokens_details": {"cached_tokens": 1024},
    "output_tokens": 900,
    "output_tokens_details": {"reasoning_tokens": 640},
    "total_tokens": 2100,
}


def responses_stream(terminal: str, response_extra: dict[str, Any]) -> bytes:
    base = {"id": "resp_1", "object": "response", "model": "gpt-5-2025-08-07", "output": []}
    return sse(
        (
            "response.created",
            {
                "type": "response.created",
                "sequence_number": 0,
                "response": {**base, "status": "in_progress", "usage": None, "error": None},
            },
        ),
        (
            "response.in_progress",
            {
                "type": "response.in_progress",
                "sequence_number": 1,
                "response": {**base, "status": "in_progress"},
            },
        ),
        (
            "response.output_text.delta",
            {
                "type": "response.output_text.delta",
                "sequence_number": 2,
                "item_id": "m",
                "output_index": 0,
                "content_index": 0,
                "delta": "Hi",
                "obfuscation": "x",
            },
        ),
        (terminal, {"type": terminal, "sequence_number": 3, "response": {**base, **response_extra}}),
    )


def test_responses_completed() -> None:
    data = responses_stream(
        "response.completed", {"status": "completed", "usage": RESPONSE_USAGE, "error": None}
    )
    result = check_all_splits("openai", Operation.RESPONSES, data)
    assert result == MeterResult(
        usage=U(input_tokens=176, cache_read_tokens=1024, output_tokens=900, reasoning_tokens=640),
        upstream_model="gpt-5-2025-08-07",
        finish_reason="completed",
    )


def test_responses_incomplete_and_failed_are_terminal() -> None:
    incomplete = responses_stream(
        "response.incomplete",
        {
            "status": "incomplete",
            "incomplete_details": {"reason": "max_output_tokens"},
            "usage": RESPONSE_USAGE,
        },
    )
    result, _, complete = relay("openai", Operation.RESPONSES, [incomplete])
    assert complete and result.finish_reason == "max_output_tokens" and result.usage is not None

    failed = responses_stream(
        "response.failed",
        {"status": "failed", "error": {"code": "server_error", "message": "x"}, "usage": None},
    )
    result, _, complete = relay("openai", Operation.RESPONSES, [failed])
    assert complete and result.error == {"code": "server_error", "message": "x"} and result.usage is None


def test_responses_error_event() -> None:
    error = {
        "type": "error",
        "code": "rate_limit_exceeded",
        "message": "slow down",
        "param": None,
        "sequence_number": 2,
    }
    data = sse(("error", error))
    result, _, complete = relay("openai", Operation.RESPONSES, [data])
    assert result.error == error and not complete


def test_responses_without_event_lines_still_meter() -> None:
    data = responses_stream("response.completed", {"status": "completed", "usage": RESPONSE_USAGE})
    stripped = b"\n".join(line for line in data.split(b"\n") if not line.startswith(b"event:"))
    assert (
        relay("openai", Operation.RESPONSES, [stripped])[0] == relay("openai", Operation.RESPONSES, [data])[0]
    )


# -- Anthropic ------------------------------------------------------------------------------------


def anthropic_stream(delta_usage: dict[str, Any], *, crlf: bool = False) -> bytes:
    start_usage = {
        "input_tokens": 100,
        "cache_creation_input_tokens": 3000,
        "cache_read_input_tokens": 5000,
        "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
        "output_tokens": 1,
        "service_tier": "standard",
    }
    message: dict[str, Any] = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [],
        "model": "claude-sonnet-4-5-20250929",
        "stop_reason": None,
        "usage": start_usage,
    }
    return sse(
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "hmm"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": delta_usage,
            },
        ),
        ("message_stop", {"type": "message_stop"}),
        crlf=crlf,
    )


@pytest.mark.parametrize("crlf", [False, True])
def test_anthropic_stream_accumulates_like_the_sdk(crlf: bool) -> None:
    data = anthropic_stream(
        {
            "input_tokens": None,  # null: keep message_start's value
            "cache_read_input_tokens": None,
            "output_tokens": 700,  # cumulative: replaces the provisional 1
            "output_tokens_details": {"thinking_tokens": 200},
            "server_tool_use": {"web_search_requests": 2},
        },
        crlf=crlf,
    )
    result = check_all_splits("anthropic", Operation.MESSAGES, data)
    assert result == MeterResult(
        usage=U(
            input_tokens=100,
            cache_read_tokens=5000,
            cache_write_tokens=3000,
            cache_write_1h_tokens=2000,
            output_tokens=700,
            reasoning_tokens=200,
            extras={"web_searches": 2},
        ),
        upstream_model="claude-sonnet-4-5-20250929",
        finish_reason="end_turn",
    )


def test_anthropic_delta_may_restate_input() -> None:
    result = relay(
        "anthropic", Operation.MESSAGES, [anthropic_stream({"input_tokens": 120, "output_tokens": 9})]
    )[0]
    assert result.usage is not None and (result.usage.input_tokens, result.usage.output_tokens) == (120, 9)


def test_anthropic_error_event_after_200() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    data = anthropic_stream({"output_tokens": 5}).split(b"event: message_delta")[0] + sse(("error", error))
    result, _, complete = relay("anthropic", Operation.MESSAGES, [data])
    assert result.error == error["error"] and not complete
    assert result.usage is not None and result.usage.output_tokens == 1  # what message_start said


# -- Gemini ---------------------------------------------------------------------------------------


def gemini_chunk(text: str, usage: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {
        "candidates": [candidate],
        "usageMetadata": usage,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r",
    }


GEMINI_FINAL = {
    "promptTokenCount": 5,
    "candidatesTokenCount": 14,
    "totalTokenCount": 40,
    "thoughtsTokenCount": 21,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}],
}


def test_gemini_stream_crlf_spaced_json_last_usage_wins() -> None:
    data = sse(
        gemini_chunk("Hel", {"promptTokenCount": 5, "totalTokenCount": 5}),
        gemini_chunk(
            "lo",
            {
                "promptTokenCount": 5,
                "candidatesTokenCount": 9,
                "totalTokenCount": 30,
                "thoughtsTokenCount": 16,
            },
        ),
        gemini_chunk("!", GEMINI_FINAL, finish="STOP"),
        crlf=True,
        spaced=True,
    )
    result = check_all_splits("gemini", Operation.GENERATE, data)
    assert result == MeterResult(
        usage=U(input_tokens=5, output_tokens=35, reasoning_tokens=21),
        upstream_model="gemini-2.5-flash",
        finish_reason="STOP",
    )
    assert relay("gemini", Operation.GENERATE, [data])[2]


def test_gemini_cut_before_finish_keeps_the_latest_usage_seen() -> None:
    data = sse(
        gemini_chunk("Hel", {"promptTokenCount": 5, "totalTokenCount": 5}),
        gemini_chunk("lo", {"promptTokenCount": 5, "candidatesTokenCount": 9, "totalTokenCount": 14}),
    )
    result, _, complete = relay("gemini", Operation.GENERATE, [data])
    assert not complete and result.usage == U(input_tokens=5, output_tokens=9)


def test_gemini_error_chunk() -> None:
    error = {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}
    data = sse(gemini_chunk("Hi", {"promptTokenCount": 5}), {"error": error})
    result, _, complete = relay("gemini", Operation.GENERATE, [data])
    assert result.error == error and not complete


# -- others ---------------------------------------------------------------------------------------


def test_cohere_message_end() -> None:
    usage = {
        "billed_units": {"input_tokens": 12.0, "output_tokens": 30.0},
        "tokens": {"input_tokens": 80.0, "output_tokens": 31.0},
    }
    data = sse(
        ("message-start", {"type": "message-start", "id": "c1", "delta": {"message": {"role": "assistant"}}}),
        (
            "content-delta",
            {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hi"}}}},
        ),
        ("message-end", {"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": usage}}),
    )
    result = check_all_splits("cohere", Operation.CHAT, data)
    assert result.usage == U(input_tokens=12, output_tokens=30) and result.finish_reason == "COMPLETE"


def test_unmetered_streams_pass_everything_through() -> None:
    meter = open_stream_meter("openai", Operation.OTHER, drop_usage_chunk=True)
    assert isinstance(meter, NullMeter)
    result, forwarded, complete = relay("openai", Operation.OTHER, [OPENAI_STREAM], drop=True)
    assert forwarded == OPENAI_STREAM and result.usage is None and not complete


# -- properties -----------------------------------------------------------------------------------

STREAMS = [
    ("openai", Operation.CHAT, OPENAI_STREAM),
    ("anthropic", Operation.MESSAGES, anthropic_stream({"output_tokens": 7}, crlf=True)),
    (
        "gemini",
        Operation.GENERATE,
        sse(gemini_chunk("a", GEMINI_FINAL, finish="STOP"), crlf=True, spaced=True),
    ),
    (
        "openai",
        Operation.RESPONSES,
        responses_stream("response.completed", {"status": "completed", "usage": RESPONSE_USAGE}),
    ),
]


@settings(max_examples=150)
@given(
    which=st.sampled_from(STREAMS), cuts=st.lists(st.integers(min_value=0), max_size=12), drop=st.booleans()
)
def test_any_split_gives_the_same_meter_result_and_forwarded_bytes(
    which: tuple[str, Operation, bytes], cuts: list[int], drop: bool
) -> None:
    provider, operation, data = which
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    pieces = [data[a:b] for a, b in itertools.pairwise(points)]
    assert relay(provider, operation, pieces, drop=drop) == relay(provider, operation, [data], drop=drop)
