"""The Anthropic-compatible door, driven by the official ``anthropic`` SDK."""

from __future__ import annotations

import anthropic
import pytest

from tests.support.gateway import PROVIDER_KEY, Tenant
from tollgate.testing import Scenario, Simulator


def client(tenant: Tenant) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tenant.url, api_key=tenant.key, max_retries=0)


def test_messages_plain_with_cache_usage(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(cache_read_tokens=300, cache_write_tokens=200, cache_write_1h_tokens=50))
    raw = client(tenant).messages.with_raw_response.create(
        model="claude-sonnet-4-6", max_tokens=256, messages=[{"role": "user", "content": "Hello Claude"}]
    )
    message = raw.parse()
    assert message.content[0].text
    upstream = sim.received[-1]
    assert upstream.header("x-api-key") == PROVIDER_KEY and upstream.header("authorization") is None
    assert upstream.header("anthropic-version")  # the SDK's version header went upstream
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["inputTokens"] == message.usage.input_tokens
    assert record["cacheReadTokens"] == 300 and record["cacheWriteTokens"] == 200
    assert record["door"] == "anthropic" and record["operation"] == "messages"


def test_old_sdk_style_x_api_key_is_accepted(tenant: Tenant, sim: Simulator) -> None:
    import httpx2

    response = httpx2.post(
        tenant.url + "/v1/anthropic/messages",
        headers={"x-api-key": tenant.key, "anthropic-version": "2023-06-01"},
        json={"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["tollgate"]["metrics"]["provider"] == "anthropic"


def test_messages_stream_is_relayed_and_metered(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(output_tokens=30, chunks=6, cache_read_tokens=100))
    with client(tenant).messages.stream(
        model="claude-sonnet-4-6", max_tokens=256, messages=[{"role": "user", "content": "stream it"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["x-tollgate-request-id"]
    assert len(text.split()) == 30
    record = tenant.record(request_id)
    assert record["stream"] is True and record["status"] == "success"
    assert record["outputTokens"] == final.usage.output_tokens == 30
    assert record["cacheReadTokens"] == 100
    assert record["inputTokens"] == final.usage.input_tokens


def test_midstream_error_reaches_the_sdk_and_the_record(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(output_tokens=30, chunks=6, midstream_error_after=2))
    with (
        pytest.raises(anthropic.APIStatusError),
        client(tenant).messages.stream(
            model="claude-sonnet-4-6", max_tokens=256, messages=[{"role": "user", "content": "stream it"}]
        ) as stream,
    ):
        request_id = stream.response.headers["x-tollgate-request-id"]
        for _ in stream.text_stream:
            pass
    record = tenant.record(request_id)
    assert record["status"] == "error"
    assert record["errorCode"]


def test_token_counting_for_a_non_anthropic_model_is_refused_in_anthropic_format(tenant: Tenant) -> None:
    # Messages translate to any provider (tests/e2e/test_anthropic_door_translation.py); counting does not.
    with pytest.raises(anthropic.BadRequestError) as caught:
        client(tenant).messages.count_tokens(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.body["error"]["type"] == "invalid_request_error"


def test_metadata_feature_tags_the_call_and_is_not_forwarded(tenant: Tenant, sim: Simulator) -> None:
    raw = client(tenant).messages.with_raw_response.create(
        model="claude-haiku-4-5",
        max_tokens=32,
        messages=[{"role": "user", "content": "hi"}],
        metadata={"user_id": "u-42", "feature": "support-bot"},  # type: ignore[typeddict-unknown-key]
    )
    assert sim.received[-1].json["metadata"] == {"user_id": "u-42"}
    assert tenant.record(raw.headers["x-tollgate-request-id"])["tags"]["feature"] == "support-bot"
