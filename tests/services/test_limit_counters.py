"""Limit counters, in process and in Redis (the same contract; Redis runs when
``TOLLGATE_TEST_REDIS_URL`` is set, as in CI): bursts, refusals with the right wait, all or
nothing across limits, token reservations settled afterwards, and one limit shared by clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.redis import prefixed_clients, redis_url_or_skip
from tollgate.services.limits.counters import LimitCounters, MemoryCounters, Status, Take
from tollgate.services.limits.redis_counters import RedisCounters

T0 = 1_790_000_000_000_000  # microseconds
SECOND = 1_000_000
MakeCounters = Callable[[], Awaitable[LimitCounters]]


@pytest.fixture(params=["memory", "redis"])
async def make_counters(request: pytest.FixtureRequest) -> AsyncIterator[MakeCounters]:
    """A factory of counters that share state (two calls: two instances, one Redis)."""
    if request.param == "memory":
        shared = MemoryCounters()

        async def memory() -> LimitCounters:
            return shared

        yield memory
        return
    async with prefixed_clients() as (client, prefix):

        async def redis() -> LimitCounters:
            return RedisCounters(client(), prefix=prefix)

        yield redis


def rpm(key: str, limit: int, amount: int = 1) -> Take:
    return Take(key, limit, 60_000, amount)


async def test_a_burst_of_the_limit_then_a_refusal_with_the_wait(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    seen = [await counters.take([rpm("{ws}:rpm", 3)], T0) for _ in range(3)]
    assert all(d.allowed for d in seen)
    assert [d.statuses[0].remaining for d in seen] == [2, 1, 0]
    refused = await counters.take([rpm("{ws}:rpm", 3)], T0 + SECOND)
    assert not refused.allowed
    assert refused.statuses[0] == Status(limit=3, remaining=0, reset_ms=59_000, retry_after_ms=19_000)
    assert refused.retry_after_ms == 19_000
    assert not (await counters.take([rpm("{ws}:rpm", 3)], T0 + 20 * SECOND - 1)).allowed
    again = await counters.take([rpm("{ws}:rpm", 3)], T0 + 20 * SECOND)
    assert again.allowed and again.statuses[0].remaining == 0


async def test_all_or_nothing_across_limits(make_counters: MakeCounters) -> None:
    """A refusal by the key's limit leaves the workspace's counter untouched."""
    counters = await make_counters()
    both = [rpm("{ws}:rpm", 5), rpm("{ws}:key:k1:rpm", 1)]
    assert (await counters.take(both, T0)).allowed
    refused = await counters.take(both, T0)
    assert not refused.allowed
    assert [s.remaining for s in refused.statuses] == [4, 0]
    assert [s.retry_after_ms for s in refused.statuses] == [0, 60_000]
    alone = [await counters.take([rpm("{ws}:rpm", 5)], T0) for _ in range(5)]
    assert [d.allowed for d in alone] == [True, True, True, True, False]


async def test_tokens_are_reserved_then_settled(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    tpm = rpm("{ws}:tpm", 1000, amount=600)
    assert (await counters.take([tpm], T0)).statuses[0].remaining == 400
    refused = await counters.take([rpm("{ws}:tpm", 1000, amount=500)], T0)
    assert not refused.allowed and refused.retry_after_ms == 6_000  # 100 tokens at 60 ms each
    await counters.settle(tpm, -400, T0)  # the call used 200 of the 600 reserved
    assert (await counters.take([rpm("{ws}:tpm", 1000, amount=800)], T0)).statuses[0].remaining == 0
    await counters.settle(tpm, 300, T0)  # another call used 300 more than it reserved: a debt
    late = await counters.take([rpm("{ws}:tpm", 1000, amount=1)], T0)
    assert not late.allowed and late.retry_after_ms == 18_060
    assert (await counters.take([rpm("{ws}:tpm", 1000, amount=1)], T0 + 18_060_000)).allowed


async def test_a_limit_of_more_units_than_its_window_has_microseconds_keeps_its_rate(
    make_counters: MakeCounters,
) -> None:
    """100 million tokens a minute: more tokens than a minute has microseconds."""
    counters = await make_counters()
    first = await counters.take([rpm("{ws}:tpm", 100_000_000, amount=90_000_000)], T0)
    assert first.allowed and first.statuses[0].remaining == 10_000_000
    over = await counters.take([rpm("{ws}:tpm", 100_000_000, amount=20_000_000)], T0)
    assert not over.allowed and over.retry_after_ms == 6_000  # 10 million tokens come back in 6 s
    await counters.settle(rpm("{ws}:tpm", 100_000_000), -40_000_000, T0)  # the call used 50 million
    again = await counters.take([rpm("{ws}:tpm", 100_000_000, amount=20_000_000)], T0)
    assert again.allowed and again.statuses[0].remaining == 30_000_000


async def test_a_refund_never_fills_a_counter_past_full(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    await counters.settle(rpm("{ws}:tpm", 100), -1000, T0)
    burst = [await counters.take([rpm("{ws}:tpm", 100, amount=50)], T0) for _ in range(3)]
    assert [d.allowed for d in burst] == [True, True, False]


async def test_an_amount_over_the_limit_never_fits(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    assert not (await counters.take([rpm("{ws}:tpm", 100, amount=101)], T0)).allowed
    assert not (await counters.take([rpm("{ws}:tpm", 100, amount=101)], T0 + 3600 * SECOND)).allowed
    assert (await counters.take([rpm("{ws}:tpm", 100, amount=100)], T0)).allowed


async def test_two_instances_enforce_one_limit(make_counters: MakeCounters) -> None:
    """50 concurrent takes through two instances against a limit of 10: exactly 10 pass."""
    first, second = await make_counters(), await make_counters()
    decisions = await asyncio.gather(*(c.take([rpm("{ws}:rpm", 10)], T0) for c in [first, second] * 25))
    assert sum(d.allowed for d in decisions) == 10


def test_takes_are_checked() -> None:
    for bad in ((0, 60_000, 1), (10, 0, 1), (10, 60_000, -1)):
        with pytest.raises(ValueError, match="positive"):
            Take("k", *bad)


async def test_a_counter_appears_once_per_take(make_counters: MakeCounters) -> None:
    counters = await make_counters()
    with pytest.raises(ValueError, match="once"):
        await counters.take([rpm("{ws}:rpm", 5), rpm("{ws}:rpm", 5)], T0)
    assert (await counters.take([rpm("{ws}:rpm", 5, amount=5)], T0)).allowed  # nothing was taken


async def test_memory_forgets_full_counters() -> None:
    """A counter refills 6 s after one take of a 10/min limit; a take every 10 ms on a new key."""
    counters = MemoryCounters()
    for i in range(5000):
        await counters.take([rpm(f"{{ws}}:{i}", 10)], T0 + i * 10_000)
    kept = counters.snapshot()
    assert 600 <= len(kept) < 2000  # the sweep dropped the counters that had refilled
    assert "{ws}:4999" in kept and "{ws}:0" not in kept


steps = st.lists(
    st.tuples(
        st.sampled_from(["a", "b"]),
        st.integers(1, 50),  # limit
        st.sampled_from([1_000, 60_000, 86_400_000]),  # window
        st.integers(0, 60),  # amount
        st.integers(0, 5 * SECOND),  # time since the last step
        st.integers(-20, 20),  # a settlement after the take
    ),
    max_size=40,
)


@settings(max_examples=25, deadline=None)
@given(steps)
def test_redis_and_memory_decide_alike(sequence: list[tuple[str, int, int, int, int, int]]) -> None:
    """The Lua script and the Python arithmetic, step by step on random takes and settlements."""
    redis_url_or_skip()

    async def run() -> None:
        async with prefixed_clients() as (client, prefix):
            shared, memory = RedisCounters(client(), prefix=prefix), MemoryCounters()
            now = T0
            for key, limit, window, amount, step, correction in sequence:
                now += step
                take = Take("{ws}:" + key, limit, window, amount)
                assert await shared.take([take], now) == await memory.take([take], now)
                await shared.settle(take, correction, now)
                await memory.settle(take, correction, now)

    asyncio.run(run())
