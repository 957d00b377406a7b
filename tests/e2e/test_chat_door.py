"""``POST /v1/chat`` exactly as seed 002 documents it."""

from __future__ import annotations

import httpx2
import pytest

from tests.support.gateway import Tenant
from tollgate.core import jsonx
from tollgate.testing import Scenario, Simulator


def chat(tenant: Tenant, body: object, key: str | None = None, **headers: str) -> httpx2.Response:
    auth = {"authorization": f"Bearer {key or tenant.key}", **headers}
    return httpx2.post(tenant.url + "/v1/chat", json=body, headers=auth, timeout=30)


def test_quickstart_request_of_seed_002(tenant: Tenant, sim: Simulator) -> None:
    response = chat(
        tenant,
        {
            "provider": "openai",
            "model": "gpt-4.1",
            "optimizationMode": "measure_only",
            "messages": [{"role": "user", "content": "Write a concise project update."}],
            "metadata": {"feature": "weekly-summary"},
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["response"]["object"] == "chat.completion"
    metrics = body["metrics"]
    assert metrics["provider"] == "openai" and metrics["model"] == "gpt-4.1"
    assert metrics["feature"] == "weekly-summary"
    assert metrics["inputTokens"] == body["response"]["usage"]["prompt_tokens"]
    assert metrics["costUsd"] == response.headers["x-tollgate-cost"]
    assert metrics["optimizationMode"] == "measure_only"
    record = tenant.record(metrics["requestId"])
    assert record["tags"]["feature"] == "weekly-summary" and record["door"] == "chat"


@pytest.mark.parametrize(
    ("provider", "model", "path"),
    [
        ("anthropic", "claude-haiku-4-5", "/anthropic/v1/messages"),
        ("gemini", "gemini-2.5-flash", "/gemini/v1beta/models/gemini-2.5-flash:generateContent"),
        ("deepseek", "deepseek-chat", "/deepseek/chat/completions"),
        ("xai", "grok-4", "/xai/v1/chat/completions"),
        ("openrouter", "openai/gpt-4o", "/openrouter/api/v1/chat/completions"),
        ("together", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "/together/v1/chat/completions"),
        ("perplexity", "sonar", "/perplexity/chat/completions"),
        ("openai_compatible", "llama3", "/compat/v1/chat/completions"),
    ],
)
def test_every_provider_of_this_issue(
    tenant: Tenant, sim: Simulator, provider: str, model: str, path: str
) -> None:
    response = chat(
        tenant,
        {
            "provider": provider,
            "model": model,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
        },
    )
    assert response.status_code == 200, response.text
    assert sim.received[-1].path == path
    assert response.json()["metrics"]["outputTokens"] > 0
    if provider == "anthropic":
        assert sim.received[-1].json["system"] == "Be brief."
        assert sim.received[-1].json["max_tokens"] > 0
    if provider == "gemini":
        assert sim.received[-1].json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}


def test_feature_header_is_used_when_the_body_has_none(tenant: Tenant, sim: Simulator) -> None:
    body = {"provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    assert (
        chat(tenant, body, **{"x-tollgate-feature": "support-bot"}).json()["metrics"]["feature"]
        == "support-bot"
    )
    body["metadata"] = {"feature": "  from-body  "}
    assert (
        chat(tenant, body, **{"x-tollgate-feature": "support-bot"}).json()["metrics"]["feature"]
        == "from-body"
    )
    body["metadata"] = {"feature": "x" * 200}
    assert len(chat(tenant, body).json()["metrics"]["feature"]) == 80


def test_streaming_relays_provider_events_then_metrics(tenant: Tenant, sim: Simulator) -> None:
    body = {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "stream": True,
        "messages": [{"role": "user", "content": "stream"}],
    }
    with httpx2.stream("POST", tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30) as r:
        raw = b"".join(r.iter_bytes())
    events = [block for block in raw.split(b"\n\n") if block.strip()]
    assert b"event: message_start" in events[0]
    assert events[-1].startswith(b"event: metrics\ndata: ")
    metrics = jsonx.loads(events[-1].split(b"data: ", 1)[1])
    assert metrics["outputTokens"] == 12 and metrics["costUsd"] is not None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"provider": "openai", "model": "gpt-4o", "messages": []}, 400, "invalid_messages"),
        (
            {"provider": "openai", "model": "gpt-4o", "messages": [{"role": "wizard", "content": "x"}]},
            400,
            "invalid_messages",
        ),
        ({"provider": "openai", "model": "gpt-4o", "messages": "hello"}, 400, "invalid_messages"),
        (
            {"provider": "skynet", "model": "x", "messages": [{"role": "user", "content": "x"}]},
            422,
            "provider_not_supported",
        ),
        ({"model": "x", "messages": [{"role": "user", "content": "x"}]}, 422, "provider_not_supported"),
        ({"provider": "openai", "messages": [{"role": "user", "content": "x"}]}, 400, "invalid_model"),
        (
            {
                "provider": "openai",
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "cachePolicy": {"exactCache": "sometimes"},
            },
            400,
            "invalid_cache_policy",
        ),
        (
            {
                "provider": "openai",
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "idempotencyKey": "k" * 256,
            },
            400,
            "invalid_idempotency_key",
        ),
    ],
)
def test_seed_002_error_codes(tenant: Tenant, sim: Simulator, body: dict, status: int, code: str) -> None:
    response = chat(tenant, body)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert sim.received == []


def test_missing_key_and_missing_credential(tenant: Tenant, sim: Simulator) -> None:
    body = {"provider": "openai", "model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
    unauthorized = httpx2.post(tenant.url + "/v1/chat", json=body, timeout=30)
    assert unauthorized.status_code == 401 and unauthorized.json()["error"]["code"] == "missing_api_key"
    assert chat(tenant, body, key="tg_bogus").json()["error"]["code"] == "invalid_api_key"
    tenant.admin("DELETE", f"/v1/provider-credentials/{tenant.credentials['openai']}")
    missing = chat(tenant, body)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "provider_credential_required"
    assert sim.received == []
    record = tenant.record(missing.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "provider_credential_required"


def test_malformed_json_and_oversized_bodies(tenant: Tenant, sim: Simulator) -> None:
    bad = httpx2.post(
        tenant.url + "/v1/chat",
        content=b"{not json",
        headers={**tenant.headers(), "content-type": "application/json"},
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
    big = b'{"provider": "openai", "pad": "' + b"x" * (11 * 1024 * 1024) + b'"}'
    too_big = httpx2.post(tenant.url + "/v1/chat", content=big, headers=tenant.headers(), timeout=60)
    assert too_big.status_code == 413 and too_big.json()["error"]["code"] == "payload_too_large"
    assert sim.received == []


def test_provider_error_keeps_status_and_body(tenant: Tenant, sim: Simulator) -> None:
    body = {
        "provider": "openai",
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "x"}],
    }
    sim.enqueue(Scenario(error_status=503))
    response = chat(tenant, body)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "provider_error" and error["providerStatus"] == 503
    assert "error" in error["providerError"]


def test_unknown_paths_and_methods_answer_in_the_error_format(tenant: Tenant) -> None:
    missing = httpx2.get(tenant.url + "/v1/nothing-here", headers=tenant.headers())
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = httpx2.get(tenant.url + "/v1/chat", headers=tenant.headers())
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["allow"]
