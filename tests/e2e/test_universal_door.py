"""The OpenAI door serving every provider: the official ``openai`` SDK calls ``/v1/chat/completions``
with Anthropic, Gemini, Cohere, Bedrock and Vertex models, translated both ways through the hub.

Tests run for every target the simulator serves (``Simulator().providers``), so a provider's
simulator routes switch its cases on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import pytest
from genai_prices import Usage, calc_price
from openai.types import CompletionUsage

from tests.support.gateway import Tenant
from tollgate.core.money import usd_to_nanos
from tollgate.testing import Scenario, Simulator


@dataclass(frozen=True)
class Target:
    provider: str  # tollgate's provider id (and the simulator's)
    model: str  # as the client names it
    genai_provider: str  # genai-prices' id, for the expected cost
    operation: str  # the native operation the record shows

    @property
    def upstream_model(self) -> str:
        return self.model.partition("/")[2]


ALL_TARGETS = (
    Target("anthropic", "anthropic/claude-sonnet-4-6", "anthropic", "messages"),
    Target("gemini", "gemini/gemini-2.5-flash", "google", "generate"),
    Target("cohere", "cohere/command-a-03-2025", "cohere", "chat"),
    Target("aws_bedrock", "bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", "aws", "converse"),
    Target("google_vertex", "vertex/gemini-2.5-flash", "google", "generate"),
    Target("google_vertex", "vertex/claude-sonnet-4-6", "google", "messages"),
)
SERVED = frozenset(Simulator().providers)


def served(targets: tuple[Target, ...]) -> list[Any]:
    return [pytest.param(t, id=t.model.replace("/", ":")) for t in targets if t.provider in SERVED]


TARGETS = served(ALL_TARGETS)
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def client(tenant: Tenant) -> openai.OpenAI:
    return openai.OpenAI(base_url=tenant.url + "/v1", api_key=tenant.key, max_retries=0)


def ask(text: str = "Summarise the quarterly numbers") -> list[Any]:
    return [{"role": "user", "content": text}]


def expected_nanos(target: Target, usage: CompletionUsage) -> int:
    """What the usage the client was shown costs, by genai-prices (OpenAI semantics: the prompt
    count includes cache reads and writes, the completion count includes reasoning)."""
    details = usage.prompt_tokens_details
    cached = details.cached_tokens or 0 if details else 0
    written = (details.model_extra or {}).get("cache_write_tokens") or 0 if details else 0
    priced = Usage(
        input_tokens=usage.prompt_tokens,
        cache_read_tokens=cached,
        cache_write_tokens=written,
        output_tokens=usage.completion_tokens,
    )
    price = calc_price(priced, target.upstream_model, provider_id=target.genai_provider)
    return usd_to_nanos(price.total_price)


@pytest.mark.parametrize("target", TARGETS)
def test_plain_chat_is_translated_metered_and_priced(tenant: Tenant, sim: Simulator, target: Target) -> None:
    sim.enqueue(Scenario(output_tokens=9, cache_read_tokens=1200), provider=target.provider)
    raw = client(tenant).chat.completions.with_raw_response.create(
        model=target.model,
        messages=[
            {"role": "system", "content": "Answer like a pirate."},
            {"role": "developer", "content": "Never mention the weather."},
            *ask(),
        ],
        max_completion_tokens=300,
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == " ".join(f"tok{i}" for i in range(1, 10))
    assert completion.choices[0].finish_reason == "stop"
    # The upstream got its own format: both instructions arrived, none of them as a chat turn.
    upstream = sim.received[-1]
    assert upstream.provider == target.provider
    assert "Answer like a pirate." in upstream.body.decode()
    assert "Never mention the weather." in upstream.body.decode()
    assert '"role":"developer"' not in upstream.body.decode().replace(" ", "")
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["door"] == "openai" and record["provider"] == target.provider
    assert record["operation"] == target.operation and record["status"] == "success"
    usage = completion.usage
    assert usage is not None
    assert (
        record["inputTokens"] + record["cacheReadTokens"] + record["cacheWriteTokens"] == usage.prompt_tokens
    )
    assert record["outputTokens"] == usage.completion_tokens == 9
    assert record["estimated"] is False
    assert record["costNanos"] == expected_nanos(target, usage) > 0
    # Seed 002's metrics ride along in the body and a header, as for a native answer.
    extra = completion.model_extra or {}
    assert extra["tollgate"]["metrics"]["costUsd"] == record["costUsd"] == raw.headers["x-tollgate-cost"]
    assert extra["killtoken"] == extra["tollgate"]
    assert json.loads(raw.headers["x-tollgate-metrics"])["requestId"] == record["id"]


@pytest.mark.parametrize("target", TARGETS)
def test_stream_with_usage_ends_with_the_usage_chunk(tenant: Tenant, sim: Simulator, target: Target) -> None:
    sim.enqueue(Scenario(output_tokens=20, chunks=5), provider=target.provider)
    with client(tenant).chat.completions.with_streaming_response.create(
        model=target.model, messages=ask(), stream=True, stream_options={"include_usage": True}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        request_id = response.headers["x-tollgate-request-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.split() == [f"tok{i}" for i in range(1, 21)]
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert all(c.usage is None for c in chunks[:-1])
    record = tenant.record(request_id)
    assert record["stream"] is True and record["status"] == "success"
    assert record["outputTokens"] == last.usage.completion_tokens == 20
    assert record["costNanos"] == expected_nanos(target, last.usage)


@pytest.mark.parametrize("target", TARGETS)
def test_stream_without_usage_request_shows_none(tenant: Tenant, sim: Simulator, target: Target) -> None:
    stream = client(tenant).chat.completions.create(model=target.model, messages=ask(), stream=True)
    chunks = list(stream)
    assert all(c.choices and c.usage is None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks).split()[-1] == "tok12"


@pytest.mark.parametrize("target", TARGETS)
def test_tool_definitions_calls_and_results_reach_the_provider(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    tools: list[Any] = [
        {
            "type": "function",
            "function": {
                "name": "get_invoice",
                "description": "Look an invoice up by its number",
                "parameters": {"type": "object", "properties": {"number": {"type": "string"}}},
            },
        }
    ]
    messages: list[Any] = [
        *ask("What is the total of invoice 7?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_inv7",
                    "type": "function",
                    "function": {"name": "get_invoice", "arguments": '{"number": "7"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_inv7", "content": '{"total": "412.50 EUR"}'},
    ]
    completion = client(tenant).chat.completions.create(model=target.model, messages=messages, tools=tools)
    assert completion.choices[0].message.content
    sent = sim.received[-1].body.decode()
    for needle in ("get_invoice", "Look an invoice up by its number", "412.50 EUR"):
        assert needle in sent


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


def force_invoice(target: Target) -> Any:
    """Force the one tool offered: by name, or as "required" where the provider cannot name one."""
    return "required" if target.provider == "cohere" else FORCE_INVOICE


@pytest.mark.parametrize("target", TARGETS)
def test_a_tool_call_round_trip(tenant: Tenant, sim: Simulator, target: Target) -> None:
    c = client(tenant)
    sim.enqueue(Scenario(output_tokens=3), provider=target.provider)
    first = c.chat.completions.create(
        model=target.model, messages=ask(), tools=INVOICE_TOOL, tool_choice=force_invoice(target)
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert len(calls) == 1 and calls[0].type == "function" and calls[0].id
    assert calls[0].function.name == "get_invoice"
    assert json.loads(calls[0].function.arguments) == {"query": "tok1 tok2 tok3"}
    # The caller runs the tool and sends the result back under the call's id.
    follow_up: list[Any] = [
        *ask(),
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": calls[0].id, "content": "invoice 7 totals 412.50 EUR"},
    ]
    second = c.chat.completions.create(model=target.model, messages=follow_up, tools=INVOICE_TOOL)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    sent = sim.received[-1].body.decode()
    assert "412.50 EUR" in sent and "tok1 tok2 tok3" in sent


@pytest.mark.parametrize("target", TARGETS)
def test_a_streamed_tool_call_is_accumulated_by_the_sdk(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    sim.enqueue(Scenario(output_tokens=8, chunks=4), provider=target.provider)
    with client(tenant).chat.completions.stream(
        model=target.model,
        messages=ask(),
        tools=INVOICE_TOOL,
        tool_choice=force_invoice(target),
        stream_options={"include_usage": True},
    ) as stream:
        deltas = [e for e in stream if e.type == "tool_calls.function.arguments.delta"]
        final = stream.get_final_completion()
    call = (final.choices[0].message.tool_calls or [])[0]
    assert final.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_invoice" and call.id
    assert json.loads(call.function.arguments) == {"query": " ".join(f"tok{i}" for i in range(1, 9))}
    assert "".join(d.arguments_delta for d in deltas) == call.function.arguments
    # Gemini sends a call whole; the others stream its arguments in the scenario's four pieces.
    pieces = [d.arguments_delta for d in deltas if d.arguments_delta]
    assert len(pieces) == (1 if target.operation == "generate" else 4)
    assert final.usage is not None and final.usage.completion_tokens == 8


@pytest.mark.parametrize("target", TARGETS)
def test_a_base64_image_reaches_the_provider(tenant: Tenant, sim: Simulator, target: Target) -> None:
    content: list[Any] = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
    ]
    completion = client(tenant).chat.completions.create(
        model=target.model, messages=[{"role": "user", "content": content}]
    )
    assert completion.choices[0].message.content
    assert PNG in sim.received[-1].body.decode()


@pytest.mark.parametrize("target", TARGETS)
def test_a_feature_the_provider_cannot_honour_is_refused_by_name(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(tenant).chat.completions.create(model=target.model, messages=ask(), logprobs=True)
    assert caught.value.code == "unsupported_feature"
    assert "logprobs is not supported by" in caught.value.message
    assert sim.received == []
    record = tenant.record(caught.value.response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "unsupported_feature"


def test_several_choices_are_refused_before_any_provider_is_called(tenant: Tenant, sim: Simulator) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(tenant).chat.completions.create(model="anthropic/claude-sonnet-4-6", messages=ask(), n=2)
    assert caught.value.code == "unsupported_feature" and "n > 1" in caught.value.message
    assert sim.received == []


@pytest.mark.parametrize("target", TARGETS)
def test_an_upstream_error_comes_back_in_openai_shape(tenant: Tenant, sim: Simulator, target: Target) -> None:
    sim.enqueue(Scenario(error_status=429, retry_after=7), provider=target.provider)
    with pytest.raises(openai.RateLimitError) as caught:
        client(tenant).chat.completions.create(model=target.model, messages=ask())
    error = caught.value
    assert error.status_code == 429
    assert f"{target.provider} answered 429" in error.message
    body = error.body
    assert isinstance(body, dict) and body["type"] == "rate_limit_error"
    assert error.response.headers["retry-after"] == "7"
    record = tenant.record(error.response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["httpStatus"] == 429


@pytest.mark.parametrize("target", TARGETS)
def test_an_upstream_error_on_a_stream_request_is_an_openai_error(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    sim.enqueue(Scenario(error_status=500), provider=target.provider)
    with pytest.raises(openai.InternalServerError) as caught:
        list(client(tenant).chat.completions.create(model=target.model, messages=ask(), stream=True))
    assert caught.value.status_code == 500
    assert f"{target.provider} answered 500" in caught.value.message


@pytest.mark.parametrize("failure", ["midstream_error_after", "disconnect_after"])
@pytest.mark.parametrize("target", TARGETS)
def test_a_stream_that_breaks_upstream_raises_in_the_sdk(
    tenant: Tenant, sim: Simulator, target: Target, failure: str
) -> None:
    knobs: dict[str, Any] = {failure: 2}
    sim.enqueue(Scenario(output_tokens=30, chunks=6, **knobs), provider=target.provider)
    received: list[str] = []
    with client(tenant).chat.completions.with_streaming_response.create(
        model=target.model, messages=ask(), stream=True, stream_options={"include_usage": True}
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        with pytest.raises(openai.APIError):
            for chunk in response.parse():
                received += [chunk.choices[0].delta.content or ""] if chunk.choices else []
    assert "".join(received).split()[:2] == ["tok1", "tok2"], "what came before the failure arrived"
    assert "tok30" not in "".join(received)
    record = tenant.record(request_id)
    assert record["status"] == "error" and record["stream"] is True


@pytest.mark.parametrize("target", TARGETS)
def test_metadata_tags_are_recorded_and_not_sent_upstream(
    tenant: Tenant, sim: Simulator, target: Target
) -> None:
    raw = client(tenant).chat.completions.with_raw_response.create(
        model=target.model, messages=ask(), metadata={"feature": "invoice-bot", "customerId": "cus_42"}
    )
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["tags"]["feature"] == "invoice-bot" and record["customerId"] == "cus_42"
    assert "invoice-bot" not in sim.received[-1].body.decode()


@pytest.mark.parametrize(
    ("model", "provider"), [("claude-haiku-4-5", "anthropic"), ("gemini-2.5-pro", "gemini")]
)
def test_a_plain_model_name_finds_its_provider(
    tenant: Tenant, sim: Simulator, model: str, provider: str
) -> None:
    completion = client(tenant).chat.completions.create(model=model, messages=ask())
    assert completion.choices[0].message.content
    assert sim.received[-1].provider == provider
    assert completion.model == model


@pytest.mark.parametrize("path", ["/v1/responses", "/v1/embeddings", "/v1/openai/responses"])
def test_responses_and_embeddings_refuse_other_providers_clearly(
    tenant: Tenant, sim: Simulator, path: str
) -> None:
    response = httpx2.post(
        tenant.url + path,
        headers=tenant.headers(),
        json={"model": "anthropic/claude-sonnet-4-6", "input": "hello"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "translation_not_supported"
    assert "anthropic" in error["message"] and "/v1/chat/completions" in error["message"]
    assert sim.received == []


def test_the_openai_prefix_path_translates_too(tenant: Tenant, sim: Simulator) -> None:
    c = openai.OpenAI(base_url=tenant.url + "/v1/openai", api_key=tenant.key, max_retries=0)
    completion = c.chat.completions.create(model="anthropic/claude-haiku-4-5", messages=ask())
    assert completion.choices[0].message.content
    assert sim.received[-1].path.endswith("/v1/messages")
