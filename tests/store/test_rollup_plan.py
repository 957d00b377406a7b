"""The read plan of a bucketed sum: its signed pieces count every hour of the range exactly once,
in its own bucket, and nothing outside the range."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollgate.store.rollup_plan import Plan, best_plan, best_shift, plan
from tollgate.store.rollup_queries import Bucketing, Ranges, Uniform

DAY = 24
SHIFTS = (0, 6, 12, 18)
BASE = 24 * 20_417  # midnight UTC, 2025-11-25


def _counts(planned: Plan, hour: int) -> Counter[int]:
    """How many times ``hour`` is counted towards each bucket."""
    counts: Counter[int] = Counter()
    for piece in planned.days:
        if piece.start <= (hour + planned.shift) // DAY < piece.end:
            counts[piece.bucket] += piece.sign
    for piece in planned.hours:
        if piece.start <= hour < piece.end:
            counts[piece.bucket] += piece.sign
    return +counts  # drop buckets that cancel out to zero


def _assert_exact(start: int, end: int, keys: list[int], shift: int = 0) -> Plan:
    planned = plan(start, end, keys, shift)
    for hour in range(start - 2 * DAY, end + 2 * DAY):
        inside = start <= hour < end
        assert _counts(planned, hour) == (Counter({keys[hour - start]: 1}) if inside else Counter()), hour
    for piece in (*planned.days, *planned.hours):
        assert piece.sign in (1, -1) and piece.start < piece.end
    return planned


@st.composite
def ranges_with_keys(draw: st.DrawFn) -> tuple[int, int, list[int]]:
    """An hour range and a bucket per hour: runs of at least one hour, keys increasing (days,
    weeks, months, or arbitrary spans)."""
    start = BASE + draw(st.integers(-30, 30))
    end = start + draw(st.integers(0, 12 * DAY))
    keys: list[int] = []
    key = draw(st.integers(-1, 5))
    while len(keys) < end - start:
        keys += [key] * draw(st.integers(1, 3 * DAY))
        key += draw(st.integers(1, 3))
    return start, end, keys[: end - start]


@given(ranges_with_keys(), st.sampled_from(SHIFTS))
def test_every_hour_counts_once_in_its_bucket(case: tuple[int, int, list[int]], shift: int) -> None:
    _assert_exact(*case, shift=shift)


@pytest.mark.parametrize("offset", [0, 1, -5, 9, 12, -12, 14, -3])
def test_local_days_read_whole_days_plus_at_most_six_hours_a_day(offset: int) -> None:
    """Ten local days in a zone ``offset`` hours from UTC, over the best of the shifted days."""
    start = BASE - offset
    end = start + 10 * DAY
    keys = [(hour + offset) // DAY for hour in range(start, end)]
    shift = best_shift(start, keys, SHIFTS)
    planned = _assert_exact(start, end, keys, shift)
    assert best_plan(start, end, keys, SHIFTS) == planned
    distance = min(min(x, DAY - x) for x in ((offset - s) % DAY for s in SHIFTS))
    assert planned.rows == len(planned.days) + 10 * 2 * distance  # a day row and 2 k hours a day
    assert distance <= 3
    if offset % 6 == 0:
        assert planned.hours == () and len(planned.days) == 10


def test_one_bucket_over_whole_days_is_one_day_piece() -> None:
    planned = _assert_exact(BASE, BASE + 30 * DAY, [0] * (30 * DAY))
    assert [(p.start, p.end) for p in planned.days] == [(BASE // DAY, BASE // DAY + 30)]
    assert planned.hours == ()


def test_short_ranges_read_hours_only() -> None:
    """A range of a few hours never reads a day to subtract most of it again."""
    planned = _assert_exact(BASE + 3, BASE + 9, [0] * 6)
    assert planned.days == ()


def test_the_keys_must_cover_the_range() -> None:
    with pytest.raises(ValueError, match="one key per hour"):
        plan(BASE, BASE + 5, [0, 0])


@st.composite
def bucketings(draw: st.DrawFn) -> Bucketing:
    if draw(st.booleans()):
        starts = sorted(draw(st.sets(st.integers(BASE - 100, BASE + 400), max_size=6)))
        return Ranges(tuple(starts))
    changes = sorted(draw(st.sets(st.integers(BASE - 50, BASE + 400), max_size=3)))
    minutes = draw(
        st.lists(st.sampled_from([-600, -300, -240, 0, 60, 330, 540, 825]), min_size=4, max_size=4)
    )
    return Uniform(
        width_minutes=draw(st.sampled_from([60, 1440, 7 * 1440])),
        offsets=((BASE - 50, minutes[0]), *zip(changes, minutes[1:], strict=False)),
        shift_minutes=draw(st.sampled_from([0, 3 * 1440])),
        modulo=draw(st.sampled_from([None, 24])),
    )


@given(bucketings(), st.integers(BASE - 120, BASE + 300), st.integers(0, 300))
def test_keys_of_a_range_are_the_keys_of_its_hours(buckets: Bucketing, start: int, length: int) -> None:
    assert buckets.keys(start, start + length) == [buckets.key(h) for h in range(start, start + length)]
