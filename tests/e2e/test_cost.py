"""Recorded cost equals genai-prices computed from the provider's own usage, for a table of cases.

The expected figure comes from ``genai_prices.extract_usage`` on the exact body the simulator
returned (through ``/api/proxy``, which relays it unmodified): an independent reading of the
provider's usage, not tollgate's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx2
import pytest
from genai_prices import calc_price, extract_usage

from tests.support.gateway import Tenant
from tollgate.core import jsonx
from tollgate.core.money import usd_to_nanos
from tollgate.testing import Scenario, Simulator

GENAI_ID = {"openai": "openai", "anthropic": "anthropic", "gemini": "google"}


def payload(provider: str, model: str, stream: bool = False) -> dict[str, Any]:
    text = "Explain the quarterly numbers in two sentences please"
    if provider == "anthropic":
        body: dict[str, Any] = {
            "model": model,
            "max_tokens": 1024,
            "messages": [{"role": "user", "content": text}],
        }
    elif provider == "gemini":
        body = {"model": model, "contents": [{"role": "user", "parts": [{"text": text}]}]}
    else:
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
    if stream:
        body["stream"] = True
    return body


def call(tenant: Tenant, provider: str, model: str, stream: bool = False) -> httpx2.Response:
    body = {"provider": provider, "payload": payload(provider, model, stream)}
    response = httpx2.post(tenant.url + "/api/proxy", json=body, headers=tenant.headers(), timeout=30)
    assert response.status_code == 200, response.text
    return response


def expected_nanos(provider: str, body: dict[str, Any]) -> int:
    flavor = {"api_flavor": "chat"} if provider == "openai" else {}
    return usd_to_nanos(
        extract_usage(body, provider_id=GENAI_ID[provider], **flavor).calc_price().total_price
    )


CASES = [
    ("openai", "gpt-4o", Scenario()),
    ("openai", "gpt-4o", Scenario(cache_read_tokens=1024)),
    ("openai", "o4-mini", Scenario(reasoning_tokens=300, output_tokens=40)),
    ("anthropic", "claude-sonnet-4-6", Scenario(cache_read_tokens=2000)),
    ("anthropic", "claude-sonnet-4-6", Scenario(cache_write_tokens=1500)),
    (
        "anthropic",
        "claude-opus-4-5",
        Scenario(cache_write_tokens=1500, cache_write_1h_tokens=1000, cache_read_tokens=10),
    ),
    ("gemini", "gemini-2.5-flash", Scenario(reasoning_tokens=250)),
    ("gemini", "gemini-2.5-pro", Scenario(cache_read_tokens=4096, reasoning_tokens=64)),
]


@pytest.mark.parametrize(("provider", "model", "scenario"), CASES)
def test_cost_matches_genai_prices(
    tenant: Tenant, sim: Simulator, provider: str, model: str, scenario: Scenario
) -> None:
    sim.enqueue(scenario)
    response = call(tenant, provider, model)
    record = tenant.record(response.headers["x-tollgate-request-id"])
    want = expected_nanos(provider, response.json())
    assert want > 0
    assert record["costNanos"] == want
    assert Decimal(record["costUsd"]) == Decimal(want) / 10**9
    assert record["priceUnknown"] is False and record["estimated"] is False
    assert record["priceSource"].startswith("genai-prices")


@pytest.mark.parametrize(
    ("provider", "model", "scenario"),
    [
        ("openai", "gpt-4o-mini", Scenario(cache_read_tokens=512)),
        ("anthropic", "claude-sonnet-4-6", Scenario(cache_write_tokens=800, cache_read_tokens=100)),
        ("gemini", "gemini-2.5-flash", Scenario(reasoning_tokens=99)),
    ],
)
def test_streamed_cost_matches_the_same_call_unstreamed(
    tenant: Tenant, sim: Simulator, provider: str, model: str, scenario: Scenario
) -> None:
    # The simulator is deterministic: the same request and scenario give the same usage.
    sim.enqueue(scenario)
    plain = call(tenant, provider, model)
    want = expected_nanos(provider, plain.json())
    sim.enqueue(scenario)
    body = {"provider": provider, "payload": payload(provider, model, stream=True)}
    with httpx2.stream(
        "POST", tenant.url + "/api/proxy", json=body, headers=tenant.headers(), timeout=30
    ) as r:
        assert r.status_code == 200
        b"".join(r.iter_bytes())
        request_id = r.headers["x-tollgate-request-id"]
    record = tenant.record(request_id)
    assert record["stream"] is True
    assert record["costNanos"] == want


def test_unknown_model_succeeds_with_tokens_and_no_cost(tenant: Tenant, sim: Simulator) -> None:
    response = call(tenant, "openai_compatible", "house-llama-70b")
    assert "x-tollgate-cost" not in response.headers
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "success"
    assert record["costUsd"] is None and record["priceUnknown"] is True
    assert record["inputTokens"] > 0 and record["outputTokens"] == 12


def test_workspace_price_override_and_custom_model(tenant: Tenant, sim: Simulator) -> None:
    created = tenant.admin(
        "POST",
        "/v1/prices",
        json={
            "provider": "openai_compatible",
            "model": "house-llama-70b",
            "inputPerMTok": "0.6",
            "outputPerMTok": "2.4",
        },
    )
    assert created.status_code == 201, created.text
    sim.enqueue(Scenario(input_tokens=1000, output_tokens=500))
    response = call(tenant, "openai_compatible", "house-llama-70b")
    record = tenant.record(response.headers["x-tollgate-request-id"])
    # 1000 * 0.6 / 1e6 + 500 * 2.4 / 1e6 = 0.0006 + 0.0012
    assert record["costUsd"] == "0.0018"
    assert record["priceSource"] == "override" and record["priceUnknown"] is False
    assert response.headers["x-tollgate-cost"] == "0.0018"


def test_override_beats_the_catalogue_and_cached_input_uses_its_own_price(
    tenant: Tenant, sim: Simulator
) -> None:
    tenant.admin(
        "POST",
        "/v1/prices",
        json={
            "provider": "openai",
            "model": "gpt-4o",
            "inputPerMTok": "2",
            "outputPerMTok": "8",
            "cacheReadPerMTok": "0.5",
        },
    )
    sim.enqueue(Scenario(input_tokens=1000, cache_read_tokens=2000, output_tokens=100))
    record = tenant.record(call(tenant, "openai", "gpt-4o").headers["x-tollgate-request-id"])
    # 1000 * 2 + 2000 * 0.5 + 100 * 8 = 3800 per 1e6 tokens
    assert record["costUsd"] == "0.0038"


def test_provider_reported_charge_is_used_for_openrouter(tenant: Tenant, sim: Simulator) -> None:
    response = call(tenant, "openrouter", "openai/gpt-4o")
    reported = Decimal(str(response.json()["usage"]["cost"]))
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert Decimal(record["costUsd"]) == reported
    assert record["priceSource"] == "provider-reported"


@pytest.mark.parametrize(("model", "tier"), [("o4-mini", "flex"), ("gpt-4o", "priority")])
@pytest.mark.parametrize("stream", [False, True])
def test_service_tier_selects_the_price_variant(
    tenant: Tenant, sim: Simulator, model: str, tier: str, stream: bool
) -> None:
    body = {"provider": "openai", "payload": {**payload("openai", model, stream), "service_tier": tier}}
    with httpx2.stream(
        "POST", tenant.url + "/api/proxy", json=body, headers=tenant.headers(), timeout=30
    ) as r:
        raw = b"".join(r.iter_bytes())
        request_id = r.headers["x-tollgate-request-id"]
    record = tenant.record(request_id)
    extracted = extract_usage(
        jsonx.loads(plain_twin(tenant, model, tier)), provider_id="openai", api_flavor="chat"
    )
    standard = usd_to_nanos(extracted.calc_price().total_price)
    variant = usd_to_nanos(
        calc_price(
            extracted.usage, model, provider_id="openai", price_context={"service_tier": tier}
        ).total_price
    )
    assert variant != standard, "the catalogue prices this tier differently"
    assert record["costNanos"] == variant
    assert raw


def plain_twin(tenant: Tenant, model: str, tier: str) -> bytes:
    """The same call unstreamed: the simulator is deterministic, so its usage is the same."""
    body = {"provider": "openai", "payload": {**payload("openai", model), "service_tier": tier}}
    response = httpx2.post(tenant.url + "/api/proxy", json=body, headers=tenant.headers(), timeout=30)
    assert response.json()["service_tier"] == tier
    return response.content
