from __future__ import annotations

import json
from typing import Any

import pytest

from tests.providers.translate.fixtures import ANTHROPIC_RESPONSE, ANTHROPIC_STREAM, OPENAI_REQUEST
from tests.providers.translate.sdk import accumulate, stream_through_sdk
from tollgate.core.errors import BadRequest
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.translate import anthropic
from tollgate.providers.translate.hub import (
    Finish,
    FinishReason,
    HubStreamEvent,
    StreamError,
    ToolCallDelta,
    UsageUpdate,
)
from tollgate.providers.translate.openai_chat import ChunkEncoder, request_to_hub


def _hub(**changes: Any):  # type: ignore[no-untyped-def]
    return request_to_hub({**OPENAI_REQUEST, **changes}, "claude-sonnet-4-5")


def test_request_body_system_top_level_merged_turns_images_tools() -> None:
    body = anthropic.request_body(_hub())
    assert body["model"] == "claude-sonnet-4-5"
    assert body["system"] == "You are terse.\n\nAnswer in French."
    assert body["max_tokens"] == 300
    assert body["stop_sequences"] == ["END"]
    assert (body["temperature"], body["top_p"]) == (0.2, 0.9)
    assert body["stream"] is True
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    first = body["messages"][0]["content"]
    assert first[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                    "data": "iVBORw0KGgo="}}  # fmt: skip
    assert first[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    assert body["messages"][1]["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
    ]
    # the tool result and the next user text share one user turn, tool result first
    assert body["messages"][2]["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": "call_1",
            "content": [{"type": "text", "text": '{"temp_c": 18}'}],
        },
        {"type": "text", "text": "Thanks!"},
    ]
    assert body["tools"][0]["input_schema"]["properties"] == {"city": {"type": "string"}}
    assert body["tools"][0]["description"] == "Current weather"
    assert body["tool_choice"] == {"type": "auto"}


def test_defaults_and_tool_choice_mapping() -> None:
    hub = request_to_hub(
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tool_choice": "required",
            "parallel_tool_calls": False,
        },
        "m",
    )
    body = anthropic.request_body(hub)
    assert body["max_tokens"] == anthropic.DEFAULT_MAX_TOKENS
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert "system" not in body and "stream" not in body


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"response_format": {"type": "json_object"}}, "response_format json_object"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}},
            "response_format json_schema",
        ),
        ({"seed": 4}, "seed"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_refusals_name_feature_and_target(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(BadRequest) as info:
        anthropic.request_body(_hub(**changes))
    assert info.value.code == "unsupported_feature"
    assert needle in info.value.message and "anthropic" in info.value.message


def test_sampling_refused_for_api_versions_that_removed_it() -> None:
    with pytest.raises(BadRequest, match="temperature"):
        anthropic.request_body(_hub(), sampling=False)


def test_invalid_tool_arguments_are_a_400() -> None:
    messages = [{"role": "assistant", "tool_calls": [{"id": "c", "type": "function",
                 "function": {"name": "f", "arguments": "{oops"}}]}]  # fmt: skip
    with pytest.raises(BadRequest, match="not valid JSON"):
        anthropic.request_body(request_to_hub({"messages": messages}, "m"))


def test_response_to_hub_ignores_thinking_and_keeps_usage() -> None:
    resp = anthropic.response_to_hub(ANTHROPIC_RESPONSE)
    assert resp.text == "Let me check."
    assert json.loads(resp.tool_calls[0].arguments) == {"city": "Paris"}
    assert resp.finish_reason is FinishReason.TOOL_CALLS
    assert resp.usage == NormalizedUsage(
        input_tokens=100, cache_read_tokens=300, cache_write_tokens=20, output_tokens=50, reasoning_tokens=12
    )


@pytest.mark.parametrize(
    ("native", "hub"),
    [
        ("end_turn", FinishReason.STOP),
        ("stop_sequence", FinishReason.STOP),
        ("max_tokens", FinishReason.LENGTH),
        ("tool_use", FinishReason.TOOL_CALLS),
        ("refusal", FinishReason.CONTENT_FILTER),
        ("model_context_window_exceeded", FinishReason.LENGTH),
    ],
)
def test_finish_reasons(native: str, hub: FinishReason) -> None:
    assert anthropic.finish_reason(native) is hub


def _translate(stream: list[tuple[str, dict[str, Any]]]) -> list[HubStreamEvent]:
    reader = anthropic.StreamReader()
    return [e for name, data in stream for e in reader.feed(name, data)]


def test_stream_reassembles_tool_arguments_and_accumulates_usage() -> None:
    events = _translate(ANTHROPIC_STREAM)
    args: dict[int, str] = {}
    for e in events:
        if isinstance(e, ToolCallDelta):
            args[e.index] = args.get(e.index, "") + e.arguments
    assert {i: json.loads(a) for i, a in args.items()} == {0: {"city": "Paris"}, 1: {"tz": "CET"}}
    assert Finish(FinishReason.TOOL_CALLS, "tool_use") in events
    usage = [e for e in events if isinstance(e, UsageUpdate)][-1].usage
    assert usage == NormalizedUsage(
        input_tokens=100, cache_read_tokens=300, cache_write_tokens=20, output_tokens=80, reasoning_tokens=9
    )


def test_stream_to_openai_chunks_accepted_by_the_sdk() -> None:
    enc = ChunkEncoder("chatcmpl-a", 1_700_000_000, "anthropic/claude-sonnet-4-5", include_usage=True)
    chunks = [c for e in _translate(ANTHROPIC_STREAM) for c in enc.encode(e)] + enc.close()
    parsed = stream_through_sdk(chunks)
    assert "".join(c.choices[0].delta.content or "" for c in parsed if c.choices) == "Let me check."
    final = parsed[-1]
    assert final.choices == [] and final.usage is not None
    assert final.usage.prompt_tokens == 420
    assert final.usage.completion_tokens == 80
    assert final.usage.prompt_tokens_details is not None
    assert final.usage.prompt_tokens_details.cached_tokens == 300
    assert final.usage.completion_tokens_details is not None
    assert final.usage.completion_tokens_details.reasoning_tokens == 9

    completion = accumulate(chunks)
    message = completion.choices[0].message
    assert completion.choices[0].finish_reason == "tool_calls"
    assert message.tool_calls is not None
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]  # type: ignore[union-attr]
    assert calls == [("toolu_02", "get_weather", {"city": "Paris"}), ("toolu_03", "get_time", {"tz": "CET"})]


def test_stream_error_event() -> None:
    reader = anthropic.StreamReader()
    events = reader.feed(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert events == [StreamError("Overloaded", "overloaded_error")]
