"""Budgets end to end: CRUD and bad input, live spend, holds that refuse with 402 before anything
is spent, seed 003's ``/api/budgets`` shape, and the guarantee: however many calls run at once,
recorded spend in a blocking budget never passes its limit (in process, and in Redis)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2
import pytest
from redis import Redis

from tests.support.gateway import Tenant, make_tenant, running_gateway
from tests.support.webhook_receiver import events_gateway, scripted_receiver, subscribe
from tollgate.testing import Scenario, Simulator, SimulatorServer
from tollgate.webhooks import verify

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}], "max_tokens": 20}


def chat(tenant: Tenant, body: dict[str, Any] | None = None, **headers: str) -> httpx2.Response:
    return httpx2.post(
        tenant.url + "/v1/chat/completions", json=body or CHAT, headers=tenant.headers(**headers), timeout=30
    )


def create(tenant: Tenant, **fields: Any) -> httpx2.Response:
    body = {"scope": {"type": "workspace"}, "period": "monthly", "limitUsd": "10.00", **fields}
    return tenant.admin("POST", "/v1/budgets", json=body)


def price(tenant: Tenant, input_per_mtok: str, output_per_mtok: str) -> None:
    saved = tenant.admin(
        "POST",
        "/v1/prices",
        json={
            "provider": "openai",
            "model": "gpt-4o-mini",
            "inputPerMTok": input_per_mtok,
            "outputPerMTok": output_per_mtok,
        },
    )
    assert saved.status_code in (200, 201), saved.text


def settled_spend(tenant: Tenant, budget_id: str, expected: str) -> dict[str, Any]:
    """The budget once its spend reads ``expected`` (settlement runs just after each answer)."""
    deadline = time.monotonic() + 5
    while True:
        body: dict[str, Any] = tenant.admin("GET", f"/v1/budgets/{budget_id}").json()
        if body["currentSpend"] == expected or time.monotonic() > deadline:
            return body
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"limitUsd": "0"}, "invalid_limit"),
        ({"limitUsd": "-5"}, "invalid_limit"),
        ({"limitUsd": "ten"}, "invalid_limit"),
        ({"thresholds": [0]}, "invalid_thresholds"),
        ({"thresholds": [0.5, 1.5]}, "invalid_thresholds"),
        ({"thresholds": "0.5"}, "invalid_thresholds"),
        ({"scope": {"type": "team", "id": "x"}}, "invalid_scope"),
        ({"scope": {"type": "feature"}}, "invalid_scope"),
        ({"period": "hourly"}, "invalid_period"),
        ({"action": "warn"}, "invalid_action"),
        ({"colour": "red"}, "invalid_request"),
    ],
)
def test_bad_budgets_are_refused_with_a_code(tenant: Tenant, fields: dict[str, Any], code: str) -> None:
    response = create(tenant, **fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert tenant.admin("GET", "/v1/budgets").json()["data"] == [], "nothing was stored"


def test_crud_and_live_spend(tenant: Tenant) -> None:
    made = create(tenant, name="Monthly cap", thresholds=[0.8, 0.5])
    assert made.status_code == 201, made.text
    budget = made.json()
    assert budget["thresholds"] == [0.5, 0.8]
    assert budget["action"] == "block" and budget["currentSpend"] == "0" and budget["limitUsd"] == "10"
    assert budget["periodStart"].startswith(time.strftime("%Y-%m-01", time.gmtime()))

    answer = chat(tenant)
    assert answer.status_code == 200
    cost = answer.headers["x-tollgate-cost"]
    live = settled_spend(tenant, budget["id"], cost)
    assert live["currentSpend"] == cost and live["heldSpend"] == "0"
    assert Decimal(live["remaining"]) == Decimal(10) - Decimal(cost)

    patched = tenant.admin(
        "PATCH", f"/v1/budgets/{budget['id']}", json={"limitUsd": "2.5", "action": "alert"}
    )
    assert patched.status_code == 200
    assert (patched.json()["limitUsd"], patched.json()["action"]) == ("2.5", "alert")
    assert patched.json()["currentSpend"] == cost, "a new limit keeps the period's spend"

    daily = tenant.admin("PATCH", f"/v1/budgets/{budget['id']}", json={"period": "total"})
    assert daily.json()["periodStart"] is None
    tenant.server.flush()
    assert settled_spend(tenant, budget["id"], cost)["currentSpend"] == cost, "recounted from the records"

    assert tenant.admin("DELETE", f"/v1/budgets/{budget['id']}").status_code == 204
    missing = tenant.admin("GET", f"/v1/budgets/{budget['id']}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "budget_not_found"


def test_a_hold_that_does_not_fit_is_refused_before_anything_happens(tenant: Tenant, sim: Simulator) -> None:
    price(tenant, "10", "1000")  # 20 output tokens at most: a hold of about $0.02
    budget = create(tenant, limitUsd="0.01").json()
    refused = chat(tenant)
    assert refused.status_code == 402
    error = refused.json()["error"]
    assert error["code"] == "budget_exceeded" and error["type"] == "insufficient_quota"
    assert sim.received == [], "the provider was never called"
    proxy = httpx2.post(
        tenant.url + "/api/proxy",
        json={"provider": "openai", "payload": CHAT},
        headers=tenant.headers(),
        timeout=30,
    )
    assert proxy.status_code == 402 and proxy.json()["code"] == "budget_exceeded"
    smaller = chat(tenant, {**CHAT, "max_tokens": 5})  # $0.005 or so fits
    assert smaller.status_code == 200
    spent = settled_spend(tenant, budget["id"], smaller.headers["x-tollgate-cost"])
    assert spent["currentSpend"] == smaller.headers["x-tollgate-cost"]


def test_budgets_cover_only_their_scope(tenant: Tenant, sim: Simulator) -> None:
    price(tenant, "10", "1000")
    create(tenant, scope={"type": "feature", "id": "chatbot"}, limitUsd="0.001")
    create(tenant, scope={"type": "customer", "id": "cust-9"}, limitUsd="0.001")
    create(tenant, scope={"type": "key", "id": "key_other"}, limitUsd="0.001")
    assert chat(tenant, **{"x-tollgate-feature": "search"}).status_code == 200
    assert chat(tenant, **{"x-tollgate-feature": "chatbot"}).status_code == 402
    assert chat(tenant, **{"x-tollgate-customer": "cust-9"}).status_code == 402
    create(tenant, scope={"type": "key", "id": tenant.key_id}, limitUsd="0.001")
    assert chat(tenant).status_code == 402
    assert len(sim.received) == 1


def test_seed_budgets_api(tenant: Tenant) -> None:
    made = tenant.admin(
        "POST",
        "/api/budgets",
        json={
            "type": "monthly",
            "budget_limit": 100.00,
            "alert_threshold": 0.80,
            "notification_channels": ["email"],
        },
    )
    assert made.status_code == 201, made.text
    budget = made.json()
    assert budget["type"] == "monthly" and budget["budget_limit"] == 100.0
    assert (
        budget["current_spend"] == 0.0 and budget["alert_threshold"] == 0.8 and budget["status"] == "active"
    )
    assert budget["user_id"] == tenant.workspace_id
    listed = tenant.admin("GET", "/api/budgets").json()
    assert [b["id"] for b in listed] == [budget["id"]]
    native = tenant.admin("GET", f"/v1/budgets/{budget['id']}").json()
    assert native["thresholds"] == [0.8, 1.0] and native["limitUsd"] == "100"

    updated = tenant.admin(
        "PUT", f"/api/budgets/{budget['id']}", json={"budget_limit": 0.000001, "type": "daily"}
    )
    assert updated.status_code == 200
    assert updated.json()["budget_limit"] == 0.000001 and updated.json()["type"] == "daily"
    check = tenant.admin("POST", "/api/budgets/check", json={"estimated_cost": 0.01})
    assert check.status_code == 200
    assert check.json()["allowed"] is False and check.json()["budgets"][0]["allowed"] is False
    fits = tenant.admin("POST", "/api/budgets/check", json={"estimated_cost": 0.0000005})
    assert fits.json()["allowed"] is True
    bad = tenant.admin("POST", "/api/budgets", json={"type": "monthly", "budget_limit": -1})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_limit"
    assert tenant.admin("DELETE", f"/api/budgets/{budget['id']}").json() == {
        "success": True,
        "id": budget["id"],
    }
    assert tenant.admin("GET", "/api/budgets").json() == []


def _redis_or_skip(kind: str) -> str | None:
    if kind == "memory":
        return None
    url = os.environ.get("TOLLGATE_TEST_REDIS_URL", "").strip()
    if not url:
        pytest.skip("Redis tests skipped: set TOLLGATE_TEST_REDIS_URL to run them")
    return url


@pytest.fixture(params=["memory", "redis"])
def state_tenant(
    request: pytest.FixtureRequest, tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> Iterator[Tenant]:
    with running_gateway(tmp_path / "home", redis_url=_redis_or_skip(request.param)) as server:
        yield make_tenant(server, sim_server.root)


async def _stream(client: httpx2.AsyncClient, tenant: Tenant) -> tuple[int, str | None]:
    body = {**CHAT, "stream": True}
    async with client.stream(
        "POST", tenant.url + "/v1/chat/completions", json=body, headers=tenant.headers()
    ) as answer:
        text = (await answer.aread()).decode()
        if answer.status_code != 200:
            return answer.status_code, text
        assert "[DONE]" in text
        return 200, answer.headers["x-tollgate-request-id"]


def test_fifty_concurrent_streams_never_spend_past_a_blocking_budget(
    state_tenant: Tenant, sim: Simulator
) -> None:
    tenant = state_tenant
    # $10/M input, $200/M output: a call's hold (20 output tokens, the prompt estimated from the
    # body) is about $0.0045; a call really costs about $0.0025 (12 output tokens).
    price(tenant, "10", "200")
    budget = create(tenant, limitUsd="0.01").json()
    for _ in range(200):
        sim.enqueue(Scenario(chunk_delay=0.02))  # streams that overlap (the rest are dropped after)

    async def wave() -> list[tuple[int, str | None]]:
        async with httpx2.AsyncClient(timeout=30) as client:
            return await asyncio.gather(*(_stream(client, tenant) for _ in range(50)))

    results = asyncio.run(wave())
    for _ in range(3):  # more waves, until the budget is used up
        results += asyncio.run(wave())
    statuses = [status for status, _ in results]
    assert statuses.count(200) >= 2, statuses
    assert set(statuses) == {200, 402}
    refusals = [text for status, text in results if status == 402]
    assert all('"budget_exceeded"' in (text or "") for text in refusals)

    tenant.server.flush()
    recorded = tenant.admin("GET", "/v1/requests", params={"limit": 500}).json()["data"]
    assert sorted(r["id"] for r in recorded) == sorted(
        rid for status, rid in results if status == 200 and rid
    )
    spent = sum(Decimal(r["costUsd"]) for r in recorded)
    assert 0 < spent <= Decimal("0.01"), spent
    assert spent > Decimal("0.01") - Decimal("0.0045"), "the budget was used up to within one hold"
    live = settled_spend(tenant, budget["id"], format(spent.normalize(), "f"))
    assert Decimal(live["currentSpend"]) == spent
    assert live["heldSpend"] == "0"


def test_thresholds_and_the_limit_send_one_signed_webhook_each(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    with scripted_receiver() as receiver, events_gateway(tmp_path / "home") as server:
        tenant = make_tenant(server, sim_server.root)
        secret = subscribe(tenant, receiver.url("/hooks"), ["budget.alert", "budget.exceeded"])
        price(tenant, "10", "200")  # about $0.0025 a call
        budget = create(tenant, limitUsd="0.01", thresholds=[0.5], action="alert").json()
        for _ in range(6):  # $0.015 in all: alert-only budgets never refuse
            assert chat(tenant).status_code == 200
            time.sleep(0.05)  # one settlement after another, as calls spaced out would be
        hits = receiver.wait_for("/hooks", 2)
        payloads = [json.loads(hit.body) for hit in hits]
        assert [p["event"] for p in payloads] == ["budget.alert", "budget.exceeded"]
        for hit in hits:
            verify(hit.body, hit.signature or "", secret)
        alert, exceeded = (p["data"] for p in payloads)
        assert alert["budgetId"] == budget["id"] and alert["threshold"] == 0.5
        assert Decimal(alert["currentSpendUsd"]) >= Decimal("0.005")
        assert Decimal(exceeded["currentSpendUsd"]) >= Decimal("0.01")
        assert payloads[0]["workspaceId"] == tenant.workspace_id


def test_budget_spend_is_rebuilt_from_the_database_after_redis_loses_it(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    redis_url = _redis_or_skip("redis")
    assert redis_url is not None
    with running_gateway(tmp_path / "home", redis_url=redis_url) as server:
        tenant = make_tenant(server, sim_server.root)
        budget = create(tenant).json()
        costs = [Decimal(chat(tenant).headers["x-tollgate-cost"]) for _ in range(3)]
        total = format(sum(costs).normalize(), "f")
        assert settled_spend(tenant, budget["id"], total)["currentSpend"] == total
        server.flush()
        with Redis.from_url(redis_url) as client:  # what a flush or a failover without persistence does
            lost = list(client.scan_iter(match=f"tollgate:ledger:{{{tenant.workspace_id}}}*"))
            assert lost
            client.delete(*lost)
        assert tenant.admin("GET", f"/v1/budgets/{budget['id']}").json()["currentSpend"] == total
        assert chat(tenant).status_code == 200, "and calls are admitted against the rebuilt spend"
