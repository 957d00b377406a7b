"""The official openai SDK against the simulator: what it parses is what a real OpenAI answer would give."""

from __future__ import annotations

import base64
import struct

import openai
import pytest
from sim_helpers import CHAT, CHAT_PROMPT_TOKENS, data_frames, post

from tollgate.testing import Scenario, Simulator, SimulatorServer


@pytest.fixture
def client(server: SimulatorServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url("openai"), api_key="sk-test", max_retries=0)


def test_chat_completion_text_usage_and_forwarded_request(client: openai.OpenAI, sim: Simulator) -> None:
    result = client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "say four words please"},
        ],
    )
    assert result.object == "chat.completion"
    assert result.model == "gpt-4o"
    assert result.choices[0].message.content == " ".join(f"tok{i}" for i in range(1, 13))
    assert result.choices[0].finish_reason == "stop"
    assert result.usage is not None
    # 2 + 4 words, 4 tokens of overhead per message
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (
        14,
        12,
        26,
    )
    [request] = sim.received
    assert (request.method, request.path, request.provider) == (
        "POST",
        "/openai/v1/chat/completions",
        "openai",
    )
    assert request.headers["authorization"] == "Bearer sk-test"
    assert request.json["messages"][1]["content"] == "say four words please"


def test_chat_usage_counts_cache_inside_prompt_and_reasoning_inside_completion(
    client: openai.OpenAI, sim: Simulator
) -> None:
    sim.defaults = Scenario(
        cache_read_tokens=100, cache_write_tokens=30, reasoning_tokens=50, output_tokens=5
    )
    usage = client.chat.completions.create(**CHAT).usage
    assert usage is not None
    assert usage.prompt_tokens == CHAT_PROMPT_TOKENS + 100 + 30
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 100
    assert usage.prompt_tokens_details.cache_write_tokens == 30
    assert usage.completion_tokens == 55
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 50
    assert usage.total_tokens == CHAT_PROMPT_TOKENS + 130 + 55


def test_stream_without_include_usage_has_no_usage(client: openai.OpenAI, sim: Simulator) -> None:
    chunks = list(client.chat.completions.create(**CHAT, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == " ".join(
        f"tok{i}" for i in range(1, 13)
    )
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(chunks) == 1 + 5 + 1  # role, five content chunks, finish


def test_stream_include_usage_adds_a_final_usage_chunk_and_nulls_elsewhere(
    client: openai.OpenAI, server: SimulatorServer
) -> None:
    chunks = list(client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == CHAT_PROMPT_TOKENS
    assert all(c.usage is None for c in chunks[:-1])
    # On the wire every other chunk says "usage": null, and the stream ends with [DONE].
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    response = post(server.base_url("openai") + "/chat/completions", body)
    assert response.content.endswith(b"data: [DONE]\n\n")
    assert b"event:" not in response.content
    frames = data_frames(response.content)
    assert all("usage" in f and f["usage"] is None for f in frames[:-1])
    assert all("obfuscation" in f for f in frames if f["choices"] and f["choices"][0]["delta"].get("content"))


def test_max_tokens_truncates_with_finish_reason_length(client: openai.OpenAI) -> None:
    result = client.chat.completions.create(**CHAT, max_completion_tokens=3)
    assert result.choices[0].message.content == "tok1 tok2 tok3"
    assert result.choices[0].finish_reason == "length"
    assert result.usage is not None and result.usage.completion_tokens == 3


def test_upstream_model_overrides_reported_model(client: openai.OpenAI, sim: Simulator) -> None:
    sim.defaults = Scenario(upstream_model="gpt-4o-2024-08-06")
    assert client.chat.completions.create(**CHAT).model == "gpt-4o-2024-08-06"
    stream = client.chat.completions.create(**CHAT, stream=True)
    assert {chunk.model for chunk in stream} == {"gpt-4o-2024-08-06"}


def test_responses_plain(client: openai.OpenAI, sim: Simulator) -> None:
    sim.defaults = Scenario(cache_read_tokens=10, reasoning_tokens=4, output_tokens=6)
    response = client.responses.create(model="gpt-4.1", input="hello there", instructions="be kind")
    assert response.status == "completed"
    assert response.output_text == "tok1 tok2 tok3 tok4 tok5 tok6"
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.usage is not None
    assert response.usage.input_tokens == (2 + 4) + (2 + 4) + 10
    assert response.usage.input_tokens_details.cached_tokens == 10
    assert response.usage.output_tokens == 10
    assert response.usage.output_tokens_details.reasoning_tokens == 4
    assert response.usage.total_tokens == 22 + 10


def test_responses_stream_event_sequence(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4.1", input="hi", stream=True))
    kinds = [e.type for e in events]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 5,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.usage is not None and completed.response.usage.output_tokens == 12
    assert events[0].type == "response.created" and events[0].response.usage is None


def test_responses_stream_helper_accumulates_final_response(client: openai.OpenAI, sim: Simulator) -> None:
    sim.defaults = Scenario(reasoning_tokens=3)
    with client.responses.stream(model="gpt-4.1", input="hi") as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == final.output_text == " ".join(f"tok{i}" for i in range(1, 13))
    assert final.usage is not None and final.usage.output_tokens == 15


def test_responses_max_output_tokens_is_incomplete(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4.1", input="hi", max_output_tokens=2, stream=True))
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details is not None
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert events[-1].response.usage is not None and events[-1].response.usage.output_tokens == 2


def test_embeddings_default_base64_decodes_to_the_float_vector(client: openai.OpenAI, sim: Simulator) -> None:
    default = client.embeddings.create(model="text-embedding-3-small", input=["alpha beta", "gamma"])
    assert sim.received[-1].json["encoding_format"] == "base64"  # what the SDK sends by default
    floats = client.embeddings.create(
        model="text-embedding-3-small", input=["alpha beta", "gamma"], encoding_format="float"
    )
    assert [len(d.embedding) for d in default.data] == [1536, 1536]
    assert default.data[0].embedding == floats.data[0].embedding
    assert default.data[0].embedding != default.data[1].embedding
    assert abs(sum(x * x for x in floats.data[1].embedding) - 1.0) < 1e-5
    assert (default.usage.prompt_tokens, default.usage.total_tokens) == (3, 3)


def test_embeddings_base64_is_little_endian_float32(server: SimulatorServer) -> None:
    url = server.base_url("openai") + "/embeddings"
    body = {"model": "text-embedding-3-large", "input": "x", "dimensions": 8}
    encoded = post(url, {**body, "encoding_format": "base64"}).json()["data"][0]["embedding"]
    floats = post(url, {**body, "encoding_format": "float"}).json()["data"][0]["embedding"]
    assert list(struct.unpack("<8f", base64.b64decode(encoded))) == floats


def test_models_list(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]
    assert "gpt-4o" in ids and "text-embedding-3-small" in ids


def test_invalid_requests_get_openai_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=[])
    assert caught.value.code == "empty_array"
    with pytest.raises(openai.NotFoundError):
        client.get("/nope", cast_to=object)
