"""``/v1/keys``: gateway keys. The raw key appears once, in the create and rotate answers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.management.schemas import KeyIn, KeyOut, KeyPatch, MintedKeyOut, Page
from tollgate.routes.wiring import context_of
from tollgate.services.limits.plans import limits_json
from tollgate.store.records import GatewayKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])
Who = Annotated[Principal, Depends(principal)]

_PATCH_FIELDS = {
    "name": "name",
    "scopes": "scopes",
    "status": "status",
    "expiresAt": "expires_at",
    "allowedProviders": "allowed_providers",
    "allowedModels": "allowed_models",
    "metadata": "metadata",
    "limits": "limits",
}


def key_json(key: GatewayKey, raw: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": key.id,
        "workspaceId": key.workspace_id,
        "name": key.name,
        "preview": key.preview,
        "scopes": list(key.scopes),
        "status": key.status,
        "createdAt": key.created_at,
        "updatedAt": key.updated_at,
        "expiresAt": key.expires_at,
        "allowedProviders": list(key.allowed_providers) if key.allowed_providers is not None else None,
        "allowedModels": list(key.allowed_models) if key.allowed_models is not None else None,
        "metadata": dict(key.metadata),
        "limits": limits_json(key.limits, quota=False),
    }
    if raw is not None:
        data["key"] = raw
    return data


@router.post("", status_code=201, response_model=MintedKeyOut)
async def create_key(body: KeyIn, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    minted = await context_of(request).keys.create(
        workspace_id,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expiresAt,
        metadata=body.metadata,
        allowed_providers=body.allowedProviders,
        allowed_models=body.allowedModels,
        limits=body.limits,
    )
    return key_json(minted.key, minted.raw)


@router.get("", response_model=Page)
async def list_keys(request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    keys = await context_of(request).keys.list(workspace_id)
    return {"data": [key_json(k) for k in keys], "nextCursor": None}


@router.get("/{key_id}", response_model=KeyOut)
async def get_key(key_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    return key_json(await context_of(request).keys.get(workspace_id, key_id))


@router.patch("/{key_id}", response_model=KeyOut)
async def update_key(key_id: str, body: KeyPatch, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    changes = {_PATCH_FIELDS[k]: v for k, v in body.model_dump(exclude_unset=True).items()}
    return key_json(await context_of(request).keys.update(workspace_id, key_id, **changes))


@router.delete("/{key_id}", response_model=KeyOut)
async def revoke_key(key_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    return key_json(await context_of(request).keys.revoke(workspace_id, key_id))


@router.post("/{key_id}/rotate", response_model=MintedKeyOut)
async def rotate_key(key_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    minted = await context_of(request).keys.rotate(workspace_id, key_id)
    return key_json(minted.key, minted.raw)
