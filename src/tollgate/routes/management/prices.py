"""``/v1/prices``: a workspace's own prices (overrides and custom models), USD per million tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.management.schemas import Page, PriceIn, PriceOut
from tollgate.routes.wiring import context_of
from tollgate.store.records import PriceOverride

router = APIRouter(prefix="/v1/prices", tags=["prices"])
Who = Annotated[Principal, Depends(principal)]


def price_json(price: PriceOverride) -> dict[str, Any]:
    return {
        "id": price.id,
        "provider": price.provider,
        "model": price.model,
        "inputPerMTok": price.input_per_mtok,
        "outputPerMTok": price.output_per_mtok,
        "cacheReadPerMTok": price.cache_read_per_mtok,
        "cacheWritePerMTok": price.cache_write_per_mtok,
        "createdAt": price.created_at,
        "updatedAt": price.updated_at,
    }


@router.post(
    "",
    status_code=201,
    response_model=PriceOut,
    responses={200: {"model": PriceOut, "description": "The existing price was replaced"}},
)
async def upsert_price(body: PriceIn, request: Request, response: Response, who: Who) -> dict[str, Any]:
    """Create or replace the workspace's price for (provider, model): 201 when new, 200 when replaced."""
    workspace_id = await workspace_for(request, who, "admin")
    saved, created = await context_of(request).price_overrides.upsert(
        workspace_id, body.model_dump(exclude_unset=True)
    )
    if not created:
        response.status_code = 200
    return price_json(saved)


@router.get("", response_model=Page)
async def list_prices(request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "read")
    items = await context_of(request).price_overrides.list(workspace_id)
    return {"data": [price_json(p) for p in items], "nextCursor": None}


@router.get("/{price_id}", response_model=PriceOut)
async def get_price(price_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "read")
    return price_json(await context_of(request).price_overrides.get(workspace_id, price_id))


@router.delete("/{price_id}", status_code=204)
async def delete_price(price_id: str, request: Request, who: Who) -> Response:
    workspace_id = await workspace_for(request, who, "admin")
    await context_of(request).price_overrides.delete(workspace_id, price_id)
    return Response(status_code=204)
