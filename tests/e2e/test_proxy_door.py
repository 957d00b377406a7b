"""``/api/proxy``: seed 000's envelope and error table, seed 003's endpoint form, native pass-through."""

from __future__ import annotations

import anthropic
import httpx2
import openai
import pytest

from tests.support.gateway import PROVIDER_KEY, Tenant, admin_call
from tollgate.testing import Scenario, Simulator


def proxy(tenant: Tenant, body: object, key: str | None = None) -> httpx2.Response:
    headers = {"authorization": f"Bearer {key or tenant.key}"}
    return httpx2.post(tenant.url + "/api/proxy", json=body, headers=headers, timeout=30)


def test_envelope_strips_meta_and_returns_the_provider_body_unmodified(
    tenant: Tenant, sim: Simulator
) -> None:
    response = proxy(
        tenant,
        {
            "provider": "openai",
            "payload": {
                "model": "gpt-4o",
                "messages": [{"role": "user", "content": "Summarize this article."}],
            },
            "_meta": {"routeName": "/api/summarize", "functionName": "generateSummary"},
        },
    )
    assert response.status_code == 200
    upstream = sim.received[-1]
    assert "_meta" not in upstream.json
    assert upstream.json == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Summarize this article."}],
    }
    body = response.json()
    assert "tollgate" not in body and body["choices"][0]["message"]["content"]
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["tags"]["routeName"] == "/api/summarize"
    assert record["tags"]["functionName"] == "generateSummary"
    assert record["door"] == "proxy"


