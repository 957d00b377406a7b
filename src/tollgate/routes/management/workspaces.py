"""``/v1/workspaces``: create and list need the admin token; a key sees its own workspace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from tollgate.core.errors import Forbidden
from tollgate.routes.management.auth import Principal, principal, require_superuser
from tollgate.routes.management.schemas import Page, WorkspaceIn, WorkspaceOut, WorkspacePatch
from tollgate.routes.wiring import context_of
from tollgate.store.records import Workspace

router = APIRouter(prefix="/v1/workspaces", tags=["workspaces"])
Who = Annotated[Principal, Depends(principal)]


def workspace_json(ws: Workspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "name": ws.name,
        "settings": dict(ws.settings),
        "createdAt": ws.created_at,
        "updatedAt": ws.updated_at,
    }


def _own(who: Principal, workspace_id: str, scope: str) -> None:
    if who.superuser:
        return
    if who.key is None or who.key.workspace_id != workspace_id or scope not in who.key.scopes:
        raise Forbidden("a gateway key may only act on its own workspace", code="wrong_workspace")


@router.post("", status_code=201, response_model=WorkspaceOut)
async def create_workspace(body: WorkspaceIn, request: Request, who: Who) -> dict[str, Any]:
    require_superuser(who)
    ws = await context_of(request).workspaces.create(body.name, body.settings)
    return workspace_json(ws)


@router.get("", response_model=Page)
async def list_workspaces(
    request: Request,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    service = context_of(request).workspaces
    if who.key is not None:
        _own(who, who.key.workspace_id, "read")
        return {"data": [workspace_json(await service.get(who.key.workspace_id))], "nextCursor": None}
    items, next_cursor = await service.list(limit, cursor)
    return {"data": [workspace_json(ws) for ws in items], "nextCursor": next_cursor}


@router.get("/{workspace_id}", response_model=WorkspaceOut)
async def get_workspace(workspace_id: str, request: Request, who: Who) -> dict[str, Any]:
    _own(who, workspace_id, "read")
    return workspace_json(await context_of(request).workspaces.get(workspace_id))


@router.patch("/{workspace_id}", response_model=WorkspaceOut)
async def update_workspace(
    workspace_id: str, body: WorkspacePatch, request: Request, who: Who
) -> dict[str, Any]:
    _own(who, workspace_id, "admin")
    changes = body.model_dump(exclude_unset=True)
    return workspace_json(await context_of(request).workspaces.update(workspace_id, changes))


@router.delete("/{workspace_id}", status_code=204)
async def delete_workspace(workspace_id: str, request: Request, who: Who) -> Response:
    require_superuser(who)
    await context_of(request).workspaces.delete(workspace_id)
    return Response(status_code=204)
