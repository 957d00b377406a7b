"""Usage records: one row per call, written in batches by the usage writer.

``insert_many`` is idempotent on ``id`` (``ON CONFLICT (id) DO NOTHING``), so replaying a journal
batch after a crash never stores a call twice. The request list is newest first by
(created_at, id) with keyset cursors, so pages stay stable while new records arrive.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Row, Select, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tollgate.core.errors import BadRequest, TollgateError
from tollgate.store._base import Repository, as_dict, check_limit, insert_or_ignore
from tollgate.store.cursor import decode_cursor, encode_cursor, micros_to_time, require_str, time_to_micros
from tollgate.store.db import write_transaction
from tollgate.store.records import UsageRecord
from tollgate.store.rollups import RollupWriter
from tollgate.store.schema import usage_records as t

UsagePage = tuple[list[UsageRecord], str | None]

_FIELDS = tuple(field.name for field in dataclasses.fields(UsageRecord))
_CURSOR_KIND = "usage"


def _values(record: UsageRecord) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in _FIELDS}
    values["metadata"] = as_dict(record.metadata)
    values["total_tokens"] = record.total_tokens
    return values


def _to_record(row: Row[Any]) -> UsageRecord:
    mapping = row._mapping
    return UsageRecord(**{name: mapping[name] for name in _FIELDS})


class UsageRepository(Repository):
    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self._rollups = RollupWriter(engine.dialect.name)
        self._insert = insert_or_ignore(engine, t, ("id",)).returning(t.c.id)

    async def insert_many(self, records: Sequence[UsageRecord]) -> int:
        """Insert the batch in one transaction, skipping ids already stored; rows inserted.

        The rows inserted (and only those) are counted in the hourly rollups in the same
        transaction. All or nothing: if the database refuses one record, none of the batch is
        stored and nothing is counted.
        """
        if not records:
            return 0
        try:
            async with write_transaction(self._engine) as conn:
                result = await conn.execute(self._insert, [_values(record) for record in records])
                inserted = {row[0] for row in result.all()}
                await self._rollups.add(conn, _first_of_each(records, inserted))
                return len(inserted)
        except IntegrityError as exc:
            # Only a malformed record gets here (no foreign keys, duplicates are skipped).
            raise TollgateError("the database refused a usage record", code="store_integrity_error") from exc

    async def get(self, workspace_id: str, id: str) -> UsageRecord | None:
        query = select(t).where(t.c.workspace_id == workspace_id, t.c.id == id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _to_record(row)

    async def list(
        self,
        workspace_id: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        key_id: str | None = None,
        feature: str | None = None,
        status: str | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> UsagePage:
        """Newest first by (created_at, id); ``start`` is inclusive, ``end`` exclusive.

        ``next_cursor`` is None on the last page. A cursor from another listing kind, or one
        that was edited, is ``BadRequest`` ``invalid_cursor``.
        """
        check_limit(limit)
        filters = {
            "provider": provider,
            "model": model,
            "key_id": key_id,
            "feature": feature,
            "status": status,
        }
        query = select(t).where(t.c.workspace_id == workspace_id)
        for name, value in filters.items():
            if value is not None:
                query = query.where(t.c[name] == value)
        if start is not None:
            query = query.where(t.c.created_at >= start)
        if end is not None:
            query = query.where(t.c.created_at < end)
        shape = _query_digest(workspace_id, start, end, filters)
        query = _after(query, cursor, shape)
        query = query.order_by(t.c.created_at.desc(), t.c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        items = [_to_record(row) for row in rows[:limit]]
        if len(rows) <= limit:
            return items, None
        last = items[-1]
        return items, encode_cursor(_CURSOR_KIND, time_to_micros(last.created_at), last.id, shape)

    async def prune(self, workspace_id: str, before: datetime, batch: int) -> int:
        """Delete at most ``batch`` of the workspace's oldest rows created before ``before``; rows
        deleted. Rollups are kept: analytics of pruned hours stay whole. Small batches keep each
        write transaction short, so the usage writer is never held up for long."""
        oldest = (
            select(t.c.id)
            .where(t.c.workspace_id == workspace_id, t.c.created_at < before)
            .order_by(t.c.created_at)
            .limit(batch)
        )
        async with write_transaction(self._engine) as conn:
            ids = (await conn.execute(oldest)).scalars().all()
            if not ids:
                return 0
            await conn.execute(t.delete().where(t.c.workspace_id == workspace_id, t.c.id.in_(ids)))
        return len(ids)

    async def count(self, workspace_id: str) -> int:
        query = select(func.count()).select_from(t).where(t.c.workspace_id == workspace_id)
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())


def _first_of_each(records: Sequence[UsageRecord], ids: set[str]) -> list[UsageRecord]:
    """The records stored under ``ids``: the first of each id (a batch may repeat an id, e.g. an
    ingested event sent twice; the database kept the first and ignored the rest)."""
    left = set(ids)
    out = []
    for record in records:
        if record.id in left:
            left.discard(record.id)
            out.append(record)
    return out


def _query_digest(
    workspace_id: str, start: datetime | None, end: datetime | None, filters: dict[str, str | None]
) -> str:
    """What a cursor is for: a cursor carries it and only continues the same query."""
    bounds = [None if b is None else time_to_micros(b) for b in (start, end)]
    text = orjson.dumps([workspace_id, bounds, sorted(filters.items())])
    return hashlib.blake2b(text, digest_size=8).hexdigest()


def _after(query: Select[Any], cursor: str | None, shape: str) -> Select[Any]:
    if cursor is None:
        return query
    micros, last_id, made_for = decode_cursor(_CURSOR_KIND, cursor, 3)
    if made_for != shape:
        raise BadRequest(
            "the cursor belongs to another query (other filters or dates); start again from the first page",
            code="invalid_cursor",
        )
    position = (micros_to_time(micros), require_str(last_id))
    return query.where(tuple_(t.c.created_at, t.c.id) < position)
