"""A provider's error answer is relayed as it came and recorded under the code the provider stated:
AWS's exception type (``x-amzn-ErrorType``), OpenAI's ``error.code``, Anthropic's ``error.type``,
Google's ``error.status``; ``upstream_{status}`` only when the provider names none (Cohere,
OpenRouter's numeric codes)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.support.gateway import Tenant
from tollgate.testing import Scenario, Simulator

ASK = "Summarise the quarterly numbers"
CHAT = [{"role": "user", "content": ASK}]
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": ASK}]}]}
PAYLOADS: dict[str, dict[str, Any]] = {
    "openai": {"model": "gpt-4o-mini", "messages": CHAT},
    "openrouter": {"model": "openai/gpt-4o-mini", "messages": CHAT},
    "anthropic": {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": CHAT},
    "gemini": {"model": "gemini-2.5-flash", **GEMINI_BODY},
    "google_vertex": {"model": "gemini-2.5-flash", **GEMINI_BODY},
    "cohere": {"model": "command-a-03-2025", "messages": CHAT},
    "aws_bedrock": {
        "model": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "messages": [{"role": "user", "content": [{"text": ASK}]}],
    },
}


@pytest.mark.parametrize(
    ("provider", "status", "code"),
    [
        ("aws_bedrock", 400, "ValidationException"),
        ("aws_bedrock", 429, "ThrottlingException"),
        ("openai", 429, "rate_limit_exceeded"),
        ("openai", 500, "server_error"),
        ("anthropic", 529, "overloaded_error"),
        ("gemini", 429, "RESOURCE_EXHAUSTED"),
        ("google_vertex", 403, "PERMISSION_DENIED"),
        ("cohere", 429, "upstream_429"),
        ("openrouter", 429, "upstream_429"),
    ],
)
def test_an_error_answer_is_recorded_under_the_providers_own_code(
    tenant: Tenant, sim: Simulator, provider: str, status: int, code: str
) -> None:
    sim.enqueue(Scenario(error_status=status, error_message="refused for the test"), provider=provider)
    body = {"provider": provider, "payload": PAYLOADS[provider]}
    response = httpx2.post(tenant.url + "/api/proxy", json=body, headers=tenant.headers(), timeout=30)
    assert response.status_code == status
    assert "refused for the test" in response.text  # the provider's body, as it came
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["httpStatus"] == status
    assert record["errorCode"] == code
    assert record["costNanos"] in (0, None)
