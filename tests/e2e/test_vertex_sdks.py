"""Official SDKs pointed at tollgate's pass-through door, with a gateway key as their only credential.

- ``google-genai`` against ``/api/proxy/gemini`` (the Gemini API) and ``/api/proxy/google_vertex``
  (Vertex AI: express mode, whose paths carry no project, and project mode with a static token);
- ``anthropic``'s ``AnthropicVertex`` against ``/api/proxy/google_vertex/v1`` (Claude on Vertex).

The gateway swaps the gateway key for the stored credential: a Gemini API key, or for Vertex a
fresh access token from the service account. Costs equal genai-prices on the usage the SDK saw.
"""

from __future__ import annotations

from typing import Any

import google.oauth2.credentials
import pytest
from anthropic import AnthropicVertex
from genai_prices import Usage, calc_price
from google import genai
from google.genai import types

from tests.support.gateway import PROVIDER_KEY, Tenant
from tollgate.core.money import usd_to_nanos
from tollgate.testing import Scenario, Simulator
from tollgate.testing._vertex_account import DEMO_LOCATION, DEMO_PROJECT

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4@20250514"
SCOPE = f"projects/{DEMO_PROJECT}/locations/{DEMO_LOCATION}"


def _options(tenant: Tenant, provider: str) -> types.HttpOptions:
    return types.HttpOptions(base_url=f"{tenant.url}/api/proxy/{provider}")


def gemini_api(tenant: Tenant) -> genai.Client:
    return genai.Client(api_key=tenant.key, http_options=_options(tenant, "gemini"))


def vertex_express(tenant: Tenant) -> genai.Client:
    return genai.Client(vertexai=True, api_key=tenant.key, http_options=_options(tenant, "google_vertex"))


def vertex_project(tenant: Tenant) -> genai.Client:
    # A static OAuth token: the SDK sends it as ``Authorization: Bearer`` and never refreshes it.
    token = google.oauth2.credentials.Credentials(token=tenant.key)  # type: ignore[no-untyped-call]
    return genai.Client(
        vertexai=True,
        project=DEMO_PROJECT,
        location=DEMO_LOCATION,
        credentials=token,
        http_options=_options(tenant, "google_vertex"),
    )


def gemini_nanos(usage: types.GenerateContentResponseUsageMetadata | None) -> int:
    assert usage is not None
    output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    counted = Usage(
        input_tokens=usage.prompt_token_count,
        cache_read_tokens=usage.cached_content_token_count or 0,
        output_tokens=output,
    )
    return usd_to_nanos(calc_price(counted, GEMINI, provider_id="google").total_price)


def request_id(response: types.GenerateContentResponse) -> str:
    assert response.sdk_http_response is not None and response.sdk_http_response.headers is not None
    return response.sdk_http_response.headers["x-tollgate-request-id"]


CLIENTS = {"gemini api": gemini_api, "vertex express": vertex_express, "vertex project": vertex_project}
UPSTREAM_PATH = {
    "gemini api": f"/gemini/v1/models/{GEMINI}",
    # Express mode sends no project: the gateway puts the credential's in.
    "vertex express": f"/vertex/v1beta1/{SCOPE}/publishers/google/models/{GEMINI}",
    "vertex project": f"/vertex/v1beta1/{SCOPE}/publishers/google/models/{GEMINI}",
}


