"""The ledger: accounts of units used against a cap, with holds (budgets in nano-dollars, monthly
quotas in requests).

A call *reserves* its worst case on every account that covers it before it starts, and *settles*
when it ends: its hold is released and what it really used is added. An account refuses a hold
that would take ``used + held + amount`` past its limit, so however many calls run at once the
used total stays within the limit as long as no call uses more than it held.

Invariants:

- ``reserve`` is atomic and all or nothing across its accounts.
- An account the ledger does not hold (new, or lost with Redis) is never guessed at: ``reserve``
  names it as missing and changes nothing, and the caller ``open``s it from the database.
- A hold that is never settled (the process died) is dropped when it expires.
- ``settle`` on an account the ledger no longer holds changes nothing; the record still reaches
  the database, which a later ``open`` counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Account:
    """``key`` names the account and its period (``{ws}:budget:<id>:2026-12``); ``limit`` None:
    counted, never refused; ``ttl_ms``: how long the account outlives its last opening (None:
    kept)."""

    key: str
    limit: int | None
    ttl_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    used: int
    held: int


@dataclass(frozen=True, slots=True)
class Reservation:
    allowed: bool
    missing: tuple[int, ...] = ()  # indexes of accounts to open first (nothing was reserved)
    refused: tuple[int, ...] = ()  # indexes of accounts that could not take their amount
    balances: tuple[Balance, ...] = ()  # per account, before the hold (when none was missing)


@dataclass(frozen=True, slots=True)
class Settled:
    used_before: int
    used_after: int


class Ledger(Protocol):
    async def reserve(
        self, hold_id: str, items: Sequence[tuple[Account, int]], now_ms: int, hold_ttl_ms: int
    ) -> Reservation: ...

    async def open(self, account: Account, used: int, now_ms: int) -> None:
        """Create the account with ``used`` units if it does not exist (else leave it)."""
        ...

    async def settle(
        self, hold_id: str, items: Sequence[tuple[Account, int]], now_ms: int
    ) -> tuple[Settled | None, ...]:
        """Release ``hold_id`` on each account and add the amount really used; None for an
        account the ledger does not hold."""
        ...

    async def balances(self, accounts: Sequence[Account]) -> tuple[Balance | None, ...]: ...


def fits(balance: Balance, account: Account, amount: int) -> bool:
    return account.limit is None or balance.used + balance.held + amount <= account.limit


@dataclass(slots=True)
class _State:
    used: int
    held: int = 0
    holds: dict[str, tuple[int, int]] = field(default_factory=dict)  # hold id -> (amount, expiry)
    next_expiry: int | None = None
    expires_ms: int | None = None

    def sweep(self, now_ms: int) -> None:
        if self.next_expiry is None or now_ms < self.next_expiry:
            return
        for hold_id, (amount, expiry) in list(self.holds.items()):
            if expiry <= now_ms:
                self.held -= amount
                del self.holds[hold_id]
        self.next_expiry = min((expiry for _, expiry in self.holds.values()), default=None)


class MemoryLedger:
    """The ledger in this process (one instance, no Redis). Atomic: nothing awaits inside."""

    def __init__(self) -> None:
        self._accounts: dict[str, _State] = {}

    def _live(self, key: str, now_ms: int) -> _State | None:
        state = self._accounts.get(key)
        if state is not None and state.expires_ms is not None and state.expires_ms <= now_ms:
            del self._accounts[key]
            return None
        return state

    async def reserve(
        self, hold_id: str, items: Sequence[tuple[Account, int]], now_ms: int, hold_ttl_ms: int
    ) -> Reservation:
        states = [self._live(account.key, now_ms) for account, _ in items]
        missing = tuple(i for i, state in enumerate(states) if state is None)
        if missing:
            return Reservation(False, missing=missing)
        live = [state for state in states if state is not None]
        for state in live:
            state.sweep(now_ms)
        balances = tuple(Balance(state.used, state.held) for state in live)
        refused = tuple(
            i
            for i, ((account, amount), b) in enumerate(zip(items, balances, strict=True))
            if not fits(b, account, amount)
        )
        if refused:
            return Reservation(False, refused=refused, balances=balances)
        expiry = now_ms + hold_ttl_ms
        for state, (_, amount) in zip(live, items, strict=True):
            state.held += amount
            state.holds[hold_id] = (amount, expiry)
            state.next_expiry = expiry if state.next_expiry is None else min(state.next_expiry, expiry)
        return Reservation(True, balances=balances)

    async def open(self, account: Account, used: int, now_ms: int) -> None:
        if self._live(account.key, now_ms) is not None:
            return
        for key in [
            k for k, s in self._accounts.items() if s.expires_ms is not None and s.expires_ms <= now_ms
        ]:
            del self._accounts[key]  # past periods: opening is rare, so sweep here
        expires = None if account.ttl_ms is None else now_ms + account.ttl_ms
        self._accounts[account.key] = _State(used, expires_ms=expires)

    async def settle(
        self, hold_id: str, items: Sequence[tuple[Account, int]], now_ms: int
    ) -> tuple[Settled | None, ...]:
        out: list[Settled | None] = []
        for account, actual in items:
            state = self._accounts.get(account.key)
            if state is None:
                out.append(None)
                continue
            amount, _ = state.holds.pop(hold_id, (0, 0))
            state.held -= amount
            before = state.used
            state.used += actual
            out.append(Settled(before, state.used))
        return tuple(out)

    async def balances(self, accounts: Sequence[Account]) -> tuple[Balance | None, ...]:
        states = [self._accounts.get(account.key) for account in accounts]
        return tuple(None if s is None else Balance(s.used, s.held) for s in states)
