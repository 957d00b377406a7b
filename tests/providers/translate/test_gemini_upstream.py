from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from tests.providers.translate.fixtures import GEMINI_RESPONSE, GEMINI_STREAM, OPENAI_REQUEST
from tests.providers.translate.sdk import accumulate
from tollgate.core.errors import BadRequest
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.translate import gemini
from tollgate.providers.translate.hub import FinishReason, HubRequest, UsageUpdate
from tollgate.providers.translate.openai_chat import ChunkEncoder, request_to_hub


def _hub(**changes: Any) -> HubRequest:
    body = {**OPENAI_REQUEST, **changes}
    user = body["messages"][2]
    body["messages"] = [
        *body["messages"][:2],
        {**user, "content": user["content"][:2]},
        *body["messages"][3:],
    ]
    return request_to_hub(body, "gemini-2.5-flash")


def test_request_body() -> None:
    body = gemini.request_body(_hub())
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse.\n\nAnswer in French."}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][0]["parts"][1] == {
        "inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}
    }
    assert body["contents"][1]["parts"] == [
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}
    ]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
        {"text": "Thanks!"},
    ]
    decl = body["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "get_weather" and decl["parametersJsonSchema"]["required"] == ["city"]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert body["generationConfig"] == {
        "maxOutputTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"],
    }  # fmt: skip


def test_json_modes_and_named_tool() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = gemini.request_body(
        _hub(
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
            tool_choice={"type": "function", "function": {"name": "get_weather"}},
        )
    )
    assert body["generationConfig"]["responseMimeType"] == "application/json"
    assert body["generationConfig"]["responseJsonSchema"] == schema
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    plain = gemini.request_body(_hub(response_format={"type": "json_object"}))
    assert plain["generationConfig"]["responseMimeType"] == "application/json"
    assert "responseJsonSchema" not in plain["generationConfig"]


def test_text_tool_result_is_wrapped() -> None:
    messages = [
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "sunny"},
    ]
    body = gemini.request_body(request_to_hub({"messages": messages}, "m"))
    assert body["contents"][1]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"result": "sunny"}}}
    ]


@pytest.mark.parametrize(
    ("hub", "needle"),
    [
        (lambda: request_to_hub(OPENAI_REQUEST, "m"), "image URLs"),
        (lambda: _hub(parallel_tool_calls=False), "parallel_tool_calls"),
        (lambda: _hub(logit_bias={"1": 2}), "logit_bias"),
    ],
)
def test_refusals(hub: Any, needle: str) -> None:
    with pytest.raises(BadRequest) as info:
        gemini.request_body(hub())
    assert info.value.code == "unsupported_feature"
    assert needle in info.value.message and "gemini" in info.value.message


def test_response_thoughts_are_reasoning_not_text() -> None:
    resp = gemini.response_to_hub(GEMINI_RESPONSE)
    assert resp.text == "Il fait beau."
    assert resp.finish_reason is FinishReason.STOP
    assert resp.model == "gemini-2.5-flash" and resp.id == "resp_g1"
    assert resp.usage == NormalizedUsage(
        input_tokens=100, cache_read_tokens=300, output_tokens=19, reasoning_tokens=14
    )


@pytest.mark.parametrize(
    ("native", "tools", "hub"),
    [
        ("STOP", False, FinishReason.STOP),
        ("STOP", True, FinishReason.TOOL_CALLS),
        ("MAX_TOKENS", False, FinishReason.LENGTH),
        ("SAFETY", False, FinishReason.CONTENT_FILTER),
        ("RECITATION", False, FinishReason.CONTENT_FILTER),
        ("MALFORMED_FUNCTION_CALL", True, FinishReason.ERROR),
    ],
)
def test_finish_reasons(native: str, tools: bool, hub: FinishReason) -> None:
    assert gemini.finish_reason(native, called_tools=tools) is hub


def test_blocked_prompt_is_content_filter() -> None:
    resp = gemini.response_to_hub({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {}})
    assert resp.finish_reason is FinishReason.CONTENT_FILTER


def test_stream_to_openai_chunks_accepted_by_the_sdk() -> None:
    ids = (f"call_{n}" for n in itertools.count())
    reader = gemini.StreamReader(new_id=lambda: next(ids))
    events = [e for chunk in GEMINI_STREAM for e in reader.feed(chunk)]
    assert [e for e in events if isinstance(e, UsageUpdate)][-1].usage == NormalizedUsage(
        input_tokens=40, output_tokens=15, reasoning_tokens=6
    )
    enc = ChunkEncoder("chatcmpl-g", 1, "gemini/gemini-2.5-flash", include_usage=True)
    chunks = [c for e in events for c in enc.encode(e)] + enc.close()
    completion = accumulate(chunks)
    choice = completion.choices[0]
    assert choice.message.content == "Il fait beau."
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name, json.loads(call.function.arguments)) == (  # type: ignore[union-attr]
        "call_0", "get_weather", {"city": "Paris"},
    )  # fmt: skip
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (40, 15)
