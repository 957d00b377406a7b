"""Native pass-through for every OpenAI-compatible provider, driven by the ``openai`` SDK with the
provider's own base-URL convention under ``/api/proxy/{provider}``: plain and streamed, recorded."""

from __future__ import annotations

import openai
import pytest

from tests.support.gateway import PROVIDER_KEY, Tenant
from tollgate.testing import Simulator

# (provider, what the SDK's base URL adds after /api/proxy/{provider}, a model it serves,
#  the simulator path the call must reach, whether the model has a catalogue price)
CASES = [
    ("mistral", "/v1", "mistral-small-latest", "/mistral/v1/chat/completions", True),
    ("deepseek", "", "deepseek-chat", "/deepseek/chat/completions", True),
    ("xai", "/v1", "grok-4", "/xai/v1/chat/completions", True),
    ("openrouter", "/api/v1", "openai/gpt-4o", "/openrouter/api/v1/chat/completions", True),
    ("together", "/v1", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "/together/v1/chat/completions", True),
    ("perplexity", "", "sonar", "/perplexity/chat/completions", True),
    ("openai_compatible", "/v1", "llama3", "/compat/v1/chat/completions", False),
]


def client(tenant: Tenant, provider: str, suffix: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{tenant.url}/api/proxy/{provider}{suffix}", api_key=tenant.key, max_retries=0
    )


@pytest.mark.parametrize(("provider", "suffix", "model", "path", "priced"), CASES)
def test_plain_pass_through(
    tenant: Tenant, sim: Simulator, provider: str, suffix: str, model: str, path: str, priced: bool
) -> None:
    raw = client(tenant, provider, suffix).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "Draft the release notes"}]
    )
    completion = raw.parse()
    assert completion.choices[0].message.content
    upstream = sim.received[-1]
    assert upstream.path == path
    assert upstream.header("authorization") == f"Bearer {PROVIDER_KEY}"
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["provider"] == provider and record["door"] == "passthrough"
    assert record["status"] == "success" and record["outputTokens"] > 0
    assert (record["costUsd"] is not None) is priced


@pytest.mark.parametrize(("provider", "suffix", "model", "path", "priced"), CASES)
def test_streamed_pass_through(
    tenant: Tenant, sim: Simulator, provider: str, suffix: str, model: str, path: str, priced: bool
) -> None:
    with client(tenant, provider, suffix).chat.completions.with_streaming_response.create(
        model=model, messages=[{"role": "user", "content": "Draft the release notes"}], stream=True
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert sim.received[-1].path == path
    record = tenant.record(request_id)
    assert record["provider"] == provider and record["status"] == "success"
    assert record["outputTokens"] > 0 and record["estimated"] is False
    assert (record["costUsd"] is not None) is priced
