"""``POST /api/ingest`` (seed 001) against a real server, journal and database.

Seed 001's own curl, Python and PowerShell examples run as documented (host and key swapped),
on SQLite and on PostgreSQL; the events then show in ``/v1/requests`` with the cost tollgate
computed (checked against genai-prices directly) and the client's cost kept beside it.
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from typing import Any

import httpx2
import orjson
import pytest
import requests
from genai_prices import Usage, calc_price

from tests.support.gateway import Tenant
from tollgate.core.money import usd_to_nanos

SEED_BODY = """{
"provider": "openai",
"model": "gpt-4o-mini",
"prompt_tokens": 120,
"completion_tokens": 80,
"total_tokens": 200,
"cost": 0.00015,
"latency_ms": 842,
"status": "success",
"metadata": {
"feature": "chat-completion"
}
}"""


def genai_nanos(model: str, provider: str = "openai", **tokens: int) -> int:
    return usd_to_nanos(calc_price(Usage(**tokens), model_ref=model, provider_id=provider).total_price)


def ingest(tenant: Tenant, body: Any, *, key: str | None = None, **headers: str) -> httpx2.Response:
    sent = {"authorization": f"Bearer {key or tenant.key}", **headers}
    return httpx2.post(tenant.url + "/api/ingest", json=body, headers=sent, timeout=30)


def stored(tenant: Tenant, **params: Any) -> list[dict[str, Any]]:
    """Every usage record of the workspace (after the journal moved it), newest first."""
    tenant.server.flush()
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 500, **params, **({"cursor": cursor} if cursor else {})}
        page = tenant.admin("GET", "/v1/requests", params=query)
        assert page.status_code == 200, page.text
        found += page.json()["data"]
        cursor = page.json()["nextCursor"]
        if cursor is None:
            return found


def event(**fields: Any) -> dict[str, Any]:
    return {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        **fields,
    }


def assert_seed_event_recorded(tenant: Tenant, status: int, body: dict[str, Any]) -> None:
    assert status == 201, body
    assert list(body)[:2] == ["ok", "consumption_source"]
    assert body["ok"] is True and body["consumption_source"] == "included" and body["accepted"] == 1
    record = tenant.record(body["id"])
    assert record["provider"] == "openai" and record["model"] == "gpt-4o-mini"
    assert (record["inputTokens"], record["outputTokens"], record["totalTokens"]) == (120, 80, 200)
    assert record["costNanos"] == genai_nanos("gpt-4o-mini", input_tokens=120, output_tokens=80)
    assert record["priceSource"].startswith("genai-prices") and record["priceUnknown"] is False
    assert record["reportedCostUsd"] == "0.00015" and record["reportedCostNanos"] == 150_000
    assert record["tags"]["feature"] == "chat-completion"
    assert record["latencyMs"] == 842 and record["status"] == "success"
    assert record["door"] == "ingest" and record["keyId"] == tenant.key_id
    assert [r["id"] for r in stored(tenant)] == [body["id"]]


def test_seed_curl_example(backend_tenant: Tenant) -> None:
    tenant = backend_tenant
    example = f"""curl -X POST "https://llm-track.com/api/ingest" \\