@pytest.mark.parametrize("mode", list(CLIENTS))
def test_google_genai_plain_and_streamed(tenant: Tenant, sim: Simulator, mode: str) -> None:
    client = CLIENTS[mode](tenant)
    provider = "gemini" if mode == "gemini api" else "google_vertex"
    sim.enqueue(Scenario(reasoning_tokens=64, cache_read_tokens=10), provider=provider)
    response = client.models.generate_content(model=GEMINI, contents="Summarise the quarter, please.")
    assert response.text and response.text.startswith("tok1")
    upstream = [r for r in sim.received if r.provider == provider][-1]
    assert upstream.path == f"{UPSTREAM_PATH[mode]}:generateContent"
    if provider == "gemini":
        assert upstream.header("x-goog-api-key") == PROVIDER_KEY
    else:
        assert upstream.header("authorization").startswith("Bearer ya29.")
        assert upstream.header("x-goog-api-key") is None
    assert tenant.key not in str(upstream.headers)
    record = tenant.record(request_id(response))
    assert record["door"] == "passthrough" and record["provider"] == provider
    assert record["model"] == GEMINI and record["operation"] == "generate"
    assert record["costNanos"] == gemini_nanos(response.usage_metadata) > 0

    chunks = list(client.models.generate_content_stream(model=GEMINI, contents="Stream it, please."))
    assert len(chunks) > 2 and "".join(c.text or "" for c in chunks).startswith("tok1")
    upstream = [r for r in sim.received if r.provider == provider][-1]
    assert upstream.path == f"{UPSTREAM_PATH[mode]}:streamGenerateContent"
    assert upstream.query_string == "alt=sse"
    record = tenant.record(request_id(chunks[0]))
    assert record["stream"] is True and record["status"] == "success"
    assert record["costNanos"] == gemini_nanos(chunks[-1].usage_metadata) > 0


def _claude_nanos(usage: Any) -> int:
    counted = Usage(
        input_tokens=usage.input_tokens
        + (usage.cache_read_input_tokens or 0)
        + (usage.cache_creation_input_tokens or 0),
        cache_read_tokens=usage.cache_read_input_tokens or 0,
        cache_write_tokens=usage.cache_creation_input_tokens or 0,
        output_tokens=usage.output_tokens,
    )
    return usd_to_nanos(calc_price(counted, CLAUDE, provider_id="google").total_price)


def test_anthropic_vertex_sdk_plain_streamed_and_token_count(tenant: Tenant, sim: Simulator) -> None:
    client = AnthropicVertex(
        region=DEMO_LOCATION,
        project_id=DEMO_PROJECT,
        access_token=tenant.key,
        base_url=f"{tenant.url}/api/proxy/google_vertex/v1",
        max_retries=0,
    )
    messages: Any = [{"role": "user", "content": "Summarise the quarter, please."}]
    sim.enqueue(Scenario(cache_read_tokens=1200), provider="google_vertex")
    raw = client.messages.with_raw_response.create(model=CLAUDE, max_tokens=64, messages=messages)
    message = raw.parse()
    assert message.model == CLAUDE and message.usage.cache_read_input_tokens == 1200
    upstream = sim.received[-1]
    assert upstream.path == f"/vertex/v1/{SCOPE}/publishers/anthropic/models/{CLAUDE}:rawPredict"
    assert "model" not in upstream.json and upstream.json["anthropic_version"]
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["model"] == CLAUDE and record["operation"] == "messages"
    assert record["costNanos"] == _claude_nanos(message.usage) > 0

    with client.messages.stream(model=CLAUDE, max_tokens=64, messages=messages) as stream:
        final = stream.get_final_message()
        streamed_id = stream.response.headers["x-tollgate-request-id"]
    assert sim.received[-1].path.endswith(f"/models/{CLAUDE}:streamRawPredict")
    record = tenant.record(streamed_id)
    assert record["stream"] is True and record["costNanos"] == _claude_nanos(final.usage) > 0

    counted = client.messages.count_tokens(model=CLAUDE, messages=messages)
    assert counted.input_tokens > 0
    assert sim.received[-1].path == f"/vertex/v1/{SCOPE}/publishers/anthropic/models/count-tokens:rawPredict"
    exchanges = [r for r in sim.received if r.provider == "google_vertex_oauth"]
    assert len(exchanges) == 1  # one access token for all three calls


def test_a_wrong_gateway_key_gets_googles_error_shape(tenant: Tenant, sim: Simulator) -> None:
    client = genai.Client(
        vertexai=True, api_key="tg_not-a-real-key", http_options=_options(tenant, "google_vertex")
    )
    sent = len(sim.received)
    with pytest.raises(genai.errors.ClientError) as caught:
        client.models.generate_content(model=GEMINI, contents="hello")
    assert caught.value.code == 401 and caught.value.status == "UNAUTHENTICATED"
    assert len(sim.received) == sent
