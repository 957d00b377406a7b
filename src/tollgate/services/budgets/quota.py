"""The monthly quota for ingested events: the same ledger account the gateway's calls count in."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace

from tollgate.core.errors import StateUnavailable
from tollgate.core.ids import IdFactory
from tollgate.services.budgets.accounts import Books, quota_line
from tollgate.services.ingest_quota import QuotaExceeded
from tollgate.services.state import LiveState

_HOLD_TTL_MS = 60_000


class LedgerQuota:
    """Admits ``events`` more events if the workspace's plan quota has room for all of them."""

    def __init__(self, books: Books, state: LiveState, ids: IdFactory, *, fail_open: bool = True) -> None:
        self._books = books
        self._state = state
        self._ids = ids
        self._fail_open = fail_open

    async def admit(self, workspace_id: str, events: int) -> None:
        limits = self._state.limits_of(workspace_id)
        if limits is None or not limits.monthly_requests:
            return
        line = replace(quota_line(workspace_id, limits.monthly_requests, self._books.now()), amount=events)
        hold = self._ids.new("hold")
        try:
            reservation = await self._books.reserve(hold, [line], _HOLD_TTL_MS)
        except StateUnavailable:
            if self._fail_open:
                return
            raise
        if not reservation.allowed:
            raise QuotaExceeded(
                "Usage limit reached: the plan's monthly included requests are used up.",
                details={"monthlyRequests": limits.monthly_requests},
            )
        # If this fails the hold expires; the events are counted when the account is next opened.
        with suppress(StateUnavailable):
            await self._books.ledger.settle(hold, [(line.account, events)], self._books.now_ms())
