from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.providers.translate.fixtures import OPENAI_REQUEST
from tests.providers.translate.sdk import parse_body, stream_through_sdk
from tollgate.core.errors import BadRequest, UpstreamError
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.translate.hub import (
    Finish,
    FinishReason,
    HubResponse,
    ImagePart,
    Message,
    ResponseFormat,
    RoleStart,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    UsageUpdate,
)
from tollgate.providers.translate.openai_chat import ChunkEncoder, request_to_hub, response_body, usage_body


def _req(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(OPENAI_REQUEST)
    body.update(changes)
    return body


def test_request_reads_system_developer_images_tools_and_tool_results() -> None:
    hub = request_to_hub(OPENAI_REQUEST, "claude-sonnet-4-5")
    assert hub.model == "claude-sonnet-4-5"
    assert hub.system == "You are terse.\n\nAnswer in French."
    assert [m.role for m in hub.messages] == ["user", "assistant", "user", "user"]
    assert hub.messages[0].parts == (
        TextPart("What is in this picture, and the weather in Paris?"),
        ImagePart(data="iVBORw0KGgo=", media_type="image/png"),
        ImagePart(url="https://example.com/cat.jpg"),
    )
    assert hub.messages[1].parts == (ToolCallPart("call_1", "get_weather", '{"city": "Paris"}'),)
    assert hub.messages[2].parts == (ToolResultPart("call_1", (TextPart('{"temp_c": 18}'),), "get_weather"),)
    assert hub.tools[0].name == "get_weather"
    assert hub.tools[0].parameters["required"] == ["city"]
    assert hub.tool_choice == ToolChoice("auto")
    assert hub.sampling.max_tokens == 300
    assert (hub.sampling.temperature, hub.sampling.top_p, hub.sampling.stop) == (0.2, 0.9, ("END",))
    assert hub.stream and hub.include_usage
    assert hub.extras == {}


def test_legacy_max_tokens_string_stop_and_named_tool_choice() -> None:
    body = _req(stop="###", tool_choice={"type": "function", "function": {"name": "get_weather"}})
    del body["max_completion_tokens"]
    body["max_tokens"] = 77
    hub = request_to_hub(body, "m")
    assert hub.sampling.max_tokens == 77
    assert hub.sampling.stop == ("###",)
    assert hub.tool_choice == ToolChoice("tool", "get_weather")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ({"type": "text"}, ResponseFormat("text")),
        ({"type": "json_object"}, ResponseFormat("json_object")),
        (
            {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
            },
            ResponseFormat("json_schema", {"type": "object"}, "w", True),
        ),
    ],
)
def test_response_formats(fmt: dict[str, Any], expected: ResponseFormat) -> None:
    assert request_to_hub(_req(response_format=fmt), "m").response_format == expected


@pytest.mark.parametrize(
    ("changes", "code", "needle"),
    [
        ({"n": 2}, "unsupported_feature", "n > 1"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "invalid_request", "'wizard'"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video", "x": 1}]}]},
            "invalid_request",
            "video",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "unsupported_feature",
            "input_audio",
        ),
        (
            {"messages": [{"role": "function", "name": "f", "content": "x"}]},
            "unsupported_feature",
            "function",
        ),
        ({"messages": []}, "invalid_request", "non-empty"),
        ({"max_completion_tokens": 0}, "invalid_request", "max_completion_tokens"),
        ({"stop": [1]}, "invalid_request", "stop"),
        ({"response_format": {"type": "yaml"}}, "invalid_request", "response_format"),
        ({"tools": [{"type": "web_search"}]}, "unsupported_feature", "web_search"),
        ({"service_tier": "flex"}, "unsupported_feature", "service_tier"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}
                ]
            },
            "invalid_request",
            "image URLs",
        ),
    ],
)
def test_bad_requests_name_the_problem(changes: dict[str, Any], code: str, needle: str) -> None:
    with pytest.raises(BadRequest) as info:
        request_to_hub(_req(**changes), "m")
    assert info.value.code == code
    assert info.value.http_status == 400
    assert needle in info.value.message


def test_unmodelled_fields_are_kept_as_extras_not_dropped() -> None:
    hub = request_to_hub(_req(logprobs=True, frequency_penalty=0.5, user="u1", store=False), "m")
    assert hub.extras == {"logprobs": True, "frequency_penalty": 0.5}
    assert hub.user == "u1"


def test_usage_in_openai_semantics() -> None:
    usage = NormalizedUsage(
        input_tokens=100, cache_read_tokens=300, cache_write_tokens=20, output_tokens=50, reasoning_tokens=12
    )
    assert usage_body(usage) == {
        "prompt_tokens": 420,  # uncached + cache read + cache write
        "completion_tokens": 50,  # reasoning included
        "total_tokens": 470,
        "prompt_tokens_details": {"cached_tokens": 300, "cache_write_tokens": 20},
        "completion_tokens_details": {"reasoning_tokens": 12},
    }


def test_response_body_parses_with_the_sdk() -> None:
    resp = HubResponse(
        id="msg_1",
        model="claude-x",
        parts=(TextPart("Hi "), TextPart("there"), ToolCallPart("t1", "f", '{"a":1}')),
        finish_reason=FinishReason.TOOL_CALLS,
        usage=NormalizedUsage(input_tokens=3, output_tokens=4),
    )
    completion = parse_body(response_body(resp, created=1_700_000_000, target="anthropic"))
    choice = completion.choices[0]
    assert choice.message.content == "Hi there"
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    assert choice.message.tool_calls[0].function.arguments == '{"a":1}'  # type: ignore[union-attr]
    assert completion.usage is not None and completion.usage.total_tokens == 7


def test_error_finish_is_an_upstream_error_not_a_fake_stop() -> None:
    resp = HubResponse("r", "m", (), FinishReason.ERROR, native_finish_reason="MALFORMED_FUNCTION_CALL")
    with pytest.raises(UpstreamError, match="MALFORMED_FUNCTION_CALL"):
        response_body(resp, created=1, target="gemini")


def test_chunk_encoder_one_identity_and_usage_chunk_only_when_asked() -> None:
    events = [
        RoleStart(),
        TextDelta("a"),
        ToolCallStart(0, "c1", "f"),
        ToolCallDelta(0, '{"x":'),
        ToolCallDelta(0, "1}"),
        Finish(FinishReason.TOOL_CALLS),
        UsageUpdate(NormalizedUsage(input_tokens=1, output_tokens=2)),
    ]
    for include_usage in (True, False):
        enc = ChunkEncoder("chatcmpl-1", 123, "m", include_usage=include_usage)
        chunks = [c for e in events for c in enc.encode(e)] + enc.close()
        assert {(c["id"], c["created"], c["model"]) for c in chunks} == {("chatcmpl-1", 123, "m")}
        parsed = stream_through_sdk(chunks)
        assert (parsed[-1].usage is not None) is include_usage
        if include_usage:
            assert parsed[-1].choices == []
            assert all(p.usage is None for p in parsed[:-1])


def test_messages_are_plain_hub_values() -> None:
    hub = request_to_hub(_req(messages=[{"role": "user", "content": "hi"}]), "m")
    assert hub.messages == (Message("user", (TextPart("hi"),)),)
