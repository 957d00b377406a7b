"""Alerts: at most one open per (workspace, kind, scope), enforced by the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from tollgate.store._base import Repository, as_dict, check_limit
from tollgate.store.db import write_transaction
from tollgate.store.records import Alert
from tollgate.store.schema import alerts as t

AlertList = list[Alert]


def _to_alert(row: Row[Any]) -> Alert:
    return Alert(
        id=row.id,
        workspace_id=row.workspace_id,
        kind=row.kind,
        scope_type=row.scope_type,
        scope_id=row.scope_id,
        status=row.status,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        resolved_at=row.resolved_at,
        data=row.data,
    )


class AlertRepository(Repository):
    async def open(self, alert: Alert) -> bool:
        """Store a new open alert; False (nothing stored) if the same one is already open."""
        values = {
            "id": alert.id,
            "workspace_id": alert.workspace_id,
            "kind": alert.kind,
            "scope_type": alert.scope_type,
            "scope_id": alert.scope_id,
            "status": "open",
            "open_key": alert.open_key,
            "opened_at": alert.opened_at,
            "updated_at": alert.updated_at,
            "resolved_at": None,
            "data": as_dict(alert.data),
        }
        try:
            async with write_transaction(self._engine) as conn:
                await conn.execute(insert(t).values(values))
        except IntegrityError:
            return False
        return True

    async def open_keys(self, workspace_id: str, kind: str) -> set[str]:
        query = select(t.c.open_key).where(
            t.c.workspace_id == workspace_id, t.c.kind == kind, t.c.open_key.is_not(None)
        )
        async with self._engine.connect() as conn:
            return {key for key in (await conn.execute(query)).scalars().all() if key is not None}

    async def resolve(self, workspace_id: str, open_key: str, at: datetime) -> bool:
        query = (
            update(t)
            .where(t.c.workspace_id == workspace_id, t.c.open_key == open_key)
            .values(status="resolved", open_key=None, resolved_at=at, updated_at=at)
            .returning(t.c.id)
        )
        async with write_transaction(self._engine) as conn:
            return (await conn.execute(query)).first() is not None

    async def list(self, workspace_id: str, status: str | None = None, limit: int = 100) -> AlertList:
        """Newest first."""
        check_limit(limit)
        query = select(t).where(t.c.workspace_id == workspace_id)
        if status is not None:
            query = query.where(t.c.status == status)
        query = query.order_by(t.c.opened_at.desc(), t.c.id.desc()).limit(limit)
        async with self._engine.connect() as conn:
            return [_to_alert(row) for row in (await conn.execute(query)).all()]
