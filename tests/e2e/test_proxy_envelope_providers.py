"""Seed 000's ``POST /api/proxy {provider, payload, _meta}`` for providers whose native call is not
``chat/completions`` at the base URL: Cohere's ``v2/chat``, Gemini and Claude on Vertex AI (the
model in a project-scoped URL, Claude's body with ``anthropic_version``), an Azure OpenAI deployment
with its ``api-version``. Plain and streamed, each answered in the provider's own format and
recorded with the cost genai-prices gives the body the simulator returned.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from genai_prices import calc_price, extract_usage

from tests.support.gateway import Tenant
from tollgate.cli.demo import AZURE_API_VERSION
from tollgate.core import jsonx
from tollgate.core.money import usd_to_nanos
from tollgate.testing import Scenario, Simulator
from tollgate.testing._vertex_account import DEMO_LOCATION, DEMO_PROJECT

COHERE = "command-a-03-2025"
GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4@20250514"
VERTEX = f"/vertex/v1/projects/{DEMO_PROJECT}/locations/{DEMO_LOCATION}/publishers"
ASK = "Summarise the quarterly numbers for the board"


def cohere_nanos(body: dict[str, Any]) -> int:
    """Cohere's answers name no model: it is added for genai-prices."""
    return usd_to_nanos(
        extract_usage({**body, "model": COHERE}, provider_id="cohere").calc_price().total_price
    )


def gemini_nanos(body: dict[str, Any]) -> int:
    return usd_to_nanos(extract_usage(body, provider_id="google").calc_price().total_price)


def claude_nanos(body: dict[str, Any]) -> int:
    """Claude on Vertex: Anthropic's usage, priced as genai-prices prices it under Google."""
    usage = extract_usage(body, provider_id="anthropic").usage
    return usd_to_nanos(calc_price(usage, body["model"], provider_id="google").total_price)


def azure_nanos(body: dict[str, Any]) -> int:
    return usd_to_nanos(extract_usage(body, provider_id="azure", api_flavor="chat").calc_price().total_price)


@dataclass(frozen=True)
class Case:
    provider: str
    payload: dict[str, Any]  # without "stream"
    path: str  # the upstream path of a plain call
    stream_path: str
    operation: str  # as the record shows it
    sent: dict[str, Any]  # the body the provider must receive for a plain call
    price: Callable[[dict[str, Any]], int]  # genai-prices' cost of a plain answer body
    stream_end: bytes  # what the provider's own stream ends with
    query: tuple[str, str] = ("", "")  # the upstream query of a plain and of a streamed call
    stream_flag: bool | None = True  # the body's "stream" on a streamed call (Gemini takes none)


CASES = [
    Case(
        "cohere",
        {"model": COHERE, "messages": [{"role": "user", "content": ASK}], "temperature": 0.2},
        "/cohere/v2/chat",
        "/cohere/v2/chat",
        "chat",
        {"model": COHERE, "messages": [{"role": "user", "content": ASK}], "temperature": 0.2},
        cohere_nanos,
        b"event: message-end",
    ),
    Case(
        "google_vertex",
        {"model": GEMINI, "contents": [{"role": "user", "parts": [{"text": ASK}]}]},
        f"{VERTEX}/google/models/{GEMINI}:generateContent",
        f"{VERTEX}/google/models/{GEMINI}:streamGenerateContent",
        "generate",
        {"contents": [{"role": "user", "parts": [{"text": ASK}]}]},  # the model is in the URL
        gemini_nanos,
        b'"finishReason":"STOP"',
        ("", "alt=sse"),
        None,
    ),
    Case(
        "google_vertex",
        {"model": CLAUDE, "max_tokens": 256, "messages": [{"role": "user", "content": ASK}]},
        f"{VERTEX}/anthropic/models/{CLAUDE}:rawPredict",
        f"{VERTEX}/anthropic/models/{CLAUDE}:streamRawPredict",
        "messages",
        {
            "max_tokens": 256,
            "messages": [{"role": "user", "content": ASK}],
            "anthropic_version": "vertex-2023-10-16",
        },
        claude_nanos,
        b"event: message_stop",
    ),
    Case(
        "azure_openai",
        {"model": "prod-chat", "messages": [{"role": "user", "content": ASK}]},  # a deployment
        "/azure/openai/deployments/prod-chat/chat/completions",
        "/azure/openai/deployments/prod-chat/chat/completions",
        "chat",
        {"model": "prod-chat", "messages": [{"role": "user", "content": ASK}]},
        azure_nanos,
        b"data: [DONE]",
        (f"api-version={AZURE_API_VERSION}",) * 2,
    ),
]
PARAMS = [pytest.param(c, id=f"{c.provider}:{c.payload['model']}") for c in CASES]


