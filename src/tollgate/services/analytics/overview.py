"""The two overviews: ``/v1/summary`` (totals, rates, latency, top tags, this month's spend and
where it is heading) and the dashboard of seed 003's ``/api/analytics`` (a period against the one
before, cost per day, per model and per hour of day). Both read rollups only, several queries on
one connection."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from tollgate.core.clock import Clock
from tollgate.services.analytics.periods import (
    Window,
    bucket_keys,
    bucket_start,
    bucketing,
    hour_floor,
    hour_of_day,
    local_midnight,
    next_month,
)
from tollgate.store.repos import Store
from tollgate.store.rollup_queries import Measures, Ranges, RollupQuery, RollupRow

TOP = 10


@dataclass(frozen=True, slots=True)
class MonthSpend:
    start: datetime  # local
    spend_nanos: int
    projected_nanos: int  # the month-to-date rate carried to the month's end


@dataclass(frozen=True, slots=True)
class Summary:
    window: Window
    totals: Measures
    top_features: list[RollupRow]
    top_routes: list[RollupRow]
    top_models: list[RollupRow]
    month: MonthSpend


@dataclass(frozen=True, slots=True)
class Dashboard:
    window: Window
    current: Measures
    previous: Measures  # the window of equal length just before
    days: list[tuple[date, Measures]]  # every local day of the window, empty ones too
    models: list[RollupRow]  # by provider and model, costliest first
    hours_of_day: list[int]  # requests per local hour of day, 0..23


def _month_bounds(now: datetime, window: Window) -> tuple[datetime, datetime]:
    today = now.astimezone(window.zone).date()
    first = today.replace(day=1)
    return local_midnight(first, window.zone), local_midnight(next_month(first), window.zone)


def project(spend_nanos: int, elapsed_seconds: float, month_seconds: float) -> int:
    """Month-end spend if the month continues at its rate so far (no rate before any time passed)."""
    if elapsed_seconds <= 0:
        return spend_nanos
    return round(spend_nanos * month_seconds / elapsed_seconds)


class Overviews:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def summary(self, workspace_id: str, window: Window) -> Summary:
        now = self._clock.now()
        month_start, month_end = _month_bounds(now, window)
        span = (workspace_id, window.start_hour, window.end_hour)
        month = RollupQuery(workspace_id, hour_floor(month_start), hour_floor(now) + 1)
        results = await self._store.rollups.query_many(
            [
                RollupQuery(*span, histogram=True),
                RollupQuery(*span, group_by=("feature",), order_by="cost_nanos", limit=TOP),
                RollupQuery(*span, group_by=("route",), order_by="cost_nanos", limit=TOP),
                RollupQuery(*span, group_by=("provider", "model"), order_by="cost_nanos", limit=TOP),
                month,
            ]
        )
        [totals], features, routes, models, [spent] = results
        elapsed = (now - month_start).total_seconds()
        length = (month_end - month_start).total_seconds()
        spend = spent.measures.cost_nanos
        return Summary(
            window,
            totals.measures,
            _nonempty(features),
            _nonempty(routes),
            _nonempty(models),
            MonthSpend(month_start, spend, project(spend, elapsed, length)),
        )

    async def dashboard(self, workspace_id: str, window: Window) -> Dashboard:
        before = window.before()
        periods = Ranges((before.start_hour, window.start_hour, window.end_hour))
        days = bucketing("day", window)
        span = (workspace_id, window.start_hour, window.end_hour)
        compared, by_day, models, by_hour = await self._store.rollups.query_many(
            [
                RollupQuery(workspace_id, before.start_hour, window.end_hour, bucketing=periods),
                RollupQuery(*span, bucketing=days),
                RollupQuery(*span, group_by=("provider", "model"), order_by="cost_nanos"),
                RollupQuery(*span, bucketing=hour_of_day(window)),
            ]
        )
        per_period = {row.bucket: row.measures for row in compared}
        per_day = {row.bucket: row.measures for row in by_day}
        per_hour = {row.bucket: row.measures.requests for row in by_hour}
        return Dashboard(
            window,
            per_period.get(1, Measures()),
            per_period.get(0, Measures()),
            [
                (bucket_start("day", key, window).date(), per_day.get(key, Measures()))
                for key in bucket_keys(days, window)
            ],
            _nonempty(models),
            [per_hour.get(hour, 0) for hour in range(24)],
        )


def _nonempty(rows: list[RollupRow]) -> list[RollupRow]:
    return [row for row in rows if row.measures.requests]