@pytest.mark.parametrize(
    ("provider", "payload", "field"),
    [
        (
            "anthropic",
            {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
            "content",
        ),
        (
            "mistral",
            {"model": "mistral-small-latest", "messages": [{"role": "user", "content": "hi"}]},
            "choices",
        ),
        (
            "gemini",
            {"model": "gemini-2.5-flash", "contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            "candidates",
        ),
    ],
)
def test_envelope_reaches_each_provider(
    tenant: Tenant, sim: Simulator, provider: str, payload: dict, field: str
) -> None:
    response = proxy(tenant, {"provider": provider, "payload": payload})
    assert response.status_code == 200, response.text
    assert field in response.json()
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["provider"] == provider and record["outputTokens"] > 0


def test_envelope_stream(tenant: Tenant, sim: Simulator) -> None:
    body = {
        "provider": "openai",
        "payload": {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "go"}]},
    }
    with httpx2.stream(
        "POST", tenant.url + "/api/proxy", json=body, headers=tenant.headers(), timeout=30
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        data = b"".join(response.iter_bytes())
        request_id = response.headers["x-tollgate-request-id"]
    assert data.rstrip().endswith(b"data: [DONE]")
    assert b'"usage":{' not in data.replace(b" ", b"")  # injected usage chunk hidden
    assert tenant.record(request_id)["outputTokens"] == 12


def test_seed_000_error_table(tenant: Tenant, sim: Simulator) -> None:
    unauthorized = proxy(tenant, {"provider": "openai", "payload": {}}, key="wrong")
    assert (unauthorized.status_code, unauthorized.json()["error"]) == (401, "Unauthorized.")
    missing = proxy(tenant, {"provider": "openai"})
    assert (missing.status_code, missing.json()["error"]) == (400, "provider and payload are required.")
    payload = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert proxy(tenant, {"provider": "openai", "payload": payload}).status_code == 200
    # Remove the stored OpenAI key: the next call must fail before any upstream work.
    admin_call(
        tenant.server,
        "DELETE",
        f"/v1/provider-credentials/{tenant.credentials['openai']}",
        workspace=tenant.workspace_id,
    )
    gone = proxy(tenant, {"provider": "openai", "payload": payload})
    assert (gone.status_code, gone.json()["error"]) == (404, "No openai API key found.")
    assert len(sim.received) == 1, "no upstream call without a credential"


def test_unreachable_upstream_is_a_502(tenant: Tenant) -> None:
    tenant.admin(
        "PATCH",
        f"/v1/provider-credentials/{tenant.credentials['openai']}",
        json={"config": {"baseUrl": "http://127.0.0.1:9/v1"}},
    )
    payload = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    response = proxy(tenant, {"provider": "openai", "payload": payload})
    assert response.status_code == 502
    assert response.json()["error"] == "Provider error."
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "upstream_unreachable"


def test_upstream_error_is_forwarded_with_status_and_body(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(error_status=400, error_message="bad things in the prompt"))
    payload = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    response = proxy(tenant, {"provider": "openai", "payload": payload})
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "bad things in the prompt"


def test_endpoint_form_of_seed_003(tenant: Tenant, sim: Simulator) -> None:
    response = proxy(
        tenant,
        {
            "endpoint": "https://api.openai.com/v1/chat/completions",
            "messages": [{"role": "user", "content": "Hello, world!"}],
            "model": "gpt-3.5-turbo",
            "temperature": 0.7,
            "max_tokens": 100,
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "chat.completion"
    assert sim.received[-1].json["max_tokens"] == 100 and "endpoint" not in sim.received[-1].json
    assert sim.received[-1].path.endswith(
        "/openai/v1/chat/completions"
    )  # stored base URL, not the named host
    assert int(response.headers["x-costllm-tokens"]) == response.json()["usage"]["total_tokens"]
    assert response.headers["x-costllm-cost"] == response.headers["x-tollgate-cost"]
    assert response.headers["x-costllm-cached"] == "false"


def test_endpoint_form_refuses_unknown_hosts(tenant: Tenant, sim: Simulator) -> None:
    response = proxy(
        tenant, {"endpoint": "https://evil.example/v1/chat/completions", "model": "x", "messages": []}
    )
    assert response.status_code == 422
    assert sim.received == []


@pytest.mark.parametrize("prefix", ["/api/proxy/openai", "/api/proxy/openai/v1"])
def test_passthrough_with_the_openai_sdk(tenant: Tenant, sim: Simulator, prefix: str) -> None:
    client = openai.OpenAI(base_url=tenant.url + prefix, api_key=tenant.key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().choices
    upstream = sim.received[-1]
    assert upstream.path == "/openai/v1/chat/completions"
    assert upstream.header("authorization") == f"Bearer {PROVIDER_KEY}"
    assert upstream.header("user-agent").startswith("OpenAI/Python")  # client headers pass through
    assert tenant.record(raw.headers["x-tollgate-request-id"])["door"] == "passthrough"
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert all(chunk.usage is None for chunk in stream)


def test_passthrough_with_the_anthropic_sdk(tenant: Tenant, sim: Simulator) -> None:
    client = anthropic.Anthropic(
        base_url=tenant.url + "/api/proxy/anthropic", api_key=tenant.key, max_retries=0
    )
    message = client.messages.create(
        model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text
    assert sim.received[-1].header("x-api-key") == PROVIDER_KEY


@pytest.mark.parametrize("alias", ["gemini", "google"])
def test_passthrough_gemini_with_goog_key_header(tenant: Tenant, sim: Simulator, alias: str) -> None:
    url = f"{tenant.url}/api/proxy/{alias}/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    body = {"contents": [{"role": "user", "parts": [{"text": "stream it"}]}]}
    with httpx2.stream(
        "POST", url, json=body, headers={"x-goog-api-key": tenant.key}, timeout=30
    ) as response:
        assert response.status_code == 200
        text = b"".join(response.iter_bytes())
        request_id = response.headers["x-tollgate-request-id"]
    assert text.count(b"data: ") >= 2
    upstream = sim.received[-1]
    assert upstream.header("x-goog-api-key") == PROVIDER_KEY
    record = tenant.record(request_id)
    assert (
        record["provider"] == "gemini" and record["model"] == "gemini-2.5-flash" and record["stream"] is True
    )
    assert record["outputTokens"] == 12


def test_passthrough_strips_a_gateway_key_given_as_query_parameter(tenant: Tenant, sim: Simulator) -> None:
    url = f"{tenant.url}/api/proxy/gemini/v1beta/models/gemini-2.5-flash:generateContent?key={tenant.key}"
    response = httpx2.post(url, json={"contents": [{"parts": [{"text": "hi"}]}]}, timeout=30)
    assert response.status_code == 200, response.text
    assert tenant.key not in sim.received[-1].query_string
