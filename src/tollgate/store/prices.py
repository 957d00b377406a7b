"""Workspace price overrides, one per (workspace, provider, model)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.exc import IntegrityError

from tollgate.core.errors import Conflict
from tollgate.store._base import Repository, insert_or_update, translate_integrity
from tollgate.store.db import write_transaction
from tollgate.store.records import PriceOverride
from tollgate.store.schema import price_overrides as t

PriceList = list[PriceOverride]

_PRICES = ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "cache_write_per_mtok")


def _to_price(row: Row[Any]) -> PriceOverride:
    return PriceOverride(
        id=row.id,
        workspace_id=row.workspace_id,
        provider=row.provider,
        model=row.model,
        input_per_mtok=row.input_per_mtok,
        output_per_mtok=row.output_per_mtok,
        cache_read_per_mtok=row.cache_read_per_mtok,
        cache_write_per_mtok=row.cache_write_per_mtok,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class PriceRepository(Repository):
    async def upsert(self, override: PriceOverride) -> PriceOverride:
        """Insert, or replace the prices of the existing override for the same (provider, model).

        An existing row keeps its id and ``created_at``; the stored row is returned.
        """
        values = {column.name: getattr(override, column.name) for column in t.c}
        stmt = insert_or_update(
            self._engine, t, values, ("workspace_id", "provider", "model"), (*_PRICES, "updated_at")
        ).returning(*t.c)
        try:
            async with write_transaction(self._engine) as conn:
                row = (await conn.execute(stmt)).one()
        except IntegrityError as exc:
            conflict = Conflict(
                f"price override {override.id} already exists for another model", code="price_override_exists"
            )
            raise translate_integrity(exc, conflict=conflict, workspace_id=override.workspace_id) from exc
        return _to_price(row)

    async def get(self, workspace_id: str, id: str) -> PriceOverride | None:
        query = select(t).where(t.c.workspace_id == workspace_id, t.c.id == id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _to_price(row)

    async def list(self, workspace_id: str) -> PriceList:
        query = select(t).where(t.c.workspace_id == workspace_id).order_by(t.c.provider, t.c.model)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_price(row) for row in rows]

    async def delete(self, workspace_id: str, id: str) -> bool:
        query = delete(t).where(t.c.workspace_id == workspace_id, t.c.id == id).returning(t.c.id)
        async with write_transaction(self._engine) as conn:
            return (await conn.execute(query)).first() is not None

    async def list_all(self) -> PriceList:
        """Every override of every workspace (feeds the in-memory price table)."""
        query = select(t).order_by(t.c.workspace_id, t.c.provider, t.c.model)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_to_price(row) for row in rows]
