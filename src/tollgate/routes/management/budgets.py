"""``/v1/budgets`` (native, camelCase) and seed 003's ``/api/budgets`` (snake_case), one service.

A budget answer carries its live spend in the current period: ``currentSpend`` is what settled
calls cost, ``heldSpend`` what calls in flight hold against it right now.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from tollgate.core.errors import BadRequest
from tollgate.core.money import format_usd, nanos_to_usd, usd_to_nanos
from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.wiring import context_of
from tollgate.services.budgets.service import BudgetService, BudgetView
from tollgate.services.limits.plans import PLANS, limits_json

router = APIRouter(tags=["budgets"])
Who = Annotated[Principal, Depends(principal)]
JsonObject = Annotated[dict[str, Any], Body()]


def _service(request: Request) -> BudgetService:
    return context_of(request).budgets


def budget_json(view: BudgetView) -> dict[str, Any]:
    b, balance = view.budget, view.balance
    return {
        "id": b.id,
        "workspaceId": b.workspace_id,
        "name": b.name,
        "scope": {"type": b.scope_type, "id": b.scope_id},
        "period": b.period,
        "limitUsd": format_usd(b.limit_nanos),
        "thresholds": list(b.thresholds),
        "action": b.action,
        "currentSpend": format_usd(balance.used),
        "heldSpend": format_usd(balance.held),
        "remaining": format_usd(max(0, b.limit_nanos - balance.used - balance.held)),
        "periodStart": view.period_start,
        "periodEnd": view.period_end,
        "createdAt": b.created_at,
        "updatedAt": b.updated_at,
    }


@router.post("/v1/budgets", status_code=201)
async def create_budget(body: JsonObject, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    service = _service(request)
    budget = await service.create(workspace_id, body)
    return budget_json((await service.views([budget]))[0])


@router.get("/v1/budgets")
async def list_budgets(request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "read")
    service = _service(request)
    views = await service.views(await service.list(workspace_id))
    return {"data": [budget_json(v) for v in views], "nextCursor": None}


@router.get("/v1/budgets/{budget_id}")
async def get_budget(budget_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "read")
    service = _service(request)
    return budget_json((await service.views([await service.get(workspace_id, budget_id)]))[0])


@router.patch("/v1/budgets/{budget_id}")
async def update_budget(budget_id: str, body: JsonObject, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    service = _service(request)
    budget = await service.update(workspace_id, budget_id, body)
    return budget_json((await service.views([budget]))[0])


@router.delete("/v1/budgets/{budget_id}", status_code=204)
async def delete_budget(budget_id: str, request: Request, who: Who) -> Response:
    workspace_id = await workspace_for(request, who, "admin")
    await _service(request).delete(workspace_id, budget_id)
    return Response(status_code=204)


@router.get("/v1/plans")
async def list_plans(request: Request, who: Who) -> dict[str, Any]:
    await workspace_for(request, who, "read")
    return {"data": [{"id": name, "limits": limits_json(limits)} for name, limits in PLANS.items()]}


# Seed 003: amounts are JSON numbers in USD, ``type`` is the period, ``alert_threshold`` a fraction.


def _usd_number(nanos: int) -> float:
    return float(nanos_to_usd(nanos))


def seed_budget_json(view: BudgetView) -> dict[str, Any]:
    b, balance = view.budget, view.balance
    alert = min((t for t in b.thresholds if t < 1), default=None)
    return {
        "id": b.id,
        "user_id": b.workspace_id,
        "type": b.period,
        "budget_limit": _usd_number(b.limit_nanos),
        "current_spend": _usd_number(balance.used),
        "alert_threshold": alert,
        "status": "exceeded" if balance.used >= b.limit_nanos else "active",
        "notification_channels": ["webhook"],
        "scope": {"type": b.scope_type, "id": b.scope_id},
        "action": b.action,
        "created_at": b.created_at,
        "updated_at": b.updated_at,
    }


def _native_body(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """Seed 003's fields onto the native ones (unknown seed fields such as channels are ignored)."""
    native: dict[str, Any] = {}
    if "type" in body or creating:
        native["period"] = body.get("type", "monthly")
    if "budget_limit" in body:
        native["limitUsd"] = _seed_amount(body["budget_limit"])
    if "alert_threshold" in body:
        threshold = body["alert_threshold"]
        native["thresholds"] = [threshold, 1.0] if threshold is not None else [1.0]
    if "scope" in body or creating:
        native["scope"] = body.get("scope", {"type": "workspace"})
    if "action" in body:
        native["action"] = body["action"]
    if "name" in body:
        native["name"] = body["name"]
    if creating and "limitUsd" not in native:
        raise BadRequest("budget_limit is required", code="invalid_request")
    return native


def _seed_amount(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadRequest("budget_limit must be a positive number of US dollars", code="invalid_limit")
    return str(value)


@router.get("/api/budgets")
async def seed_list(request: Request, who: Who) -> list[dict[str, Any]]:
    workspace_id = await workspace_for(request, who, "read")
    service = _service(request)
    return [seed_budget_json(v) for v in await service.views(await service.list(workspace_id))]


@router.post("/api/budgets", status_code=201)
async def seed_create(body: JsonObject, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    service = _service(request)
    budget = await service.create(workspace_id, _native_body(body, creating=True))
    return seed_budget_json((await service.views([budget]))[0])


@router.put("/api/budgets/{budget_id}")
async def seed_update(budget_id: str, body: JsonObject, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    service = _service(request)
    budget = await service.update(workspace_id, budget_id, _native_body(body, creating=False))
    return seed_budget_json((await service.views([budget]))[0])


@router.delete("/api/budgets/{budget_id}")
async def seed_delete(budget_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    await _service(request).delete(workspace_id, budget_id)
    return {"success": True, "id": budget_id}


@router.post("/api/budgets/check")
async def seed_check(body: JsonObject, request: Request, who: Who) -> dict[str, Any]:
    """Would a call of ``estimated_cost`` USD (for this ``key_id``, ``feature`` and
    ``customer_id``, all optional) fit every blocking budget that covers it right now?"""
    workspace_id = await workspace_for(request, who, "read")
    cost = body.get("estimated_cost", 0)
    if isinstance(cost, bool) or not isinstance(cost, int | float) or cost < 0:
        raise BadRequest("estimated_cost must be a non-negative number of US dollars", code="invalid_request")
    service = _service(request)
    covering = service.covering(
        workspace_id,
        key_id=_optional_text(body, "key_id"),
        feature=_optional_text(body, "feature"),
        customer_id=_optional_text(body, "customer_id"),
    )
    views = await service.views(covering)
    amount = usd_to_nanos(Decimal(str(cost)))
    budgets = []
    allowed = True
    for view in views:
        b, balance = view.budget, view.balance
        fits = balance.used + balance.held + amount <= b.limit_nanos
        allowed = allowed and (fits or b.action != "block")
        budgets.append(
            {
                "id": b.id,
                "type": b.period,
                "budget_limit": _usd_number(b.limit_nanos),
                "current_spend": _usd_number(balance.used),
                "remaining": _usd_number(max(0, b.limit_nanos - balance.used - balance.held)),
                "action": b.action,
                "allowed": fits,
            }
        )
    return {"allowed": allowed, "estimated_cost": cost, "budgets": budgets}


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"{name} must be a string", code="invalid_request")
    return value
