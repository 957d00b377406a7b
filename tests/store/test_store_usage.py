"""Usage records: idempotent batches, keyset pagination, filters, cursors."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import timedelta, timezone

import pytest
from sqlalchemy import select

from tollgate.core.errors import BadRequest, TollgateError
from tollgate.store.records import UsageRecord, Workspace
from tollgate.store.repos import Store
from tollgate.store.schema import usage_records

from .factories import T0, Make


def _newest_first(records: list[UsageRecord]) -> list[str]:
    return [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id), reverse=True)]


async def _all_pages(store: Store, workspace_id: str, limit: int, **filters: object) -> list[str]:
    seen: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await store.usage.list(workspace_id, limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
        assert len(page) <= limit
        seen += [r.id for r in page]
        if cursor is None:
            return seen


async def test_round_trip_of_every_field(store: Store, ws: Workspace, make: Make) -> None:
    full = make.usage(
        ws.id,
        created_at=T0 + timedelta(microseconds=123_457),
        stream=True,
        status="error",
        http_status=529,
        error_code="upstream_overloaded",
        input_tokens=1_000_000,
        cache_read_tokens=5,
        cache_write_tokens=7,
        output_tokens=3_000_000_000,  # past 32 bits
        reasoning_tokens=11,
        estimated=True,
        cost_nanos=9_007_199_254_740_993,  # past 2**53
        price_unknown=True,
        cache_status="hit",
        idempotent_replay=True,
        latency_ms=1234,
        upstream_latency_ms=1000,
        ttfb_ms=87,
        route_name="checkout",
        function_name="summarize",
        feature="search",
        customer_id="cus_9",
        metadata={"tenant": "acme", "nested": {"list": [1, 2]}},
    )
    sparse = make.usage(ws.id, key_id=None, upstream_model=None, cost_nanos=None, price_source=None)
    assert await store.usage.insert_many([full, sparse]) == 2
    assert await store.usage.get(ws.id, full.id) == full
    assert await store.usage.get(ws.id, sparse.id) == sparse


async def test_total_tokens_is_stored(store: Store, ws: Workspace, make: Make) -> None:
    record = make.usage(ws.id, input_tokens=10, cache_read_tokens=20, cache_write_tokens=30, output_tokens=40)
    await store.usage.insert_many([record])
    async with store.engine.connect() as conn:
        total = (await conn.execute(select(usage_records.c.total_tokens))).scalar_one()
    assert total == record.total_tokens == 100


async def test_replayed_batch_inserts_nothing_twice(store: Store, ws: Workspace, make: Make) -> None:
    batch = [make.usage(ws.id) for _ in range(5)]
    assert await store.usage.insert_many(batch) == 5
    assert await store.usage.insert_many(batch) == 0
    assert await store.usage.count(ws.id) == 5


async def test_overlapping_batches_insert_only_the_new_rows(store: Store, ws: Workspace, make: Make) -> None:
    records = [make.usage(ws.id) for _ in range(8)]
    assert await store.usage.insert_many(records[:5]) == 5
    assert await store.usage.insert_many(records[3:]) == 3
    changed = replace(records[0], cost_nanos=1)  # a replay never overwrites what is stored
    assert await store.usage.insert_many([changed, records[0], records[7]]) == 0
    assert await store.usage.get(ws.id, records[0].id) == records[0]
    assert await store.usage.count(ws.id) == 8


async def test_duplicates_inside_one_batch_are_stored_once(store: Store, ws: Workspace, make: Make) -> None:
    record = make.usage(ws.id)
    assert await store.usage.insert_many([record, record, make.usage(ws.id)]) == 2
    assert await store.usage.insert_many([]) == 0


async def test_a_malformed_record_fails_its_whole_batch(store: Store, ws: Workspace, make: Make) -> None:
    good, bad = make.usage(ws.id), make.usage(ws.id, provider=None)
    with pytest.raises(TollgateError) as err:
        await store.usage.insert_many([good, bad])
    assert err.value.code == "store_integrity_error"
    assert await store.usage.count(ws.id) == 0


async def test_large_batch_and_concurrent_writers(store: Store, ws: Workspace, make: Make) -> None:
    big = [make.usage(ws.id) for _ in range(1500)]
    assert await store.usage.insert_many(big) == 1500
    batches = [[make.usage(ws.id) for _ in range(50)] for _ in range(8)]
    inserted = await asyncio.gather(*(store.usage.insert_many(b) for b in batches))
    assert inserted == [50] * 8
    assert await store.usage.count(ws.id) == 1900


async def test_reads_are_scoped_by_workspace(store: Store, ws: Workspace, make: Make) -> None:
    other = await store.workspaces.create(make.workspace())
    mine = make.usage(ws.id)
    await store.usage.insert_many([mine, make.usage(other.id), make.usage(other.id)])
    assert await store.usage.get(other.id, mine.id) is None
    assert await store.usage.count(ws.id) == 1
    assert await store.usage.count(other.id) == 2
    page, cursor = await store.usage.list(ws.id)
    assert [r.id for r in page] == [mine.id] and cursor is None


@pytest.mark.parametrize("limit", [1, 3, 4, 50])
async def test_pages_cover_ties_exactly_once(store: Store, ws: Workspace, make: Make, limit: int) -> None:
    tie = T0 + timedelta(hours=1)
    records = [make.usage(ws.id, created_at=tie) for _ in range(7)]
    records += [make.usage(ws.id) for _ in range(5)]
    records += [make.usage(ws.id, created_at=tie + timedelta(microseconds=1)) for _ in range(2)]
    await store.usage.insert_many(records[::-1])
    seen = await _all_pages(store, ws.id, limit)
    assert seen == _newest_first(records)


async def test_a_page_is_stable_while_new_records_arrive(store: Store, ws: Workspace, make: Make) -> None:
    records = [make.usage(ws.id) for _ in range(6)]
    await store.usage.insert_many(records)
    first, cursor = await store.usage.list(ws.id, limit=3)
    await store.usage.insert_many([make.usage(ws.id, created_at=T0 + timedelta(days=1))])
    second, _ = await store.usage.list(ws.id, limit=3, cursor=cursor)
    assert [r.id for r in first + second] == _newest_first(records)


async def test_each_filter(store: Store, ws: Workspace, make: Make) -> None:
    records = [
        make.usage(ws.id, provider="anthropic", model="claude-sonnet-4", key_id="key_a", feature="chat"),
        make.usage(ws.id, provider="anthropic", model="claude-haiku", key_id="key_b", status="error"),
        make.usage(ws.id, provider="openai", model="gpt-4o", key_id="key_a", feature="search"),
        make.usage(
            ws.id, provider="openai", model="gpt-4o", key_id=None, feature="chat", status="client_closed"
        ),
    ]
    await store.usage.insert_many(records)
    cases: list[tuple[dict[str, str], set[int]]] = [
        ({"provider": "anthropic"}, {0, 1}),
        ({"model": "gpt-4o"}, {2, 3}),
        ({"key_id": "key_a"}, {0, 2}),
        ({"feature": "chat"}, {0, 3}),
        ({"status": "success"}, {0, 2}),
        ({"status": "client_closed"}, {3}),
        ({"provider": "openai", "feature": "chat"}, {3}),
        ({"provider": "cohere"}, set()),
    ]
    for filters, expected in cases:
        page, _ = await store.usage.list(ws.id, **filters)  # type: ignore[arg-type]
        assert {r.id for r in page} == {records[i].id for i in expected}, filters


async def test_time_window_is_start_inclusive_end_exclusive(store: Store, ws: Workspace, make: Make) -> None:
    times = [T0 + timedelta(minutes=m) for m in range(5)]
    records = [make.usage(ws.id, created_at=t) for t in times]
    await store.usage.insert_many(records)
    page, _ = await store.usage.list(ws.id, start=times[1], end=times[3])
    assert [r.id for r in page] == [records[2].id, records[1].id]
    page, _ = await store.usage.list(ws.id, start=times[3])
    assert [r.id for r in page] == [records[4].id, records[3].id]
    page, _ = await store.usage.list(ws.id, end=times[1])
    assert [r.id for r in page] == [records[0].id]
    new_york = timezone(timedelta(hours=-5))  # the same instants, written in another zone
    page, _ = await store.usage.list(
        ws.id, start=times[1].astimezone(new_york), end=times[3].astimezone(new_york)
    )
    assert [r.id for r in page] == [records[2].id, records[1].id]


async def test_filters_and_pagination_together(store: Store, ws: Workspace, make: Make) -> None:
    records = [make.usage(ws.id, provider="openai" if i % 3 else "anthropic") for i in range(20)]
    await store.usage.insert_many(records)
    seen = await _all_pages(store, ws.id, 4, provider="openai")
    assert seen == _newest_first([r for r in records if r.provider == "openai"])


async def test_bad_cursors_are_rejected(store: Store, ws: Workspace, make: Make) -> None:
    await store.usage.insert_many([make.usage(ws.id) for _ in range(3)])
    _, cursor = await store.usage.list(ws.id, limit=1)
    assert cursor is not None and cursor.isascii() and "=" not in cursor
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[3] ^= 0x01
    tampered = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()
    await store.workspaces.create(make.workspace())
    _, workspace_cursor = await store.workspaces.list(limit=1)
    assert workspace_cursor is not None
    for bad in ("garbage", "!!!", "", cursor[:-2], cursor + "A", tampered, workspace_cursor):
        with pytest.raises(BadRequest) as err:
            await store.usage.list(ws.id, cursor=bad)
        assert err.value.code == "invalid_cursor", bad


async def test_limit_is_validated(store: Store, ws: Workspace) -> None:
    for limit in (0, -1, 1001):
        with pytest.raises(BadRequest) as err:
            await store.usage.list(ws.id, limit=limit)
        assert err.value.code == "invalid_limit"


async def test_a_cursor_only_continues_its_own_query(store: Store, ws: Workspace, make: Make) -> None:
    await store.usage.insert_many([make.usage(ws.id, feature="a") for _ in range(3)])
    _, cursor = await store.usage.list(ws.id, limit=1, feature="a")
    assert cursor is not None
    page, _ = await store.usage.list(ws.id, limit=1, feature="a", cursor=cursor)
    assert len(page) == 1
    other = await store.workspaces.create(make.workspace())
    for changed in ({"feature": "b"}, {"feature": None}, {"start": T0}, {"workspace_id": other.id}):
        args = {"workspace_id": ws.id, "feature": "a", **changed}
        with pytest.raises(BadRequest) as err:
            await store.usage.list(limit=1, cursor=cursor, **args)  # type: ignore[arg-type]
        assert err.value.code == "invalid_cursor"
        assert "another query" in err.value.message
