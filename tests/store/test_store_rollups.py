"""Hourly rollups: kept by the usage insert, read back grouped, bucketed and filtered.

The check throughout: what the rollups say equals a sum over the raw rows.
"""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import MetaData, Table

from tests.support.databases import ProvisionedDatabase
from tollgate.core.errors import TollgateError
from tollgate.store.migrations import alembic_config, migrate
from tollgate.store.records import UsageRecord, Workspace
from tollgate.store.repos import Store, open_store
from tollgate.store.rollup_queries import Bucketing, Measures, Ranges, RollupQuery, Uniform
from tollgate.store.rollups import DIMENSIONS, LATENCY_BOUNDS_MS, cube_for, hour_of, latency_bucket
from tollgate.store.schema import usage_records, workspaces
from tollgate.store.usage import _values

from .factories import T0, Make

H0 = int(T0.timestamp()) // 3600
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-haiku-4-5")
FEATURES = ("chat", "search", None)


def _random_records(make: Make, workspace_id: str, count: int, seed: int = 7) -> list[UsageRecord]:
    rng = random.Random(seed)
    return [
        make.usage(
            workspace_id,
            created_at=T0 + timedelta(minutes=rng.randrange(0, 72 * 60), microseconds=rng.randrange(10**6)),
            model=rng.choice(MODELS),
            provider="anthropic" if rng.random() < 0.3 else "openai",
            feature=rng.choice(FEATURES),
            key_id=rng.choice(("key_a", "key_b", None)),
            customer_id=rng.choice(("cus_1", "cus_2", None)),
            status=rng.choice(("success", "success", "error", "client_closed")),
            input_tokens=rng.randrange(0, 5000),
            cache_read_tokens=rng.randrange(0, 500),
            output_tokens=rng.randrange(0, 900),
            reasoning_tokens=rng.randrange(0, 50),
            cost_nanos=rng.choice((None, rng.randrange(0, 10**7))),
            reported_cost_nanos=rng.choice((None, 1234)),
            cache_status=rng.choice(("hit", "miss", "bypass")),
            latency_ms=rng.randrange(0, 70_000),
        )
        for _ in range(count)
    ]


def _query(*args: Any, **kwargs: Any) -> RollupQuery:
    return RollupQuery(*args, histogram=True, **kwargs)


def _expected(records: list[UsageRecord]) -> Measures:
    histogram = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    for r in records:
        histogram[latency_bucket(r.latency_ms)] += 1
    return Measures(
        requests=len(records),
        errors=sum(r.status == "error" for r in records),
        input_tokens=sum(r.input_tokens for r in records),
        cache_read_tokens=sum(r.cache_read_tokens for r in records),
        cache_write_tokens=sum(r.cache_write_tokens for r in records),
        output_tokens=sum(r.output_tokens for r in records),
        reasoning_tokens=sum(r.reasoning_tokens for r in records),
        cost_nanos=sum(r.cost_nanos or 0 for r in records),
        reported_cost_nanos=sum(r.reported_cost_nanos or 0 for r in records),
        cache_hits=sum(r.cache_status == "hit" for r in records),
        price_unknown=sum(r.price_unknown for r in records),
        estimated=sum(r.estimated for r in records),
        latency_ms_sum=sum(r.latency_ms for r in records),
        latency_histogram=tuple(histogram),
    )


async def test_totals_equal_the_sum_of_the_rows(store: Store, ws: Workspace, make: Make) -> None:
    records = _random_records(make, ws.id, 300)
    await store.usage.insert_many(records)
    [row] = await store.rollups.query(_query(ws.id, H0, H0 + 72))
    assert row.measures == _expected(records)


async def test_the_histogram_is_summed_only_when_asked(store: Store, ws: Workspace, make: Make) -> None:
    records = _random_records(make, ws.id, 50)
    await store.usage.insert_many(records)
    [lean] = await store.rollups.query(RollupQuery(ws.id, H0, H0 + 72))
    assert lean.measures == replace(_expected(records), latency_histogram=Measures().latency_histogram)


