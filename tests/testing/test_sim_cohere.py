"""The simulated Cohere v2 Chat API, seen through the official ``cohere`` SDK and raw HTTP."""

from __future__ import annotations

from typing import Any

import cohere
import httpx2
import pytest
from sim_helpers import post, split_frames

from tollgate.core import jsonx
from tollgate.testing import MESSAGE_OVERHEAD, Scenario, Simulator, SimulatorServer, answer_text

MODEL = "command-a-03-2025"
MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief"},
    {"role": "user", "content": [{"type": "text", "text": "What is up"}]},
]
PROMPT_TOKENS = 2 + 3 + 2 * MESSAGE_OVERHEAD  # words in both messages, plus the per-message overhead
WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
}


def _client(server: SimulatorServer, key: str = "co-test-key") -> cohere.ClientV2:
    return cohere.ClientV2(api_key=key, base_url=server.base_url("cohere"))


def _chat_url(server: SimulatorServer) -> str:
    return server.base_url("cohere") + "/v2/chat"


def _stream_events(server: SimulatorServer, **extra: Any) -> list[dict[str, Any]]:
    response = post(_chat_url(server), {"model": MODEL, "messages": MESSAGES, "stream": True, **extra})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = split_frames(response.content)
    for frame in frames:  # the event line always names the data's type
        assert frame.event == frame.json()["type"]
    assert b"[DONE]" not in response.content
    return [frame.json() for frame in frames]


def test_sdk_chat_reports_billed_and_raw_usage(server: SimulatorServer, sim: Simulator) -> None:
    reply = _client(server).chat(model=MODEL, messages=MESSAGES)
    assert reply.finish_reason == "COMPLETE"
    assert reply.message.content is not None
    assert reply.message.content[0].text == answer_text(12)
    assert reply.usage is not None and reply.usage.billed_units is not None and reply.usage.tokens is not None
    assert reply.usage.billed_units.input_tokens == PROMPT_TOKENS
    assert reply.usage.billed_units.output_tokens == 12
    # The raw counts include the chat template, so they are larger than what is billed.
    assert reply.usage.tokens.input_tokens is not None
    assert reply.usage.tokens.input_tokens > PROMPT_TOKENS
    assert reply.usage.cached_tokens == 0
    request = sim.received[-1]
    assert request.path == "/cohere/v2/chat"
    assert request.headers["authorization"] == "Bearer co-test-key"
    assert request.json["stream"] is False


def test_sdk_stream_yields_the_answer_then_usage_at_message_end(server: SimulatorServer) -> None:
    events = list(_client(server).chat_stream(model=MODEL, messages=MESSAGES))
    kinds = [event.type for event in events]
    assert kinds == ["message-start", "content-start", *["content-delta"] * 5, "content-end", "message-end"]
    text = "".join(e.delta.message.content.text for e in events if e.type == "content-delta")
    assert text == answer_text(12)
    end = events[-1]
    assert end.delta.finish_reason == "COMPLETE"
    billed = end.delta.usage.billed_units
    assert (billed.input_tokens, billed.output_tokens) == (PROMPT_TOKENS, 12)


def test_cache_reads_reasoning_and_the_output_cap(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(cache_read_tokens=300, reasoning_tokens=5, output_tokens=20)
    body = post(_chat_url(server), {"model": MODEL, "messages": MESSAGES, "max_tokens": 15}).json()
    # 15 tokens of room, 5 taken by reasoning: the visible answer stops at 10 words.
    assert body["finish_reason"] == "MAX_TOKENS"
    assert body["message"]["content"][0]["text"] == answer_text(10)
    usage = body["usage"]
    assert usage["billed_units"] == {"input_tokens": PROMPT_TOKENS + 300, "output_tokens": 15}
    assert usage["cached_tokens"] == 300
    assert usage["tokens"]["input_tokens"] > usage["billed_units"]["input_tokens"]


def test_tools_get_a_tool_call_with_its_required_arguments(server: SimulatorServer) -> None:
    reply = _client(server).chat(model=MODEL, messages=MESSAGES, tools=[WEATHER_TOOL])
    assert reply.finish_reason == "TOOL_CALL"
    assert reply.message.tool_plan == answer_text(12)
    assert reply.message.tool_calls is not None
    (tool_call,) = reply.message.tool_calls
    assert tool_call.function is not None and tool_call.function.name == "get_weather"
    assert jsonx.loads(tool_call.function.arguments or "") == {"city": "tok1", "days": 1}
    assert tool_call.id is not None and tool_call.id.startswith("get_weather_")


def test_a_tool_result_is_answered_with_text_and_none_means_no_call(server: SimulatorServer) -> None:
    first = _client(server).chat(model=MODEL, messages=MESSAGES, tools=[WEATHER_TOOL])
    assert first.message.tool_calls is not None
    call = first.message.tool_calls[0]
    assert call.function is not None
    followup = [
        *MESSAGES,
        {
            "role": "assistant",
            "tool_plan": first.message.tool_plan,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": [{"type": "text", "text": "sunny"}]},
    ]
    second = _client(server).chat(model=MODEL, messages=followup, tools=[WEATHER_TOOL])
    assert second.finish_reason == "COMPLETE" and not second.message.tool_calls
    none = post(
        _chat_url(server),
        {"model": MODEL, "messages": MESSAGES, "tools": [WEATHER_TOOL], "tool_choice": "NONE"},
    )
    assert none.json()["finish_reason"] == "COMPLETE"


def test_tool_call_stream_events(server: SimulatorServer) -> None:
    events = _stream_events(server, tools=[WEATHER_TOOL])
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message-start" and "content-delta" not in kinds
    assert kinds[1:6] == ["tool-plan-delta"] * 5
    assert kinds[6] == "tool-call-start" and kinds[-2:] == ["tool-call-end", "message-end"]
    plan = "".join(e["delta"]["message"]["tool_plan"] for e in events if e["type"] == "tool-plan-delta")
    assert plan == answer_text(12)
    start = events[6]["delta"]["message"]["tool_calls"]
    assert start["function"] == {"name": "get_weather", "arguments": ""}
    arguments = "".join(
        e["delta"]["message"]["tool_calls"]["function"]["arguments"]
        for e in events
        if e["type"] == "tool-call-delta"
    )
    assert jsonx.loads(arguments) == {"city": "tok1", "days": 1}
    assert events[-1]["delta"]["finish_reason"] == "TOOL_CALL"
    assert events[-1]["delta"]["usage"]["billed_units"]["output_tokens"] == 12


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"messages": MESSAGES}, "model"),
        ({"model": MODEL, "messages": []}, "messages must not be empty"),
        ({"model": MODEL, "messages": [{"role": "developer", "content": "x"}]}, "role"),
        ({"model": MODEL, "messages": MESSAGES, "tool_choice": "auto"}, "tool_choice"),
        ({"model": MODEL, "messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
    ],
)
def test_invalid_requests_are_400_in_cohere_shape(
    server: SimulatorServer, body: dict[str, Any], message: str
) -> None:
    response = post(_chat_url(server), body)
    assert response.status_code == 400
    error = response.json()
    assert set(error) == {"id", "message"} and message in error["message"]


