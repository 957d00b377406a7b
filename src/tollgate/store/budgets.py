"""Budgets: spending caps. What they have spent lives in the limit ledger, not here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select, update

from tollgate.store._base import Repository
from tollgate.store.db import write_transaction
from tollgate.store.records import Budget
from tollgate.store.schema import budgets as t

BudgetList = list[Budget]


def _to_budget(row: Row[Any]) -> Budget:
    return Budget(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        scope_type=row.scope_type,
        scope_id=row.scope_id,
        period=row.period,
        limit_nanos=row.limit_nanos,
        thresholds=tuple(float(v) for v in row.thresholds),
        action=row.action,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _values(budget: Budget) -> dict[str, Any]:
    return {
        "id": budget.id,
        "workspace_id": budget.workspace_id,
        "name": budget.name,
        "scope_type": budget.scope_type,
        "scope_id": budget.scope_id,
        "period": budget.period,
        "limit_nanos": budget.limit_nanos,
        "thresholds": list(budget.thresholds),
        "action": budget.action,
        "created_at": budget.created_at,
        "updated_at": budget.updated_at,
    }


class BudgetRepository(Repository):
    async def create(self, budget: Budget) -> Budget:
        async with write_transaction(self._engine) as conn:
            await conn.execute(insert(t).values(_values(budget)))
        return budget

    async def get(self, workspace_id: str, id: str) -> Budget | None:
        query = select(t).where(t.c.workspace_id == workspace_id, t.c.id == id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _to_budget(row)

    async def list(self, workspace_id: str) -> BudgetList:
        query = select(t).where(t.c.workspace_id == workspace_id).order_by(t.c.created_at, t.c.id)
        async with self._engine.connect() as conn:
            return [_to_budget(row) for row in (await conn.execute(query)).all()]

    async def list_all(self) -> BudgetList:
        """Every budget of every workspace (what ``LiveState`` serves)."""
        async with self._engine.connect() as conn:
            return [_to_budget(row) for row in (await conn.execute(select(t))).all()]

    async def replace(self, budget: Budget) -> Budget | None:
        """Store every field of ``budget`` (but its id, workspace and creation time)."""
        values = {k: v for k, v in _values(budget).items() if k not in ("id", "workspace_id", "created_at")}
        query = (
            update(t)
            .where(t.c.workspace_id == budget.workspace_id, t.c.id == budget.id)
            .values(values)
            .returning(t.c.id)
        )
        async with write_transaction(self._engine) as conn:
            found = (await conn.execute(query)).first()
        return None if found is None else budget

    async def delete(self, workspace_id: str, id: str) -> bool:
        query = delete(t).where(t.c.workspace_id == workspace_id, t.c.id == id).returning(t.c.id)
        async with write_transaction(self._engine) as conn:
            return (await conn.execute(query)).first() is not None
