"""Price overrides: upsert by (workspace, provider, model)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tollgate.core.errors import Conflict, NotFound
from tollgate.store.records import Workspace
from tollgate.store.repos import Store

from .factories import T0, Make


async def test_upsert_inserts_then_replaces_prices(store: Store, ws: Workspace, make: Make) -> None:
    first = make.price(ws.id, model="gpt-4o")
    assert await store.prices.upsert(first) == first
    later = T0 + timedelta(days=1)
    again = make.price(
        ws.id,
        model="gpt-4o",
        input_per_mtok="2",
        output_per_mtok="8",
        cache_read_per_mtok=None,
        cache_write_per_mtok="3.75",
        created_at=later,
        updated_at=later,
    )
    stored = await store.prices.upsert(again)
    expected = replace(
        first,
        input_per_mtok="2",
        output_per_mtok="8",
        cache_read_per_mtok=None,
        cache_write_per_mtok="3.75",
        updated_at=later,
    )
    assert stored == expected  # keeps the first id and created_at
    assert await store.prices.list(ws.id) == [expected]
    assert await store.prices.get(ws.id, again.id) is None


async def test_get_list_delete_are_scoped(store: Store, ws: Workspace, make: Make) -> None:
    other = await store.workspaces.create(make.workspace())
    mine = [await store.prices.upsert(make.price(ws.id, model=m)) for m in ("b-model", "a-model")]
    theirs = await store.prices.upsert(make.price(other.id, model="a-model"))
    assert [p.model for p in await store.prices.list(ws.id)] == ["a-model", "b-model"]
    assert await store.prices.get(other.id, mine[0].id) is None
    assert not await store.prices.delete(other.id, mine[0].id)
    assert await store.prices.delete(ws.id, mine[0].id)
    assert not await store.prices.delete(ws.id, mine[0].id)
    assert {p.id for p in await store.prices.list_all()} == {mine[1].id, theirs.id}


async def test_an_id_reused_for_another_model_is_a_conflict(store: Store, ws: Workspace, make: Make) -> None:
    first = await store.prices.upsert(make.price(ws.id, model="gpt-4o"))
    with pytest.raises(Conflict) as err:
        await store.prices.upsert(make.price(ws.id, id=first.id, model="gpt-4.1"))
    assert err.value.code == "price_override_exists"


async def test_unknown_workspace_is_not_found(store: Store, make: Make) -> None:
    with pytest.raises(NotFound) as err:
        await store.prices.upsert(make.price("ws_missing"))
    assert err.value.code == "workspace_not_found"
