"""Admission: the limits, quota and budgets a call must fit before it starts, and settling them
when it ends.

Order: rate limits (requests and an estimate of tokens, per workspace and per key), then one
ledger reservation for the monthly quota and every budget that covers the call (its worst-case
cost, ``worst_case``). A refusal changes nothing: rate-limit units already taken are given back
when the ledger refuses. When the call's record is made, the reservation is settled to what it
really used, in a background task (the answer does not wait), and budget thresholds crossed by
that settlement raise ``budget.alert`` / ``budget.exceeded`` (and ``quota.exceeded``) events.

If shared state (Redis) is unreachable, calls are admitted unchecked (fail-open, the default) or
refused with 503 (fail-closed); either way the ``tollgate_limits_unavailable`` metric counts it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from tollgate.core import jsonx
from tollgate.core.clock import Clock
from tollgate.core.errors import PaymentRequired, RateLimited, StateUnavailable
from tollgate.core.money import format_usd
from tollgate.gateway.call import GatewayCall
from tollgate.gateway.metrics import GatewayMetrics
from tollgate.gateway.ticket import Ticket
from tollgate.gateway.worst_case import HoldPricer, input_tokens, output_tokens
from tollgate.pricing.prices import PriceBook
from tollgate.services.budgets.accounts import Books, Line, budget_line, quota_line
from tollgate.services.budgets.periods import Windows
from tollgate.services.budgets.quota import announce_quota, quota_exceeded
from tollgate.services.events import Events
from tollgate.services.limits.counters import Decision, LimitCounters, Status, Take
from tollgate.services.limits.ledger import Settled
from tollgate.services.state import LiveState
from tollgate.store.records import Budget, Limits, UsageRecord

log = logging.getLogger("tollgate.limits")

MINUTE_MS: Final = 60_000
DAY_MS: Final = 86_400_000
_WARN_EVERY_S: Final = 60.0


@dataclass(frozen=True, slots=True)
class HoldPolicy:
    output_tokens: int  # a hold's output when the request sets no cap
    unpriced_nanos: int  # the hold for a model with no known price
    ttl_ms: int  # an unsettled hold is dropped after this
    fail_open: bool


def _takes(prefix: str, limits: Limits, tokens: int, split: int) -> list[Take]:
    """``split``: processes that each enforce their share of the limit (``Books.split``)."""
    takes = []
    if limits.requests_per_minute:
        takes.append(Take(f"{prefix}:rpm", max(1, limits.requests_per_minute // split), MINUTE_MS))
    if limits.requests_per_day:
        takes.append(Take(f"{prefix}:rpd", max(1, limits.requests_per_day // split), DAY_MS))
    if limits.tokens_per_minute:
        takes.append(Take(f"{prefix}:tpm", max(1, limits.tokens_per_minute // split), MINUTE_MS, tokens))
    return takes


def _seconds(ms: int) -> int:
    return -(-ms // 1000)


def rate_headers(decision: Decision) -> tuple[tuple[str, str], ...]:
    """The limit that binds: the refusing one with the longest wait, else the one nearest empty."""
    statuses = decision.statuses
    if not statuses:
        return ()
    if decision.allowed:
        shown: Status = min(statuses, key=lambda s: (s.remaining / s.limit, s.remaining))
    else:
        shown = max(statuses, key=lambda s: s.retry_after_ms)
    return (
        ("x-ratelimit-limit", str(shown.limit)),
        ("x-ratelimit-remaining", str(shown.remaining)),
        ("x-ratelimit-reset", str(_seconds(shown.reset_ms))),
    )


def _covers(budget: Budget, call: GatewayCall) -> bool:
    if budget.scope_type == "workspace":
        return True
    if budget.scope_type == "key":
        return budget.scope_id == call.key.id
    if budget.scope_type == "feature":
        return budget.scope_id == call.tags.feature
    return budget.scope_id == call.tags.customer_id


class Admission:
    def __init__(
        self,
        counters: LimitCounters,
        books: Books,
        state: LiveState,
        prices: PriceBook,
        clock: Clock,
        policy: HoldPolicy,
        metrics: GatewayMetrics,
        events: Events | None = None,
    ) -> None:
        self._counters = counters
        self._books = books
        self._state = state
        self._pricer = HoldPricer(prices, state, clock)
        self._windows = Windows()
        self._clock = clock
        self._policy = policy
        self._metrics = metrics
        self._events = events
        self._tasks: set[asyncio.Task[None]] = set()
        self._warned_at: float | None = None
        self._unchecked: set[str] = set()  # workspaces admitted unchecked since last drained

    async def admit(self, call: GatewayCall) -> Ticket | None:
        """Reserve what the call may use, or raise ``RateLimited`` (429), ``QuotaExceeded`` or
        ``PaymentRequired(budget_exceeded)`` (402). None when nothing applies to the call."""
        workspace_limits = self._state.limits_of(call.workspace_id)
        key_limits = call.key.limits
        budgets = [b for b in self._state.budgets_of(call.workspace_id) if _covers(b, call)]
        if workspace_limits is None and key_limits is None and not budgets:
            return None
        needs_tokens = any(lim and lim.tokens_per_minute for lim in (workspace_limits, key_limits)) or any(
            b.action == "block" for b in budgets
        )
        body, request_bytes = _body_of(call) if needs_tokens else (None, 0)
        estimate_in = input_tokens(request_bytes)
        estimate_out = output_tokens(call.operation, body, self._policy.output_tokens)
        takes = []
        split = self._books.split
        if workspace_limits is not None:
            takes += _takes(f"{{{call.workspace_id}}}:w", workspace_limits, estimate_in + estimate_out, split)
        if key_limits is not None:
            takes += _takes(
                f"{{{call.workspace_id}}}:k:{call.key.id}", key_limits, estimate_in + estimate_out, split
            )
        try:
            headers = await self._take(takes)
        except StateUnavailable:
            self._unavailable(call.workspace_id)
            return None
        lines, owners = self._lines(call, workspace_limits, budgets, estimate_in, estimate_out)
        try:
            reservation = await self._books.reserve(call.request_id, lines, self._policy.ttl_ms)
        except StateUnavailable:
            if not self._policy.fail_open:
                await self._give_back(takes)
            self._unavailable(call.workspace_id)  # raises when failing closed
            lines, owners = [], []
        else:
            if reservation.missing:
                await self._give_back(takes)
                raise StateUnavailable("a ledger account vanished while it was being opened; try again")
            if not reservation.allowed:
                await self._give_back(takes)
                raise self._refusal(reservation.refused[0], owners, lines)
        token_takes = tuple(t for t in takes if t.key.endswith(":tpm"))
        return Ticket(
            call.request_id, token_takes, estimate_in + estimate_out, tuple(lines), tuple(owners), headers
        )

    async def _take(self, takes: Sequence[Take]) -> tuple[tuple[str, str], ...]:
        if not takes:
            return ()
        decision = await self._counters.take(takes, self._now_us())
        headers = rate_headers(decision)
        if not decision.allowed:
            self._metrics.refused.labels("rate_limited").inc()
            retry = max(1, _seconds(decision.retry_after_ms))
            raise RateLimited("Rate limit exceeded.", details={"retryAfter": retry}, headers=headers)
        return headers

    def _lines(
        self,
        call: GatewayCall,
        limits: Limits | None,
        budgets: Sequence[Budget],
        estimate_in: int,
        estimate_out: int,
    ) -> tuple[list[Line], list[Budget | None]]:
        now = self._clock.now()
        lines: list[Line] = []
        owners: list[Budget | None] = []
        if limits is not None and limits.monthly_requests:
            lines.append(quota_line(call.workspace_id, limits.monthly_requests, now, self._books.split))
            owners.append(None)
        if budgets:
            hold = (
                self._worst_case(call, estimate_in, estimate_out)
                if any(b.action == "block" for b in budgets)
                else 0
            )
            zone = self._state.zone_of(call.workspace_id)
            for budget in budgets:
                amount = hold if budget.action == "block" else 0
                span = self._windows.at(budget.period, now, zone)
                lines.append(budget_line(budget, now, span, amount, self._books.split))
                owners.append(budget)
        return lines, owners

    def _worst_case(self, call: GatewayCall, estimate_in: int, estimate_out: int) -> int:
        """The call's cost if it used all it may (``HoldPricer``), or the unpriced default."""
        hold = self._pricer.hold(call.workspace_id, call.spec.id, call.model, estimate_in, estimate_out)
        return self._policy.unpriced_nanos if hold is None else hold

    def _refusal(self, index: int, owners: Sequence[Budget | None], lines: Sequence[Line]) -> PaymentRequired:
        budget = owners[index]
        if budget is None:
            self._metrics.refused.labels("quota_exceeded").inc()
            return quota_exceeded(lines[index].account.limit or 0)
        self._metrics.refused.labels("budget_exceeded").inc()
        return PaymentRequired(
            "Budget exceeded: this call's worst-case cost does not fit in the remaining budget.",
            code="budget_exceeded",
            details={
                "budgetId": budget.id,
                "limitUsd": format_usd(budget.limit_nanos),
                "period": budget.period,
            },
        )

    async def _give_back(self, takes: Sequence[Take]) -> None:
        now = self._now_us()
        try:
            for take in takes:
                await self._counters.settle(take, -take.amount, now)
        except StateUnavailable:
            pass  # the units come back with time

    def _unavailable(self, workspace_id: str) -> None:
        policy = "open" if self._policy.fail_open else "closed"
        self._metrics.limits_unavailable.labels(policy).inc()
        if self._policy.fail_open:
            self._unchecked.add(workspace_id)
        now = self._clock.monotonic()
        if self._warned_at is None or now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning(
                "limit state (Redis) unreachable: calls are %s",
                "admitted unchecked" if self._policy.fail_open else "refused",
            )
        if not self._policy.fail_open:
            raise StateUnavailable(
                "limits cannot be checked right now (shared state unreachable); try again shortly"
            )

    def settle(self, ticket: Ticket, record: UsageRecord) -> None:
        """Settle in the background: the answer never waits for it."""
        task = asyncio.get_running_loop().create_task(self._settle(ticket, record))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, ticket: Ticket, record: UsageRecord) -> None:
        try:
            now = self._now_us()
            correction = record.total_tokens - ticket.estimate_tokens
            for take in ticket.token_takes:
                await self._counters.settle(take, correction, now)
            reached_upstream = record.ttfb_ms is not None
            actuals = [
                (1 if reached_upstream else 0) if budget is None else (record.cost_nanos or 0)
                for budget in ticket.budgets
            ]
            if not ticket.lines:
                return
            items = [(line.account, actual) for line, actual in zip(ticket.lines, actuals, strict=True)]
            settled = await self._books.ledger.settle(ticket.hold_id, items, self._books.now_ms())
            self._announce(record.workspace_id, ticket, settled)
        except StateUnavailable:
            self._metrics.limits_unavailable.labels("settle").inc()
        except Exception:  # a background task: log, never lose the loop
            log.exception("settling a call's limits failed")

    def _announce(self, workspace_id: str, ticket: Ticket, settled: Sequence[Settled | None]) -> None:
        if self._events is None:
            return
        for budget, line, result in zip(ticket.budgets, ticket.lines, settled, strict=True):
            if result is None or result.used_after == result.used_before:
                continue
            if budget is None:
                announce_quota(self._events, workspace_id, line.account.limit, result)
                continue
            for threshold in budget.thresholds:
                mark = budget.limit_nanos * threshold
                if result.used_before < mark <= result.used_after:
                    self._events.emit(workspace_id, "budget.alert", _budget_data(budget, result, threshold))
            if result.used_before < budget.limit_nanos <= result.used_after:
                self._events.emit(workspace_id, "budget.exceeded", _budget_data(budget, result, None))

    def drain_unchecked(self) -> set[str]:
        """The workspaces whose calls were admitted unchecked since the last drain (for alerts)."""
        drained, self._unchecked = self._unchecked, set()
        return drained

    async def aclose(self) -> None:
        """Let pending settlements finish (on shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _now_us(self) -> int:
        return int(self._clock.now().timestamp() * 1_000_000)


def _budget_data(budget: Budget, result: Settled, threshold: float | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "budgetId": budget.id,
        "name": budget.name,
        "scope": {"type": budget.scope_type, "id": budget.scope_id},
        "period": budget.period,
        "limitUsd": format_usd(budget.limit_nanos),
        "currentSpendUsd": format_usd(result.used_after),
        "action": budget.action,
    }
    if threshold is not None:
        data["threshold"] = threshold
    return data


def _body_of(call: GatewayCall) -> tuple[Mapping[str, Any] | None, int]:
    """The request as JSON (for its output cap) and its size in bytes."""
    if call.body is not None:
        return call.body, len(jsonx.dumps(call.body))
    raw = call.raw_body or b""
    try:
        parsed = jsonx.loads(raw) if raw else None
    except jsonx.JSONDecodeError:
        parsed = None
    return (parsed if isinstance(parsed, dict) else None), len(raw)
