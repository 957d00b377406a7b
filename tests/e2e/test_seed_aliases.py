"""Names the seed products document that tollgate answers to, so their examples work unchanged."""

from __future__ import annotations

import anthropic
import httpx2
import openai

from tests.support.gateway import Tenant
from tollgate.core import jsonx
from tollgate.testing import Simulator


def test_seed_002_wrapper_metrics_field_and_header(tenant: Tenant, sim: Simulator) -> None:
    # const completion = await client.chat.completions.create(...); completion.killtoken?.metrics
    client = openai.OpenAI(base_url=tenant.url + "/v1/openai", api_key=tenant.key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hello"}]
    )
    extra = raw.parse().model_extra or {}
    assert extra["killtoken"]["metrics"] == extra["tollgate"]["metrics"]
    assert extra["killtoken"]["metrics"]["costUsd"] == raw.headers["x-tollgate-cost"]
    header = jsonx.loads(raw.headers["x-killtoken-metrics"])
    assert header == jsonx.loads(raw.headers["x-tollgate-metrics"]) == extra["tollgate"]["metrics"]


def test_seed_003_health(tenant: Tenant) -> None:
    body = httpx2.get(tenant.url + "/api/health").json()
    assert body["status"] == "healthy"
    assert body["checks"]["database"]["status"] == "healthy"
    assert body["version"] and body["timestamp"].endswith("Z")
    assert body["metrics"]["memory"]["rss"] > 0


def test_anthropic_count_tokens_goes_through_and_costs_nothing(tenant: Tenant, sim: Simulator) -> None:
    client = anthropic.Anthropic(base_url=tenant.url, api_key=tenant.key, max_retries=0)
    raw = client.messages.with_raw_response.count_tokens(
        model="claude-haiku-4-5", messages=[{"role": "user", "content": "count these four words"}]
    )
    assert raw.parse().input_tokens > 0
    assert sim.received[-1].path == "/anthropic/v1/messages/count_tokens"
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["operation"] == "other" and record["costNanos"] == 0


def test_seed_002_feature_header_as_an_sdk_default_header(tenant: Tenant, sim: Simulator) -> None:
    # new OpenAI({ baseURL, apiKey, defaultHeaders: { "x-killtoken-feature": "support-bot" } })
    client = openai.OpenAI(
        base_url=tenant.url + "/v1/openai",
        api_key=tenant.key,
        default_headers={"x-killtoken-feature": "support-bot"},
        max_retries=0,
    )
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4.1-mini", messages=[{"role": "user", "content": "Hello"}]
    )
    assert tenant.record(raw.headers["x-tollgate-request-id"])["tags"]["feature"] == "support-bot"
