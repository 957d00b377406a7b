"""Reading the hourly rollups: sums of measures over an hour range, grouped and filtered.

A query names its dimensions (group by and filters) and, optionally, how hours fall into time
buckets. The store picks the smallest cube that holds those dimensions and lets the database do
the grouping, so what comes back is one row per (bucket, group), not one per hour.

Bucketing is arithmetic on the integer ``hour`` column, so it runs inside the aggregate query:

- ``Uniform``: ``((hour * 60 + offset(hour) + shift) / width) [% modulo]`` in whole minutes, where
  ``offset(hour)`` is a time zone's UTC offset, piecewise constant (its DST changes). Hours, days,
  Monday-based weeks and hour-of-day in any zone are uniform.
- ``Ranges``: bucket ``i`` holds the hours in ``[bounds[i], bounds[i + 1])`` (calendar months, or
  "this period" against "the one before").

Both are evaluated for the hour's *start*: in a zone whose offset is not a whole number of hours,
an hour is counted in the local day (or week, or month) in which it starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from itertools import pairwise
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    Subquery,
    Table,
    and_,
    case,
    cast,
    column,
    func,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
)

from tollgate.store._base import Repository
from tollgate.store.rollup_plan import Piece, Plan, best_plan
from tollgate.store.rollups import DIMENSIONS, LATENCY_BOUNDS_MS, cube_for, dimension_value
from tollgate.store.schema import LATENCY_BUCKETS, ROLLUP_DAY_SHIFTS, ROLLUP_MEASURE_COLUMNS


@dataclass(frozen=True, slots=True)
class Measures:
    """Summed measures of a set of usage records. ``cost_nanos`` leaves out unpriced records
    (``price_unknown`` counts those that had tokens but no price). ``latency_histogram`` is all
    zeros unless the query asked for it (``RollupQuery.histogram``)."""

    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cost_nanos: int = 0
    reported_cost_nanos: int = 0
    cache_hits: int = 0
    price_unknown: int = 0
    estimated: int = 0
    latency_ms_sum: int = 0
    latency_histogram: tuple[int, ...] = (0,) * LATENCY_BUCKETS

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens + self.output_tokens

    def __add__(self, other: Measures) -> Measures:
        sums = {f.name: getattr(self, f.name) + getattr(other, f.name) for f in _SCALARS}
        histogram = tuple(a + b for a, b in zip(self.latency_histogram, other.latency_histogram, strict=True))
        return Measures(**sums, latency_histogram=histogram)

    @classmethod
    def total(cls, items: Iterable[Measures]) -> Measures:
        """The sum of ``items`` (one pass per field, not one object per addition)."""
        rows = list(items)
        scalars = zip(*map(_scalars_of, rows), strict=True)
        sums = dict(zip(_SCALAR_COLUMNS, map(sum, scalars), strict=False))
        histogram = tuple(sum(column) for column in zip(*(m.latency_histogram for m in rows), strict=True))
        return cls(**sums, latency_histogram=histogram or _NO_HISTOGRAM)

    def latency_percentile(self, quantile: float) -> float | None:
        """An estimate of the latency below which ``quantile`` of the calls fell, in ms.

        Interpolated linearly inside the histogram bucket holding that rank; a rank in the open
        last bucket reports that bucket's lower bound. None when there were no calls.
        """
        count = sum(self.latency_histogram)
        if count == 0:
            return None
        rank = quantile * count
        seen = 0
        for index, n in enumerate(self.latency_histogram):
            if n and seen + n >= rank:
                low = LATENCY_BOUNDS_MS[index - 1] if index else 0
                if index >= len(LATENCY_BOUNDS_MS):
                    return float(low)
                high = LATENCY_BOUNDS_MS[index]
                return low + (high - low) * max(0.0, rank - seen) / n
            seen += n
        return float(LATENCY_BOUNDS_MS[-1])


MINUTES_PER_DAY = 1440
# Read daily rows when the plan reads at most a third of the rows the hours alone would: a plan's
# rows cost more (one index range per span, a sum per span, then the sum of the parts). Measured at
# 10M records: a 90-day day x model series reading 0.04 of the rows (UTC) took 0.3-0.4x the hourly
# time on both engines; one reading 0.29 (Tokyo) 0.6x on SQLite and 0.85x on PostgreSQL, where the
# same plan for 30 days x feature (more groups per hour) took 0.4x.
PLANNED_ROW_COST = 3
_SCALARS = tuple(f for f in fields(Measures) if f.name != "latency_histogram")
_SCALAR_COLUMNS = tuple(f.name for f in _SCALARS)
_scalars_of = attrgetter(*_SCALAR_COLUMNS)
_NO_HISTOGRAM = (0,) * LATENCY_BUCKETS
_HISTOGRAM_COLUMNS = tuple(c for c in ROLLUP_MEASURE_COLUMNS if c.startswith("latency_") and c[8:].isdigit())
assert (*_SCALAR_COLUMNS, *_HISTOGRAM_COLUMNS) == ROLLUP_MEASURE_COLUMNS


class Bucketing(Protocol):
    @property
    def fine(self) -> bool:
        """Whether buckets are shorter than a day (then the daily tables cannot help)."""
        ...

    def sql(self, hour: ColumnElement[Any]) -> ColumnElement[Any]:
        """The bucket key of an hour, as a SQL integer expression."""
        ...

    def key(self, hour: int) -> int:
        """The same key computed in Python."""
        ...

    def keys(self, start_hour: int, end_hour: int) -> list[int]:
        """``key(hour)`` for every hour of ``[start_hour, end_hour)``."""
        ...


@dataclass(frozen=True, slots=True)
class Uniform:
    """Buckets ``width_minutes`` wide in local time; see the module docstring."""

    width_minutes: int
    offsets: tuple[tuple[int, int], ...] = ((0, 0),)  # (from this hour on, UTC offset in minutes)
    shift_minutes: int = 0
    modulo: int | None = None

    @property
    def fine(self) -> bool:
        return self.width_minutes < MINUTES_PER_DAY or self.modulo is not None

    def _offset_sql(self, hour: ColumnElement[Any]) -> ColumnElement[Any]:
        if len(self.offsets) == 1:
            return literal(self.offsets[0][1])
        whens = [(hour < start, minutes) for (_, minutes), (start, _) in pairwise(self.offsets)]
        return case(*whens, else_=self.offsets[-1][1])

    def sql(self, hour: ColumnElement[Any]) -> ColumnElement[Any]:
        minutes = hour * 60 + self._offset_sql(hour) + self.shift_minutes
        key = minutes // self.width_minutes
        return key % self.modulo if self.modulo else key

    def offset(self, hour: int) -> int:
        minutes = self.offsets[0][1]
        for start, value in self.offsets:
            if hour >= start:
                minutes = value
        return minutes

    def key(self, hour: int) -> int:
        key = (hour * 60 + self.offset(hour) + self.shift_minutes) // self.width_minutes
        return key % self.modulo if self.modulo else key

    def keys(self, start_hour: int, end_hour: int) -> list[int]:
        out: list[int] = []
        low = start_hour
        stops = [start for start, _ in self.offsets[1:]]
        for (_, minutes), stop in zip(self.offsets, [*stops, end_hour], strict=True):
            high = max(low, min(stop, end_hour))
            shift = minutes + self.shift_minutes
            out += [(hour * 60 + shift) // self.width_minutes for hour in range(low, high)]
            low = high
        return [key % self.modulo for key in out] if self.modulo else out


@dataclass(frozen=True, slots=True)
class Ranges:
    """Bucket ``i`` is ``[bounds[i], bounds[i + 1])`` in hours; hours outside get -1."""

    bounds: tuple[int, ...]

    @property
    def fine(self) -> bool:
        return False

    def sql(self, hour: ColumnElement[Any]) -> ColumnElement[Any]:
        whens = [
            (and_(hour >= low, hour < high), index) for index, (low, high) in enumerate(pairwise(self.bounds))
        ]
        return case(*whens, else_=-1)

    def key(self, hour: int) -> int:
        for index, (low, high) in enumerate(pairwise(self.bounds)):
            if low <= hour < high:
                return index
        return -1

    def keys(self, start_hour: int, end_hour: int) -> list[int]:
        out: list[int] = []
        edges = [start_hour, *(b for b in self.bounds if start_hour < b < end_hour), end_hour]
        for low, high in pairwise(edges):
            out += [self.key(low)] * (high - low)
        return out


@dataclass(frozen=True, slots=True)
class RollupQuery:
    workspace_id: str
    start_hour: int  # inclusive
    end_hour: int  # exclusive
    group_by: tuple[str, ...] = ()  # public dimension names
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    bucketing: Bucketing | None = None
    order_by: str | None = None  # a scalar measure, largest first
    limit: int | None = None
    histogram: bool = False  # sum the latency histogram too (it is 16 more columns to add up)


@dataclass(frozen=True, slots=True)
class RollupRow:
    bucket: int | None
    dims: Mapping[str, str | None]  # '' in storage is None here
    measures: Measures


class RollupRepository(Repository):
    async def query(self, query: RollupQuery) -> list[RollupRow]:
        return (await self.query_many([query]))[0]

    async def query_many(self, queries: Sequence[RollupQuery]) -> list[list[RollupRow]]:
        """Run several queries on one connection (one snapshot on PostgreSQL)."""
        dialect = self._engine.dialect.name
        statements = [_statement(q, dialect) for q in queries]
        async with self._engine.connect() as conn:
            if dialect == "postgresql":
                # These queries read a few thousand rows through the index; when PostgreSQL's
                # estimate is far off (a VALUES join), it JIT-compiles them: 50 ms to save none.
                await conn.execute(text("SET LOCAL jit = off"))
            results = [(await conn.execute(s)).all() for s in statements]
        return [[_row(q, r) for r in rows] for q, rows in zip(queries, results, strict=True)]


def _statement(query: RollupQuery, dialect: str) -> Any:
    unknown = (set(query.group_by) | set(query.filters)) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions {sorted(unknown)}")
    cube = cube_for([*query.group_by, *query.filters])
    if cube.daily is not None and (query.bucketing is None or not query.bucketing.fine):
        if query.bucketing is None:
            keys = [0] * (query.end_hour - query.start_hour)
        else:
            keys = query.bucketing.keys(query.start_hour, query.end_hour)
        planned = best_plan(query.start_hour, query.end_hour, keys, ROLLUP_DAY_SHIFTS)
        if planned.days and planned.rows * PLANNED_ROW_COST <= query.end_hour - query.start_hour:
            return _planned_statement(query, planned, cube.table, cube.daily, lateral=dialect == "postgresql")
    return _hourly_statement(query, cube.table)


def _measure_columns(query: RollupQuery) -> tuple[str, ...]:
    return (*_SCALAR_COLUMNS, *_HISTOGRAM_COLUMNS) if query.histogram else _SCALAR_COLUMNS


def _filters(query: RollupQuery, t: Table) -> list[ColumnElement[bool]]:
    return [
        t.c[DIMENSIONS[dimension]].in_([dimension_value(v) for v in allowed])
        for dimension, allowed in query.filters.items()
    ]


def _grouped(stmt: Select[Any], query: RollupQuery, keys: list[ColumnElement[Any]], t: Any) -> Select[Any]:
    if keys:
        stmt = stmt.group_by(*keys)
    if query.order_by is not None:
        if query.order_by not in _SCALAR_COLUMNS:
            raise ValueError(f"cannot order by {query.order_by!r}")
        stmt = stmt.order_by(func.sum(t.c[query.order_by]).desc(), *keys)
    elif keys:
        stmt = stmt.order_by(*keys)
    if query.limit is not None:
        stmt = stmt.limit(query.limit)
    return stmt


def _int_sum(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """A sum as a 64-bit integer: PostgreSQL sums BIGINTs as NUMERIC, which the driver decodes
    into ``Decimal`` (a third of a 1,456-row answer's time). Every measure fits: 2**63 nanos is
    9 billion dollars."""
    return cast(func.sum(column), BigInteger)


def _hourly_statement(query: RollupQuery, t: Table) -> Select[Any]:
    """Sums over the hourly rows of the range, bucketed by a SQL expression of the hour."""
    keys: list[ColumnElement[Any]] = [t.c[DIMENSIONS[d]].label(d) for d in query.group_by]
    if query.bucketing is not None:
        keys.insert(0, query.bucketing.sql(t.c.hour).label("bucket"))
    sums = [_int_sum(t.c[c]).label(c) for c in _measure_columns(query)]
    stmt = select(*keys, *sums).where(
        t.c.workspace_id == query.workspace_id,
        t.c.hour >= query.start_hour,
        t.c.hour < query.end_hour,
    )
    return _grouped(stmt.where(*_filters(query, t)), query, keys, t)


Span = tuple[int, int, int | None, int | None]  # rows [start, end), added to one bucket, taken from another


def _planned_statement(
    query: RollupQuery, planned: Plan, hourly: Table, daily: Table, lateral: bool
) -> Select[Any]:
    """Signed sums over daily and hourly rows (see ``tollgate.store.rollup_plan``): the day part
    and the hour part each sum their pieces' rows per piece and group (an index range a piece),
    and the outer query adds them up per bucket and group."""
    day_spans: list[Span] = [(p.start, p.end, p.bucket, None) for p in planned.days]
    days = _piece_sums(query, daily, "day", day_spans, planned.shift, lateral)
    parts = [_signed(query, days, subtracts=False)]
    if planned.hours:
        hours = _piece_sums(query, hourly, "hour", _paired(planned.hours), None, lateral)
        parts.append(_signed(query, hours, subtracts=any(p.sign < 0 for p in planned.hours)))
    rows = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("signed")
    keys_out: list[ColumnElement[Any]] = [rows.c[d] for d in query.group_by]
    if query.bucketing is not None:
        keys_out.insert(0, rows.c.bucket)
    sums = [_int_sum(rows.c[c]).label(c) for c in _measure_columns(query)]
    stmt = select(*keys_out, *sums)
    if keys_out:  # a group whose rows cancel out had no calls (an ungrouped sum is one row)
        stmt = stmt.having(func.sum(rows.c.requests) != 0)
    return _grouped(stmt, query, keys_out, rows)


def _paired(pieces: Sequence[Piece]) -> list[Span]:
    """Hour pieces as spans: an hour range added to its own bucket and taken from its day's
    bucket is read once, not twice."""
    spans: dict[tuple[int, int], list[int | None]] = {}
    for p in pieces:
        spans.setdefault((p.start, p.end), [None, None])[0 if p.sign > 0 else 1] = p.bucket
    return [(start, end, plus, minus) for (start, end), (plus, minus) in sorted(spans.items())]


def _piece_sums(
    query: RollupQuery, t: Table, unit: str, spans: Sequence[Span], shift: int | None, lateral: bool
) -> Subquery:
    """The sums of the rows of ``t`` in each span (for a daily table, of day shift ``shift``)
    per span and group, with the span's two buckets (``plus``, ``minus``; either may be NULL).

    The spans are a VALUES list of integers of our own making, written into the SQL text
    (hundreds of rows: as parameters, or as SQLAlchemy literals, they took longer to compile
    than the query takes to run). Each span must be one index range read: SQLite's planner
    does that with a plain join; PostgreSQL's, without fresh statistics, scanned every row of
    the range once per span, so there each span is a ``LATERAL`` subquery.
    """
    values_sql = ",".join(
        f"({int(a)},{int(b)},{_sql_int(plus)},{_sql_int(minus)})" for a, b, plus, minus in spans
    )
    bounds = (column(f"column{i}", Integer) for i in (1, 2, 3, 4))  # VALUES' own names on both engines
    v = text(f"VALUES {values_sql}").columns(*bounds).cte(f"{unit}_spans")
    conditions = [t.c.workspace_id == query.workspace_id, t.c[unit] >= v.c.column1, t.c[unit] < v.c.column2]
    if shift is not None:
        conditions.append(t.c.shift == shift)
    conditions += _filters(query, t)
    dims = [t.c[DIMENSIONS[d]].label(d) for d in query.group_by]
    measures = [t.c[c] for c in _measure_columns(query)]
    if lateral:  # OFFSET 0: PostgreSQL does not flatten such a subquery into the join
        rows: Any = select(*dims, *measures).where(*conditions).offset(0).lateral(f"{unit}_rows")
        source = v.join(rows, true())
        keys = [rows.c[d] for d in query.group_by]
    else:
        rows, source = t, v.join(t, and_(*conditions))
        keys = list(dims)
    span = [v.c.column1, v.c.column2, v.c.column3.label("plus"), v.c.column4.label("minus")]
    sums = [_int_sum(rows.c[c]).label(c) for c in _measure_columns(query)]
    return select(*span, *keys, *sums).select_from(source).group_by(*span, *keys).subquery(f"{unit}_sums")


def _sql_int(value: int | None) -> str:
    return "CAST(NULL AS BIGINT)" if value is None else str(int(value))


def _signed(query: RollupQuery, sums: Subquery, subtracts: bool) -> Select[Any]:
    """Each span's sums added to its ``plus`` bucket and subtracted from its ``minus`` one (if
    any span ``subtracts``; else the sums as they are, in their ``plus`` bucket)."""
    columns: list[ColumnElement[Any]] = [sums.c[d] for d in query.group_by]
    if not subtracts:
        if query.bucketing is not None:
            columns.insert(0, sums.c.plus.label("bucket"))
        return select(*columns, *(sums.c[c] for c in _measure_columns(query)))
    signs = text("VALUES (1), (-1)").columns(column("column1", Integer)).cte(f"{sums.name}_signs")
    sign = signs.c.column1
    wanted = or_(and_(sign == 1, sums.c.plus.is_not(None)), and_(sign == -1, sums.c.minus.is_not(None)))
    if query.bucketing is not None:
        columns.insert(0, case((sign == 1, sums.c.plus), else_=sums.c.minus).label("bucket"))
    columns += [(sums.c[c] * sign).label(c) for c in _measure_columns(query)]
    return select(*columns).select_from(sums.join(signs, wanted))


def _row(query: RollupQuery, row: Sequence[Any]) -> RollupRow:
    """A result row is (bucket if bucketed, the group's values, the measures), in that order."""
    keys = (query.bucketing is not None) + len(query.group_by)
    sums = [int(value or 0) for value in row[keys:]]
    histogram = tuple(sums[len(_SCALAR_COLUMNS) :]) if query.histogram else _NO_HISTOGRAM
    measures = Measures(**dict(zip(_SCALAR_COLUMNS, sums, strict=False)), latency_histogram=histogram)
    bucket = int(row[0]) if query.bucketing is not None else None
    dims = {d: (row[keys - len(query.group_by) + i] or None) for i, d in enumerate(query.group_by)}
    return RollupRow(bucket, dims, measures)
