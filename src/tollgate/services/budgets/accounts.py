"""The ledger accounts behind budgets and quotas, and opening them from the database.

A budget's account is named by the budget, what it covers and the current period, so a new
period (or a changed scope or period) starts a new account, opened from the usage rollups of
that period. A workspace's monthly quota counts its requests in the calendar month (UTC).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from tollgate.core.clock import Clock
from tollgate.services.budgets.periods import Window, window
from tollgate.services.limits.ledger import Account, Balance, Ledger, Reservation
from tollgate.store.records import Budget
from tollgate.store.spend import SpendRepository

# How long a period's account outlives the period (late settles still land on it).
_GRACE_MS: Final = 2 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Seed:
    """Where an account's opening balance comes from: the scope's cost or requests since ``since``."""

    workspace_id: str
    scope_type: str
    scope_id: str | None
    since: datetime | None
    measure: Literal["cost", "requests"]


@dataclass(frozen=True, slots=True)
class Line:
    """One account a call reserves on: the amount and where the account would be opened from."""

    account: Account
    amount: int
    seed: Seed


def _ttl_ms(end: datetime | None, now: datetime) -> int | None:
    if end is None:
        return None
    return max(1, int((end - now).total_seconds() * 1000)) + _GRACE_MS


def budget_line(budget: Budget, now: datetime, zone_window: Window, amount: int = 0, split: int = 1) -> Line:
    """``split``: how many processes each hold their own share of the limit (see ``Books``)."""
    scope = hashlib.sha256(f"{budget.scope_type}:{budget.scope_id or ''}".encode()).hexdigest()[:16]
    key = f"{{{budget.workspace_id}}}:budget:{budget.id}:{scope}:{zone_window.label}"
    limit = budget.limit_nanos // split if budget.action == "block" else None
    seed = Seed(budget.workspace_id, budget.scope_type, budget.scope_id, zone_window.start, "cost")
    return Line(Account(key, limit, _ttl_ms(zone_window.end, now)), amount, seed)


def quota_line(workspace_id: str, monthly_requests: int, now: datetime, split: int = 1) -> Line:
    month = window("monthly", now, UTC)
    key = f"{{{workspace_id}}}:quota:{month.label}"
    seed = Seed(workspace_id, "workspace", None, month.start, "requests")
    return Line(Account(key, max(1, monthly_requests // split), _ttl_ms(month.end, now)), 1, seed)


class Books:
    """Reserves on accounts, opening the ones the ledger does not hold from the database first
    (a read that happens once per account per period, or after Redis lost its data).

    ``split``: with several worker processes and no Redis, each worker keeps its own ledger, so
    each enforces ``1/split`` of every limit (the sum can never pass it), and the spend shown is
    read from the database (every worker's settled calls, as far as the journal has written them).
    """

    def __init__(self, ledger: Ledger, spend: SpendRepository, clock: Clock, split: int = 1) -> None:
        self.ledger = ledger
        self.split = max(1, split)
        self._spend = spend
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    def now_ms(self) -> int:
        return int(self._clock.now().timestamp() * 1000)

    async def _recorded(self, seed: Seed) -> int:
        """What the database holds for the account: its scope's cost or requests in the period."""
        cost, requests = await self._spend.since(
            seed.workspace_id, seed.scope_type, seed.scope_id, seed.since
        )
        return cost if seed.measure == "cost" else requests

    async def _open(self, lines: Sequence[Line]) -> None:
        for line in lines:
            await self.ledger.open(line.account, await self._recorded(line.seed), self.now_ms())

    async def reserve(self, hold_id: str, lines: Sequence[Line], hold_ttl_ms: int) -> Reservation:
        items = [(line.account, line.amount) for line in lines]
        reservation = await self.ledger.reserve(hold_id, items, self.now_ms(), hold_ttl_ms)
        if reservation.missing:
            await self._open([lines[i] for i in reservation.missing])
            reservation = await self.ledger.reserve(hold_id, items, self.now_ms(), hold_ttl_ms)
        return reservation

    async def balances(self, lines: Sequence[Line]) -> tuple[Balance, ...]:
        if self.split > 1:
            return tuple([Balance(await self._recorded(line.seed), 0) for line in lines])
        found = await self.ledger.balances([line.account for line in lines])
        missing = [line for line, balance in zip(lines, found, strict=True) if balance is None]
        if missing:
            await self._open(missing)
            found = await self.ledger.balances([line.account for line in lines])
        return tuple(balance or Balance(0, 0) for balance in found)
