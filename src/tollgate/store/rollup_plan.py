"""Which rollup rows a bucketed sum reads: whole days where it can, hours where it must.

A query asks for sums per bucket over an hour range, where every hour has one bucket key (a
local day, week or month, or one bucket for the whole range). A cube with a daily table can answer
a day with one row instead of 24, but local buckets rarely start at UTC midnight. The daily table
keeps four sets of days, shifted by 0, 6, 12 and 18 hours; a plan takes the set whose day starts
lie closest to the buckets' starts (``best_shift``). Each of its days is then read as a *signed*
sum: the day's row counts towards the bucket of its middle hour, the hours of the day that
belong elsewhere (another bucket, or outside the range) are subtracted from that bucket, and
those inside the range are added to their own. Every hour inside the range is then counted
exactly once in its own bucket, and every hour outside it not at all, because all measures are
plain sums. A day is read that way only when it takes fewer rows than its hours alone.

In UTC, a 90-day series by day reads 90 daily rows per group; a zone whose midnight is ``k``
hours from the nearest shifted day start (``k`` <= 3 for whole-hour offsets) reads one daily row
and ``2 k`` hourly ones per day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

HOURS_PER_DAY: Final = 24
NOON: Final = 12


@dataclass(frozen=True, slots=True)
class Piece:
    """Rows ``[start, end)`` (hours or days) count ``sign`` times towards ``bucket``."""

    start: int
    end: int
    bucket: int
    sign: int


@dataclass(frozen=True, slots=True)
class Plan:
    shift: int  # the daily rows' shift: ``days`` count in days starting at ``24 d - shift``
    days: tuple[Piece, ...]
    hours: tuple[Piece, ...]

    @property
    def rows(self) -> int:
        """Rows read per group (the hourly way reads one per hour of the range)."""
        return sum(p.end - p.start for p in (*self.days, *self.hours))


Run = tuple[int, int, int]  # hours [start, end) of one bucket key: (start, end, key)


def runs_of(start_hour: int, keys: Sequence[int]) -> list[Run]:
    """The maximal runs of equal keys (``keys[i]`` is the key of hour ``start_hour + i``)."""
    runs: list[Run] = []
    first = 0
    for i in range(1, len(keys)):
        if keys[i] != keys[i - 1]:
            runs.append((start_hour + first, start_hour + i, keys[first]))
            first = i
    if keys:
        runs.append((start_hour + first, start_hour + len(keys), keys[first]))
    return runs


def best_shift(start_hour: int, keys: Sequence[int], shifts: Sequence[int]) -> int:
    """The shift (of ``shifts``) whose day starts lie closest to where the buckets change and to
    the range's ends: the one whose plan reads the fewest hours besides its days."""
    return _best_shift(runs_of(start_hour, keys), start_hour + len(keys), shifts)


def plan(start_hour: int, end_hour: int, keys: Sequence[int], shift: int = 0) -> Plan:
    """Pieces whose signed sum puts every hour of ``[start_hour, end_hour)`` in its bucket
    (``keys[i]`` is the bucket of hour ``start_hour + i``), over days shifted by ``shift``."""
    _check(start_hour, end_hour, keys)
    return _plan(runs_of(start_hour, keys), start_hour, end_hour, shift)


def best_plan(start_hour: int, end_hour: int, keys: Sequence[int], shifts: Sequence[int]) -> Plan:
    """``plan`` over the ``best_shift`` of ``shifts``, finding the runs of keys once for both."""
    _check(start_hour, end_hour, keys)
    runs = runs_of(start_hour, keys)
    return _plan(runs, start_hour, end_hour, _best_shift(runs, end_hour, shifts))


def _check(start_hour: int, end_hour: int, keys: Sequence[int]) -> None:
    if len(keys) != end_hour - start_hour:
        raise ValueError("one key per hour of the range")


def _best_shift(runs: Sequence[Run], end_hour: int, shifts: Sequence[int]) -> int:
    edges = [start for start, _, _ in runs] + [end_hour]

    def distance(shift: int) -> int:
        hours = ((edge + shift) % HOURS_PER_DAY for edge in edges)
        return sum(min(hour, HOURS_PER_DAY - hour) for hour in hours)

    return min(shifts, key=distance)


def _plan(runs: Sequence[Run], start_hour: int, end_hour: int, shift: int) -> Plan:
    if not runs:
        return Plan(shift, (), ())
    days: list[Piece] = []
    hours: list[Piece] = []
    # Plan in shifted hours (where the days start at multiples of 24), then shift the hours back.
    start, end = start_hour + shift, end_hour + shift
    shifted = [(run_start + shift, run_end + shift, key) for run_start, run_end, key in runs]
    index = 0
    for day in range(start // HOURS_PER_DAY, -(-end // HOURS_PER_DAY)):
        first, last = day * HOURS_PER_DAY, (day + 1) * HOURS_PER_DAY
        while shifted[index][1] <= first:
            index += 1
        clipped = []
        for run_start, run_end, key in shifted[index:]:
            if run_start >= last:
                break
            clipped.append((max(run_start, first), min(run_end, last), key))
        _plan_day(day, clipped, days, hours)
    unshifted = (Piece(p.start - shift, p.end - shift, p.bucket, p.sign) for p in hours)
    return Plan(shift, _merged(days), _merged(sorted(unshifted, key=lambda p: (p.sign, p.start))))


def _plan_day(day: int, runs: list[Run], days: list[Piece], hours: list[Piece]) -> None:
    """Plan one day from the runs of keys inside the range (clipped to the day, in order)."""
    first, last = day * HOURS_PER_DAY, (day + 1) * HOURS_PER_DAY
    low, high = runs[0][0], runs[-1][1]  # the part of the day inside the range
    if len(runs) == 1 and (low, high) == (first, last):  # the common case: a whole day, one bucket
        days.append(Piece(day, day + 1, runs[0][2], 1))
        return
    noon = first + NOON
    home = next((key for start, end, key in runs if start <= noon < end), None)
    elsewhere = [run for run in runs if run[2] != home]
    moved = sum(end - start for start, end, _ in elsewhere)
    outside = HOURS_PER_DAY - (high - low)
    if home is None or 1 + outside + 2 * moved >= high - low:
        hours.extend(Piece(start, end, key, 1) for start, end, key in runs)
        return
    days.append(Piece(day, day + 1, home, 1))
    gone = [(first, low), (high, last), *((start, end) for start, end, _ in elsewhere)]
    hours.extend(Piece(start, end, home, -1) for start, end in gone if start < end)
    hours.extend(Piece(start, end, key, 1) for start, end, key in elsewhere)


def _merged(pieces: Sequence[Piece]) -> tuple[Piece, ...]:
    """Adjacent pieces of one bucket and sign as one (``pieces`` ordered by sign, then start)."""
    out: list[Piece] = []
    for piece in pieces:
        last = out[-1] if out else None
        if last and last.end == piece.start and (last.bucket, last.sign) == (piece.bucket, piece.sign):
            out[-1] = Piece(last.start, piece.end, last.bucket, last.sign)
        else:
            out.append(piece)
    return tuple(out)
