"""The Anthropic door beyond Anthropic: the official ``anthropic`` SDK calls ``/v1/messages`` with
OpenAI-family, Gemini, Cohere and Bedrock's non-Claude models (translated both ways through the hub)
and with Claude on Vertex (forwarded natively: its answers are Anthropic-shaped). Claude on Bedrock
is native too: ``test_anthropic_door_bedrock_native.py``.

Tests run for every target the simulator serves (``Simulator().providers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
import pytest
from anthropic.types import Usage as MessageUsage
from genai_prices import Usage, calc_price

from tests.support.gateway import Tenant
from tollgate.core.money import usd_to_nanos
from tollgate.testing import Scenario, Simulator


@dataclass(frozen=True)
class Target:
    provider: str
    model: str  # as the client names it
    upstream_model: str
    genai_provider: str
    operation: str


ALL_TARGETS = (
    Target("openai", "gpt-4o-mini", "gpt-4o-mini", "openai", "chat"),
    Target("mistral", "mistral/mistral-small-latest", "mistral-small-latest", "mistral", "chat"),
    Target("gemini", "gemini-2.5-flash", "gemini-2.5-flash", "google", "generate"),
    Target("cohere", "cohere/command-a-03-2025", "command-a-03-2025", "cohere", "chat"),
    Target(
        "aws_bedrock",
        "bedrock/amazon.nova-lite-v1:0",
        "amazon.nova-lite-v1:0",
        "aws",
        "converse",
    ),
    Target("google_vertex", "vertex/gemini-2.5-flash", "gemini-2.5-flash", "google", "generate"),
)
SERVED = frozenset(Simulator().providers)


def served(targets: tuple[Target, ...]) -> list[Any]:
    return [pytest.param(t, id=t.model.replace("/", ":")) for t in targets if t.provider in SERVED]


TARGETS = served(ALL_TARGETS)
VERTEX_CLAUDE = pytest.mark.skipif("google_vertex" not in SERVED, reason="no Vertex in the simulator")
WORDS_12 = " ".join(f"tok{i}" for i in range(1, 13))


def client(tenant: Tenant) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tenant.url, api_key=tenant.key, max_retries=0)


def ask(text: str = "Summarise the quarterly numbers") -> list[Any]:
    return [{"role": "user", "content": text}]


def expected_nanos(target: Target, usage: MessageUsage) -> int:
    """What the usage the client was shown costs (Anthropic semantics: input excludes the cache)."""
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    priced = Usage(
        input_tokens=usage.input_tokens + read + written,
        cache_read_tokens=read,
        cache_write_tokens=written,
        output_tokens=usage.output_tokens,
    )
    price = calc_price(priced, target.upstream_model, provider_id=target.genai_provider)
    return usd_to_nanos(price.total_price)


@pytest.mark.parametrize("target", TARGETS)
def test_plain_message_is_translated_metered_and_priced(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    sim.enqueue(Scenario(cache_read_tokens=1100), provider=target.provider)
    raw = client(tenant).messages.with_raw_response.create(
        model=target.model, max_tokens=256, system="Answer like a pirate.", messages=ask()
    )
    message = raw.parse()
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == WORDS_12  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    upstream = sim.received[-1]
    assert upstream.provider == target.provider
    assert "Answer like a pirate." in upstream.body.decode()
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["door"] == "anthropic" and record["provider"] == target.provider
    assert record["operation"] == target.operation and record["status"] == "success"
    assert record["inputTokens"] == message.usage.input_tokens
    assert record["cacheReadTokens"] == (message.usage.cache_read_input_tokens or 0)
    assert record["outputTokens"] == message.usage.output_tokens == 12
    assert record["costNanos"] == expected_nanos(target, message.usage) > 0
    metrics = (message.model_extra or {})["tollgate"]["metrics"]
    assert metrics["costUsd"] == record["costUsd"] == raw.headers["x-tollgate-cost"]


@pytest.mark.parametrize("target", TARGETS)
def test_stream_is_translated_into_anthropic_events(tenant: Tenant, sim: Simulator, target: Target) -> None:
    sim.enqueue(Scenario(output_tokens=25, chunks=5), provider=target.provider)
    with client(tenant).messages.stream(model=target.model, max_tokens=256, messages=ask()) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-tollgate-request-id"]
    assert text.split() == [f"tok{i}" for i in range(1, 26)]
    assert final.stop_reason == "end_turn" and final.content[0].text == text  # type: ignore[union-attr]
    record = tenant.record(request_id)
    assert record["stream"] is True and record["status"] == "success"
    assert record["outputTokens"] == final.usage.output_tokens == 25
    assert record["inputTokens"] == final.usage.input_tokens
    assert record["costNanos"] == expected_nanos(target, final.usage)


@pytest.mark.parametrize("target", TARGETS)
def test_tools_and_tool_results_reach_the_provider(tenant: Tenant, sim: Simulator, target: Target) -> None:
    messages: list[Any] = [
        *ask("What is the total of invoice 7?"),
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_inv7", "name": "get_invoice", "input": {"number": "7"}}
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_inv7", "content": "total: 412.50 EUR"}],
        },
    ]
    tools: list[Any] = [
        {
            "name": "get_invoice",
            "description": "Look an invoice up by its number",
            "input_schema": {"type": "object", "properties": {"number": {"type": "string"}}},
        }
    ]
    message = client(tenant).messages.create(
        model=target.model, max_tokens=256, messages=messages, tools=tools
    )
    assert message.content[0].text  # type: ignore[union-attr]
    sent = sim.received[-1].body.decode()
    for needle in ("get_invoice", "Look an invoice up by its number", "412.50 EUR"):
        assert needle in sent


INVOICE_TOOL: list[Any] = [
    {
        "name": "get_invoice",
        "description": "Look an invoice up",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
]
FORCE_INVOICE: Any = {"type": "tool", "name": "get_invoice"}


def force_invoice(target: Target) -> Any:
    """Force the one tool offered: by name, or as "any" where the provider cannot name one."""
    return {"type": "any"} if target.provider == "cohere" else FORCE_INVOICE


@pytest.mark.parametrize("target", TARGETS)
def test_a_tool_use_round_trip(tenant: Tenant, sim: Simulator, target: Target) -> None:
    c = client(tenant)
    sim.enqueue(Scenario(output_tokens=3), provider=target.provider)
    first = c.messages.create(
        model=target.model,
        max_tokens=256,
        messages=ask(),
        tools=INVOICE_TOOL,
        tool_choice=force_invoice(target),
    )
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert len(uses) == 1 and uses[0].id and uses[0].name == "get_invoice"
    assert uses[0].input == {"query": "tok1 tok2 tok3"}
    follow_up: list[Any] = [
        *ask(),
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "412.50 EUR"}],
        },
    ]
    second = c.messages.create(model=target.model, max_tokens=256, messages=follow_up, tools=INVOICE_TOOL)
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
    sent = sim.received[-1].body.decode()
    assert "412.50 EUR" in sent and "tok1 tok2 tok3" in sent


@pytest.mark.parametrize("target", TARGETS)
def test_a_streamed_tool_use_is_accumulated_by_the_sdk(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    sim.enqueue(Scenario(output_tokens=8, chunks=4), provider=target.provider)
    with client(tenant).messages.stream(
        model=target.model,
        max_tokens=256,
        messages=ask(),
        tools=INVOICE_TOOL,
        tool_choice=force_invoice(target),
    ) as stream:
        partial = [e.partial_json for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    assert final.stop_reason == "tool_use"
    use = final.content[-1]
    assert use.type == "tool_use" and use.name == "get_invoice" and use.id
    assert use.input == {"query": " ".join(f"tok{i}" for i in range(1, 9))}
    # Gemini sends a call whole; the others stream its arguments in the scenario's four pieces.
    assert len(partial) == (1 if target.operation == "generate" else 4)
    assert final.usage.output_tokens == 8


@pytest.mark.parametrize("target", TARGETS)
def test_an_unsupported_feature_is_refused_by_name(tenant: Tenant, sim: Simulator, target: Target) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(tenant).messages.create(
            model=target.model,
            max_tokens=2048,
            messages=ask(),
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error" and error["code"] == "unsupported_feature"
    assert error["message"].startswith("thinking is not supported by")
    assert sim.received == []


@pytest.mark.parametrize("target", TARGETS)
def test_an_upstream_error_comes_back_in_anthropic_shape(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    sim.enqueue(Scenario(error_status=429, retry_after=3), provider=target.provider)
    with pytest.raises(anthropic.RateLimitError) as caught:
        client(tenant).messages.create(model=target.model, max_tokens=64, messages=ask())
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["message"].startswith(f"{target.provider} answered 429")
    assert caught.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize("target", TARGETS)
def test_a_stream_that_breaks_upstream_raises_in_the_sdk(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    sim.enqueue(Scenario(output_tokens=30, chunks=6, midstream_error_after=2), provider=target.provider)
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError),
        client(tenant).messages.stream(model=target.model, max_tokens=256, messages=ask()) as stream,
    ):
        request_id = stream.response.headers["x-tollgate-request-id"]
        for piece in stream.text_stream:
            received.append(piece)
    assert "".join(received).split()[:2] == ["tok1", "tok2"]
    record = tenant.record(request_id)
    assert record["status"] == "error" and record["stream"] is True


@VERTEX_CLAUDE
@pytest.mark.parametrize("stream", [False, True])
def test_claude_on_vertex_is_served_natively(tenant: Tenant, sim: Simulator, stream: bool) -> None:
    c = client(tenant)
    if stream:
        with c.messages.stream(model="vertex/claude-sonnet-4-6", max_tokens=64, messages=ask()) as s:
            text = "".join(s.text_stream)
            request_id = s.response.headers["x-tollgate-request-id"]
    else:
        raw = c.messages.with_raw_response.create(
            model="vertex/claude-sonnet-4-6", max_tokens=64, messages=ask()
        )
        text = raw.parse().content[0].text  # type: ignore[union-attr]
        request_id = raw.headers["x-tollgate-request-id"]
    assert text == WORDS_12
    upstream = sim.received[-1]
    action = "streamRawPredict" if stream else "rawPredict"
    assert upstream.path.endswith(f"/publishers/anthropic/models/claude-sonnet-4-6:{action}")
    assert "model" not in upstream.json and upstream.json["anthropic_version"]
    record = tenant.record(request_id)
    assert record["provider"] == "google_vertex" and record["operation"] == "messages"
    assert record["outputTokens"] == 12 and record["costNanos"] > 0


def test_plain_claude_names_stay_with_anthropic(tenant: Tenant, sim: Simulator) -> None:
    message = client(tenant).messages.create(model="claude-haiku-4-5", max_tokens=64, messages=ask())
    assert message.content[0].text == WORDS_12  # type: ignore[union-attr]
    assert sim.received[-1].provider == "anthropic"


def test_metadata_tags_are_recorded_on_a_translated_call(tenant: Tenant, sim: Simulator) -> None:
    raw = client(tenant).messages.with_raw_response.create(
        model="gemini-2.5-flash",
        max_tokens=64,
        messages=ask(),
        extra_body={"metadata": {"user_id": "u-7", "feature": "digest"}},
    )
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["tags"]["feature"] == "digest"
    assert "digest" not in sim.received[-1].body.decode()
