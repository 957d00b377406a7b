"""Hourly rollups: what analytics read instead of raw usage rows.

A *cube* is a set of dimensions with a table of its own. Every usage record is counted once in
every cube, in the row for its hour and its values of that cube's dimensions; the small cubes
also count it in a daily table, once for each of four day shifts (UTC days, and days starting
6, 12 and 18 hours earlier). Analytics read the smallest cube that holds every dimension a query
groups or filters by, so the common questions (cost by model and day) scan a few rows per day
however many calls there were.

Invariants:

- Rollups are written in the same transaction as the rows they count, and only for rows that
  transaction actually inserted; so a replayed journal batch (rows already stored) adds nothing,
  and a rolled-back batch leaves no trace.
- Rows are upserted in one sorted order (PostgreSQL takes row locks in that order, so two writers
  updating the same hours cannot deadlock).
- Latency is kept as a sum and a fixed histogram (``LATENCY_BOUNDS_MS``), from which percentiles
  are estimated; every other measure is an exact sum.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import add
from types import MappingProxyType
from typing import Any, Final

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from tollgate.store.records import UsageRecord
from tollgate.store.rollup_plan import HOURS_PER_DAY
from tollgate.store.schema import (
    LATENCY_BUCKETS,
    ROLLUP_CUBES,
    ROLLUP_DAY_SHIFTS,
    ROLLUP_DIMENSION_COLUMNS,
    ROLLUP_MEASURE_COLUMNS,
    daily_rollup_tables,
    rollup_tables,
)

SECONDS_PER_HOUR: Final = 3600
# Public dimension name -> usage_records (and rollup) column.
DIMENSIONS: Mapping[str, str] = MappingProxyType(
    {
        "key": "key_id",
        "provider": "provider",
        "model": "model",
        "feature": "feature",
        "route": "route_name",
        "function": "function_name",
        "customer": "customer_id",
        "status": "status",
    }
)
# Upper bounds (inclusive, milliseconds) of the latency histogram's buckets; the last is open.
LATENCY_BOUNDS_MS: tuple[int, ...] = (
    25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 20000, 60000,
)  # fmt: skip
# A rollup's dimension values are capped: longer values (rare: tags are already capped at 80
# characters) are cut, which merges them only with values sharing this long a prefix.
DIMENSION_MAX_CHARS: Final = 200
ERROR_STATUS: Final = "error"
CACHE_HIT: Final = "hit"

assert len(LATENCY_BOUNDS_MS) + 1 == LATENCY_BUCKETS
assert tuple(DIMENSIONS.values()) == ROLLUP_DIMENSION_COLUMNS


@dataclass(frozen=True, slots=True)
class Cube:
    name: str
    columns: tuple[str, ...]  # its dimension columns, in key order

    @property
    def dimensions(self) -> frozenset[str]:
        """Its dimensions' public names."""
        return frozenset(_PUBLIC[c] for c in self.columns)

    @property
    def table(self) -> Table:
        """Its hourly table."""
        return rollup_tables[self.name]

    @property
    def daily(self) -> Table | None:
        """Its daily table, if it has one."""
        return daily_rollup_tables.get(self.name)

    @property
    def tables(self) -> tuple[Table, ...]:
        return (self.table,) if self.daily is None else (self.table, self.daily)

    def covers(self, needed: Iterable[str]) -> bool:
        return self.dimensions.issuperset(needed)


_PUBLIC: Mapping[str, str] = MappingProxyType({column: public for public, column in DIMENSIONS.items()})
# Smallest first: a query uses the first cube that covers it.
CUBES: tuple[Cube, ...] = tuple(Cube(name, columns) for name, columns in ROLLUP_CUBES.items())


def cube_for(needed: Iterable[str]) -> Cube:
    """The smallest cube holding every dimension in ``needed`` (the full cube holds them all)."""
    wanted = set(needed)
    for cube in CUBES:
        if cube.covers(wanted):
            return cube
    raise ValueError(f"unknown dimensions: {sorted(wanted - set(DIMENSIONS))}")


def hour_at(moment: datetime) -> int:
    """Whole hours since the Unix epoch (UTC) of ``moment``: the ``hour`` of the rollup rows."""
    return int(moment.timestamp()) // SECONDS_PER_HOUR


def hour_of(record: UsageRecord) -> int:
    """The rollup hour of the record's creation."""
    return hour_at(record.created_at)


