"""The official anthropic SDK against the simulator, including how it accumulates streamed usage."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import pytest
from sim_helpers import split_frames

from tollgate.testing import Scenario, Simulator, SimulatorServer

MESSAGES: Any = [{"role": "user", "content": "one two three"}]
PROMPT = 3 + 4


@pytest.fixture
def client(server: SimulatorServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url("anthropic"), api_key="sk-ant-test", max_retries=0)


def test_message_text_and_usage_semantics(client: anthropic.Anthropic, sim: Simulator) -> None:
    sim.defaults = Scenario(
        cache_read_tokens=200,
        cache_write_tokens=50,
        cache_write_1h_tokens=20,
        reasoning_tokens=7,
        output_tokens=4,
    )
    message = client.messages.create(
        model="claude-simulated-1", max_tokens=1000, system="be brief", messages=MESSAGES
    )
    assert message.content[0].type == "text" and message.content[0].text == "tok1 tok2 tok3 tok4"
    assert message.stop_reason == "end_turn"
    usage = message.usage
    # input_tokens excludes cache reads and writes
    assert usage.input_tokens == PROMPT + (2 + 4)
    assert usage.cache_read_input_tokens == 200
    assert usage.cache_creation_input_tokens == 50
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_5m_input_tokens == 30
    assert usage.cache_creation.ephemeral_1h_input_tokens == 20
    # output includes thinking; the details are a breakdown
    assert usage.output_tokens == 11
    assert usage.output_tokens_details is not None and usage.output_tokens_details.thinking_tokens == 7
    request = sim.received[-1]
    assert request.path == "/anthropic/v1/messages" and request.provider == "anthropic"
    assert request.headers["anthropic-version"]


def test_stream_helper_accumulates_start_and_delta_usage(client: anthropic.Anthropic, sim: Simulator) -> None:
    sim.defaults = Scenario(cache_read_tokens=100, cache_write_tokens=10, output_tokens=9)
    with client.messages.stream(model="claude-x", max_tokens=500, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    block = final.content[0]
    assert block.type == "text"
    assert text == block.text == " ".join(f"tok{i}" for i in range(1, 10))
    assert final.usage.input_tokens == PROMPT
    assert final.usage.cache_read_input_tokens == 100
    assert final.usage.cache_creation_input_tokens == 10
    assert final.usage.output_tokens == 9  # the cumulative message_delta count replaced the provisional 1
    assert final.stop_reason == "end_turn"


def test_stream_wire_order(server: SimulatorServer) -> None:

    response = httpx2.post(
        server.base_url("anthropic") + "/v1/messages",
        json={"model": "claude-x", "max_tokens": 50, "messages": MESSAGES, "stream": True},
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
    )
    frames = split_frames(response.content)
    events = [f.event for f in frames]
    assert events == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 5,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert all(f.json()["type"] == f.event for f in frames)
    start = frames[0].json()["message"]["usage"]
    assert (start["input_tokens"], start["output_tokens"]) == (PROMPT, 1)
    assert frames[-2].json()["usage"]["output_tokens"] == 12
    assert b"[DONE]" not in response.content


def test_max_tokens_stops_early(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="claude-x", max_tokens=2, messages=MESSAGES)
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 2


def test_missing_anthropic_version_is_rejected(server: SimulatorServer) -> None:

    response = httpx2.post(
        server.base_url("anthropic") + "/v1/messages",
        json={"model": "claude-x", "max_tokens": 5, "messages": MESSAGES},
        headers={"x-api-key": "k"},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in body["error"]["message"]


def test_missing_max_tokens_is_rejected(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.post("/v1/messages", body={"model": "claude-x", "messages": MESSAGES}, cast_to=object)
    assert "max_tokens" in str(caught.value)


def test_count_tokens(client: anthropic.Anthropic, sim: Simulator) -> None:
    counted = client.messages.count_tokens(model="claude-x", messages=MESSAGES)
    assert counted.input_tokens == PROMPT
