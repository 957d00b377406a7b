"""Claude on AWS Bedrock through the Anthropic door, natively: the official ``anthropic`` SDK calls
``/v1/messages`` and the gateway calls Bedrock's ``InvokeModel`` (``/invoke`` and
``/invoke-with-response-stream``) with the Anthropic body, signed with SigV4; streams come back as
AWS event-stream ``chunk`` frames and reach the SDK as Anthropic SSE.

The expected cost is genai-prices' price of the usage the SDK was shown, for the Bedrock model id.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import anthropic
import httpx2
import pytest
from anthropic.types import Usage as MessageUsage
from genai_prices import Usage, calc_price

from tests.support.gateway import Tenant
from tollgate.core import jsonx
from tollgate.core.money import usd_to_nanos
from tollgate.providers.eventstream import EventStreamDecoder
from tollgate.testing import Scenario, Simulator
from tollgate.testing._bedrock import SIM_ACCESS_KEY_ID

pytestmark = pytest.mark.skipif("aws_bedrock" not in Simulator().providers, reason="no Bedrock")

BEDROCK_ID = "anthropic.claude-3-5-haiku-20241022-v1:0"
MODEL = f"aws_bedrock/{BEDROCK_ID}"
PROFILE_ID = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
WORDS_12 = " ".join(f"tok{i}" for i in range(1, 13))


def client(tenant: Tenant) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tenant.url, api_key=tenant.key, max_retries=0)


def ask(text: str = "Summarise the quarterly numbers") -> list[Any]:
    return [{"role": "user", "content": text}]


def expected_nanos(usage: MessageUsage, model: str = BEDROCK_ID) -> int:
    read = usage.cache_read_input_tokens or 0
    written = usage.cache_creation_input_tokens or 0
    priced = Usage(
        input_tokens=usage.input_tokens + read + written,
        cache_read_tokens=read,
        cache_write_tokens=written,
        output_tokens=usage.output_tokens,
    )
    return usd_to_nanos(calc_price(priced, model, provider_id="aws").total_price)


def assert_signed_invoke(sim: Simulator, operation: str, model: str = BEDROCK_ID) -> dict[str, Any]:
    upstream = sim.received[-1]
    assert upstream.provider == "aws_bedrock"
    assert upstream.path == f"/bedrock/model/{model}/{operation}"  # the simulator sees it decoded
    assert upstream.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={SIM_ACCESS_KEY_ID}/")
    body: dict[str, Any] = upstream.json
    assert "model" not in body and "stream" not in body
    return body


def test_a_plain_message_is_invoked_natively_and_priced(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(cache_read_tokens=1100), provider="aws_bedrock")
    raw = client(tenant).messages.with_raw_response.create(
        model=MODEL, max_tokens=256, system="Answer like a pirate.", messages=ask()
    )
    message = raw.parse()
    assert message.type == "message" and message.id.startswith("msg_")
    assert message.content[0].text == WORDS_12  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    body = assert_signed_invoke(sim, "invoke")
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert body["system"] == "Answer like a pirate." and body["max_tokens"] == 256
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["door"] == "anthropic" and record["provider"] == "aws_bedrock"
    assert record["operation"] == "messages" and record["status"] == "success"
    assert record["inputTokens"] == message.usage.input_tokens
    assert record["cacheReadTokens"] == message.usage.cache_read_input_tokens == 1100
    assert record["outputTokens"] == message.usage.output_tokens == 12
    assert record["costNanos"] == expected_nanos(message.usage) > 0
    metrics = (message.model_extra or {})["tollgate"]["metrics"]
    assert metrics["costUsd"] == record["costUsd"] == raw.headers["x-tollgate-cost"]


def test_a_client_anthropic_version_is_kept(tenant: Tenant, sim: Simulator) -> None:
    client(tenant).messages.create(
        model=f"bedrock/{PROFILE_ID}",
        max_tokens=64,
        messages=ask(),
        extra_body={"anthropic_version": "2026-10-21"},
    )
    assert assert_signed_invoke(sim, "invoke", PROFILE_ID)["anthropic_version"] == "2026-10-21"


def test_a_stream_arrives_as_anthropic_events_and_is_metered(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(output_tokens=25, chunks=5), provider="aws_bedrock")
    with client(tenant).messages.stream(model=MODEL, max_tokens=256, messages=ask()) as stream:
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
        request_id = stream.response.headers["x-tollgate-request-id"]
    text = final.content[0].text  # type: ignore[union-attr]
    assert text.split() == [f"tok{i}" for i in range(1, 26)]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 25
    body = assert_signed_invoke(sim, "invoke-with-response-stream")
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    record = tenant.record(request_id)
    assert record["provider"] == "aws_bedrock" and record["operation"] == "messages"
    assert record["stream"] is True and record["status"] == "success"
    assert record["outputTokens"] == 25 and record["inputTokens"] == final.usage.input_tokens
    assert record["costNanos"] == expected_nanos(final.usage) > 0


def test_a_streamed_tool_use_is_accumulated_by_the_sdk(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(output_tokens=8, chunks=4), provider="aws_bedrock")
    tools: Any = [
        {
            "name": "get_invoice",
            "description": "Look an invoice up",
            "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
        }
    ]
    with client(tenant).messages.stream(
        model=MODEL,
        max_tokens=256,
        messages=ask(),
        tools=tools,
        tool_choice={"type": "tool", "name": "get_invoice"},
    ) as stream:
        final = stream.get_final_message()
    use = final.content[-1]
    assert final.stop_reason == "tool_use"
    assert use.type == "tool_use" and use.input == {"query": " ".join(f"tok{i}" for i in range(1, 9))}


def test_a_midstream_exception_raises_in_the_sdk_and_is_recorded(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(
        Scenario(output_tokens=30, chunks=6, midstream_error_after=2, error_message="Too many tokens"),
        provider="aws_bedrock",
    )
    received: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client(tenant).messages.stream(model=MODEL, max_tokens=256, messages=ask()) as stream,
    ):
        request_id = stream.response.headers["x-tollgate-request-id"]
        received.extend(stream.text_stream)
    assert "Too many tokens" in str(caught.value)
    assert "".join(received).split() == [f"tok{i}" for i in range(1, 11)]  # two chunks of five
    record = tenant.record(request_id)
    assert record["status"] == "error" and record["stream"] is True
    assert record["errorCode"] == "throttlingException"


def test_an_upstream_error_comes_back_in_anthropic_shape(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(error_status=429, retry_after=3), provider="aws_bedrock")
    with pytest.raises(anthropic.RateLimitError) as caught:
        client(tenant).messages.create(model=MODEL, max_tokens=64, messages=ask())
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["message"].startswith("aws_bedrock answered 429")
    assert caught.value.response.headers["retry-after"] == "3"
    assert sim.received[-1].path.endswith("/invoke")


def test_other_bedrock_models_still_go_through_converse(tenant: Tenant, sim: Simulator) -> None:
    message = client(tenant).messages.create(
        model="aws_bedrock/amazon.nova-lite-v1:0", max_tokens=64, messages=ask()
    )
    assert message.content[0].text == WORDS_12  # type: ignore[union-attr]
    assert sim.received[-1].path.endswith("/converse")


@pytest.mark.parametrize("streamed", [False, True])
def test_the_native_pass_through_meters_claude_invoke(tenant: Tenant, sim: Simulator, streamed: bool) -> None:
    sim.enqueue(Scenario(output_tokens=9, chunks=3), provider="aws_bedrock")
    operation = "invoke-with-response-stream" if streamed else "invoke"
    url = f"{tenant.url}/api/proxy/aws_bedrock/model/{quote(BEDROCK_ID, safe='')}/{operation}"
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": ask()}
    response = httpx2.post(url, json=body, headers=tenant.headers(), timeout=30)
    assert response.status_code == 200
    if streamed:
        frames = EventStreamDecoder().feed(response.content)
        assert {m.event_type for m in frames} == {"chunk"}  # AWS's own frames, relayed as they came
    else:
        assert jsonx.loads(response.content)["usage"]["output_tokens"] == 9
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["operation"] == "messages" and record["stream"] is streamed
    assert record["status"] == "success" and record["outputTokens"] == 9 and record["costNanos"] > 0