def test_error_status_reaches_the_sdk_as_its_own_exception(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(error_status=429, retry_after=3)
    raw = post(_chat_url(server), {"model": MODEL, "messages": MESSAGES})
    assert raw.status_code == 429 and raw.headers["retry-after"] == "3"
    assert set(raw.json()) == {"id", "message"}
    sim.defaults = Scenario(error_status=498, error_message="token expired")
    with pytest.raises(cohere.errors.InvalidTokenError) as caught:
        _client(server).chat(model=MODEL, messages=MESSAGES)
    assert caught.value.body["message"] == "token expired"


def test_keys_are_checked_and_never_echoed() -> None:
    with SimulatorServer(Simulator(valid_keys={"co-good"})) as server:
        with pytest.raises(cohere.errors.UnauthorizedError) as caught:
            _client(server, key="co-wrong-secret").chat(model=MODEL, messages=MESSAGES)
        assert "co-wrong-secret" not in str(caught.value.body)
        missing = httpx2.post(_chat_url(server), json={"model": MODEL, "messages": MESSAGES})
        assert missing.status_code == 401 and missing.json()["message"] == "no api key supplied"
        assert _client(server, key="co-good").chat(model=MODEL, messages=MESSAGES).finish_reason == "COMPLETE"


def test_model_list_for_the_credential_check(server: SimulatorServer) -> None:
    models = _client(server).models.list()
    names = [model.name for model in models.models]
    assert MODEL in names and "embed-v4.0" in names
    chat_only = httpx2.get(
        server.base_url("cohere") + "/v1/models?endpoint=chat", headers={"authorization": "Bearer k"}
    ).json()
    assert all(model["endpoints"] == ["chat"] for model in chat_only["models"])
    assert "embed-v4.0" not in {model["name"] for model in chat_only["models"]}


# --- stream knobs -------------------------------------------------------------------------------------------


def test_midstream_error_is_a_message_end_with_finish_reason_error(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(midstream_error_after=2, error_message="generation failed upstream")
    events = _stream_events(server)
    assert [e["type"] for e in events].count("content-delta") == 2
    end = events[-1]
    assert end["type"] == "message-end"
    assert end["delta"] == {"finish_reason": "ERROR", "error": "generation failed upstream"}
    # The SDK raises on nothing in a stream: the client reads the error off the last event.
    last = list(_client(server).chat_stream(model=MODEL, messages=MESSAGES))[-1]
    assert last.delta.finish_reason == "ERROR"
    assert last.delta.error == "generation failed upstream"


def test_omit_usage_leaves_usage_out_of_body_and_stream(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(omit_usage=True)
    assert "usage" not in post(_chat_url(server), {"model": MODEL, "messages": MESSAGES}).json()
    end = _stream_events(server)[-1]
    assert end["type"] == "message-end" and end["delta"] == {"finish_reason": "COMPLETE"}


def test_malformed_and_dropped_streams(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(malformed_after=1)
    raw = post(_chat_url(server), {"model": MODEL, "messages": MESSAGES, "stream": True}).content
    frames = split_frames(raw)
    broken = frames[3]  # message-start, content-start, one delta, then the cut-off frame
    assert broken.event == "content-delta"
    with pytest.raises(jsonx.JSONDecodeError):
        broken.json()
    assert frames[-1].json()["type"] == "message-end"  # the rest still follows
    sim.defaults = Scenario(disconnect_after=99)
    received = b""
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        httpx2.stream(
            "POST",
            _chat_url(server),
            json={"model": MODEL, "messages": MESSAGES, "stream": True},
            headers={"authorization": "Bearer k"},
        ) as response,
    ):
        for piece in response.iter_raw():
            received += piece
    kinds = [frame.json()["type"] for frame in split_frames(received)]
    assert kinds.count("content-delta") == 5 and "message-end" not in kinds
