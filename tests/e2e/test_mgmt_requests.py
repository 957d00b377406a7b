"""Management API: ``GET /v1/requests`` (filters, dates, cursor pages) and ``GET /v1/requests/{id}``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx2
import pytest

from tests.support.gateway import Tenant, admin_call, make_tenant
from tollgate.testing import Scenario, Simulator, SimulatorServer


@dataclass
class History:
    tenant: Tenant
    other_key_id: str
    calls: list[dict[str, Any]]  # oldest first: id, provider, model, key, feature, status

    def ids(self, **where: Any) -> list[str]:
        """Ids of the calls matching ``where``, newest first (the listing's order)."""
        return [c["id"] for c in reversed(self.calls) if all(c[k] == v for k, v in where.items())]


def send(
    tenant: Tenant, key: str, provider: str, model: str, feature: str | None = None, **headers: str
) -> str:
    body: dict[str, Any] = {
        "provider": provider,
        "model": model,
        "messages": [{"role": "user", "content": "x"}],
    }
    if feature:
        body["metadata"] = {"feature": feature}
    response = httpx2.post(
        tenant.url + "/v1/chat", json=body, headers={"authorization": f"Bearer {key}", **headers}, timeout=30
    )
    assert response.status_code in (200, 500), response.text
    request_id: str = response.headers["x-tollgate-request-id"]
    return request_id


def make_history(tenant: Tenant, sim: Simulator) -> History:
    other = tenant.admin("POST", "/v1/keys", json={"name": "batch"}).json()
    plan = [
        (tenant.key, "a", "openai", "gpt-4o-mini", "search", "success"),
        (other["key"], "b", "openai", "gpt-4o", None, "success"),
        (tenant.key, "a", "anthropic", "claude-haiku-4-5", "support", "success"),
        (tenant.key, "a", "openai", "gpt-4o-mini", "search", "error"),
        (other["key"], "b", "gemini", "gemini-2.5-flash", "search", "success"),
        (tenant.key, "a", "openai", "gpt-4o", "support", "success"),
        (other["key"], "b", "anthropic", "claude-haiku-4-5", None, "success"),
    ]
    calls = []
    for raw, who, provider, model, feature, status in plan:
        if status == "error":
            sim.enqueue(Scenario(error_status=500), provider=provider)
        request_id = send(tenant, raw, provider, model, feature)
        key_id = tenant.key_id if who == "a" else other["id"]
        calls.append(
            {
                "id": request_id,
                "provider": provider,
                "model": model,
                "key": key_id,
                "feature": feature,
                "status": status,
            }
        )
    tenant.server.flush()
    return History(tenant, other["id"], calls)


def listing(tenant: Tenant, **params: Any) -> httpx2.Response:
    return tenant.admin("GET", "/v1/requests", params=params)


def listed_ids(tenant: Tenant, **params: Any) -> list[str]:
    response = listing(tenant, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["nextCursor"] is None
    return [r["id"] for r in body["data"]]


@pytest.fixture
def history(tenant: Tenant, sim: Simulator) -> History:
    return make_history(tenant, sim)


def test_everything_newest_first(history: History) -> None:
    body = listing(history.tenant).json()
    assert [r["id"] for r in body["data"]] == history.ids()
    assert body["nextCursor"] is None
    first = body["data"][-1]
    assert first["provider"] == "openai" and first["model"] == "gpt-4o-mini"
    assert first["keyId"] == history.tenant.key_id and first["tags"]["feature"] == "search"
    assert first["status"] == "success" and first["door"] == "chat"
    one = history.tenant.admin("GET", f"/v1/requests/{first['id']}")
    assert one.status_code == 200 and one.json() == first


@pytest.mark.parametrize(
    "where",
    [
        {"provider": "anthropic"},
        {"provider": "gemini"},
        {"model": "gpt-4o"},
        {"feature": "search"},
        {"feature": "support"},
        {"status": "error"},
        {"status": "success"},
        {"provider": "openai", "feature": "search", "status": "success"},
    ],
)
def test_each_filter(history: History, where: dict[str, str]) -> None:
    expected = history.ids(**where)
    assert expected, "the history has a match for every filter"
    assert listed_ids(history.tenant, **where) == expected


def test_key_filter(history: History) -> None:
    assert listed_ids(history.tenant, key=history.other_key_id) == history.ids(key=history.other_key_id)
    assert listed_ids(history.tenant, key=history.tenant.key_id) == history.ids(key=history.tenant.key_id)
    assert listed_ids(history.tenant, key="key_unknown") == []
    assert listed_ids(history.tenant, provider="mistral") == []


@pytest.mark.parametrize("limit", [1, 2, 3, 7])
def test_pages_walk_every_record_exactly_once(history: History, limit: int) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        body = listing(history.tenant, **params).json()
        assert 1 <= len(body["data"]) <= limit
        seen += [r["id"] for r in body["data"]]
        cursor = body["nextCursor"]
        pages += 1
        if cursor is None:
            break
    assert seen == history.ids()
    assert pages == -(-len(history.calls) // limit)


def test_filtered_pages(history: History) -> None:
    first = listing(history.tenant, provider="openai", limit=2).json()
    second = listing(history.tenant, provider="openai", limit=2, cursor=first["nextCursor"]).json()
    assert second["nextCursor"] is None
    assert [r["id"] for r in first["data"] + second["data"]] == history.ids(provider="openai")


def test_from_and_to(history: History) -> None:
    tenant = history.tenant
    records = listing(tenant).json()["data"]  # newest first
    today = datetime.now(UTC).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    everything = history.ids()
    assert listed_ids(tenant, **{"from": today.isoformat()}) == everything
    assert listed_ids(tenant, to=today.isoformat()) == everything  # a bare `to` date includes that day
    assert listed_ids(tenant, **{"from": yesterday.isoformat(), "to": tomorrow.isoformat()}) == everything
    assert listed_ids(tenant, **{"from": tomorrow.isoformat()}) == []
    assert listed_ids(tenant, to=yesterday.isoformat()) == []

    middle = records[3]["createdAt"]  # date-time with Z: `from` inclusive, `to` exclusive
    assert listed_ids(tenant, **{"from": middle}) == everything[:4]
    assert listed_ids(tenant, to=middle) == everything[4:]
    as_offset = datetime.fromisoformat(middle.replace("Z", "+00:00")).astimezone(timezone(timedelta(hours=2)))
    assert listed_ids(tenant, **{"from": as_offset.isoformat()}) == everything[:4]
    newest = records[0]["createdAt"]
    assert listed_ids(tenant, **{"from": middle, "to": newest}) == everything[1:4]
    # Typed into a URL by hand, the offset's "+" arrives as a space; it still means +02:00.
    raw = httpx2.get(
        f"{tenant.url}/v1/requests?from={as_offset.isoformat()}",
        headers={"authorization": f"Bearer {tenant.key}"},
        timeout=30,
    )
    assert raw.status_code == 200, raw.text
    assert [r["id"] for r in raw.json()["data"]] == everything[:4]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"cursor": "garbage"}, "invalid_cursor"),
        ({"cursor": "eyJub3QiOiJhIGN1cnNvciJ9"}, "invalid_cursor"),
        ({"from": "yesterday"}, "invalid_date"),
        ({"to": "2024-13-45"}, "invalid_date"),
        ({"from": "0001-01-01T00:00:00+05:00"}, "invalid_date"),  # before year 1 in UTC
        ({"to": "9999-12-31T23:59:59-05:00"}, "invalid_date"),  # after year 9999 in UTC
        ({"limit": 0}, "invalid_request"),
        ({"limit": 100000}, "invalid_request"),
        ({"limit": "ten"}, "invalid_request"),
    ],
)
def test_bad_listing_parameters(tenant: Tenant, params: dict[str, Any], code: str) -> None:
    response = listing(tenant, **params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code


def test_a_cursor_of_another_listing_is_refused(tenant: Tenant) -> None:
    for name in ("a", "b"):
        admin_call(tenant.server, "POST", "/v1/workspaces", json={"name": name})
    workspaces_cursor = admin_call(tenant.server, "GET", "/v1/workspaces", params={"limit": 1}).json()[
        "nextCursor"
    ]
    assert workspaces_cursor
    response = listing(tenant, cursor=workspaces_cursor)
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_cursor"


def test_workspaces_see_only_their_own_requests(
    history: History, sim_server: SimulatorServer, sim: Simulator
) -> None:
    acme = history.tenant
    globex = make_tenant(acme.server, sim_server.root, "globex")
    theirs = send(globex, globex.key, "openai", "gpt-4o-mini")
    globex.server.flush()
    mine = history.ids()[0]

    assert listed_ids(globex) == [theirs]
    assert theirs not in listed_ids(acme)
    missing = acme.admin("GET", f"/v1/requests/{theirs}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "request_not_found"
    assert globex.admin("GET", f"/v1/requests/{mine}").status_code == 404

    # A key with the read scope lists its own workspace only, and cannot reach into another.
    reader = {"authorization": f"Bearer {globex.key}"}
    own = httpx2.get(globex.url + "/v1/requests", headers=reader, timeout=30).json()
    assert [r["id"] for r in own["data"]] == [theirs]
    assert httpx2.get(globex.url + f"/v1/requests/{mine}", headers=reader, timeout=30).status_code == 404
    crossing = httpx2.get(
        globex.url + "/v1/requests", headers={**reader, "x-tollgate-workspace": acme.workspace_id}, timeout=30
    )
    assert crossing.status_code == 403


def test_listing_on_each_backend(backend_tenant: Tenant, sim: Simulator) -> None:
    history = make_history(backend_tenant, sim)
    tenant = history.tenant
    seen: list[str] = []
    cursor = None
    while True:
        body = listing(tenant, limit=3, **({"cursor": cursor} if cursor else {})).json()
        seen += [r["id"] for r in body["data"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == history.ids()
    for where in (
        {"provider": "anthropic"},
        {"status": "error"},
        {"key": history.other_key_id},
        {"feature": "search"},
    ):
        assert listed_ids(tenant, **where) == history.ids(**where)
    middle = listing(tenant).json()["data"][3]["createdAt"]
    assert listed_ids(tenant, **{"from": middle}) == history.ids()[:4]
    assert listed_ids(tenant, to=middle) == history.ids()[4:]
    assert listing(tenant, cursor="garbage").json()["error"]["code"] == "invalid_cursor"
