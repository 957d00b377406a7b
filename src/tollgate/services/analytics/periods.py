"""Time for analytics: a workspace's time zone, query windows in whole hours, and time buckets.

Rollups are hourly, so a window is a range of whole UTC hours (``[start_hour, end_hour)``) and
every hour is counted in the local day, week or month in which it *starts*. In zones whose offset
is a whole number of hours that is exact; in the few that are not (India, Nepal, ...) an hour that
straddles local midnight is counted in the day it starts in.

Bounds given as dates are local calendar days (the ``to`` day included). Bounds given as date-times
are widened to whole hours: ``from`` down, ``to`` up. Either way the window actually used is
reported back, so a caller always knows what was counted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tollgate.core.errors import BadRequest
from tollgate.store.rollup_queries import Bucketing, Ranges, Uniform

Interval = Literal["hour", "day", "week", "month"]
INTERVALS: tuple[Interval, ...] = ("hour", "day", "week", "month")
MAX_RANGE_DAYS: Final = 400
DEFAULT_ZONE: Final = "UTC"
_HOUR = 3600
_EPOCH_DAY = date(1970, 1, 1)  # a Thursday: Monday-based weeks start 3 days later in key space
_WEEK_SHIFT_MINUTES = 3 * 1440
_SPACED_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def zone_named(name: object) -> ZoneInfo:
    """The IANA zone ``name``, or ``BadRequest(invalid_time_zone)``."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise BadRequest(
            "timeZone must be an IANA time zone name such as Europe/Paris", code="invalid_time_zone"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise BadRequest(f"unknown time zone {name!r}", code="invalid_time_zone") from exc


def workspace_zone(settings: Mapping[str, Any]) -> ZoneInfo:
    return zone_named(settings.get("timeZone", DEFAULT_ZONE))


def hour_floor(moment: datetime) -> int:
    return math.floor(moment.timestamp() / _HOUR)


def hour_ceil(moment: datetime) -> int:
    return math.ceil(moment.timestamp() / _HOUR)


def hour_start(hour: int, zone: tzinfo = UTC) -> datetime:
    return datetime.fromtimestamp(hour * _HOUR, zone)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


@dataclass(frozen=True, slots=True)
class Window:
    zone: ZoneInfo
    start_hour: int  # inclusive
    end_hour: int  # exclusive

    @property
    def start(self) -> datetime:
        return hour_start(self.start_hour).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return hour_start(self.end_hour).astimezone(UTC)

    @property
    def hours(self) -> int:
        return self.end_hour - self.start_hour

    def before(self) -> Window:
        """The window of equal length just before this one."""
        return Window(self.zone, self.start_hour - self.hours, self.start_hour)


def parse_date_or_time(value: str, name: str) -> date | datetime:
    """A query value as a date (``YYYY-MM-DD``) or an ISO 8601 date-time (naive if it names no
    offset), or ``BadRequest(invalid_date)`` naming the parameter."""
    # An unescaped "+" in a query string arrives as a space: "...T10:00:00 02:00".
    text = _SPACED_OFFSET.sub(r"\1+\2", value.strip())
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(
            f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 date-time, not {value[:40]!r}",
            code="invalid_date",
        ) from exc


def _hour_of_bound(value: date | datetime, zone: ZoneInfo, *, end: bool) -> int:
    try:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=zone)
            return hour_ceil(moment) if end else hour_floor(moment)
        day = value + timedelta(days=1) if end else value
        return hour_ceil(local_midnight(day, zone))  # the first hour that starts in that day
    except (OverflowError, ValueError, OSError) as exc:  # beyond what datetimes can hold
        raise BadRequest("the date is out of range", code="invalid_date") from exc