def latency_bucket(latency_ms: int) -> int:
    """Index of the histogram bucket for ``latency_ms`` (bounds are inclusive upper limits)."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, latency_ms)


def dimension_value(value: str | None) -> str:
    return (value or "")[:DIMENSION_MAX_CHARS]


def _measures(record: UsageRecord) -> list[int]:
    values = [
        1,
        1 if record.status == ERROR_STATUS else 0,
        record.input_tokens,
        record.cache_read_tokens,
        record.cache_write_tokens,
        record.output_tokens,
        record.reasoning_tokens,
        record.cost_nanos or 0,
        record.reported_cost_nanos or 0,
        1 if record.cache_status == CACHE_HIT else 0,
        1 if record.price_unknown else 0,
        1 if record.estimated else 0,
        record.latency_ms,
    ]
    histogram = [0] * LATENCY_BUCKETS
    histogram[latency_bucket(record.latency_ms)] = 1
    return values + histogram


# table, workspace, the rest of the row's key in column order: (hour, *dims) or (shift, day, *dims)
RowKey = tuple[str, str, tuple[int | str, ...]]


def aggregate(records: Iterable[UsageRecord]) -> dict[RowKey, list[int]]:
    """The rollup increments for ``records``: one summed measure vector per rollup table row.
    Daily rows are summed from the batch's hourly rows (a few per hour), not from each record."""
    rows: dict[RowKey, list[int]] = {}
    for record in records:
        measures = _measures(record)
        hour = hour_of(record)
        values = {column: dimension_value(getattr(record, column)) for column in ROLLUP_DIMENSION_COLUMNS}
        for cube in CUBES:
            dims = tuple(values[c] for c in cube.columns)
            _add(rows, (cube.table.name, record.workspace_id, (hour, *dims)), measures)
    hourly_of = {cube.table.name: cube.daily.name for cube in CUBES if cube.daily is not None}
    for (table, workspace, key), measures in list(rows.items()):
        daily = hourly_of.get(table)
        if daily is None:
            continue
        hour, key_dims = int(key[0]), key[1:]
        for shift in ROLLUP_DAY_SHIFTS:
            _add(rows, (daily, workspace, (shift, (hour + shift) // HOURS_PER_DAY, *key_dims)), measures)
    return rows


def _add(rows: dict[RowKey, list[int]], key: RowKey, measures: list[int]) -> None:
    total = rows.get(key)
    rows[key] = list(measures) if total is None else list(map(add, total, measures))


def _upsert(dialect: str, t: Table) -> Insert:
    """``INSERT … ON CONFLICT (row key) DO UPDATE`` adding the new measures to the stored ones."""
    conflict = [c.name for c in t.primary_key.columns]
    if dialect == "sqlite":
        lite = sqlite.insert(t)
        return lite.on_conflict_do_update(
            index_elements=conflict,
            set_={m: t.c[m] + lite.excluded[m] for m in ROLLUP_MEASURE_COLUMNS},
        )
    pg = postgresql.insert(t)
    return pg.on_conflict_do_update(
        index_elements=conflict,
        set_={m: t.c[m] + pg.excluded[m] for m in ROLLUP_MEASURE_COLUMNS},
    )


# Every rollup table, in the order writers upsert them.
TABLES: tuple[Table, ...] = tuple(table for cube in CUBES for table in cube.tables)


def rollup_rows(records: Iterable[UsageRecord]) -> dict[str, list[dict[str, Any]]]:
    """The upsert parameters for ``records`` per table, each in the one order every writer uses."""
    names = {t.name: tuple(c.name for c in t.columns) for t in TABLES}
    out: dict[str, list[dict[str, Any]]] = {t.name: [] for t in TABLES}
    for (table, workspace, key), measures in sorted(aggregate(records).items()):
        out[table].append(dict(zip(names[table], (workspace, *key, *measures), strict=True)))
    return out


class RollupWriter:
    """Counts records in every rollup table. The upsert statements are built once per dialect:
    building them (and their cache keys) for every batch cost more CPU than running them."""

    def __init__(self, dialect: str) -> None:
        self._statements = {table.name: _upsert(dialect, table) for table in TABLES}

    async def add(self, conn: AsyncConnection, records: Sequence[UsageRecord]) -> None:
        """Count ``records`` in every rollup table, inside the caller's transaction."""
        if not records:
            return
        per_table = rollup_rows(records)
        for table in TABLES:
            rows = per_table[table.name]
            if rows:
                await conn.execute(self._statements[table.name], rows)
