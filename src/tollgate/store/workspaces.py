"""Workspaces: the tenants. Soft-deleted workspaces are invisible to every read here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, tuple_, update
from sqlalchemy.exc import IntegrityError

from tollgate.core.errors import Conflict
from tollgate.store._base import Repository, as_dict, check_limit, translate_integrity
from tollgate.store.cursor import decode_cursor, encode_cursor, micros_to_time, require_str, time_to_micros
from tollgate.store.db import write_transaction
from tollgate.store.records import Workspace
from tollgate.store.schema import workspaces as t

_CURSOR_KIND = "ws"

WorkspacePage = tuple[list[Workspace], str | None]


def _to_workspace(row: Row[Any]) -> Workspace:
    return Workspace(
        id=row.id,
        name=row.name,
        created_at=row.created_at,
        updated_at=row.updated_at,
        settings=row.settings,
    )


class WorkspaceRepository(Repository):
    async def create(self, ws: Workspace) -> Workspace:
        values = {
            "id": ws.id,
            "name": ws.name,
            "settings": as_dict(ws.settings),
            "created_at": ws.created_at,
            "updated_at": ws.updated_at,
            "deleted_at": None,
        }
        try:
            async with write_transaction(self._engine) as conn:
                await conn.execute(insert(t).values(values))
        except IntegrityError as exc:
            conflict = Conflict(f"workspace {ws.id} already exists", code="workspace_exists")
            raise translate_integrity(exc, conflict=conflict, workspace_id=ws.id) from exc
        return ws

    async def get(self, id: str) -> Workspace | None:
        async with self._engine.connect() as conn:
            query = select(t).where(t.c.id == id, t.c.deleted_at.is_(None))
            row = (await conn.execute(query)).first()
        return None if row is None else _to_workspace(row)

    async def settings_of_all(self) -> dict[str, Mapping[str, Any]]:
        """The settings of every workspace that is not deleted (what ``LiveState`` serves)."""
        query = select(t.c.id, t.c.settings).where(t.c.deleted_at.is_(None))
        async with self._engine.connect() as conn:
            return {row.id: row.settings for row in (await conn.execute(query)).all()}

    async def list(self, limit: int = 50, cursor: str | None = None) -> WorkspacePage:
        """Oldest first by (created_at, id); ``next_cursor`` is None on the last page."""
        check_limit(limit)
        query = select(t).where(t.c.deleted_at.is_(None))
        if cursor is not None:
            micros, last_id = decode_cursor(_CURSOR_KIND, cursor, 2)
            position = (micros_to_time(micros), require_str(last_id))
            query = query.where(tuple_(t.c.created_at, t.c.id) > position)
        query = query.order_by(t.c.created_at, t.c.id).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [_to_workspace(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return items, None
        last = items[-1]
        return items, encode_cursor(_CURSOR_KIND, time_to_micros(last.created_at), last.id)

    async def update(
        self,
        id: str,
        *,
        updated_at: datetime,
        name: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> Workspace | None:
        """Change the name and/or replace the settings; None when absent or deleted."""
        values: dict[str, Any] = {"updated_at": updated_at}
        if name is not None:
            values["name"] = name
        if settings is not None:
            values["settings"] = as_dict(settings)
        query = update(t).where(t.c.id == id, t.c.deleted_at.is_(None)).values(values).returning(*t.c)
        async with write_transaction(self._engine) as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _to_workspace(row)

    async def soft_delete(self, id: str, at: datetime) -> bool:
        """Hide the workspace from now on; False when absent or already deleted."""
        query = (
            update(t)
            .where(t.c.id == id, t.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at)
            .returning(t.c.id)
        )
        async with write_transaction(self._engine) as conn:
            row = (await conn.execute(query)).first()
        return row is not None