def window(
    start: str | None,
    end: str | None,
    zone: ZoneInfo,
    *,
    now: datetime,
    default_days: int = 30,
    names: tuple[str, str] = ("from", "to"),
) -> Window:
    """The window for ``from``/``to`` query values (either may be missing).

    Missing ``to``: through the current hour. Missing ``from``: ``default_days`` local days up to
    and including ``to``'s day.
    """
    end_hour = (
        _hour_of_bound(parse_date_or_time(end, names[1]), zone, end=True) if end else hour_floor(now) + 1
    )
    if start:
        start_hour = _hour_of_bound(parse_date_or_time(start, names[0]), zone, end=False)
    else:
        last_day = hour_start(end_hour - 1, zone).date()
        start_hour = _hour_of_bound(last_day - timedelta(days=default_days - 1), zone, end=False)
    if end_hour <= start_hour:
        raise BadRequest(f"{names[1]} must be after {names[0]}", code="invalid_range")
    if end_hour - start_hour > MAX_RANGE_DAYS * 24 + 1:  # +1: a DST day may have 25 hours
        raise BadRequest(f"the range may span at most {MAX_RANGE_DAYS} days", code="range_too_long")
    return Window(zone, start_hour, end_hour)


def interval_named(value: str | None) -> Interval | None:
    if value is None or value == "":
        return None
    for interval in INTERVALS:
        if value == interval:
            return interval
    raise BadRequest(f"interval must be one of {', '.join(INTERVALS)}", code="invalid_interval")


def _offset_minutes(zone: ZoneInfo, hour: int) -> int:
    offset = hour_start(hour, zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) // 60


def offsets(zone: ZoneInfo, start_hour: int, end_hour: int) -> tuple[tuple[int, int], ...]:
    """The zone's UTC offset over the window: ``(from hour, minutes)`` pieces, changes found by
    stepping a day at a time and bisecting the day where the offset moved."""
    current = _offset_minutes(zone, start_hour)
    pieces = [(start_hour, current)]
    hour = start_hour
    while hour < end_hour:
        step = min(hour + 24, end_hour)
        if _offset_minutes(zone, step) == current:
            hour = step
            continue
        low, high = hour, step
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if _offset_minutes(zone, middle) == current else (low, middle)
        current = _offset_minutes(zone, high)
        pieces.append((high, current))
        hour = high
    return tuple(pieces)


def next_month(day: date) -> date:
    """The first day of the month after ``day``'s."""
    year, month = divmod(day.month, 12)
    return date(day.year + year, month + 1, 1)


def _month_starts(window: Window) -> list[date]:
    first = hour_start(window.start_hour, window.zone).date().replace(day=1)
    last = hour_start(window.end_hour - 1, window.zone).date()
    months = [first]
    while months[-1] <= last:
        months.append(next_month(months[-1]))
    return months


def bucketing(interval: Interval, window: Window) -> Bucketing:
    """How the window's hours fall into ``interval`` buckets, in the window's zone."""
    if interval == "hour":
        return Uniform(width_minutes=60)  # the UTC hour itself: local hours are whole hours
    if interval == "month":
        return Ranges(tuple(hour_ceil(local_midnight(d, window.zone)) for d in _month_starts(window)))
    pieces = offsets(window.zone, window.start_hour, window.end_hour)
    if interval == "day":
        return Uniform(width_minutes=1440, offsets=pieces)
    return Uniform(width_minutes=7 * 1440, offsets=pieces, shift_minutes=_WEEK_SHIFT_MINUTES)


def hour_of_day(window: Window) -> Bucketing:
    return Uniform(
        width_minutes=60, offsets=offsets(window.zone, window.start_hour, window.end_hour), modulo=24
    )


def bucket_start(interval: Interval, key: int, window: Window) -> datetime:
    """The local start of bucket ``key`` (as made by ``bucketing(interval, window)``)."""
    if interval == "hour":
        return hour_start(key, window.zone)
    if interval == "month":
        return local_midnight(_month_starts(window)[key], window.zone)
    days = key if interval == "day" else key * 7 - 3
    return local_midnight(_EPOCH_DAY + timedelta(days=days), window.zone)


def bucket_keys(buckets: Bucketing, window: Window) -> list[int]:
    """Every bucket the window touches, in time order (to show empty buckets too)."""
    return list(dict.fromkeys(buckets.keys(window.start_hour, window.end_hour)))
