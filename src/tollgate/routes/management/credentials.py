"""``/v1/provider-credentials``: strict BYOK. Reads show ``last4``, never the secret."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.management.schemas import (
    CredentialIn,
    CredentialOut,
    CredentialPatch,
    CredentialTestOut,
    Page,
)
from tollgate.routes.wiring import context_of
from tollgate.services.credential_check import check_credential
from tollgate.store.records import ProviderCredential

router = APIRouter(prefix="/v1/provider-credentials", tags=["provider credentials"])
Who = Annotated[Principal, Depends(principal)]


def credential_json(cred: ProviderCredential) -> dict[str, Any]:
    return {
        "id": cred.id,
        "workspaceId": cred.workspace_id,
        "provider": cred.provider,
        "name": cred.name,
        "last4": cred.last4,
        "config": dict(cred.config),
        "isDefault": cred.is_default,
        "status": cred.status,
        "createdAt": cred.created_at,
        "updatedAt": cred.updated_at,
    }


@router.post("", status_code=201, response_model=CredentialOut)
async def create_credential(body: CredentialIn, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    created = await context_of(request).credentials.create(workspace_id, body.model_dump(exclude_unset=True))
    return credential_json(created)


@router.get("", response_model=Page)
async def list_credentials(request: Request, who: Who, provider: str | None = None) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    items = await context_of(request).credentials.list(workspace_id, provider)
    return {"data": [credential_json(c) for c in items], "nextCursor": None}


@router.get("/{credential_id}", response_model=CredentialOut)
async def get_credential(credential_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    return credential_json(await context_of(request).credentials.get(workspace_id, credential_id))


@router.patch("/{credential_id}", response_model=CredentialOut)
async def update_credential(
    credential_id: str, body: CredentialPatch, request: Request, who: Who
) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    changes = body.model_dump(exclude_unset=True)
    return credential_json(await context_of(request).credentials.update(workspace_id, credential_id, changes))


@router.delete("/{credential_id}", status_code=204)
async def delete_credential(credential_id: str, request: Request, who: Who) -> Response:
    workspace_id = await workspace_for(request, who, "admin")
    await context_of(request).credentials.delete(workspace_id, credential_id)
    return Response(status_code=204)


@router.post("/{credential_id}/test", response_model=CredentialTestOut)
async def test_credential(credential_id: str, request: Request, who: Who) -> dict[str, Any]:
    ctx = context_of(request)
    workspace_id = await workspace_for(request, who, "admin")
    credential = await ctx.credentials.get(workspace_id, credential_id)
    result = await check_credential(ctx.credentials.open(credential), ctx.gateway.authorizer.send, ctx.clock)
    return {
        "ok": result.ok,
        "provider": result.provider,
        "status": result.status,
        "latencyMs": result.latency_ms,
        "reason": result.reason,
    }
