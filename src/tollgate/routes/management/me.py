"""``/v1/me``: who the caller is, for the command line's ``login`` and ``whoami``.

Authentication only: any active gateway key may ask (whatever its scopes), and so may the
admin token. The answer never holds the key itself or its hash, only its preview.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from tollgate.core.errors import Forbidden
from tollgate.routes.management.auth import Principal, principal
from tollgate.routes.wiring import context_of
from tollgate.store.records import GatewayKey, Workspace

router = APIRouter(tags=["me"])
Who = Annotated[Principal, Depends(principal)]


def workspace_json(workspace: Workspace) -> dict[str, Any]:
    return {
        "id": workspace.id,
        "name": workspace.name,
        "timeZone": workspace.settings.get("timeZone", "UTC"),
    }


def key_summary_json(key: GatewayKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "preview": key.preview,
        "scopes": list(key.scopes),
        "status": key.status,
    }


@router.get("/v1/me")
async def me(request: Request, who: Who) -> dict[str, Any]:
    """The caller: the admin token (with the workspace its ``x-tollgate-workspace`` header
    names, if any) or a gateway key with its workspace."""
    workspaces = context_of(request).workspaces
    if who.key is None:  # the admin token: principal() refuses every other caller without a key
        named = who.workspace_header
        workspace = await workspaces.get(named) if named else None  # an unknown one is a 404
        return {
            "kind": "admin",
            "workspace": workspace_json(workspace) if workspace else None,
            "key": None,
        }
    if who.workspace_header and who.workspace_header != who.key.workspace_id:
        raise Forbidden("a gateway key acts only on its own workspace", code="wrong_workspace")
    return {
        "kind": "key",
        "workspace": workspace_json(await workspaces.get(who.key.workspace_id)),
        "key": key_summary_json(who.key),
    }
