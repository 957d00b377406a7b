"""The spike rule: robust baselines from the same hours of earlier days, a factor and a floor."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tollgate.services.alerts.anomaly import Policy, spikes, threshold, windows

POLICY = Policy(factor=3.0, floor_nanos=1_000, days=7)
NOW = 500_000  # an hour number


def steady(per_hour: int, days: int = 8) -> dict[int, int]:
    return {NOW - h: per_hour for h in range(1, days * 24)}


def test_no_baseline_no_judgement() -> None:
    assert threshold([0] * 7, POLICY) is None
    assert threshold([5, 5, 5], POLICY) is None, "fewer days than the policy asks"
    assert spikes({NOW: 10**9}, NOW, POLICY) == [], "a brand-new workspace's first spend is not a spike"


def test_a_spike_in_the_current_hour_is_found_in_both_windows() -> None:
    costs = steady(10_000) | {NOW: 1_000_000}
    found = {s.window: s for s in spikes(costs, NOW, POLICY)}
    assert set(found) == {"hour", "day"}
    assert found["hour"].baseline_nanos == 10_000 and found["hour"].threshold_nanos == 30_000


def test_steady_spend_and_ordinary_growth_are_not_spikes() -> None:
    assert spikes(steady(10_000) | {NOW: 25_000}, NOW, POLICY) == []
    assert spikes(steady(100) | {NOW: 900}, NOW, POLICY) == [], "under the floor"


def test_one_earlier_spike_does_not_move_the_baseline() -> None:
    costs = steady(10_000) | {NOW - 24: 10**9, NOW: 100_000}
    assert [s.window for s in spikes(costs, NOW, POLICY)] == ["hour"]


def test_windows_line_up_the_same_hours_of_earlier_days() -> None:
    costs = {NOW: 7, NOW - 24: 3, NOW - 48: 2, NOW - 25: 100}
    hour = windows(costs, NOW, 2)["hour"]
    assert hour == (7, [2, 3])
    day = windows(costs, NOW, 2)["day"]
    assert day == (7, [2, 103])


@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=7, max_size=7))
def test_nothing_at_or_below_the_median_is_a_spike(history: list[int]) -> None:
    limit = threshold(history, POLICY)
    if limit is not None:
        assert limit >= sorted(history)[3]
        assert limit >= POLICY.floor_nanos
