"""The OpenAI-compatible family's quirks, asserted on the raw wire (PROVIDERS.md §0, A.8, A.10)."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from sim_helpers import CHAT, CHAT_PROMPT_TOKENS, data_frames, post, split_frames

from tollgate.testing import Scenario, Simulator, SimulatorServer

STREAM: dict[str, Any] = {**CHAT, "stream": True}
WITH_USAGE: dict[str, Any] = {**STREAM, "stream_options": {"include_usage": True}}


def _chat_url(server: SimulatorServer, provider: str) -> str:
    return server.base_url(provider) + "/chat/completions"


@pytest.mark.parametrize(
    ("provider", "path"),
    [
        ("openai", "/openai/v1/chat/completions"),
        ("mistral", "/mistral/v1/chat/completions"),
        ("deepseek", "/deepseek/chat/completions"),
        ("xai", "/xai/v1/chat/completions"),
        ("openrouter", "/openrouter/api/v1/chat/completions"),
        ("together", "/together/v1/chat/completions"),
        ("perplexity", "/perplexity/chat/completions"),
        ("openai_compatible", "/compat/v1/chat/completions"),
    ],
)
def test_every_chat_provider_works_through_the_openai_sdk(
    server: SimulatorServer, sim: Simulator, provider: str, path: str
) -> None:
    client = openai.OpenAI(base_url=server.base_url(provider), api_key="k", max_retries=0)
    result = client.chat.completions.create(**CHAT)
    assert result.choices[0].message.content == " ".join(f"tok{i}" for i in range(1, 13))
    streamed = client.chat.completions.create(**WITH_USAGE)
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == result.choices[0].message.content
    assert [r.path for r in sim.received] == [path, path]
    assert {r.provider for r in sim.received} == {provider}


def test_deepseek_accepts_v1_and_reports_hit_and_miss(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(cache_read_tokens=64, cache_write_tokens=8, reasoning_tokens=5)
    usage = post(server.root + "/deepseek/v1/chat/completions", CHAT).json()["usage"]
    assert usage["prompt_cache_hit_tokens"] == 64
    assert usage["prompt_cache_miss_tokens"] == CHAT_PROMPT_TOKENS + 8
    assert usage["prompt_tokens"] == usage["prompt_cache_hit_tokens"] + usage["prompt_cache_miss_tokens"]
    assert usage["completion_tokens"] == 12 + 5
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 5


def test_deepseek_stream_sends_keep_alive_comments_before_content(server: SimulatorServer) -> None:
    frames = split_frames(post(_chat_url(server, "deepseek"), WITH_USAGE).content)
    assert frames[0].raw == b": keep-alive" and frames[0].comment
    first_data = next(i for i, f in enumerate(frames) if f.data is not None)
    assert all(f.comment for f in frames[:first_data])
    assert data_frames(post(_chat_url(server, "deepseek"), WITH_USAGE).content)[-1]["choices"] == []


def test_deepseek_stream_without_include_usage_has_none(server: SimulatorServer) -> None:
    assert all("usage" not in f for f in data_frames(post(_chat_url(server, "deepseek"), STREAM).content))


def test_mistral_puts_usage_on_the_final_chunk_without_asking(server: SimulatorServer) -> None:
    response = post(_chat_url(server, "mistral"), STREAM)
    assert response.content.endswith(b"data: [DONE]\n\n")
    frames = data_frames(response.content)
    assert frames[-1]["choices"][0]["finish_reason"] == "stop"
    assert frames[-1]["usage"]["prompt_tokens"] == CHAT_PROMPT_TOKENS
    assert all("usage" not in f for f in frames[:-1])


def test_mistral_validation_errors_are_422_detail(server: SimulatorServer) -> None:
    response = post(_chat_url(server, "mistral"), {"model": "mistral-small"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "messages"]


def test_xai_completion_excludes_reasoning_but_total_includes_it(
    server: SimulatorServer, sim: Simulator
) -> None:
    sim.defaults = Scenario(reasoning_tokens=30, output_tokens=4)
    usage = post(_chat_url(server, "xai"), CHAT).json()["usage"]
    assert usage["completion_tokens"] == 4
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 30
    assert usage["total_tokens"] == CHAT_PROMPT_TOKENS + 4 + 30
    assert usage["cost_in_usd_ticks"] == round(((CHAT_PROMPT_TOKENS) * 1e-6 + 34 * 2e-6) * 1e10)


def test_xai_stream_usage_is_on_the_chunk_before_the_last(server: SimulatorServer) -> None:
    frames = data_frames(post(_chat_url(server, "xai"), WITH_USAGE).content)
    assert "usage" not in frames[-1] and frames[-1]["choices"] == []
    assert frames[-2]["usage"]["completion_tokens"] == 12
    assert frames[-2]["choices"][0]["finish_reason"] == "stop"
    assert sum("usage" in f for f in frames) == 1


def test_openrouter_always_sends_usage_with_cost_last(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(cache_read_tokens=3)
    response = post(_chat_url(server, "openrouter"), STREAM)  # no include_usage
    frames = split_frames(response.content)
    assert frames[0].comment and frames[0].raw == b": OPENROUTER PROCESSING"
    chunks = data_frames(response.content)
    usage = chunks[-1]["usage"]
    assert usage["cost"] == pytest.approx((CHAT_PROMPT_TOKENS + 3) * 1e-6 + 12 * 2e-6)
    assert usage["prompt_tokens_details"]["cached_tokens"] == 3
    assert response.headers["x-generation-id"] == chunks[0]["id"]
    assert post(_chat_url(server, "openrouter"), CHAT).json()["usage"]["cost"] == usage["cost"]


def test_together_puts_usage_on_the_finish_reason_chunk(server: SimulatorServer) -> None:
    frames = data_frames(post(_chat_url(server, "together"), STREAM).content)
    assert frames[-1]["choices"][0]["finish_reason"] == "stop"
    assert frames[-1]["usage"]["total_tokens"] == CHAT_PROMPT_TOKENS + 12


def test_perplexity_reports_cost_and_citations(server: SimulatorServer) -> None:
    body = post(_chat_url(server, "perplexity"), CHAT).json()
    assert body["citations"] and body["search_results"][0]["url"] == body["citations"][0]
    cost = body["usage"]["cost"]
    assert cost["total_cost"] == pytest.approx(cost["input_tokens_cost"] + cost["output_tokens_cost"] + 0.005)
    frames = data_frames(post(_chat_url(server, "perplexity"), STREAM).content)
    assert frames[-1]["usage"]["cost"]["total_cost"] == cost["total_cost"]


def test_openai_compatible_needs_include_usage(server: SimulatorServer) -> None:
    assert all(
        "usage" not in f for f in data_frames(post(_chat_url(server, "openai_compatible"), STREAM).content)
    )
    frames = data_frames(post(_chat_url(server, "openai_compatible"), WITH_USAGE).content)
    assert frames[-1]["choices"] == [] and frames[-1]["usage"]["completion_tokens"] == 12


@pytest.mark.parametrize("provider", ["mistral", "together", "openai_compatible"])
def test_embeddings_in_the_family(server: SimulatorServer, provider: str) -> None:
    body = post(server.base_url(provider) + "/embeddings", {"model": "e", "input": ["a b c", "d"]}).json()
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert body["usage"] == {"prompt_tokens": 4, "total_tokens": 4}


def test_xai_serves_responses(server: SimulatorServer) -> None:
    client = openai.OpenAI(base_url=server.base_url("xai"), api_key="xai-k", max_retries=0)
    response = client.responses.create(model="grok-4", input="hi")
    assert response.output_text.startswith("tok1 ")
