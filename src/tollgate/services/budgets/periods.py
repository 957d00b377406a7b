"""Budget periods in the workspace's time zone: a day, a week from Monday, a calendar month, or
all time (a prepaid cap that never resets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from tollgate.services.analytics.periods import local_midnight
from tollgate.store.records import BudgetPeriod

PERIODS: Final = ("daily", "weekly", "monthly", "total")


@dataclass(frozen=True, slots=True)
class Window:
    label: str  # names the period in ledger keys: 2026-12-03, 2026-W49, 2026-12, total
    start: datetime | None  # UTC; None for all time
    end: datetime | None


def window(period: BudgetPeriod, now: datetime, zone: tzinfo) -> Window:
    if period == "total":
        return Window("total", None, None)
    today = now.astimezone(zone).date()
    if period == "daily":
        first, following = today, today + timedelta(days=1)
        label = first.isoformat()
    elif period == "weekly":
        first = today - timedelta(days=today.weekday())
        following = first + timedelta(days=7)
        year, week, _ = first.isocalendar()
        label = f"{year}-W{week:02d}"
    else:
        first = today.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        label = f"{first.year}-{first.month:02d}"
    return Window(
        label, local_midnight(first, zone).astimezone(UTC), local_midnight(following, zone).astimezone(UTC)
    )


class Windows:
    """The current window of each period and zone, worked out again only once ``now`` leaves it
    (a call's admission asks for one per budget; the answer changes once a day at most)."""

    def __init__(self) -> None:
        self._current: dict[tuple[BudgetPeriod, tzinfo], Window] = {}

    def at(self, period: BudgetPeriod, now: datetime, zone: tzinfo) -> Window:
        known = self._current.get((period, zone))
        if known is not None and _covers(known, now):
            return known
        fresh = window(period, now, zone)
        self._current[(period, zone)] = fresh
        return fresh


def _covers(span: Window, now: datetime) -> bool:
    return span.start is None or span.end is None or span.start <= now < span.end