def envelope(tenant: Tenant, body: dict[str, Any]) -> tuple[httpx2.Response, bytes]:
    with httpx2.stream(
        "POST", tenant.url + "/api/proxy", json=body, headers=tenant.headers(), timeout=30
    ) as response:
        return response, b"".join(response.iter_bytes())


def provider_calls(sim: Simulator, provider: str) -> list[Any]:
    return [r for r in sim.received if r.provider == provider]  # not Vertex's token requests


@pytest.mark.parametrize("case", PARAMS)
def test_a_plain_envelope_reaches_the_native_endpoint_and_is_priced(
    tenant: Tenant, sim: Simulator, case: Case
) -> None:
    sim.enqueue(Scenario(output_tokens=20, cache_read_tokens=1500), provider=case.provider)
    meta = {"routeName": "/api/report", "functionName": "summarise"}
    response, raw = envelope(tenant, {"provider": case.provider, "payload": case.payload, "_meta": meta})
    assert response.status_code == 200, raw
    upstream = provider_calls(sim, case.provider)[-1]
    assert upstream.path == case.path
    assert upstream.query_string == case.query[0]
    assert upstream.json == case.sent
    answer = jsonx.loads(raw)
    assert "tollgate" not in answer  # the provider's body, unmodified
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["provider"] == case.provider and record["door"] == "proxy"
    assert record["model"] == case.payload["model"] and record["operation"] == case.operation
    assert record["status"] == "success" and record["stream"] is False and record["estimated"] is False
    assert record["tags"]["routeName"] == "/api/report" and record["tags"]["functionName"] == "summarise"
    assert record["costNanos"] == case.price(answer) > 0
    assert response.headers["x-tollgate-cost"] == record["costUsd"]


@pytest.mark.parametrize("case", PARAMS)
def test_a_streamed_envelope_relays_the_providers_stream_and_costs_what_the_plain_call_costs(
    tenant: Tenant, sim: Simulator, case: Case
) -> None:
    scenario = Scenario(output_tokens=20, cache_read_tokens=1500, chunks=4)
    sim.enqueue(scenario, provider=case.provider)
    plain, _ = envelope(tenant, {"provider": case.provider, "payload": case.payload})
    sim.enqueue(scenario, provider=case.provider)
    payload = {**case.payload, "stream": True}
    response, raw = envelope(tenant, {"provider": case.provider, "payload": payload})
    assert response.status_code == 200, raw
    assert response.headers["content-type"].startswith("text/event-stream")
    assert case.stream_end in raw.replace(b"\r\n", b"\n").replace(b'": ', b'":')
    assert b"tok1" in raw and b"tok20" in raw  # the answer came through to its last word
    upstream = provider_calls(sim, case.provider)[-1]
    assert upstream.path == case.stream_path
    assert upstream.query_string == case.query[1]
    assert upstream.json.get("stream") is case.stream_flag
    assert ("model" in upstream.json) is ("model" in case.sent)
    streamed = tenant.record(response.headers["x-tollgate-request-id"])
    at_rest = tenant.record(plain.headers["x-tollgate-request-id"])
    assert streamed["stream"] is True and streamed["status"] == "success"
    assert streamed["operation"] == case.operation and streamed["estimated"] is False
    assert streamed["outputTokens"] == at_rest["outputTokens"] > 0
    assert streamed["costNanos"] == at_rest["costNanos"] > 0


def test_a_vertex_envelope_without_a_model_is_refused_before_any_call(tenant: Tenant, sim: Simulator) -> None:
    payload = {"contents": [{"role": "user", "parts": [{"text": ASK}]}]}
    response, raw = envelope(tenant, {"provider": "google_vertex", "payload": payload})
    assert response.status_code == 400
    assert "payload.model is required" in raw.decode()
    assert provider_calls(sim, "google_vertex") == []