async def test_grouped_by_model_and_feature(store: Store, ws: Workspace, make: Make) -> None:
    records = _random_records(make, ws.id, 300)
    await store.usage.insert_many(records)
    rows = await store.rollups.query(_query(ws.id, H0, H0 + 72, group_by=("model", "feature")))
    got = {(r.dims["model"], r.dims["feature"]): r.measures for r in rows}
    want = {
        (m, f): _expected([r for r in records if r.model == m and r.feature == f])
        for m in MODELS
        for f in FEATURES
        if any(r.model == m and r.feature == f for r in records)
    }
    assert got == want


async def test_filters_and_hour_range(store: Store, ws: Workspace, make: Make) -> None:
    records = _random_records(make, ws.id, 300)
    await store.usage.insert_many(records)
    query = _query(ws.id, H0 + 10, H0 + 50, filters={"provider": ("openai",), "customer": ("cus_1", "cus_2")})
    [row] = await store.rollups.query(query)
    chosen = [
        r
        for r in records
        if H0 + 10 <= hour_of(r) < H0 + 50 and r.provider == "openai" and r.customer_id in ("cus_1", "cus_2")
    ]
    assert row.measures == _expected(chosen)


async def test_uniform_buckets_in_a_shifted_zone(store: Store, ws: Workspace, make: Make) -> None:
    """Days in UTC-05:00 (and a DST change inside the range): each hour in its local day."""
    records = _random_records(make, ws.id, 300)
    await store.usage.insert_many(records)
    days = Uniform(width_minutes=1440, offsets=((0, -300), (H0 + 30, -240)))
    rows = await store.rollups.query(_query(ws.id, H0, H0 + 72, bucketing=days))
    got = {r.bucket: r.measures.requests for r in rows}
    want: dict[int, int] = {}
    for r in records:
        key = days.key(hour_of(r))
        want[key] = want.get(key, 0) + 1
    assert got == want
    assert len(got) == 4  # 72 hours from noon UTC span four local days


async def test_ranges_and_hour_of_day(store: Store, ws: Workspace, make: Make) -> None:
    records = _random_records(make, ws.id, 200)
    await store.usage.insert_many(records)
    periods = Ranges((H0, H0 + 24, H0 + 72))
    rows = await store.rollups.query(_query(ws.id, H0, H0 + 72, bucketing=periods))
    assert {r.bucket: r.measures.requests for r in rows} == {
        0: sum(hour_of(r) < H0 + 24 for r in records),
        1: sum(hour_of(r) >= H0 + 24 for r in records),
    }
    of_day = Uniform(width_minutes=60, modulo=24)
    rows = await store.rollups.query(_query(ws.id, H0, H0 + 72, bucketing=of_day))
    assert {r.bucket: r.measures.requests for r in rows} == {
        h: n for h in range(24) if (n := sum(r.created_at.hour == h for r in records))
    }


def _spread_records(make: Make, workspace_id: str, count: int, days: int) -> list[UsageRecord]:
    """``_random_records`` spread over ``days`` days from ``T0``."""
    rng = random.Random(11)
    spread = _random_records(make, workspace_id, count)
    return [replace(r, created_at=T0 + timedelta(seconds=rng.randrange(days * 86_400))) for r in spread]


LONG_BUCKETINGS: tuple[Bucketing | None, ...] = (
    None,
    Uniform(width_minutes=1440),
    Uniform(width_minutes=1440, offsets=((0, -300), (H0 + 100, -240))),  # days in New York, DST ends
    Uniform(width_minutes=1440, offsets=((0, 540),)),  # days in Tokyo
    Uniform(width_minutes=7 * 1440, offsets=((0, 60),), shift_minutes=3 * 1440),  # weeks in Paris
    Ranges((H0 - 7, H0 + 100, H0 + 101, H0 + 250)),  # uneven spans, not at midnight
)


