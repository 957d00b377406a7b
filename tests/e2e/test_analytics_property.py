"""The property the issue names: the numbers in analytics equal sums over ``/v1/requests`` for the
same filters, on random data, in several time zones (DST changes inside the range), for every
interval and any grouping. Analytics read rollups; the expectation is computed here from the raw
rows the request list returns, with Python's own calendar arithmetic."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.databases import BACKENDS, provision_database
from tests.support.gateway import GatewayServer, admin_call, running_gateway
from tests.support.usage_data import (
    DIMENSION_OF,
    all_requests,
    new_workspace,
    only,
    random_records,
    store_records,
    sums,
)

ZONES = ("UTC", "America/New_York", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney")
START = datetime(2026, 10, 20, tzinfo=UTC)  # EU and US DST end on Oct 25 and Nov 1 2026
DAYS = 20
FILTERABLE = {
    "provider": ("openai", "anthropic"),
    "model": ("gpt-4o", "claude-haiku-4-5"),
    "feature": ("chat", "search"),
    "key": ("key_a",),
    "status": ("error", "success"),
    "customer": ("cus_1",),
    "route": ("/api/chat",),
}


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayServer]:
    folder: Path = tmp_path_factory.mktemp("analytics")
    db = asyncio.run(provision_database(request.param, folder))
    try:
        with running_gateway(folder / "home", database_url=db.url, retention_interval=0) as running:
            yield running
    finally:
        asyncio.run(db.cleanup())


def _bucket(created_at: str, interval: str | None, zone: ZoneInfo) -> str | None:
    moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    local = moment.astimezone(zone)
    if interval is None:
        return None
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0).astimezone(zone).isoformat()
    day = local.date()
    if interval == "week":
        day -= timedelta(days=day.weekday())
    elif interval == "month":
        day = day.replace(day=1)
    return datetime.combine(day, time(0), tzinfo=zone).isoformat()


def _expected(
    items: list[dict[str, Any]], interval: str | None, group_by: list[str], zone: ZoneInfo
) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for item in items:
        key = (_bucket(item["createdAt"], interval, zone), *(DIMENSION_OF[d](item) for d in group_by))
        groups.setdefault(key, []).append(item)
    return {key: sums(rows) for key, rows in groups.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    zone_name=st.sampled_from(ZONES),
    interval=st.sampled_from((None, "hour", "day", "week", "month")),
    group_by=st.lists(st.sampled_from(sorted(DIMENSION_OF)), max_size=2, unique=True),
    filters=st.dictionaries(st.sampled_from(sorted(FILTERABLE)), st.integers(0, 1), max_size=2),
    first_day=st.integers(0, DAYS - 1),
    length=st.integers(1, DAYS),
)
def test_usage_equals_sums_over_the_request_list(
    server: GatewayServer,
    seed: int,
    zone_name: str,
    interval: str | None,
    group_by: list[str],
    filters: dict[str, int],
    first_day: int,
    length: int,
) -> None:
    zone = ZoneInfo(zone_name)
    workspace = new_workspace(server, timeZone=zone_name)
    store_records(server, random_records(workspace, 150, START, DAYS * 24, random.Random(seed)))
    start_day = START.date() + timedelta(days=first_day)
    end_day = min(start_day + timedelta(days=length - 1), START.date() + timedelta(days=DAYS))
    chosen = {dim: FILTERABLE[dim][pick % len(FILTERABLE[dim])] for dim, pick in filters.items()}

    params: dict[str, Any] = {"from": start_day.isoformat(), "to": end_day.isoformat(), **chosen}
    if interval:
        params["interval"] = interval
    if group_by:
        params["groupBy"] = ",".join(group_by)
    response = admin_call(server, "GET", "/v1/usage", workspace=workspace, params=params)
    assert response.status_code == 200, response.text
    body = response.json()

    since, until = _local_midnight(start_day, zone), _local_midnight(end_day + timedelta(days=1), zone)
    items = [
        item
        for item in all_requests(server, workspace, **{"from": since.isoformat(), "to": until.isoformat()})
        if all(DIMENSION_OF[dim](item) == value for dim, value in chosen.items())
    ]
    got = {(row.get("start"), *(row[d] for d in group_by)): only(row) for row in body["data"]}
    assert got == _expected(items, interval, group_by, zone)
    assert only(body["totals"]) == sums(items)
    assert body["from"] == since.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert body["timeZone"] == zone_name


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)
