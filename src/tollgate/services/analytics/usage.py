"""Usage over time, grouped and filtered by any dimension: what ``/v1/usage`` and the JSON export
serve. Everything is read from the hourly rollups; no raw row is touched."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Final

from tollgate.core.errors import BadRequest
from tollgate.services.analytics.periods import Interval, Window, bucket_start, bucketing
from tollgate.store.repos import Store
from tollgate.store.rollup_queries import Measures, RollupQuery
from tollgate.store.rollups import DIMENSIONS

MAX_ROWS: Final = 20_000
MAX_FILTER_VALUES: Final = 100


@dataclass(frozen=True, slots=True)
class UsageQuery:
    window: Window
    interval: Interval | None = None
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class UsageRow:
    start: datetime | None  # the bucket's local start, with an interval
    dims: Mapping[str, str | None]
    measures: Measures


@dataclass(frozen=True, slots=True)
class UsageReport:
    query: UsageQuery
    rows: list[UsageRow]
    totals: Measures


def group_by_named(values: Iterable[str]) -> tuple[str, ...]:
    """Dimension names from ``groupBy`` values (comma-separated or repeated), in order, once each."""
    names: dict[str, None] = {}
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if not name:
                continue
            if name not in DIMENSIONS:
                raise BadRequest(
                    f"cannot group by {name[:40]!r}: choose from {', '.join(DIMENSIONS)}",
                    code="invalid_group_by",
                )
            names.setdefault(name, None)
    return tuple(names)


def filters_from(params: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    """Dimension filters from query parameters (a repeated parameter ORs its values)."""
    found: dict[str, list[str]] = {}
    for name, value in params:
        if name in DIMENSIONS:
            found.setdefault(name, []).append(value)
    for name, values in found.items():
        if len(values) > MAX_FILTER_VALUES:
            raise BadRequest(f"at most {MAX_FILTER_VALUES} values for {name}", code="invalid_filter")
    return {name: tuple(values) for name, values in found.items()}


class UsageAnalytics:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def report(self, workspace_id: str, query: UsageQuery) -> UsageReport:
        window = query.window
        buckets = bucketing(query.interval, window) if query.interval else None
        grouped = RollupQuery(
            workspace_id,
            window.start_hour,
            window.end_hour,
            group_by=query.group_by,
            filters=query.filters,
            bucketing=buckets,
            limit=MAX_ROWS + 1,
        )
        rows = await self._store.rollups.query(grouped)
        if len(rows) > MAX_ROWS:
            raise BadRequest(
                f"the answer would have more than {MAX_ROWS} rows: narrow the range, use a longer "
                "interval or group by fewer dimensions",
                code="too_many_rows",
            )
        starts: dict[int, datetime] = {}  # a bucket's start, once per bucket (not per group)
        out = []
        for row in rows:
            if not row.measures.requests:
                continue
            start = None
            if query.interval is not None and row.bucket is not None:
                start = starts.get(row.bucket)
                if start is None:
                    start = starts[row.bucket] = bucket_start(query.interval, row.bucket, window)
            out.append(UsageRow(start, row.dims, row.measures))
        return UsageReport(query, out, Measures.total(row.measures for row in out))
