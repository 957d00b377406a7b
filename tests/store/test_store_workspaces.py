"""Workspaces: round trips, soft delete, conflicts, pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError

from tollgate.core.errors import BadRequest, Conflict
from tollgate.store.repos import Store

from .factories import T0, Make


async def test_round_trip_keeps_instants_and_returns_utc(store: Store, make: Make) -> None:
    plus_two = timezone(timedelta(hours=2))
    local = datetime(2026, 3, 1, 14, 30, 15, 123456, tzinfo=plus_two)
    ws = make.workspace(created_at=local, updated_at=local, settings={"a": [1, {"b": None}], "c": "é"})
    await store.workspaces.create(ws)
    got = await store.workspaces.get(ws.id)
    assert got is not None
    assert got.created_at == local and got.created_at.tzinfo is UTC
    assert got.created_at == datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    assert got.settings == {"a": [1, {"b": None}], "c": "é"}
    assert (got.id, got.name) == (ws.id, ws.name)


async def test_get_missing_is_none(store: Store) -> None:
    assert await store.workspaces.get("ws_missing") is None


async def test_duplicate_id_is_a_conflict(store: Store, make: Make) -> None:
    ws = await store.workspaces.create(make.workspace())
    with pytest.raises(Conflict) as err:
        await store.workspaces.create(make.workspace(id=ws.id))
    assert err.value.code == "workspace_exists"


async def test_naive_datetimes_are_refused(store: Store, make: Make) -> None:
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError):
        await store.workspaces.create(make.workspace(created_at=naive))


async def test_update_name_and_settings(store: Store, make: Make) -> None:
    ws = await store.workspaces.create(make.workspace())
    later = T0 + timedelta(days=1)
    renamed = await store.workspaces.update(ws.id, name="Renamed", updated_at=later)
    assert renamed is not None and renamed.name == "Renamed" and renamed.settings == ws.settings
    assert renamed.updated_at == later and renamed.created_at == ws.created_at
    resettled = await store.workspaces.update(ws.id, settings={"bodyLogging": True}, updated_at=later)
    assert resettled is not None and resettled.settings == {"bodyLogging": True}
    assert resettled.name == "Renamed"
    assert await store.workspaces.get(ws.id) == resettled


async def test_update_missing_is_none(store: Store) -> None:
    assert await store.workspaces.update("ws_missing", name="x", updated_at=T0) is None


async def test_soft_delete_hides_the_workspace(store: Store, make: Make) -> None:
    gone, kept = make.workspace(), make.workspace()
    for ws in (gone, kept):
        await store.workspaces.create(ws)
    assert await store.workspaces.soft_delete(gone.id, T0 + timedelta(days=1))
    assert await store.workspaces.get(gone.id) is None
    items, _ = await store.workspaces.list()
    assert [w.id for w in items] == [kept.id]
    assert await store.workspaces.update(gone.id, name="back?", updated_at=T0) is None
    assert not await store.workspaces.soft_delete(gone.id, T0)  # already deleted
    assert not await store.workspaces.soft_delete("ws_missing", T0)
    with pytest.raises(Conflict):  # the id stays taken
        await store.workspaces.create(make.workspace(id=gone.id))


async def test_list_pages_through_ties_without_gaps_or_repeats(store: Store, make: Make) -> None:
    same_time = T0 + timedelta(hours=1)
    created = [await store.workspaces.create(make.workspace(created_at=same_time)) for _ in range(7)]
    created += [await store.workspaces.create(make.workspace()) for _ in range(3)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        items, cursor = await store.workspaces.list(limit=3, cursor=cursor)
        seen += [w.id for w in items]
        pages += 1
        if cursor is None:
            break
    expected = [w.id for w in sorted(created, key=lambda w: (w.created_at, w.id))]
    assert seen == expected
    assert pages == 4


async def test_list_rejects_bad_cursors_and_limits(store: Store) -> None:
    for cursor in ("garbage", "", "a" * 600):
        with pytest.raises(BadRequest) as err:
            await store.workspaces.list(cursor=cursor)
        assert err.value.code == "invalid_cursor"
    with pytest.raises(BadRequest) as err:
        await store.workspaces.list(limit=0)
    assert err.value.code == "invalid_limit"
