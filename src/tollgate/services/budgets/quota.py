"""The monthly quota for ingested events: the same ledger account the gateway's calls count in."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import replace

from tollgate.core.errors import StateUnavailable
from tollgate.core.ids import IdFactory
from tollgate.services.budgets.accounts import Books, quota_line
from tollgate.services.events import Events
from tollgate.services.ingest_quota import QuotaExceeded
from tollgate.services.limits.ledger import Settled
from tollgate.services.state import LiveState

_HOLD_TTL_MS = 60_000


def quota_exceeded(monthly_requests: int) -> QuotaExceeded:
    return QuotaExceeded(
        "Usage limit reached: the plan's monthly included requests are used up.",
        details={"monthlyRequests": monthly_requests},
    )


def announce_quota(
    events: Events | None, workspace_id: str, limit: int | None, settled: Settled | None
) -> None:
    """``quota.exceeded``, once: when this settlement is the one that reached the quota."""
    if events is None or settled is None or limit is None:
        return
    if settled.used_before < limit <= settled.used_after:
        events.emit(workspace_id, "quota.exceeded", {"monthlyRequests": limit, "used": settled.used_after})


class LedgerQuota:
    """Admits ``events`` more events if the workspace's plan quota has room for all of them."""

    def __init__(
        self,
        books: Books,
        state: LiveState,
        ids: IdFactory,
        events: Events | None = None,
        *,
        fail_open: bool = True,
    ) -> None:
        self._books = books
        self._state = state
        self._ids = ids
        self._events = events
        self._fail_open = fail_open

    async def admit(self, workspace_id: str, events: int) -> None:
        limits = self._state.limits_of(workspace_id)
        if limits is None or not limits.monthly_requests:
            return
        line = replace(
            quota_line(workspace_id, limits.monthly_requests, self._books.now(), self._books.split),
            amount=events,
        )
        hold = self._ids.new("hold")
        try:
            reservation = await self._books.reserve(hold, [line], _HOLD_TTL_MS)
        except StateUnavailable:
            if self._fail_open:
                return
            raise
        if not reservation.allowed:
            raise quota_exceeded(limits.monthly_requests)
        # If this fails the hold expires; the events are counted when the account is next opened.
        with suppress(StateUnavailable):
            settled = await self._books.ledger.settle(hold, [(line.account, events)], self._books.now_ms())
            announce_quota(self._events, workspace_id, line.account.limit, settled[0])
