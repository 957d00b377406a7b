"""The ledger of budgets and quotas, in process and in Redis (one contract; Redis runs when
``TOLLGATE_TEST_REDIS_URL`` is set, as in CI): holds count against the limit until settled, all
or nothing across accounts, unknown accounts are opened rather than guessed, lost holds expire,
and one limit holds across clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.redis import prefixed_clients
from tollgate.services.limits.ledger import Account, Balance, Ledger, MemoryLedger, Settled
from tollgate.services.limits.redis_ledger import RedisLedger

NOW = 1_790_000_000_000  # milliseconds
TTL = 60_000
MakeLedger = Callable[[], Awaitable[Ledger]]


@pytest.fixture(params=["memory", "redis"])
async def make_ledger(request: pytest.FixtureRequest) -> AsyncIterator[MakeLedger]:
    """A factory of ledgers that share state (two calls: two instances, one Redis)."""
    if request.param == "memory":
        shared = MemoryLedger()

        async def memory() -> Ledger:
            return shared

        yield memory
        return
    async with prefixed_clients() as (client, prefix):

        async def redis() -> Ledger:
            return RedisLedger(client(), prefix=prefix)

        yield redis


BUDGET = Account("{ws}:budget:b1:2026-12", 100)
QUOTA = Account("{ws}:quota:2026-12", 3)


async def test_an_unopened_account_is_named_and_nothing_is_reserved(make_ledger: MakeLedger) -> None:
    ledger = await make_ledger()
    await ledger.open(BUDGET, 10, NOW)
    first = await ledger.reserve("h1", [(BUDGET, 5), (QUOTA, 1)], NOW, TTL)
    assert (first.allowed, first.missing) == (False, (1,))
    assert await ledger.balances([BUDGET, QUOTA]) == (Balance(10, 0), None)
    await ledger.open(QUOTA, 0, NOW)
    await ledger.open(QUOTA, 2, NOW)  # opening again changes nothing
    second = await ledger.reserve("h1", [(BUDGET, 5), (QUOTA, 1)], NOW, TTL)
    assert second.allowed
    assert second.balances == (Balance(10, 0), Balance(0, 0))
    assert await ledger.balances([BUDGET, QUOTA]) == (Balance(10, 5), Balance(0, 1))


async def test_holds_count_until_settled_to_what_was_used(make_ledger: MakeLedger) -> None:
    ledger = await make_ledger()
    await ledger.open(BUDGET, 0, NOW)
    assert (await ledger.reserve("h1", [(BUDGET, 60)], NOW, TTL)).allowed
    refused = await ledger.reserve("h2", [(BUDGET, 41)], NOW, TTL)
    assert (refused.allowed, refused.refused, refused.balances) == (False, (0,), (Balance(0, 60),))
    assert (await ledger.settle("h1", [(BUDGET, 25)], NOW)) == (Settled(0, 25),)
    assert await ledger.balances([BUDGET]) == (Balance(25, 0),)
    assert (await ledger.reserve("h2", [(BUDGET, 75)], NOW, TTL)).allowed  # exactly to the limit
    assert not (await ledger.reserve("h3", [(BUDGET, 1)], NOW, TTL)).allowed
    assert (await ledger.settle("h2", [(BUDGET, 0)], NOW)) == (Settled(25, 25),)  # a failed call


async def test_all_or_nothing_across_accounts(make_ledger: MakeLedger) -> None:
    ledger = await make_ledger()
    await ledger.open(BUDGET, 0, NOW)
    await ledger.open(QUOTA, 3, NOW)  # the quota is used up
    refused = await ledger.reserve("h1", [(BUDGET, 5), (QUOTA, 1)], NOW, TTL)
    assert (refused.allowed, refused.refused) == (False, (1,))
    assert await ledger.balances([BUDGET, QUOTA]) == (Balance(0, 0), Balance(3, 0))


async def test_an_unsettled_hold_expires(make_ledger: MakeLedger) -> None:
    ledger = await make_ledger()
    await ledger.open(BUDGET, 0, NOW)
    assert (await ledger.reserve("lost", [(BUDGET, 100)], NOW, TTL)).allowed
    assert not (await ledger.reserve("h2", [(BUDGET, 1)], NOW + TTL - 1, TTL)).allowed
    assert (await ledger.reserve("h2", [(BUDGET, 100)], NOW + TTL, TTL)).allowed
    assert await ledger.balances([BUDGET]) == (Balance(0, 100),)


async def test_an_account_without_a_limit_counts_and_never_refuses(make_ledger: MakeLedger) -> None:
    ledger = await make_ledger()
    alert = Account("{ws}:budget:alert:total", None)
    await ledger.open(alert, 10**15, NOW)
    assert (await ledger.reserve("h1", [(alert, 10**15)], NOW, TTL)).allowed
    assert (await ledger.settle("h1", [(alert, 123_456_789_012_345)], NOW)) == (
        Settled(10**15, 10**15 + 123_456_789_012_345),
    )


async def test_settling_an_account_the_ledger_lost_changes_nothing(make_ledger: MakeLedger) -> None:
    ledger = await make_ledger()
    assert (await ledger.settle("h1", [(BUDGET, 5)], NOW)) == (None,)
    assert await ledger.balances([BUDGET]) == (None,)


async def test_concurrent_holds_from_two_clients_never_pass_the_limit(make_ledger: MakeLedger) -> None:
    first, second = await make_ledger(), await make_ledger()
    await first.open(BUDGET, 0, NOW)
    results = await asyncio.gather(
        *((first if i % 2 else second).reserve(f"h{i}", [(BUDGET, 7)], NOW, TTL) for i in range(50))
    )
    assert sum(r.allowed for r in results) == 14  # 14 * 7 = 98 <= 100 < 15 * 7
    assert await first.balances([BUDGET]) == (Balance(0, 98),)