-H "Content-Type: application/json" \\
-H "Authorization: Bearer <LLMTRACK_API_KEY>" \\
-d '{SEED_BODY}'"""
    command = example.replace("https://llm-track.com", tenant.url).replace("<LLMTRACK_API_KEY>", tenant.key)
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    done = subprocess.run(
        ["/usr/bin/bash", "-c", command + " -sS -w '\\n%{http_code}'"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=True,
    )
    body, _, status = done.stdout.rpartition("\n")
    assert_seed_event_recorded(tenant, int(status), orjson.loads(body))


def test_seed_python_example(backend_tenant: Tenant) -> None:
    tenant = backend_tenant
    response = requests.post(
        f"{tenant.url}/api/ingest",
        headers={
            "Content-Type": "application/json",
            "x-api-key": tenant.key,
        },
        json={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "prompt_tokens": 120,
            "completion_tokens": 80,
            "total_tokens": 200,
            "cost": 0.00015,
            "latency_ms": 842,
            "status": "success",
            "metadata": {"feature": "chat-completion"},
        },
        timeout=10,
    )
    assert_seed_event_recorded(tenant, response.status_code, response.json())


def test_seed_powershell_example_equivalent(backend_tenant: Tenant) -> None:
    """Invoke-RestMethod with a header table and the body as a raw here-string."""
    tenant = backend_tenant
    headers = {"Content-Type": "application/json", "x-api-key": tenant.key}
    response = httpx2.post(f"{tenant.url}/api/ingest", headers=headers, content=SEED_BODY, timeout=30)
    assert_seed_event_recorded(tenant, response.status_code, response.json())


def test_defaults_nulls_and_the_optional_detail_fields(tenant: Tenant) -> None:
    plain = ingest(tenant, {"provider": "openai", "model": "gpt-4o-mini", "prompt_tokens": None})
    assert plain.status_code == 201, plain.text
    record = tenant.record(plain.json()["id"])
    assert record["status"] == "success" and record["tags"]["feature"] == "unknown"
    assert record["totalTokens"] == 0 and record["costNanos"] == 0 and record["latencyMs"] == 0
    assert record["reportedCostUsd"] is None

    detailed = ingest(
        tenant,
        {
            "provider": "openai",
            "model": "gpt-4o-mini",
            "prompt_tokens": 1200,
            "cached_tokens": 1000,
            "completion_tokens": 300.0,  # a whole number written as a float is still whole
            "reasoning_tokens": 100,
            "latency_ms": 12.6,
            "status": "error",
            "metadata": {
                "feature": "  search  ",
                "routeName": "/api/search",
                "functionName": "rank",
                "customerId": "cus_42",
                "team": "growth",
            },
        },
    )
    assert detailed.status_code == 201, detailed.text
    record = tenant.record(detailed.json()["id"])
    assert (record["inputTokens"], record["cacheReadTokens"], record["outputTokens"]) == (200, 1000, 300)
    assert record["reasoningTokens"] == 100
    want = genai_nanos(
        "gpt-4o-mini",
        input_tokens=1200,
        cache_read_tokens=1000,
        output_tokens=300,
        output_reasoning_tokens=100,
    )
    assert record["costNanos"] == want
    assert record["status"] == "error" and record["httpStatus"] == 0 and record["latencyMs"] == 13
    assert record["tags"] == {"routeName": "/api/search", "functionName": "rank", "feature": "search"}
    assert record["customerId"] == "cus_42" and record["metadata"] == {"team": "growth"}


def test_provider_aliases_resolve_and_unknown_models_are_kept_unpriced(tenant: Tenant) -> None:
    google = ingest(tenant, event(provider="Google", model="gemini-2.5-flash"))
    assert google.status_code == 201, google.text
    record = tenant.record(google.json()["id"])
    assert record["provider"] == "gemini" and record["priceUnknown"] is False and record["costNanos"] > 0

    unknown = ingest(tenant, event(provider="AcmeAI", model="acme-large-9", cost=0.5))
    assert unknown.status_code == 201, unknown.text
    record = tenant.record(unknown.json()["id"])
    assert record["provider"] == "acmeai" and record["model"] == "acme-large-9"
    assert record["priceUnknown"] is True and record["costNanos"] is None and record["costUsd"] is None
    assert record["reportedCostUsd"] == "0.5" and record["totalTokens"] == 15


def test_workspace_price_overrides_apply_to_ingested_events(tenant: Tenant) -> None:
    created = tenant.admin(
        "POST",
        "/v1/prices",
        json={"provider": "openai", "model": "gpt-4o-mini", "inputPerMTok": "1", "outputPerMTok": "2"},
    )
    assert created.status_code == 201, created.text
    response = ingest(tenant, event(prompt_tokens=1_000_000, completion_tokens=500_000))
    record = tenant.record(response.json()["id"])
    assert record["costUsd"] == "2" and record["priceSource"] == "override"


def test_a_batch_of_1000_is_accepted_and_1001_refused(tenant: Tenant) -> None:
    batch = [event(metadata={"feature": f"f{i % 7}"}) for i in range(1000)]
    response = ingest(tenant, batch)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["ok"] is True and body["accepted"] == 1000 and len(set(body["ids"])) == 1000
    records = stored(tenant)
    assert {r["id"] for r in records} == set(body["ids"])
    assert sum(r["costNanos"] for r in records) == 1000 * genai_nanos(
        "gpt-4o-mini", input_tokens=10, output_tokens=5
    )

    too_many = ingest(tenant, [event()] * 1001)
    assert too_many.status_code == 400 and too_many.json()["code"] == "batch_too_large"
    empty = ingest(tenant, [])
    assert empty.status_code == 400 and empty.json()["code"] == "empty_batch"
    assert len(stored(tenant)) == 1000


def test_one_bad_event_refuses_the_whole_batch_and_lists_every_problem(tenant: Tenant) -> None:
    batch = [event(), event(prompt_tokens=-1), event(), "not an event", event(status="failed", cost="1")]
    response = ingest(tenant, batch)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "Invalid payload" and body["code"] == "invalid_payload"
    assert [(e["index"], e["field"]) for e in body["errors"]] == [
        (1, "prompt_tokens"),
        (3, None),
        (4, "cost"),
        (4, "status"),
    ]
    assert "success, error" in body["errors"][3]["message"]
    assert stored(tenant) == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prompt_tokens": -5}, "prompt_tokens"),
        ({"completion_tokens": 2.5}, "completion_tokens"),
        ({"prompt_tokens": True}, "prompt_tokens"),
        ({"prompt_tokens": "120"}, "prompt_tokens"),
        ({"total_tokens": 3}, "total_tokens"),
        ({"cached_tokens": 11}, "cached_tokens"),
        ({"reasoning_tokens": 6}, "reasoning_tokens"),
        ({"provider": ""}, "provider"),
        ({"model": None}, "model"),
        ({"model": "x" * 201}, "model"),
        ({"cost": -0.1}, "cost"),
        ({"latency_ms": False}, "latency_ms"),
        ({"status": "ok"}, "status"),
        ({"metadata": ["feature"]}, "metadata"),
        ({"metadata": {f"k{i}": i for i in range(51)}}, "metadata"),
        ({"metadata": {"blob": "x" * 9000}}, "metadata"),
        ({"metadata": {"feature": 7}}, "metadata.feature"),
        ({"eventId": "e" * 129}, "eventId"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"model": "gpt\u0000"}, "model"),
    ],
)
def test_an_invalid_field_is_a_400_that_names_it(tenant: Tenant, fields: dict[str, Any], field: str) -> None:
    response = ingest(tenant, event(**fields))
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "Invalid payload" and body["code"] == "invalid_payload"
    assert body["field"] == field and body["errors"][0]["field"] == field
    assert field.split(".")[0] in body["message"]


def test_malformed_or_unusable_bodies_are_400(tenant: Tenant) -> None:
    for raw in (b'{"provider": "openai",', b"", b"42"):
        response = httpx2.post(
            tenant.url + "/api/ingest",
            content=raw,
            headers=tenant.headers(**{"content-type": "application/json"}),
            timeout=30,
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "Invalid payload"
        assert response.json()["code"] in ("invalid_json", "invalid_payload")
    unknown_fields = ingest(tenant, event(sdk="node", extra={"a": 1}))
    assert unknown_fields.status_code == 201


def test_event_ids_make_retries_count_once(backend_tenant: Tenant) -> None:
    tenant = backend_tenant  # both retries usually reach the database in one insert
    first = ingest(tenant, event(eventId="evt-1"))
    again = ingest(tenant, event(eventId="evt-1"))
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    batch = ingest(tenant, [event(eventId="evt-2"), event(eventId="evt-2"), event(eventId="evt-1"), event()])
    assert batch.status_code == 201 and batch.json()["accepted"] == 4
    ids = batch.json()["ids"]
    assert ids[0] == ids[1] and ids[2] == first.json()["id"]
    assert sorted(r["id"] for r in stored(tenant)) == sorted({ids[0], ids[2], ids[3]})


def test_timestamps_backfill_within_the_workspace_retention(tenant: Tenant) -> None:
    settings = {"settings": {"retentionDays": 30}}
    assert tenant.admin("PATCH", f"/v1/workspaces/{tenant.workspace_id}", json=settings).status_code == 200
    now = tenant.server.ctx.clock.now().replace(microsecond=0)
    old = (now - timedelta(days=20)).isoformat().replace("+00:00", "Z")
    backfilled = ingest(tenant, event(timestamp=old))
    assert backfilled.status_code == 201, backfilled.text
    assert tenant.record(backfilled.json()["id"])["createdAt"] == old
    naive = (now - timedelta(days=1)).replace(tzinfo=None)
    assert ingest(tenant, event(timestamp=naive.isoformat())).status_code == 201

    too_old = ingest(tenant, event(timestamp=(now - timedelta(days=31)).isoformat()))
    assert too_old.status_code == 400 and too_old.json()["field"] == "timestamp"
    assert "30 days" in too_old.json()["message"]
    future = ingest(tenant, event(timestamp=(now + timedelta(minutes=10)).isoformat()))
    assert future.status_code == 400 and "future" in future.json()["message"]
    assert len(stored(tenant)) == 2
