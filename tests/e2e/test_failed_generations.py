"""A 200 whose generation failed (Gemini's ``MALFORMED_FUNCTION_CALL`` finish): the universal door
answers 502 and the record says ``error``, coded by the finish reason, with the tokens that were
billed; the pass-through still relays the provider's body untouched, and records the same failure.
"""

from __future__ import annotations

from typing import Any

import httpx2
import openai
import pytest

from tests.support.gateway import Tenant
from tollgate.testing import Scenario, Simulator

FAILED = Scenario(finish_reason="MALFORMED_FUNCTION_CALL", output_tokens=7)
CODE = "upstream_finish_malformed_function_call"
TARGETS = [
    pytest.param("gemini", "gemini/gemini-2.5-flash", id="gemini"),
    pytest.param("google_vertex", "vertex/gemini-2.5-flash", id="vertex"),
]


def client(tenant: Tenant) -> openai.OpenAI:
    return openai.OpenAI(base_url=tenant.url + "/v1", api_key=tenant.key, max_retries=0)


def ask() -> list[Any]:
    return [{"role": "user", "content": "Look up the quarterly numbers"}]


def assert_failed_record(record: dict[str, Any], *, stream: bool) -> None:
    assert record["status"] == "error" and record["httpStatus"] == 502
    assert record["errorCode"] == CODE
    assert record["stream"] is stream
    # The provider billed the attempt: its usage is recorded and priced, not estimated.
    assert record["outputTokens"] == 7 and record["inputTokens"] > 0
    assert record["estimated"] is False and record["costNanos"] > 0


@pytest.mark.parametrize(("provider", "model"), TARGETS)
def test_the_universal_door_answers_502_and_records_the_failure(
    tenant: Tenant, sim: Simulator, provider: str, model: str
) -> None:
    sim.enqueue(FAILED, provider=provider)
    with pytest.raises(openai.InternalServerError) as caught:
        client(tenant).chat.completions.create(model=model, messages=ask())
    assert caught.value.status_code == 502
    assert "MALFORMED_FUNCTION_CALL" in caught.value.message
    record = tenant.record(caught.value.response.headers["x-tollgate-request-id"])
    assert record["door"] == "openai" and record["provider"] == provider
    assert_failed_record(record, stream=False)


@pytest.mark.parametrize(("provider", "model"), TARGETS)
def test_a_streamed_failure_raises_in_the_sdk_and_is_recorded_the_same_way(
    tenant: Tenant, sim: Simulator, provider: str, model: str
) -> None:
    sim.enqueue(FAILED, provider=provider)
    with client(tenant).chat.completions.with_streaming_response.create(
        model=model, messages=ask(), stream=True
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        with pytest.raises(openai.APIError):
            list(response.parse())
    assert_failed_record(tenant.record(request_id), stream=True)


def test_the_anthropic_door_answers_502_too(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(FAILED, provider="gemini")
    response = httpx2.post(
        tenant.url + "/v1/messages",
        json={"model": "gemini/gemini-2.5-flash", "max_tokens": 100, "messages": ask()},
        headers=tenant.headers(),
        timeout=30,
    )
    assert response.status_code == 502
    assert response.json()["type"] == "error"
    assert_failed_record(tenant.record(response.headers["x-tollgate-request-id"]), stream=False)


def test_the_pass_through_relays_the_body_untouched_and_records_the_failure(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(FAILED, provider="gemini")
    url = f"{tenant.url}/api/proxy/gemini/v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "Look up the quarterly numbers"}]}]}
    response = httpx2.post(url, json=body, headers={"x-goog-api-key": tenant.key}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["finishReason"] == "MALFORMED_FUNCTION_CALL"
    assert response.json()["usageMetadata"]["candidatesTokenCount"] == 7
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["door"] == "passthrough"
    assert_failed_record(record, stream=False)


def test_a_normal_finish_is_still_a_success(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(output_tokens=7), provider="gemini")
    raw = client(tenant).chat.completions.with_raw_response.create(
        model="gemini/gemini-2.5-flash", messages=ask()
    )
    assert raw.parse().choices[0].finish_reason == "stop"
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["status"] == "success" and record["errorCode"] is None and record["httpStatus"] == 200
