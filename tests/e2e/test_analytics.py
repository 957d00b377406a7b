"""The analytics API end to end: seed 003's dashboard with known numbers, ``/v1/summary``,
``/v1/usage`` in a time zone, bad input, exports, retention and who may read what."""

from __future__ import annotations

import csv
import io
import time as wall
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.gateway import ADMIN_TOKEN, GatewayServer, Tenant, admin_call, running_gateway
from tests.support.usage_data import all_requests, new_workspace, record, store_records
from tollgate.core.clock import FakeClock

NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
USD = 10**9


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path / "home", clock=FakeClock(NOW), retention_interval=0) as running:
        yield running


def _get(server: GatewayServer, workspace: str, path: str, **params: Any) -> dict[str, Any]:
    response = admin_call(server, "GET", path, workspace=workspace, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _dashboard_data(workspace: str) -> list[Any]:
    return [
        record(workspace, _at("2026-03-01T09:15"), model="gpt-4o", cost_nanos=2 * USD, latency_ms=300),
        record(
            workspace, _at("2026-03-01T09:45"), provider="anthropic", model="claude-haiku-4-5",
            cost_nanos=USD // 2, status="error", latency_ms=100,
        ),
        record(workspace, _at("2026-03-05T14:00"), model="gpt-4o", cost_nanos=USD, output_tokens=80),
        record(workspace, _at("2026-03-10T23:30"), model="gpt-4o-mini", cost_nanos=123_000, latency_ms=200),
        record(workspace, _at("2026-02-25T08:00"), model="gpt-4o", cost_nanos=2 * USD),  # previous period
        record(workspace, _at("2026-03-11T00:00"), model="gpt-4o", cost_nanos=9 * USD),  # after the range
        record(workspace, _at("2026-02-18T23:59"), model="gpt-4o", cost_nanos=9 * USD),  # before both
    ]  # fmt: skip


def test_seed_003_dashboard_shape_and_numbers(server: GatewayServer) -> None:
    workspace = new_workspace(server)
    store_records(server, _dashboard_data(workspace))
    body = _get(server, workspace, "/api/analytics", start_date="2026-03-01", end_date="2026-03-10")
    assert set(body) == {
        "metrics",
        "costOverTime",
        "costByModel",
        "requestsByHour",
        "tokenUsage",
        "topRequests",
    }
    metrics = {m["title"]: m for m in body["metrics"]}
    assert metrics["Total Cost"] == {
        "title": "Total Cost", "value": "$3.50", "change": "+75.0%", "changeType": "positive",
        "icon": "DollarSign",
    }  # fmt: skip
    assert metrics["Total Requests"]["value"] == "4"
    assert metrics["Total Requests"]["change"] == "+300.0%"
    assert metrics["Error Rate"]["value"] == "25.0%"
    assert metrics["Avg Cost per Request"]["value"] == "$0.875"  # 0.87503075: 4 significant digits
    assert all(set(m) == {"title", "value", "change", "changeType", "icon"} for m in body["metrics"])

    days = body["costOverTime"]
    assert [d["name"] for d in days] == [f"2026-03-{n:02d}" for n in range(1, 11)]
    assert days[0] == {"name": "2026-03-01", "cost": 2.5, "requests": 2}
    assert days[4] == {"name": "2026-03-05", "cost": 1.0, "requests": 1}
    assert days[9] == {"name": "2026-03-10", "cost": 0.000123, "requests": 1}
    assert sum(d["requests"] for d in days) == 4

    assert body["costByModel"] == [
        {"name": "gpt-4o", "value": 3.0},
        {"name": "claude-haiku-4-5", "value": 0.5},
        {"name": "gpt-4o-mini", "value": 0.000123},
    ]
    hours = {h["name"]: h["requests"] for h in body["requestsByHour"]}
    assert len(hours) == 24 and hours["09:00"] == 2 and hours["14:00"] == 1 and hours["23:00"] == 1
    assert sum(hours.values()) == 4
    assert body["tokenUsage"] == {
        "total": 120 + 120 + 180 + 120,
        "byModel": {"gpt-4o": 300, "claude-haiku-4-5": 120, "gpt-4o-mini": 120},
    }
    assert body["topRequests"][0] == {
        "model": "gpt-4o", "provider": "openai", "requests": 2, "cost": 3.0, "avgCost": 1.5,
    }  # fmt: skip
    # The native path serves the same document.
    assert _get(server, workspace, "/v1/analytics", start_date="2026-03-01", end_date="2026-03-10") == body


def test_dashboard_days_follow_the_workspace_time_zone(server: GatewayServer) -> None:
    workspace = new_workspace(server, timeZone="Asia/Tokyo")  # UTC+9
    store_records(
        server,
        [
            record(workspace, _at("2026-02-28T16:00"), cost_nanos=USD),  # 01:00 on Mar 1 in Tokyo
            record(workspace, _at("2026-03-10T23:30"), cost_nanos=USD),  # 08:30 on Mar 11: outside
        ],
    )
    body = _get(server, workspace, "/v1/analytics", start_date="2026-03-01", end_date="2026-03-10")
    assert body["costOverTime"][0] == {"name": "2026-03-01", "cost": 1.0, "requests": 1}
    assert sum(d["requests"] for d in body["costOverTime"]) == 1
    assert {h["name"]: h["requests"] for h in body["requestsByHour"]}["01:00"] == 1
    usage = _get(
        server, workspace, "/v1/usage", **{"from": "2026-03-01", "to": "2026-03-11", "interval": "day"}
    )
    assert usage["from"] == "2026-02-28T15:00:00Z" and usage["to"] == "2026-03-11T15:00:00Z"
    assert [(r["start"], r["requests"]) for r in usage["data"]] == [
        ("2026-03-01T00:00:00+09:00", 1),
        ("2026-03-11T00:00:00+09:00", 1),
    ]


def test_summary_rates_tops_and_month_projection(server: GatewayServer) -> None:
    workspace = new_workspace(server)
    store_records(
        server,
        [
            *_dashboard_data(workspace),
            record(workspace, _at("2026-03-12T10:00"), feature="search", route_name="/api/s", cost_nanos=USD),
            record(
                workspace, _at("2026-03-12T11:00"), feature="chat", cost_nanos=3 * USD, cache_status="hit"
            ),
        ],
    )
    body = _get(server, workspace, "/v1/summary")
    assert body["from"] == "2026-03-01T00:00:00Z" and body["to"] == "2026-03-15T13:00:00Z"
    month_cost = 2 * USD + USD // 2 + USD + 123_000 + 9 * USD + USD + 3 * USD
    assert body["totals"]["costNanos"] == month_cost
    assert body["totals"]["requests"] == 7
    assert body["errorRate"] == pytest.approx(1 / 7)
    assert body["cacheHitRate"] == pytest.approx(1 / 7)
    assert [f["feature"] for f in body["topFeatures"]] == [None, "chat", "search"]  # untagged cost most
    assert body["topFeatures"][1]["costUsd"] == "3"
    assert [r["route"] for r in body["topRoutes"]] == [None, "/api/s"]
    assert body["topModels"][0] == {**body["topModels"][0], "provider": "openai", "model": "gpt-4o"}
    assert body["latencyMs"]["avg"] == pytest.approx((300 + 100 + 400 + 200 + 400 + 400 + 400) / 7, abs=0.1)
    assert 300 <= body["latencyMs"]["p50"] <= 500 and body["latencyMs"]["p95"] <= 500
    month = body["month"]
    assert month["start"] == "2026-03-01T00:00:00+00:00"
    assert month["spendNanos"] == month_cost
    elapsed = (NOW - datetime(2026, 3, 1, tzinfo=UTC)).total_seconds()
    assert month["projectedNanos"] == round(month_cost * 31 * 86400 / elapsed)
    assert month["projectedUsd"] == f"{month['projectedNanos'] / USD:.9f}".rstrip("0").rstrip(".")
    # A chosen range: only February's one record is in it (the month block still says March).
    february = _get(server, workspace, "/v1/summary", **{"from": "2026-02-19", "to": "2026-02-28"})
    assert february["totals"]["requests"] == 1 and february["month"]["spendNanos"] == month_cost


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/v1/usage", {"from": "yesterday"}, "invalid_date"),
        ("/v1/usage", {"from": "2026-02-30"}, "invalid_date"),
        ("/v1/usage", {"from": "2026-03-10", "to": "2026-03-01"}, "invalid_range"),
        ("/v1/usage", {"from": "2025-01-01", "to": "2026-03-01"}, "range_too_long"),
        ("/v1/usage", {"groupBy": "model,planet"}, "invalid_group_by"),
        ("/v1/usage", {"interval": "fortnight"}, "invalid_interval"),
        ("/v1/summary", {"to": "not-a-date"}, "invalid_date"),
        ("/v1/analytics", {"start_date": "2026-03-10", "end_date": "2026-03-01"}, "invalid_range"),
        ("/api/analytics", {"start_date": "03/01/2026"}, "invalid_date"),
        ("/v1/exports/analytics.json", {"groupBy": "nope"}, "invalid_group_by"),
        ("/v1/exports/requests.csv", {"from": "nope"}, "invalid_date"),
        ("/v1/requests", {"cursor": "bm9wZQ"}, "invalid_cursor"),
    ],
)
def test_bad_input_is_a_400_naming_the_problem(
    server: GatewayServer, path: str, params: dict[str, str], code: str
) -> None:
    workspace = new_workspace(server)
    response = admin_call(server, "GET", path, workspace=workspace, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    name = next(iter(params)) if code in ("invalid_date", "invalid_group_by", "invalid_interval") else ""
    assert name.replace("groupBy", "group").replace("_date", "").lower() in response.text.lower()


def test_too_many_rows_is_refused_not_cut(server: GatewayServer) -> None:
    workspace = new_workspace(server)
    store_records(
        server,
        [
            record(workspace, NOW - timedelta(hours=h), customer_id=f"cus_{c}")
            for h in range(200)
            for c in range(101)
        ],
    )
    response = admin_call(
        server, "GET", "/v1/usage", workspace=workspace,
        params={"from": "2026-03-01", "to": "2026-03-15", "interval": "hour", "groupBy": "customer"},
    )  # fmt: skip
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "too_many_rows"


def test_time_zone_and_retention_settings_are_checked(server: GatewayServer) -> None:
    for settings, code in (
        ({"timeZone": "Mars/Olympus"}, "invalid_time_zone"),
        ({"timeZone": 5}, "invalid_time_zone"),
        ({"retentionDays": 0}, "invalid_settings"),
        ({"retentionDays": "90"}, "invalid_settings"),
    ):
        response = admin_call(server, "POST", "/v1/workspaces", json={"name": "w", "settings": settings})
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == code
    workspace = new_workspace(server, timeZone="Europe/Paris", retentionDays=30)
    patched = admin_call(
        server, "PATCH", f"/v1/workspaces/{workspace}", json={"settings": {"timeZone": "Nowhere"}}
    )
    assert patched.status_code == 400
    assert (
        admin_call(server, "GET", f"/v1/workspaces/{workspace}").json()["settings"]["timeZone"]
        == "Europe/Paris"
    )


def test_reading_analytics_needs_the_read_scope_and_own_workspace(server: GatewayServer) -> None:
    workspace = new_workspace(server)
    other = new_workspace(server)
    proxy_only = admin_call(
        server, "POST", "/v1/keys", workspace=workspace, json={"name": "p", "scopes": ["proxy"]}
    )
    reader = admin_call(
        server, "POST", "/v1/keys", workspace=workspace, json={"name": "r", "scopes": ["read"]}
    )
    for path in ("/v1/usage", "/v1/summary", "/v1/analytics", "/api/analytics", "/v1/exports/requests.csv"):
        refused = httpx2.get(
            server.url + path, headers={"authorization": f"Bearer {proxy_only.json()['key']}"}
        )
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "insufficient_scope"
        elsewhere = httpx2.get(
            server.url + path,
            headers={"authorization": f"Bearer {reader.json()['key']}", "x-tollgate-workspace": other},
        )
        assert elsewhere.status_code == 403 and elsewhere.json()["error"]["code"] == "wrong_workspace"
        allowed = httpx2.get(server.url + path, headers={"authorization": f"Bearer {reader.json()['key']}"})
        assert allowed.status_code == 200, allowed.text
        assert httpx2.get(server.url + path).status_code == 401


def test_exports_match_the_request_list(tenant: Tenant) -> None:
    server = tenant.server
    for feature in ("chat", "=HYPERLINK(1)", "search"):
        response = httpx2.post(
            tenant.url + "/v1/chat/completions",
            headers=tenant.headers(**{"x-tollgate-feature": feature}),
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
    server.flush()
    exported = tenant.admin("GET", "/v1/exports/requests.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    listed = list(all_requests(server, tenant.workspace_id))
    assert [r["id"] for r in rows] == [item["id"] for item in listed]
    for row, item in zip(rows, listed, strict=True):
        assert row["cost_usd"] == item["costUsd"]
        assert int(row["total_tokens"]) == item["totalTokens"]
        assert row["model"] == item["model"] and row["status"] == item["status"]
    assert {r["feature"] for r in rows} == {"chat", "'=HYPERLINK(1)", "search"}  # not a live formula
    assert tenant.key not in exported.text and "sk-sim" not in exported.text
    only_chat = list(
        csv.DictReader(
            io.StringIO(tenant.admin("GET", "/v1/exports/requests.csv", params={"feature": "chat"}).text)
        )
    )
    assert [r["feature"] for r in only_chat] == ["chat"]

    series = tenant.admin("GET", "/v1/exports/analytics.json", params={"groupBy": "feature"})
    assert series.status_code == 200
    document = series.json()
    assert set(document) == {"generatedAt", "filters", "series", "totals"}
    assert document["filters"]["groupBy"] == ["feature"]
    assert sorted(s["feature"] for s in document["series"]) == sorted(["chat", "=HYPERLINK(1)", "search"])
    assert document["totals"]["requests"] == 3
    assert document["totals"]["costNanos"] == sum(item["costNanos"] for item in listed)


def test_a_large_export_streams_every_row(server: GatewayServer) -> None:
    workspace = new_workspace(server)
    records = [record(workspace, NOW - timedelta(seconds=s)) for s in range(2500)]
    store_records(server, records)
    with httpx2.stream(
        "GET", server.url + "/v1/exports/requests.csv",
        headers={"authorization": f"Bearer {ADMIN_TOKEN}", "x-tollgate-workspace": workspace},
    ) as response:  # fmt: skip
        assert response.status_code == 200
        chunks = list(response.iter_bytes())
    rows = list(csv.reader(io.StringIO(b"".join(chunks).decode())))
    assert rows[0][:3] == ["id", "created_at", "key_id"]
    assert [r[0] for r in rows[1:]] == [r.id for r in records]  # newest first


def test_retention_prunes_raw_rows_and_keeps_rollups(tmp_path: Path) -> None:
    with running_gateway(tmp_path / "home", retention_interval=0.2) as server:
        workspace = new_workspace(server, retentionDays=2)
        now = datetime.now(UTC)
        old = [record(workspace, now - timedelta(days=3, minutes=m)) for m in range(30)]
        fresh = [record(workspace, now - timedelta(hours=1, minutes=m)) for m in range(5)]
        store_records(server, old + fresh)
        deadline = wall.monotonic() + 20
        while len(list(all_requests(server, workspace))) > len(fresh):
            assert wall.monotonic() < deadline, "the pruner did not delete the old rows"
            wall.sleep(0.1)
        assert {item["id"] for item in all_requests(server, workspace)} == {r.id for r in fresh}
        usage = _get(server, workspace, "/v1/usage", **{"from": (now - timedelta(days=5)).date().isoformat()})
        assert usage["totals"]["requests"] == 35
