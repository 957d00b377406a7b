"""What a workspace, key, feature or customer has spent (and how many requests it made) since a
moment: read from the hourly rollups, so it stays cheap however many calls there were and survives
raw-row retention. It seeds the limit ledger when a counter is new or was lost (a Redis flush).

Counted from the hour that holds ``since``: a period that starts inside an hour (a zone with a
half-hour offset) includes that whole hour.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Final

from sqlalchemy import func, select

from tollgate.store._base import Repository
from tollgate.store.rollups import hour_at
from tollgate.store.schema import rollup_tables

# Scope type -> (cube, dimension column); the workspace scope reads the smallest cube unfiltered.
_SCOPE_CUBES: Final[Mapping[str, tuple[str, str | None]]] = MappingProxyType(
    {
        "workspace": ("model", None),
        "key": ("key", "key_id"),
        "feature": ("tags", "feature"),
        "customer": ("full", "customer_id"),
    }
)


class SpendRepository(Repository):
    async def since(
        self, workspace_id: str, scope_type: str, scope_id: str | None, since: datetime | None
    ) -> tuple[int, int]:
        """(cost in nano-dollars, requests) of the scope's calls from ``since`` (None: ever)."""
        cube, column = _SCOPE_CUBES[scope_type]
        table = rollup_tables[cube]
        query = select(
            func.coalesce(func.sum(table.c.cost_nanos), 0), func.coalesce(func.sum(table.c.requests), 0)
        ).where(table.c.workspace_id == workspace_id)
        if since is not None:
            query = query.where(table.c.hour >= hour_at(since))
        if column is not None:
            query = query.where(table.c[column] == (scope_id or ""))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).one()
        return int(row[0]), int(row[1])

    async def hourly(
        self, workspace_id: str, scope_type: str, first_hour: int, last_hour: int
    ) -> dict[str, dict[int, int]]:
        """Cost per hour in ``[first_hour, last_hour]`` for each of the scope's values ('' is
        the workspace itself, or calls without that tag); hours without cost are absent."""
        cube, column = _SCOPE_CUBES[scope_type]
        table = rollup_tables[cube]
        scope = table.c[column] if column is not None else None
        columns = [table.c.hour, func.sum(table.c.cost_nanos)]
        query = select(*(columns if scope is None else [scope, *columns])).where(
            table.c.workspace_id == workspace_id, table.c.hour.between(first_hour, last_hour)
        )
        query = query.group_by(table.c.hour) if scope is None else query.group_by(scope, table.c.hour)
        series: dict[str, dict[int, int]] = {}
        async with self._engine.connect() as conn:
            for row in (await conn.execute(query)).all():
                value, hour, cost = ("", *row) if scope is None else row
                if cost:
                    series.setdefault(value, {})[int(hour)] = int(cost)
        return series

    async def active_workspaces(self, since_hour: int) -> list[str]:
        """Workspaces with any usage since ``since_hour``."""
        table = rollup_tables["model"]
        query = select(table.c.workspace_id).where(table.c.hour >= since_hour).distinct()
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars().all())
