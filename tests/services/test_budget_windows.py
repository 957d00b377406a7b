"""A budget's period window, and the cache admission keeps of the current one."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from tollgate.services.budgets.periods import Windows, window

TOKYO = ZoneInfo("Asia/Tokyo")


def test_a_daily_window_runs_from_local_midnight_to_local_midnight() -> None:
    span = window("daily", datetime(2026, 12, 3, 14, 59, tzinfo=UTC), TOKYO)  # 23:59 in Tokyo
    assert span.label == "2026-12-03"
    assert span.start == datetime(2026, 12, 2, 15, 0, tzinfo=UTC)
    assert span.end == datetime(2026, 12, 3, 15, 0, tzinfo=UTC)


def test_the_cached_window_moves_on_when_the_period_ends_in_the_zone() -> None:
    windows = Windows()
    late = windows.at("daily", datetime(2026, 12, 3, 14, 59, tzinfo=UTC), TOKYO)
    assert windows.at("daily", datetime(2026, 12, 3, 3, 0, tzinfo=UTC), TOKYO) == late
    next_day = windows.at("daily", datetime(2026, 12, 3, 15, 0, tzinfo=UTC), TOKYO)  # midnight in Tokyo
    assert next_day.label == "2026-12-04" and next_day.start == late.end
    # Each zone and period has its own: UTC's day and the month are not Tokyo's day.
    assert windows.at("daily", datetime(2026, 12, 3, 15, 0, tzinfo=UTC), UTC).label == "2026-12-03"
    assert windows.at("monthly", datetime(2026, 12, 31, 15, 0, tzinfo=UTC), TOKYO).label == "2027-01"
    assert windows.at("total", datetime(2026, 12, 31, 15, 0, tzinfo=UTC), TOKYO).label == "total"
