"""Every Scenario knob, seen from the client side: errors, broken streams, pacing, usage variants."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from sim_helpers import CHAT, CHAT_PROMPT_TOKENS, data_frames, post, split_frames

from tollgate.core import jsonx
from tollgate.testing import SCENARIO_HEADER, Scenario, Simulator, SimulatorServer

STREAM: dict[str, Any] = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
ANTHROPIC_BODY: dict[str, Any] = {
    "model": "claude-x",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
}
ANTHROPIC_HEADERS = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


def _openai(server: SimulatorServer, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url("openai"), api_key="sk-test", max_retries=retries)


def _anthropic(server: SimulatorServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url("anthropic"), api_key="sk-ant", max_retries=0)


def _chat_url(server: SimulatorServer, provider: str = "openai") -> str:
    return server.base_url(provider) + "/chat/completions"


def _gemini_stream_url(server: SimulatorServer) -> str:
    return server.base_url("gemini") + "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"


# --- error_status / retry_after ---------------------------------------------------------------------------


def test_429_with_retry_after_reaches_the_sdk_as_rate_limit(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(error_status=429, retry_after=7)
    response = post(_chat_url(server), CHAT)
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert response.json() == {
        "error": {
            "message": "Rate limit reached for requests. Please try again later.",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    with pytest.raises(openai.RateLimitError) as caught:
        _openai(server).chat.completions.create(**CHAT)
    assert caught.value.response.headers["retry-after"] == "7"


def test_a_queued_429_is_consumed_once_so_the_sdk_retry_succeeds(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.enqueue(Scenario(error_status=429, retry_after=0.01), provider="openai")
    result = _openai(server, retries=1).chat.completions.create(**CHAT)
    assert result.choices[0].message.content
    assert len(sim.received) == 2
    assert sim.received[1].headers["x-stainless-retry-count"] == "1"
    assert sim.pending == 0


def test_anthropic_529_is_overloaded(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(error_status=529, retry_after=3)
    with pytest.raises(anthropic.OverloadedError) as caught:
        _anthropic(server).messages.create(**ANTHROPIC_BODY)
    body = caught.value.response.json()
    assert body["type"] == "error"
    assert body["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    assert body["request_id"] == caught.value.response.headers["request-id"]
    assert caught.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize(
    ("provider", "status", "expected"),
    [
        ("gemini", 429, {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED"}}),
        ("openrouter", 402, {"error": {"code": 402}}),
        ("mistral", 500, {"object": "error", "type": "server_error"}),
        ("deepseek", 503, {"error": {"type": "server_error", "code": "service_unavailable"}}),
        ("anthropic", 429, {"type": "error", "error": {"type": "rate_limit_error"}}),
    ],
)
def test_error_bodies_take_each_providers_shape(
    server: SimulatorServer, sim: Simulator, provider: str, status: int, expected: dict[str, object]
) -> None:
    sim.defaults = Scenario(error_status=status, error_message="simulated trouble")
    urls = {
        "gemini": server.base_url("gemini") + "/v1beta/models/g:generateContent",
        "anthropic": server.base_url("anthropic") + "/v1/messages",
    }
    headers = {**ANTHROPIC_HEADERS, "x-goog-api-key": "k"}
    response = post(urls.get(provider, _chat_url(server, provider)), CHAT, **headers)
    assert response.status_code == status
    body = response.json()
    for key, value in expected.items():
        if isinstance(value, dict):
            assert value.items() <= body[key].items()
        else:
            assert body[key] == value
    assert "simulated trouble" in response.text
    assert "retry-after" not in response.headers


# --- midstream_error_after ----------------------------------------------------------------------------------


def test_openai_midstream_error_raises_in_the_sdk_after_k_chunks(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(midstream_error_after=2, error_message="boom")
    seen: list[str] = []
    with pytest.raises(openai.APIError, match="boom"):
        for chunk in _openai(server).chat.completions.create(**STREAM):
            if chunk.choices and chunk.choices[0].delta.content:
                seen.append(chunk.choices[0].delta.content)
    assert len(seen) == 2
    raw = post(_chat_url(server), STREAM)
    assert raw.status_code == 200
    last = split_frames(raw.content)[-1]
    assert last.json()["error"]["message"] == "boom"
    assert b"[DONE]" not in raw.content


def test_anthropic_midstream_error_event_raises(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(midstream_error_after=1)
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        _anthropic(server).messages.stream(**ANTHROPIC_BODY) as stream,
    ):
        texts.extend(stream.text_stream)
    assert texts == ["tok1 tok2"]
    assert "overloaded_error" in str(caught.value)
    frames = split_frames(
        post(
            server.base_url("anthropic") + "/v1/messages",
            {**ANTHROPIC_BODY, "stream": True},
            **ANTHROPIC_HEADERS,
        ).content
    )
    assert frames[-1].event == "error" and "message_stop" not in {f.event for f in frames}


def test_responses_midstream_error_event(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(midstream_error_after=3)
    events = list(_openai(server).responses.create(model="gpt-4.1", input="hi", stream=True))
    assert [e.type for e in events].count("response.output_text.delta") == 3
    assert events[-1].type == "error"
    assert events[-1].sequence_number == events[-2].sequence_number + 1
    assert not any(e.type == "response.completed" for e in events)


def test_gemini_and_openrouter_midstream_errors(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(midstream_error_after=2)
    gemini = data_frames(post(_gemini_stream_url(server), GEMINI_BODY, **{"x-goog-api-key": "k"}).content)
    assert len(gemini) == 3 and gemini[-1]["error"]["status"] == "UNAVAILABLE"
    router = data_frames(post(_chat_url(server, "openrouter"), STREAM).content)
    assert router[-1]["error"]["message"]
    assert router[-1]["choices"][0]["finish_reason"] == "error"
    assert all("usage" not in chunk for chunk in router)


# --- malformed_after ----------------------------------------------------------------------------------------


def test_malformed_frame_breaks_the_sdk_but_the_rest_of_the_stream_follows(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(malformed_after=3)
    with pytest.raises(ValueError):  # the SDK lets json.JSONDecodeError through
        list(_openai(server).chat.completions.create(**STREAM))
    frames = [f for f in split_frames(post(_chat_url(server), STREAM).content) if f.data is not None]
    assert frames[-1].data == "[DONE]"
    frames = frames[:-1]
    bad = []
    for index, frame in enumerate(frames):
        try:
            jsonx.loads(frame.data or "")
        except jsonx.JSONDecodeError:
            bad.append(index)
    assert bad == [1 + 3]  # role chunk, three content chunks, then the broken frame
    assert jsonx.loads(frames[-1].data or "")["usage"]["prompt_tokens"] == CHAT_PROMPT_TOKENS


def test_malformed_anthropic_and_gemini_frames(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(malformed_after=0)
    frames = split_frames(
        post(
            server.base_url("anthropic") + "/v1/messages",
            {**ANTHROPIC_BODY, "stream": True},
            **ANTHROPIC_HEADERS,
        ).content
    )
    broken = frames[3]
    assert broken.event == "content_block_delta"
    with pytest.raises(jsonx.JSONDecodeError):
        broken.json()
    assert frames[-1].event == "message_stop"
    raw = post(_gemini_stream_url(server), GEMINI_BODY, **{"x-goog-api-key": "k"}).content
    with pytest.raises(jsonx.JSONDecodeError):
        split_frames(raw)[0].json()


def test_malformed_non_stream_body_is_cut_off_json(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(malformed_after=0)
    response = post(_chat_url(server), CHAT)
    assert response.status_code == 200
    with pytest.raises(jsonx.JSONDecodeError):
        jsonx.loads(response.content)


# --- disconnect_after ---------------------------------------------------------------------------------------


def test_disconnect_mid_stream_is_a_broken_stream_not_a_clean_end(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(disconnect_after=2)
    received = b""
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        httpx2.stream(
            "POST", _chat_url(server), json=STREAM, headers={"authorization": "Bearer k"}
        ) as response,
    ):
        assert response.status_code == 200
        for piece in response.iter_raw():
            received += piece
    assert len(data_frames(received)) == 1 + 2
    with pytest.raises(openai.APIConnectionError):
        list(_openai(server).chat.completions.create(**STREAM))


def test_disconnect_after_all_content_loses_the_usage(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(disconnect_after=99)
    texts: list[str] = []
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        _anthropic(server).messages.stream(**ANTHROPIC_BODY) as stream,
    ):
        texts.extend(stream.text_stream)
    assert "".join(texts) == " ".join(f"tok{i}" for i in range(1, 13))


def test_disconnect_non_stream_cuts_the_body_short(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(disconnect_after=0)
    with pytest.raises(openai.APIConnectionError):
        _openai(server).chat.completions.create(**CHAT)
    with pytest.raises(httpx2.RemoteProtocolError):
        post(_chat_url(server), CHAT)


# --- latency and chunk_delay --------------------------------------------------------------------------------


async def test_latency_and_pacing_go_through_the_injected_sleep() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        await asyncio.sleep(0)

    sim = Simulator(sleep=fake_sleep, defaults=Scenario(latency=1.5, chunk_delay=0.25, chunks=3))
    with SimulatorServer(sim) as server:
        async with httpx2.AsyncClient() as client:
            response = await client.post(
                _chat_url(server), json=STREAM, headers={"authorization": "Bearer k"}
            )
            assert slept == [1.5, 0.25, 0.25, 0.25]  # before the answer; between 3 chunks; before the end
            assert len(data_frames(response.content)) == 1 + 3 + 2
            slept.clear()
            await client.post(_chat_url(server), json=CHAT, headers={"authorization": "Bearer k"})
            assert slept == [1.5]


def test_latency_delays_the_response_start(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(latency=0.3)
    started = time.monotonic()
    assert post(_chat_url(server), CHAT).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_chunk_delay_sends_each_chunk_separately(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(chunk_delay=0.05, chunks=4)
    arrivals: list[tuple[float, bytes]] = []
    with httpx2.stream(
        "POST", _chat_url(server), json=STREAM, headers={"authorization": "Bearer k"}
    ) as response:
        for piece in response.iter_raw():
            arrivals.append((time.monotonic(), piece))
    content_reads = [(t, p) for t, p in arrivals if b'"content":"' in p and b'"role"' not in p]
    assert len(content_reads) == 4  # each content chunk came in its own read
    assert all(len(data_frames(p)) == 1 for _, p in content_reads)
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(content_reads)]
    assert min(gaps) >= 0.04


# --- omit_usage ---------------------------------------------------------------------------------------------


def test_omit_usage_everywhere(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(omit_usage=True)
    assert "usage" not in post(_chat_url(server), CHAT).json()
    chunks = data_frames(post(_chat_url(server), STREAM).content)
    assert all(chunk.get("usage") is None for chunk in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    router = data_frames(post(_chat_url(server, "openrouter"), STREAM).content)
    assert all("usage" not in chunk for chunk in router)
    anthropic_stream = post(
        server.base_url("anthropic") + "/v1/messages", {**ANTHROPIC_BODY, "stream": True}, **ANTHROPIC_HEADERS
    )
    assert b'"usage"' not in anthropic_stream.content
    gemini = post(_gemini_stream_url(server), GEMINI_BODY, **{"x-goog-api-key": "k"}).content
    assert b"usageMetadata" not in gemini
    response = _openai(server).responses.create(model="gpt-4.1", input="hi")
    assert response.usage is None
    embeddings = post(server.base_url("openai") + "/embeddings", {"model": "e", "input": "x"}).json()
    assert "usage" not in embeddings


# --- scenario selection -------------------------------------------------------------------------------------


def test_enqueue_is_fifo_filtered_and_consumed_once(server: SimulatorServer, sim: Simulator) -> None:
    sim.enqueue(Scenario(output_tokens=1), provider="mistral")
    sim.enqueue(Scenario(output_tokens=2), path_contains="/embeddings")
    sim.enqueue(Scenario(output_tokens=3))
    sim.enqueue(Scenario(output_tokens=4))
    # openai chat: not mistral, not embeddings -> the third, then the fourth, then defaults
    words = [
        len(post(_chat_url(server), CHAT).json()["choices"][0]["message"]["content"].split()) for _ in "abc"
    ]
    assert words == [3, 4, 12]
    assert sim.pending == 2
    assert post(_chat_url(server, "mistral"), CHAT).json()["usage"]["completion_tokens"] == 1
    sim.reset()
    assert sim.pending == 0 and sim.received == []


def test_scenario_header_overrides_the_queue_and_defaults(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(output_tokens=5)
    sim.enqueue(Scenario(output_tokens=6, reasoning_tokens=2))
    usage = post(_chat_url(server), CHAT, **{SCENARIO_HEADER: '{"output_tokens": 1}'}).json()["usage"]
    assert usage["completion_tokens"] == 1 + 2  # header over the queued scenario's fields
    assert post(_chat_url(server), CHAT).json()["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize("header", ["not json", "[1]", '{"nope": 1}', '{"chunks": 0}', '{"latency": "slow"}'])
def test_bad_scenario_header_is_a_400(server: SimulatorServer, header: str) -> None:
    response = post(_chat_url(server), CHAT, **{SCENARIO_HEADER: header})
    assert response.status_code == 400
    assert SCENARIO_HEADER in response.json()["error"]["message"]


# --- auth ---------------------------------------------------------------------------------------------------


def test_valid_keys_are_enforced_in_each_providers_shape() -> None:
    sim = Simulator(valid_keys={"good-key-1234"})
    with SimulatorServer(sim) as server:
        assert post(_chat_url(server), CHAT, key="good-key-1234").status_code == 200
        wrong = post(_chat_url(server), CHAT, key="wrong-key-9876")
        assert wrong.status_code == 401
        assert wrong.json()["error"]["code"] == "invalid_api_key"
        assert "wrong-key" not in wrong.text and "9876" in wrong.text
        url = server.base_url("anthropic") + "/v1/messages"
        ok = httpx2.post(
            url, json=ANTHROPIC_BODY, headers={**ANTHROPIC_HEADERS, "x-api-key": "good-key-1234"}
        )
        assert ok.status_code == 200
        denied = httpx2.post(url, json=ANTHROPIC_BODY, headers=ANTHROPIC_HEADERS)
        assert denied.status_code == 401
        assert denied.json()["error"]["type"] == "authentication_error"


def test_missing_key_is_401(server: SimulatorServer) -> None:
    response = httpx2.post(_chat_url(server), json=CHAT)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    router = httpx2.post(_chat_url(server, "openrouter"), json=CHAT, headers={"authorization": "Basic x"})
    assert router.status_code == 401 and router.json()["error"]["code"] == 401


def test_unknown_provider_and_route(server: SimulatorServer, sim: Simulator) -> None:
    assert post(server.root + "/nowhere/v1/chat/completions", CHAT).status_code == 404
    assert post(server.base_url("openai") + "/completions", CHAT).status_code == 404
    assert [r.provider for r in sim.received] == [None, "openai"]


def test_received_records_the_raw_request(server: SimulatorServer, sim: Simulator) -> None:
    raw = b'{"model": "m", "messages": [{"role": "user", "content": "x"}]}'
    httpx2.post(
        _chat_url(server) + "?trace=1",
        content=raw,
        headers={"Authorization": "Bearer k", "X-Custom": "A", "content-type": "application/json"},
    )
    [request] = sim.received
    assert request.body == raw
    assert request.json == jsonx.loads(raw)
    assert request.query_string == "trace=1"
    assert request.header("X-CUSTOM") == "A" and request.headers["x-custom"] == "A"
