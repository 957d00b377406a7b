"""``GET /v1/alerts``: anomalies and unchecked admissions, newest first."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.wiring import context_of
from tollgate.store.records import Alert

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
Who = Annotated[Principal, Depends(principal)]


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "workspaceId": alert.workspace_id,
        "kind": alert.kind,
        "scope": {"type": alert.scope_type, "id": alert.scope_id},
        "status": alert.status,
        "openedAt": alert.opened_at,
        "resolvedAt": alert.resolved_at,
        "data": dict(alert.data),
    }


@router.get("")
async def list_alerts(
    request: Request,
    who: Who,
    status: Literal["open", "resolved"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "read")
    alerts = await context_of(request).store.alerts.list(workspace_id, status, limit)
    return {"data": [alert_json(a) for a in alerts], "nextCursor": None}
