"""When is spend a spike? Recent spend against a baseline learned from the same hours of the
previous days, robustly (median and MAD: one earlier spike does not move the baseline).

Two windows: the current hour so far against that hour on each of the previous ``days`` days,
and the last 24 hours against each of the previous ``days`` 24-hour spans. A window spikes when
its recent spend is over ``factor`` times the median, over the median plus three robust standard
deviations (1.4826 MAD), and over an absolute floor (so pennies never page anyone). Nothing is
judged before there is a baseline: ``days`` full periods whose total is not zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Final

from tollgate.store.rollup_plan import HOURS_PER_DAY

MAD_TO_SIGMA: Final = 1.4826
SIGMAS: Final = 3.0


@dataclass(frozen=True, slots=True)
class Policy:
    factor: float  # recent spend must exceed this many times the baseline median
    floor_nanos: int  # and at least this much
    days: int  # of history the baseline is learned from


@dataclass(frozen=True, slots=True)
class Spike:
    window: str  # "hour" or "day"
    recent_nanos: int
    baseline_nanos: int  # the median
    threshold_nanos: int


def threshold(history: Sequence[int], policy: Policy) -> int | None:
    """Spend above which the recent window is a spike; None without a baseline yet."""
    if len(history) < policy.days or sum(history) == 0:
        return None
    middle = median(history)
    mad = median(abs(value - middle) for value in history)
    return int(max(middle * policy.factor, middle + SIGMAS * MAD_TO_SIGMA * mad, policy.floor_nanos))


def windows(costs: Mapping[int, int], now_hour: int, days: int) -> dict[str, tuple[int, list[int]]]:
    """Per window: (recent spend, the same span on each earlier day, oldest first)."""

    def span(last: int, hours: int) -> int:
        return sum(costs.get(hour, 0) for hour in range(last - hours + 1, last + 1))

    earlier = range(days, 0, -1)
    return {
        "hour": (costs.get(now_hour, 0), [costs.get(now_hour - HOURS_PER_DAY * k, 0) for k in earlier]),
        "day": (
            span(now_hour, HOURS_PER_DAY),
            [span(now_hour - HOURS_PER_DAY * k, HOURS_PER_DAY) for k in earlier],
        ),
    }


def spikes(costs: Mapping[int, int], now_hour: int, policy: Policy) -> list[Spike]:
    found = []
    for name, (recent, history) in windows(costs, now_hour, policy.days).items():
        limit = threshold(history, policy)
        if limit is not None and recent > limit:
            found.append(Spike(name, recent, int(median(history)), limit))
    return found