@pytest.mark.parametrize("bucketing", LONG_BUCKETINGS)
async def test_long_buckets_read_days_and_hours_exactly(
    store: Store, ws: Workspace, make: Make, bucketing: Bucketing | None
) -> None:
    """Series of days, weeks and spans in several zones, over a range that starts and ends
    inside UTC days: the sums over the daily and hourly tables equal the raw rows'."""
    records = _spread_records(make, ws.id, 400, days=12)
    await store.usage.insert_many(records)
    start, end = H0 - 7, H0 + 12 * 24 - 5
    for group_by, filters in (((), {}), (("model",), {"provider": ("openai",)}), (("feature",), {})):
        rows = await store.rollups.query(
            _query(ws.id, start, end, group_by=group_by, filters=filters, bucketing=bucketing)
        )
        got = {(r.bucket, *r.dims.values()): r.measures for r in rows}
        chosen = [
            r
            for r in records
            if start <= hour_of(r) < end and all(getattr(r, DIMENSIONS[d]) in v for d, v in filters.items())
        ]
        groups: dict[tuple[object, ...], list[UsageRecord]] = {}
        for r in chosen:
            bucket = None if bucketing is None else bucketing.key(hour_of(r))
            groups.setdefault((bucket, *(getattr(r, DIMENSIONS[d]) or None for d in group_by)), []).append(r)
        assert got == {key: _expected(group) for key, group in groups.items()}


async def test_a_utc_day_series_reads_the_daily_table(store: Store, ws: Workspace, make: Make) -> None:
    """Guards the fast path: with the hourly rows of whole days gone, a day series in UTC still
    has them (it read the daily rows) while an hourly series does not."""
    records = _spread_records(make, ws.id, 200, days=5)
    await store.usage.insert_many(records)
    start, end = (H0 // 24 + 1) * 24, (H0 // 24 + 5) * 24  # T0 is noon: four whole UTC days follow
    hourly = cube_for(["model"]).table
    async with store.engine.begin() as conn:
        await conn.execute(hourly.delete().where(hourly.c.hour >= start, hourly.c.hour < end))
    by_day = await store.rollups.query(RollupQuery(ws.id, start, end, bucketing=Uniform(width_minutes=1440)))
    assert len(by_day) == 4
    assert sum(r.measures.requests for r in by_day) == sum(start <= hour_of(r) < end for r in records)
    by_hour = await store.rollups.query(
        RollupQuery(ws.id, start, end, group_by=("model",), bucketing=Uniform(width_minutes=60))
    )
    assert by_hour == []


async def test_top_n_by_cost(store: Store, ws: Workspace, make: Make) -> None:
    records = _random_records(make, ws.id, 300)
    await store.usage.insert_many(records)
    rows = await store.rollups.query(
        _query(ws.id, H0, H0 + 72, group_by=("model",), order_by="cost_nanos", limit=2)
    )
    costs = sorted(
        ((sum(r.cost_nanos or 0 for r in records if r.model == m), m) for m in MODELS), reverse=True
    )
    assert [(r.measures.cost_nanos, r.dims["model"]) for r in rows] == costs[:2]


async def test_replays_and_repeated_ids_count_once(store: Store, ws: Workspace, make: Make) -> None:
    records = _random_records(make, ws.id, 50)
    await store.usage.insert_many(records)
    await store.usage.insert_many(records[:20])  # a journal replay
    await store.usage.insert_many([records[0], records[0], *_random_records(make, ws.id, 5, seed=9)])
    extra = _random_records(make, ws.id, 5, seed=9)  # same shape, new ids: counted
    [row] = await store.rollups.query(_query(ws.id, H0, H0 + 72))
    assert row.measures.requests == 55
    assert len(extra) == 5


async def test_a_refused_batch_counts_nothing(store: Store, ws: Workspace, make: Make) -> None:
    good = make.usage(ws.id)
    bad = make.usage(ws.id, model=None)  # NOT NULL: the database refuses the whole batch
    with pytest.raises(TollgateError):
        await store.usage.insert_many([good, bad])
    [row] = await store.rollups.query(_query(ws.id, H0, H0 + 72))
    assert row.measures.requests == 0


async def test_rollups_are_scoped_by_workspace(store: Store, ws: Workspace, make: Make) -> None:
    other = await store.workspaces.create(make.workspace())
    await store.usage.insert_many(_random_records(make, other.id, 20))
    [row] = await store.rollups.query(_query(ws.id, H0, H0 + 72))
    assert row.measures.requests == 0


async def test_pruning_keeps_rollups(store: Store, ws: Workspace, make: Make) -> None:
    records = _random_records(make, ws.id, 120)
    await store.usage.insert_many(records)
    cutoff = T0 + timedelta(hours=36)
    pruned = 0
    while n := await store.usage.prune(ws.id, cutoff, batch=25):
        assert n <= 25
        pruned += n
    assert pruned == sum(r.created_at < cutoff for r in records)
    assert await store.usage.count(ws.id) == len(records) - pruned
    [row] = await store.rollups.query(_query(ws.id, H0, H0 + 72))
    assert row.measures == _expected(records)


def test_percentile_estimate_from_the_histogram() -> None:
    histogram = [0] * (len(LATENCY_BOUNDS_MS) + 1)
    histogram[latency_bucket(80)] = 50  # (50, 100]
    histogram[latency_bucket(900)] = 50  # (750, 1000]
    m = Measures(requests=100, latency_histogram=tuple(histogram))
    assert m.latency_percentile(0.5) == 100.0
    assert m.latency_percentile(0.95) == 750 + 250 * 0.9
    assert Measures().latency_percentile(0.5) is None
    assert Measures.total([m, m, Measures(cost_nanos=7)]) == m + m + Measures(cost_nanos=7)
    assert Measures.total([]) == Measures()
    assert cube_for(["model"]).name == "model"
    assert cube_for(["feature", "function"]).name == "tags"
    assert cube_for(["key"]).name == "key"
    assert cube_for(["model", "feature"]).name == "full"


async def test_migration_backfills_rollups_from_existing_rows(
    database: ProvisionedDatabase, make: Make
) -> None:
    """Rows stored before 0002 are rolled up by the migration exactly as the writer would."""
    store = await open_store(database.base_url, connect_args=database.connect_args)
    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), "0001"))
        ws = make.workspace()
        # 0001 had no reported cost
        records = [replace(r, reported_cost_nanos=None) for r in _random_records(make, ws.id, 200)]
        async with store.engine.begin() as conn:
            await conn.execute(workspaces.insert(), [_workspace_values(ws)])
            rows = [{k: v for k, v in _values(r).items() if k != "reported_cost_nanos"} for r in records]
            await conn.execute(_usage_records_0001().insert(), rows)
        await migrate(store.engine)
        groupings = (
            (),
            ("model",),
            ("feature", "route"),
            ("key", "model"),
            ("feature", "status", "customer"),
        )
        for group_by in groupings:
            got = await store.rollups.query(_query(ws.id, H0, H0 + 72, group_by=group_by))
            by_dims = {tuple(sorted(r.dims.items())): r.measures for r in got}
            assert by_dims == _grouped(records, group_by)
    finally:
        await store.close()


