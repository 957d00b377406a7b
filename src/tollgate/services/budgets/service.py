"""Budgets: validation and lifecycle. Every change reaches the hot path through ``LiveState``.

Defined behaviour for changes to a live budget: a new limit, thresholds or action apply to the
very next call; a new period or scope starts counting afresh from the recorded usage of the new
period and scope (the spend is recomputed, not carried over).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Final, cast

from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, NotFound
from tollgate.core.ids import IdFactory
from tollgate.core.money import parse_usd, usd_to_nanos
from tollgate.services.budgets.accounts import Books, budget_line
from tollgate.services.budgets.periods import PERIODS, window
from tollgate.services.limits.ledger import Balance
from tollgate.services.state import LiveState
from tollgate.store.budgets import BudgetList
from tollgate.store.records import Budget, BudgetAction, BudgetPeriod, BudgetScope
from tollgate.store.repos import Store

SCOPES: Final = ("workspace", "key", "feature", "customer")
ACTIONS: Final = ("block", "alert")
MAX_LIMIT_USD: Final = Decimal(1_000_000)
MAX_THRESHOLDS: Final = 10
DEFAULT_THRESHOLDS: Final = (0.5, 0.8, 1.0)


@dataclass(frozen=True, slots=True)
class BudgetView:
    budget: Budget
    balance: Balance  # spent (settled) and held (calls in flight) this period
    period_start: str | None
    period_end: str | None


def _scope(value: object) -> tuple[BudgetScope, str | None]:
    if not isinstance(value, Mapping):
        raise BadRequest('scope must be an object such as {"type": "workspace"}', code="invalid_scope")
    kind = value.get("type")
    if kind not in SCOPES:
        raise BadRequest(f"scope.type must be one of {', '.join(SCOPES)}", code="invalid_scope")
    scope_id = value.get("id")
    if kind == "workspace":
        if scope_id is not None:
            raise BadRequest("a workspace budget has no scope.id", code="invalid_scope")
        return "workspace", None
    if not isinstance(scope_id, str) or not scope_id.strip() or len(scope_id) > 200:
        raise BadRequest(f"a {kind} budget needs scope.id, a non-empty string", code="invalid_scope")
    return cast(BudgetScope, kind), scope_id.strip()


def _period(value: object) -> BudgetPeriod:
    if value not in PERIODS:
        raise BadRequest(f"period must be one of {', '.join(PERIODS)}", code="invalid_period")
    return value


def _limit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest('limitUsd must be a positive decimal string such as "10.00"', code="invalid_limit")
    try:
        amount = parse_usd(str(value))
    except ValueError:
        amount = Decimal(0)
    if amount <= 0 or amount > MAX_LIMIT_USD:
        raise BadRequest(f"limitUsd must be more than 0 and at most {MAX_LIMIT_USD}", code="invalid_limit")
    nanos = usd_to_nanos(amount)
    if nanos <= 0:
        raise BadRequest("limitUsd must be at least 0.000000001", code="invalid_limit")
    return nanos


def _thresholds(value: object) -> tuple[float, ...]:
    if not isinstance(value, list) or len(value) > MAX_THRESHOLDS:
        raise BadRequest(
            f"thresholds must be a list of at most {MAX_THRESHOLDS} fractions", code="invalid_thresholds"
        )
    out: set[float] = set()
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float) or not 0 < item <= 1:
            raise BadRequest("each threshold must be a fraction in (0, 1]", code="invalid_thresholds")
        out.add(float(item))
    return tuple(sorted(out))


def _action(value: object) -> BudgetAction:
    if value not in ACTIONS:
        raise BadRequest("action must be block or alert", code="invalid_action")
    return value


def _name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 200:
        raise BadRequest("name must be a string of at most 200 characters", code="invalid_name")
    return value.strip() or None


_FIELDS: Final = ("name", "scope", "period", "limitUsd", "thresholds", "action")


def _known(body: Mapping[str, Any]) -> None:
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise BadRequest(f"unknown budget fields: {', '.join(unknown)}", code="invalid_request")


class BudgetService:
    def __init__(self, store: Store, state: LiveState, books: Books, clock: Clock, ids: IdFactory) -> None:
        self._store = store
        self._state = state
        self._books = books
        self._clock = clock
        self._ids = ids

    async def create(self, workspace_id: str, body: Mapping[str, Any]) -> Budget:
        _known(body)
        for required in ("scope", "period", "limitUsd"):
            if required not in body:
                raise BadRequest(f"{required} is required", code="invalid_request")
        scope_type, scope_id = _scope(body["scope"])
        now = self._clock.now()
        budget = Budget(
            id=self._ids.new("bud"),
            workspace_id=workspace_id,
            name=_name(body.get("name")),
            scope_type=scope_type,
            scope_id=scope_id,
            period=_period(body["period"]),
            limit_nanos=_limit(body["limitUsd"]),
            thresholds=_thresholds(body["thresholds"])
            if body.get("thresholds") is not None
            else DEFAULT_THRESHOLDS,
            action=_action(body.get("action", "block")),
            created_at=now,
            updated_at=now,
        )
        await self._store.budgets.create(budget)
        await self._state.changed()
        return budget

    async def get(self, workspace_id: str, budget_id: str) -> Budget:
        budget = await self._store.budgets.get(workspace_id, budget_id)
        if budget is None:
            raise NotFound(f"budget {budget_id} not found", code="budget_not_found")
        return budget

    async def list(self, workspace_id: str) -> BudgetList:
        return await self._store.budgets.list(workspace_id)

    async def update(self, workspace_id: str, budget_id: str, body: Mapping[str, Any]) -> Budget:
        _known(body)
        current = await self.get(workspace_id, budget_id)
        changes: dict[str, Any] = {"updated_at": self._clock.now()}
        if "name" in body:
            changes["name"] = _name(body["name"])
        if "scope" in body:
            changes["scope_type"], changes["scope_id"] = _scope(body["scope"])
        if "period" in body:
            changes["period"] = _period(body["period"])
        if "limitUsd" in body:
            changes["limit_nanos"] = _limit(body["limitUsd"])
        if "thresholds" in body:
            changes["thresholds"] = _thresholds(body["thresholds"] if body["thresholds"] is not None else [])
        if "action" in body:
            changes["action"] = _action(body["action"])
        updated = await self._store.budgets.replace(replace(current, **changes))
        if updated is None:
            raise NotFound(f"budget {budget_id} not found", code="budget_not_found")
        await self._state.changed()
        return updated

    async def delete(self, workspace_id: str, budget_id: str) -> None:
        if not await self._store.budgets.delete(workspace_id, budget_id):
            raise NotFound(f"budget {budget_id} not found", code="budget_not_found")
        await self._state.changed()

    def covering(
        self, workspace_id: str, *, key_id: str | None, feature: str | None, customer_id: str | None
    ) -> BudgetList:
        """The workspace's budgets that a call with these tags would count against."""
        wanted = {"key": key_id, "feature": feature, "customer": customer_id}
        return [
            b
            for b in self._state.budgets_of(workspace_id)
            if b.scope_type == "workspace" or (b.scope_id is not None and b.scope_id == wanted[b.scope_type])
        ]

    async def views(self, budgets: Sequence[Budget]) -> tuple[BudgetView, ...]:
        """The budgets with their live spend in the current period."""
        now = self._clock.now()
        windows = [window(b.period, now, self._state.zone_of(b.workspace_id)) for b in budgets]
        lines = [budget_line(b, now, w) for b, w in zip(budgets, windows, strict=True)]
        balances = await self._books.balances(lines) if lines else ()
        return tuple(
            BudgetView(
                b,
                balance,
                w.start.isoformat() if w.start else None,
                w.end.isoformat() if w.end else None,
            )
            for b, w, balance in zip(budgets, windows, balances, strict=True)
        )
