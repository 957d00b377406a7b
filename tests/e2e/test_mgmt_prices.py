"""Management API: a workspace's own prices, and what they do to the cost of the next call."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx2
import pytest

from tests.support.gateway import Tenant


def chat(tenant: Tenant, provider: str = "openai", model: str = "gpt-4o-mini") -> dict[str, Any]:
    body = {"provider": provider, "model": model, "messages": [{"role": "user", "content": "price me"}]}
    response = httpx2.post(tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30)
    assert response.status_code == 200, response.text
    metrics: dict[str, Any] = response.json()["metrics"]
    assert metrics["costUsd"] == response.headers.get("x-tollgate-cost")
    return metrics


def code_of(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


PRICE = {"provider": "openai", "model": "gpt-4o-mini", "inputPerMTok": "1000", "outputPerMTok": 2000}


def test_override_prices_the_next_call_and_delete_restores_the_catalogue(tenant: Tenant) -> None:
    catalogue = chat(tenant)
    assert catalogue["priceSource"].startswith("genai-prices") and Decimal(catalogue["costUsd"]) > 0

    created = tenant.admin("POST", "/v1/prices", json=PRICE)
    assert created.status_code == 201, created.text
    price = created.json()
    assert price["id"].startswith("price_") and price["inputPerMTok"] == "1000"
    assert price["outputPerMTok"] == "2000" and price["cacheReadPerMTok"] is None

    priced = chat(tenant)
    expected = (Decimal(priced["inputTokens"]) * 1000 + Decimal(priced["outputTokens"]) * 2000) / 10**6
    assert Decimal(priced["costUsd"]) == expected
    assert priced["priceSource"] == "override"
    record = tenant.record(priced["requestId"])
    assert record["priceSource"] == "override" and Decimal(record["costUsd"]) == expected

    assert tenant.admin("DELETE", f"/v1/prices/{price['id']}").status_code == 204
    restored = chat(tenant)
    assert restored["priceSource"] == catalogue["priceSource"]
    assert restored["costUsd"] == catalogue["costUsd"]
    assert tenant.admin("GET", f"/v1/prices/{price['id']}").status_code == 404
    assert tenant.admin("DELETE", f"/v1/prices/{price['id']}").status_code == 404


def test_upsert_replaces_the_price_of_the_same_model(tenant: Tenant) -> None:
    first = tenant.admin("POST", "/v1/prices", json=PRICE).json()
    again = tenant.admin(
        "POST", "/v1/prices", json={**PRICE, "inputPerMTok": "0.5", "cacheReadPerMTok": "0.05"}
    )
    assert again.status_code == 200, again.text
    replaced = again.json()
    assert replaced["id"] == first["id"] and replaced["createdAt"] == first["createdAt"]
    assert replaced["inputPerMTok"] == "0.5" and replaced["cacheReadPerMTok"] == "0.05"
    other = tenant.admin("POST", "/v1/prices", json={**PRICE, "model": "gpt-4o"})
    assert other.status_code == 201
    listed = tenant.admin("GET", "/v1/prices").json()
    assert [(p["model"], p["inputPerMTok"]) for p in listed["data"]] == [
        ("gpt-4o", "1000"),
        ("gpt-4o-mini", "0.5"),
    ]
    assert tenant.admin("GET", f"/v1/prices/{first['id']}").json() == replaced

    priced = chat(tenant)
    expected = (
        Decimal(priced["inputTokens"]) * Decimal("0.5") + Decimal(priced["outputTokens"]) * 2000
    ) / 10**6
    assert Decimal(priced["costUsd"]) == expected


def test_a_custom_model_gets_a_price(tenant: Tenant) -> None:
    unknown = chat(tenant, "openai_compatible", "llama3")
    assert unknown["priceUnknown"] is True and unknown["costUsd"] is None
    body = {"provider": "openai_compatible", "model": "llama3", "inputPerMTok": "0.1", "outputPerMTok": "0.2"}
    assert tenant.admin("POST", "/v1/prices", json=body).status_code == 201
    known = chat(tenant, "openai_compatible", "llama3")
    assert known["priceUnknown"] is False
    expected = (
        Decimal(known["inputTokens"]) * Decimal("0.1") + Decimal(known["outputTokens"]) * Decimal("0.2")
    ) / 10**6
    assert Decimal(known["costUsd"]) == expected


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"inputPerMTok": "-1"}, "invalid_price"),
        ({"outputPerMTok": -0.5}, "invalid_price"),
        ({"inputPerMTok": "cheap"}, "invalid_price"),
        ({"inputPerMTok": "NaN"}, "invalid_price"),
        ({"inputPerMTok": "Infinity"}, "invalid_price"),
        ({"inputPerMTok": [1]}, "invalid_price"),
        ({"inputPerMTok": {"usd": 1}}, "invalid_price"),
        ({"inputPerMTok": True}, "invalid_price"),
        ({"inputPerMTok": None}, "invalid_price"),
        ({"inputPerMTok": "1e9"}, "invalid_price"),
        ({"cacheReadPerMTok": "-0.1"}, "invalid_price"),
        ({"cacheWritePerMTok": "x"}, "invalid_price"),
        ({"model": ""}, "invalid_model"),
        ({"provider": "skynet"}, "provider_not_supported"),
        ({"currency": "EUR"}, "invalid_request"),
    ],
)
def test_price_validation(tenant: Tenant, change: dict[str, Any], code: str) -> None:
    response = tenant.admin("POST", "/v1/prices", json={**PRICE, **change})
    assert response.status_code in (400, 422), response.text
    assert code_of(response) == code
    assert tenant.admin("GET", "/v1/prices").json()["data"] == []


@pytest.mark.parametrize("missing", ["inputPerMTok", "outputPerMTok"])
def test_a_missing_price_is_invalid_price(tenant: Tenant, missing: str) -> None:
    body = {k: v for k, v in PRICE.items() if k != missing}
    response = tenant.admin("POST", "/v1/prices", json=body)
    assert response.status_code == 400 and code_of(response) == "invalid_price"
    assert missing in response.json()["error"]["message"]
    assert tenant.admin("GET", "/v1/prices").json()["data"] == []


def test_price_reads_need_read_and_writes_need_admin(tenant: Tenant) -> None:
    price = tenant.admin("POST", "/v1/prices", json=PRICE).json()
    reader = tenant.headers()  # default scopes include read, not admin
    listed = httpx2.get(tenant.url + "/v1/prices", headers=reader, timeout=30)
    assert listed.status_code == 200 and [p["id"] for p in listed.json()["data"]] == [price["id"]]
    assert httpx2.get(tenant.url + f"/v1/prices/{price['id']}", headers=reader, timeout=30).status_code == 200
    write = httpx2.post(
        tenant.url + "/v1/prices", json={**PRICE, "inputPerMTok": "0"}, headers=reader, timeout=30
    )
    assert write.status_code == 403
    delete = httpx2.delete(tenant.url + f"/v1/prices/{price['id']}", headers=reader, timeout=30)
    assert delete.status_code == 403
    assert tenant.admin("GET", "/v1/prices").json()["data"][0]["inputPerMTok"] == "1000"
