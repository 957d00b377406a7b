from __future__ import annotations

import itertools
import json
from typing import Any

import anthropic as anthropic_sdk
import httpx2
import pytest

from tests.providers.translate.fixtures import ANTHROPIC_STREAM, GEMINI_STREAM
from tollgate.core.errors import BadRequest, UpstreamError
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.translate import anthropic, anthropic_door, gemini
from tollgate.providers.translate.hub import (
    FinishReason,
    HubResponse,
    ImagePart,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
)

REQUEST: dict[str, Any] = {
    "model": "gemini/gemini-2.5-flash",
    "max_tokens": 512,
    "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}},
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "cold"}],
        },
    ],
    "tools": [{"name": "get_weather", "description": "w", "input_schema": {"type": "object"}}],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "stop_sequences": ["\n\n"],
    "temperature": 0.5,
    "metadata": {"user_id": "u-9"},
    "stream": True,
}


def test_request_to_hub() -> None:
    hub = anthropic_door.request_to_hub(REQUEST, "gemini-2.5-flash")
    assert hub.system == "Be brief."
    assert hub.messages[0].parts == (TextPart("Weather?"), ImagePart(data="/9j/", media_type="image/jpeg"))
    assert hub.messages[1].parts == (ToolCallPart("toolu_1", "get_weather", '{"city":"Oslo"}'),)
    assert hub.messages[2].parts == (ToolResultPart("toolu_1", (TextPart("cold"),), "get_weather"),)
    assert hub.tool_choice == ToolChoice("required") and hub.parallel_tool_calls is False
    assert hub.sampling.max_tokens == 512 and hub.sampling.stop == ("\n\n",)
    assert hub.user == "u-9" and hub.stream and hub.extras == {}
    # and on to Gemini, whose refusal of parallel_tool_calls=false names it
    with pytest.raises(BadRequest, match="parallel_tool_calls"):
        gemini.request_body(hub)
    body = gemini.request_body(anthropic_door.request_to_hub({**REQUEST, "tool_choice": None}, "g"))
    assert body["contents"][2]["parts"][0]["functionResponse"] == {
        "name": "get_weather",
        "response": {"result": "cold"},
    }


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "server tools"),
        ({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}, "document"),
        ({"messages": [{"role": "system", "content": "x"}]}, "role"),
    ],
)
def test_bad_requests(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(BadRequest, match=needle):
        anthropic_door.request_to_hub({**REQUEST, **changes}, "m")


def test_thinking_config_is_refused_by_other_targets() -> None:
    hub = anthropic_door.request_to_hub(
        {**REQUEST, "thinking": {"type": "enabled", "budget_tokens": 1024}}, "m"
    )
    with pytest.raises(BadRequest, match="thinking is not supported by gemini"):
        gemini.request_body(hub)


def _client(body: bytes, content_type: str) -> anthropic_sdk.Anthropic:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": content_type})

    transport = httpx2.MockTransport(handler)
    return anthropic_sdk.Anthropic(
        api_key="k", base_url="http://door", http_client=httpx2.Client(transport=transport)
    )


def test_response_body_parses_with_the_anthropic_sdk() -> None:
    resp = HubResponse(
        "r1",
        "gemini-2.5-flash",
        (TextPart("Cold."), ToolCallPart("c1", "f", '{"a": 1}')),
        FinishReason.TOOL_CALLS,
        NormalizedUsage(input_tokens=10, cache_read_tokens=90, output_tokens=5),
    )
    body = anthropic_door.response_body(resp, target="gemini")
    message = _client(json.dumps(body).encode(), "application/json").messages.create(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    )
    assert message.stop_reason == "tool_use"
    assert message.content[0].text == "Cold."  # type: ignore[union-attr]
    assert message.content[1].input == {"a": 1}  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (10, 90)
    with pytest.raises(UpstreamError):
        anthropic_door.response_body(
            HubResponse("r", "m", (), FinishReason.ERROR, native_finish_reason="OTHER"), target="gemini"
        )


def _sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events).encode()


def test_gemini_stream_served_as_an_anthropic_stream() -> None:
    ids = (f"call_{n}" for n in itertools.count())
    reader = gemini.StreamReader(new_id=lambda: next(ids))
    enc = anthropic_door.EventEncoder("msg_x", "gemini-2.5-flash")
    events = [ev for chunk in GEMINI_STREAM for hub in reader.feed(chunk) for ev in enc.encode(hub)]
    events += enc.close()
    client = _client(_sse(events), "text/event-stream")
    with client.messages.stream(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["text", "tool_use"]
    assert final.content[0].text == "Il fait beau."  # type: ignore[union-attr]
    assert final.content[1].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (40, 15)


def test_anthropic_stream_round_trips_through_the_hub() -> None:
    reader = anthropic.StreamReader()
    enc = anthropic_door.EventEncoder("msg_02", "claude")
    events = [
        ev for name, data in ANTHROPIC_STREAM for hub in reader.feed(name, data) for ev in enc.encode(hub)
    ]
    events += enc.close()
    with _client(_sse(events), "text/event-stream").messages.stream(
        model="m", max_tokens=5, messages=[{"role": "user", "content": "x"}]
    ) as stream:
        final = stream.get_final_message()
    assert [getattr(b, "input", None) for b in final.content] == [None, {"city": "Paris"}, {"tz": "CET"}]
    assert final.usage.cache_read_input_tokens == 300 and final.usage.output_tokens == 80
