"""Cohere v2, Bedrock Converse and OpenAI-compatible upstreams, each fed from a door."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.providers.translate.fixtures import OPENAI_REQUEST
from tests.providers.translate.sdk import accumulate
from tests.providers.translate.test_anthropic_door import REQUEST as ANTHROPIC_REQUEST
from tollgate.core.errors import BadRequest
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.translate import anthropic_door, bedrock, cohere, openai_upstream
from tollgate.providers.translate.hub import FinishReason, HubRequest, HubStreamEvent, ToolCallDelta
from tollgate.providers.translate.openai_chat import ChunkEncoder, request_to_hub


def _hub(**changes: Any) -> HubRequest:
    body = {**OPENAI_REQUEST, **changes}
    user = body["messages"][2]
    body["messages"] = [
        *body["messages"][:2],
        {**user, "content": user["content"][:2]},
        *body["messages"][3:],
    ]
    return request_to_hub(body, "target-model")


def _to_openai(events: list[HubStreamEvent]) -> list[dict[str, Any]]:
    enc = ChunkEncoder("chatcmpl-z", 1, "m", include_usage=True)
    return [c for e in events for c in enc.encode(e)] + enc.close()


# -- Cohere ------------------------------------------------------------------------------------


def test_cohere_request() -> None:
    body = cohere.request_body(_hub(response_format={"type": "json_object"}, tool_choice="required"))
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool", "user"]
    assert body["messages"][1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
    }
    assert body["messages"][2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert body["messages"][3] == {
        "role": "tool",
        "tool_call_id": "call_1",
        "content": [{"type": "text", "text": '{"temp_c": 18}'}],
    }
    assert (body["max_tokens"], body["p"], body["stop_sequences"]) == (300, 0.9, ["END"])
    assert body["tool_choice"] == "REQUIRED"
    assert body["response_format"] == {"type": "json_object"}
    assert body["stream"] is True


def test_cohere_refuses_named_tool_choice() -> None:
    with pytest.raises(BadRequest, match="tool_choice naming one tool is not supported by cohere"):
        cohere.request_body(_hub(tool_choice={"type": "function", "function": {"name": "get_weather"}}))


def test_cohere_response_and_stream() -> None:
    resp = cohere.response_to_hub(
        {
            "id": "c1",
            "finish_reason": "TOOL_CALL",
            "message": {
                "role": "assistant",
                "tool_plan": "I will look it up.",
                "content": [],
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"q":1}'}}
                ],
            },
            "usage": {
                "billed_units": {"input_tokens": 12, "output_tokens": 7},
                "tokens": {"input_tokens": 200},
            },
        }
    )
    assert resp.finish_reason is FinishReason.TOOL_CALLS
    assert resp.tool_calls[0].arguments == '{"q":1}'
    assert resp.usage == NormalizedUsage(input_tokens=12, output_tokens=7)

    stream = [
        {"type": "message-start", "id": "c2", "delta": {"message": {"role": "assistant"}}},
        {"type": "content-start", "index": 0},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Hel"}}}},
        {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "lo"}}}},
        {"type": "content-end", "index": 0},
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "x"}}},
        {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
            "id": "t9", "type": "function", "function": {"name": "f", "arguments": ""}}}}},
        {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {
            "function": {"arguments": '{"a": '}}}}},
        {"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {
            "function": {"arguments": "[1, 2]}"}}}}},
        {"type": "tool-call-end", "index": 0},
        {"type": "message-end", "delta": {
            "finish_reason": "TOOL_CALL",
            "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 3}}}},
    ]  # fmt: skip
    reader = cohere.StreamReader()
    completion = accumulate(_to_openai([e for d in stream for e in reader.feed(d)]))
    choice = completion.choices[0]
    assert choice.message.content == "Hello" and choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    assert json.loads(choice.message.tool_calls[0].function.arguments) == {"a": [1, 2]}  # type: ignore[union-attr]
    assert completion.usage is not None and completion.usage.total_tokens == 8


# -- Bedrock Converse --------------------------------------------------------------------------


def test_bedrock_request() -> None:
    body = bedrock.request_body(_hub(tool_choice="required", parallel_tool_calls=True))
    assert body["system"] == [{"text": "You are terse.\n\nAnswer in French."}]
    assert body["inferenceConfig"] == {
        "maxTokens": 300,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["END"],
    }
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][0]["content"][1] == {
        "image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}
    }
    assert body["messages"][1]["content"] == [
        {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}
    ]
    assert body["messages"][2]["content"][0] == {
        "toolResult": {"toolUseId": "call_1", "content": [{"text": '{"temp_c": 18}'}]}
    }
    spec = body["toolConfig"]["tools"][0]["toolSpec"]
    assert spec["inputSchema"]["json"]["required"] == ["city"]
    assert body["toolConfig"]["toolChoice"] == {"any": {}}


@pytest.mark.parametrize(
    ("hub", "needle"),
    [
        (lambda: request_to_hub(OPENAI_REQUEST, "m"), "image URLs"),
        (lambda: _hub(response_format={"type": "json_object"}), "response_format json_object"),
        (lambda: _hub(seed=1), "seed"),
        (lambda: _hub(tool_choice="none"), "tool_choice none"),
        (lambda: _hub(parallel_tool_calls=False), "parallel_tool_calls=false"),
    ],
)
def test_bedrock_refusals(hub: Any, needle: str) -> None:
    with pytest.raises(BadRequest) as info:
        bedrock.request_body(hub())
    assert info.value.code == "unsupported_feature"
    assert needle in info.value.message and "bedrock" in info.value.message


def test_bedrock_response_and_stream_with_usage_after_message_stop() -> None:
    resp = bedrock.response_to_hub(
        {
            "output": {"message": {"role": "assistant", "content": [
                {"reasoningContent": {"reasoningText": {"text": "hm"}}}, {"text": "Hi"}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 10, "outputTokens": 4, "totalTokens": 64, "cacheReadInputTokens": 50},
        },
        id="b1",
        model="anthropic.claude",
    )  # fmt: skip
    assert resp.text == "Hi" and resp.finish_reason is FinishReason.LENGTH
    assert resp.usage == NormalizedUsage(input_tokens=10, cache_read_tokens=50, output_tokens=4)

    frames = [
        ("messageStart", {"role": "assistant", "p": "abc"}),
        ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Let me see."}}),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("contentBlockStart", {"contentBlockIndex": 1,
                               "start": {"toolUse": {"toolUseId": "tu1", "name": "f"}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"x"'}}}),
        ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": ": true}"}}}),
        ("contentBlockStop", {"contentBlockIndex": 1}),
        ("messageStop", {"stopReason": "tool_use"}),
        ("metadata", {"usage": {"inputTokens": 7, "outputTokens": 9, "cacheWriteInputTokens": 3},
                      "metrics": {"latencyMs": 12}}),
    ]  # fmt: skip
    reader = bedrock.StreamReader()
    events = [e for name, payload in frames for e in reader.feed(name, payload)]
    completion = accumulate(_to_openai(events))
    assert completion.choices[0].message.tool_calls is not None
    assert json.loads(completion.choices[0].message.tool_calls[0].function.arguments) == {"x": True}  # type: ignore[union-attr]
    assert completion.usage is not None and completion.usage.prompt_tokens == 10  # 7 uncached + 3 written
    error = bedrock.StreamReader().feed("throttlingException", {"message": "slow down"})
    assert error[0].message == "slow down"  # type: ignore[union-attr]


# -- OpenAI-compatible upstream behind the Anthropic door ---------------------------------------


def test_anthropic_door_to_openai_request() -> None:
    hub = anthropic_door.request_to_hub(ANTHROPIC_REQUEST, "gpt-5")
    body = openai_upstream.request_body(hub)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": "data:image/jpeg;base64,/9j/"},
    }
    assert body["messages"][2]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Oslo"}',
    }
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "cold"}
    assert body["tool_choice"] == "required" and body["parallel_tool_calls"] is False
    assert body["max_completion_tokens"] == 512 and body["user"] == "u-9"
    assert body["stream_options"] == {"include_usage": True}


def test_openai_response_and_stream_to_hub() -> None:
    resp = openai_upstream.response_to_hub(
        {
            "id": "chatcmpl-1",
            "model": "gpt-5",
            "choices": [{"index": 0, "finish_reason": "length",
                         "message": {"role": "assistant", "content": "Hi"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                      "prompt_tokens_details": {"cached_tokens": 60},
                      "completion_tokens_details": {"reasoning_tokens": 5}},
        }
    )  # fmt: skip
    assert resp.finish_reason is FinishReason.LENGTH
    assert resp.usage == NormalizedUsage(
        input_tokens=40, cache_read_tokens=60, output_tokens=20, reasoning_tokens=5
    )

    chunks = [
        {"id": "c", "model": "gpt-5", "choices": []},  # Azure's filter-results chunk
        {"id": "c", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "f", "arguments": ""}}]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '{"k":'}}]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": '"v"}'}}]}}]},
        {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"id": "c", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}},
    ]  # fmt: skip
    reader = openai_upstream.StreamReader()
    events = [e for c in chunks for e in reader.feed(c)]
    args = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert json.loads(args) == {"k": "v"}
    enc = anthropic_door.EventEncoder("msg_o", "gpt-5")
    out = [ev for e in events for ev in enc.encode(e)] + enc.close()
    names = [name for name, _ in out]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert out[-2][1]["delta"]["stop_reason"] == "tool_use"
    assert out[-2][1]["usage"]["input_tokens"] == 9


def test_openai_upstream_refuses_anthropic_only_fields() -> None:
    hub = anthropic_door.request_to_hub({**ANTHROPIC_REQUEST, "top_k": 5}, "gpt-5")
    with pytest.raises(BadRequest, match="top_k is not supported by openai"):
        openai_upstream.request_body(hub)
