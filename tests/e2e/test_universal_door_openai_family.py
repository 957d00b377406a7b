"""The OpenAI door serving the OpenAI-compatible family natively: the official ``openai`` SDK calls
``/v1/chat/completions`` with ``<provider>/<model>`` for every member the simulator serves, plain,
streamed with ``include_usage``, and with a forced tool call (whole and streamed).

Bodies and streams are forwarded as the member sends them: the SDK copes with their quirks (usage
on the finish chunk, comment lines, Azure's filter-only first chunk), and the record prices each
call, from the catalogue or from the member's own reported charge. The one quirk a client notices
is xAI's stream ending: its usage chunk is followed by one empty chunk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState

from tests.support.gateway import Tenant
from tollgate.testing import Scenario, Simulator


@dataclass(frozen=True)
class Member:
    provider: str  # tollgate's provider id (and the simulator's)
    model: str  # as the client names it: <provider>/<model>
    priced: bool  # the catalogue (or the provider's own charge) gives the call a cost

    @property
    def upstream_model(self) -> str:
        return self.model.partition("/")[2]


ALL_MEMBERS = (
    Member("openai", "openai/gpt-4o-mini", True),
    Member("mistral", "mistral/mistral-small-latest", True),
    Member("deepseek", "deepseek/deepseek-chat", True),
    Member("xai", "xai/grok-4", True),
    Member("openrouter", "openrouter/openai/gpt-4o", True),
    Member("together", "together/meta-llama/Llama-3.3-70B-Instruct-Turbo", True),
    Member("perplexity", "perplexity/sonar", True),
    Member("openai_compatible", "openai_compatible/llama3", False),
    Member("azure_openai", "azure_openai/gpt-4o-mini", True),
)
SERVED = frozenset(Simulator().providers)
MEMBERS = [pytest.param(m, id=m.provider) for m in ALL_MEMBERS if m.provider in SERVED]
INVOICE_TOOL: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_invoice",
            "description": "Look an invoice up",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
]
FORCE_INVOICE: Any = {"type": "function", "function": {"name": "get_invoice"}}


def client(tenant: Tenant) -> openai.OpenAI:
    return openai.OpenAI(base_url=tenant.url + "/v1", api_key=tenant.key, max_retries=0)


def ask(text: str = "Summarise the quarterly numbers") -> list[Any]:
    return [{"role": "user", "content": text}]


def words(n: int) -> str:
    return " ".join(f"tok{i}" for i in range(1, n + 1))


def assert_recorded(tenant: Tenant, request_id: str, member: Member, *, stream: bool) -> dict[str, Any]:
    """The record of a successful call through the OpenAI door to ``member``, costed when priced."""
    record = tenant.record(request_id)
    assert record["provider"] == member.provider and record["door"] == "openai"
    assert record["status"] == "success" and record["stream"] is stream
    assert record["model"] == member.upstream_model
    if member.priced:
        assert record["costUsd"] is not None and record["costNanos"] > 0
    else:
        assert record["costUsd"] is None and record["priceUnknown"] is True
    return record


@pytest.mark.parametrize("member", MEMBERS)
def test_plain_chat_is_forwarded_and_recorded(tenant: Tenant, sim: Simulator, member: Member) -> None:
    sim.enqueue(Scenario(output_tokens=9), provider=member.provider)
    raw = client(tenant).chat.completions.with_raw_response.create(model=member.model, messages=ask())
    completion = raw.parse()
    assert completion.choices[0].message.content == words(9)
    assert completion.choices[0].finish_reason == "stop"
    assert sim.received[-1].provider == member.provider
    upstream = sim.received[-1].json
    assert upstream["messages"] == ask() and upstream["model"] == member.upstream_model
    record = assert_recorded(tenant, raw.headers["x-tollgate-request-id"], member, stream=False)
    assert completion.usage is not None
    assert record["outputTokens"] == completion.usage.completion_tokens == 9
    assert record["inputTokens"] + record["cacheReadTokens"] == completion.usage.prompt_tokens
    if member.priced:
        assert raw.headers["x-tollgate-cost"] == record["costUsd"]


# OpenAI-family streams are relayed as the provider sends them. xAI puts usage on its finish chunk
# and then sends one empty chunk, so there the usage chunk is the one before the last.
MEMBERS_SERVED = [pytest.param(m, id=m.provider) for m in ALL_MEMBERS if m.provider in SERVED]


@pytest.mark.parametrize("member", MEMBERS_SERVED)
def test_stream_with_usage_carries_one_usage_chunk_and_costs_what_the_plain_call_does(
    tenant: Tenant, sim: Simulator, member: Member
) -> None:
    c = client(tenant)
    # The simulator is deterministic: the same request and scenario give the same usage.
    sim.enqueue(Scenario(output_tokens=20, chunks=5), provider=member.provider)
    plain = c.chat.completions.with_raw_response.create(model=member.model, messages=ask())
    plain_record = tenant.record(plain.headers["x-tollgate-request-id"])
    sim.enqueue(Scenario(output_tokens=20, chunks=5), provider=member.provider)
    with c.chat.completions.with_streaming_response.create(
        model=member.model, messages=ask(), stream=True, stream_options={"include_usage": True}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        request_id = response.headers["x-tollgate-request-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == words(20)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    at = -2 if member.provider == "xai" else -1
    usage = chunks[at].usage
    assert usage is not None, "the usage chunk is where the provider puts it"
    assert [c.usage is not None for c in chunks].count(True) == 1, "and it is the only one"
    record = assert_recorded(tenant, request_id, member, stream=True)
    assert record["outputTokens"] == usage.completion_tokens == 20
    assert record["inputTokens"] + record["cacheReadTokens"] == usage.prompt_tokens
    assert record["costNanos"] == plain_record["costNanos"]


@pytest.mark.parametrize("member", MEMBERS)
def test_a_forced_tool_call_plain_and_streamed(tenant: Tenant, sim: Simulator, member: Member) -> None:
    c = client(tenant)
    sim.enqueue(Scenario(output_tokens=3), provider=member.provider)
    raw = c.chat.completions.with_raw_response.create(
        model=member.model, messages=ask(), tools=INVOICE_TOOL, tool_choice=FORCE_INVOICE
    )
    first = raw.parse()
    assert first.choices[0].finish_reason == "tool_calls"
    (call,) = first.choices[0].message.tool_calls or []
    assert call.type == "function" and call.id and call.function.name == "get_invoice"
    assert json.loads(call.function.arguments) == {"query": words(3)}
    assert sim.received[-1].json["tool_choice"] == FORCE_INVOICE
    assert_recorded(tenant, raw.headers["x-tollgate-request-id"], member, stream=False)

    sim.enqueue(Scenario(output_tokens=8, chunks=4), provider=member.provider)
    # The SDK's own accumulator (what ``chat.completions.stream`` runs), fed chunk by chunk.
    state: ChatCompletionStreamState[None] = ChatCompletionStreamState(input_tools=INVOICE_TOOL)
    pieces: list[str] = []
    with c.chat.completions.with_streaming_response.create(
        model=member.model,
        messages=ask(),
        tools=INVOICE_TOOL,
        tool_choice=FORCE_INVOICE,
        stream=True,
        stream_options={"include_usage": True},
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        for chunk in response.parse():
            events = state.handle_chunk(chunk)
            pieces += [e.arguments_delta for e in events if e.type == "tool_calls.function.arguments.delta"]
    final = state.get_final_completion()
    assert final.choices[0].finish_reason == "tool_calls"
    (streamed,) = final.choices[0].message.tool_calls or []
    assert streamed.function.name == "get_invoice" and streamed.id
    assert json.loads(streamed.function.arguments) == {"query": words(8)}
    assert len([p for p in pieces if p]) == 4, "the arguments arrived in the provider's four pieces"
    record = assert_recorded(tenant, request_id, member, stream=True)
    assert record["outputTokens"] == 8
