"""The OpenAI-compatible door, driven by the official ``openai`` SDK against the simulator."""

from __future__ import annotations

import openai
import pytest

from tests.support.gateway import PROVIDER_KEY, Tenant
from tollgate.testing import Scenario, Simulator


def client(tenant: Tenant, prefix: str = "/v1") -> openai.OpenAI:
    return openai.OpenAI(base_url=tenant.url + prefix, api_key=tenant.key, max_retries=0)


@pytest.mark.parametrize("prefix", ["/v1", "/v1/openai"])
def test_chat_plain(tenant: Tenant, sim: Simulator, prefix: str) -> None:
    raw = client(tenant, prefix).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Say hello to the team"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content
    # The stored key went upstream, the gateway key did not.
    upstream = sim.received[-1]
    assert upstream.header("authorization") == f"Bearer {PROVIDER_KEY}"
    assert tenant.key not in str(upstream.headers)
    # The body carries tollgate's metrics next to the provider's fields.
    metrics = (completion.model_extra or {})["tollgate"]["metrics"]
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert metrics["costUsd"] == record["costUsd"] == raw.headers["x-tollgate-cost"]
    assert record["door"] == "openai" and record["operation"] == "chat" and record["status"] == "success"
    assert record["inputTokens"] == completion.usage.prompt_tokens
    assert record["outputTokens"] == completion.usage.completion_tokens
    assert raw.headers["x-tollgate-tokens"] == str(completion.usage.total_tokens)
    assert raw.headers["x-tollgate-cache"] == "bypass"


def test_chat_stream_without_usage_request_hides_the_injected_usage_chunk(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(output_tokens=20, chunks=5))
    with client(tenant).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream please"}], stream=True
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 20
    assert all(c.usage is None for c in chunks), "the client did not ask for usage and must not see it"
    assert all(c.choices for c in chunks)
    assert sim.received[-1].json["stream_options"] == {"include_usage": True}
    record = tenant.record(request_id)
    assert record["stream"] is True and record["status"] == "success"
    assert record["outputTokens"] == 20 and record["estimated"] is False
    assert record["costUsd"] is not None


def test_chat_stream_with_usage_request_keeps_the_usage_chunk(tenant: Tenant, sim: Simulator) -> None:
    stream = client(tenant).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    usage_chunks = [c for c in chunks if c.usage is not None]
    assert len(usage_chunks) == 1 and usage_chunks[0].choices == []
    assert usage_chunks[0].usage.completion_tokens == 12


def test_responses_plain_and_streaming(tenant: Tenant, sim: Simulator) -> None:
    c = client(tenant)
    raw = c.responses.with_raw_response.create(model="gpt-4.1-mini", input="Write a haiku")
    response = raw.parse()
    assert response.output_text
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["operation"] == "responses"
    assert record["outputTokens"] == response.usage.output_tokens
    with c.responses.with_streaming_response.create(
        model="gpt-4.1-mini", input="Write a haiku", stream=True
    ) as s:
        request_id = s.headers["x-tollgate-request-id"]
        events = list(s.parse())
    assert events[-1].type == "response.completed"
    streamed = tenant.record(request_id)
    assert streamed["stream"] is True
    assert streamed["outputTokens"] == events[-1].response.usage.output_tokens


def test_embeddings_pass_base64_through(tenant: Tenant, sim: Simulator) -> None:
    raw = client(tenant).embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["one two three", "four"]
    )
    result = raw.parse()
    assert len(result.data) == 2 and len(result.data[0].embedding) > 0
    assert sim.received[-1].json["encoding_format"] == "base64"
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["operation"] == "embeddings"
    assert record["inputTokens"] == result.usage.prompt_tokens and record["outputTokens"] == 0


def test_provider_prefix_routes_to_that_provider(tenant: Tenant, sim: Simulator) -> None:
    completion = client(tenant).chat.completions.create(
        model="mistral/mistral-small-latest", messages=[{"role": "user", "content": "bonjour"}]
    )
    assert completion.model == "mistral-small-latest"
    upstream = sim.received[-1]
    assert upstream.provider == "mistral" and upstream.json["model"] == "mistral-small-latest"


def test_models_lists_what_the_workspace_can_call(tenant: Tenant) -> None:
    ids = {m.id for m in client(tenant).models.list()}
    assert "gpt-4o-mini" in ids
    assert any(i.startswith("claude") for i in ids)


def test_responses_for_a_model_of_another_family_is_refused_clearly(tenant: Tenant) -> None:
    # Chat completions translate to any provider (tests/e2e/test_universal_door.py); responses do not.
    with pytest.raises(openai.BadRequestError) as caught:
        client(tenant).responses.create(model="anthropic/claude-sonnet-4-6", input="hi")
    assert caught.value.code == "translation_not_supported"


def test_upstream_rate_limit_is_forwarded_with_retry_after(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(error_status=429, retry_after=7))
    with pytest.raises(openai.RateLimitError) as caught:
        client(tenant).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.response.headers["retry-after"] == "7"
    record = tenant.record(caught.value.response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["httpStatus"] == 429


def test_wrong_gateway_key_is_refused_in_openai_format(tenant: Tenant, sim: Simulator) -> None:
    bad = openai.OpenAI(base_url=tenant.url + "/v1", api_key="tg_not-a-real-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "invalid_api_key"
    assert sim.received == []