def _workspace_values(ws: Workspace) -> dict[str, object]:
    return {
        "id": ws.id,
        "name": ws.name,
        "settings": {},
        "created_at": ws.created_at,
        "updated_at": ws.updated_at,
    }


def _usage_records_0001() -> Table:
    """usage_records as revision 0001 made it (no reported_cost_nanos)."""
    columns = [c._copy() for c in usage_records.columns if c.name != "reported_cost_nanos"]
    return Table("usage_records", MetaData(), *columns)


def _grouped(records: list[UsageRecord], group_by: tuple[str, ...]) -> dict[tuple[object, ...], Measures]:
    groups: dict[tuple[object, ...], list[UsageRecord]] = {}
    for r in records:
        key = tuple(sorted((d, getattr(r, DIMENSIONS[d]) or None) for d in group_by))
        groups.setdefault(key, []).append(r)
    return {k: _expected(v) for k, v in groups.items()}


@pytest.mark.parametrize("latency", [0, 25, 26, 60_000, 60_001, 10**9])
def test_latency_buckets_are_inclusive_upper_bounds(latency: int) -> None:
    index = latency_bucket(latency)
    assert index == len(LATENCY_BOUNDS_MS) or latency <= LATENCY_BOUNDS_MS[index]
    assert index == 0 or latency > LATENCY_BOUNDS_MS[index - 1]


def test_hour_of_is_utc_hours_since_the_epoch() -> None:
    record = Make().usage("ws", created_at=datetime(1970, 1, 2, 1, 59, tzinfo=UTC))
    assert hour_of(record) == 25
