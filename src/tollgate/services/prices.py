"""Workspace price overrides and custom models (``/v1/prices``), in USD per million tokens."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, NotFound
from tollgate.core.ids import IdFactory
from tollgate.core.money import parse_usd
from tollgate.services.credentials import supported_spec
from tollgate.services.state import LiveState
from tollgate.store.records import PriceOverride
from tollgate.store.repos import Store

PRICE_FIELDS = {
    "inputPerMTok": "input_per_mtok",
    "outputPerMTok": "output_per_mtok",
    "cacheReadPerMTok": "cache_read_per_mtok",
    "cacheWritePerMTok": "cache_write_per_mtok",
}
MAX_PRICE = Decimal(100_000)


def _price(body: Mapping[str, Any], field: str, *, required: bool) -> str | None:
    value = body.get(field)
    if value is None:
        if required:
            raise BadRequest(
                f"{field} is required (USD per million tokens, as a decimal string)", code="invalid_price"
            )
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequest(f"{field} must be a decimal string", code="invalid_price")
    try:
        amount = parse_usd(str(value))
    except ValueError as exc:
        raise BadRequest(f"{field} must be a non-negative decimal", code="invalid_price") from exc
    if amount > MAX_PRICE:
        raise BadRequest(f"{field} is implausibly large", code="invalid_price")
    return format(amount.normalize(), "f")


class PriceService:
    def __init__(self, store: Store, state: LiveState, clock: Clock, ids: IdFactory) -> None:
        self._store = store
        self._state = state
        self._clock = clock
        self._ids = ids

    async def upsert(self, workspace_id: str, body: Mapping[str, Any]) -> tuple[PriceOverride, bool]:
        """Save the workspace's price for (provider, model); the row, and whether it is new."""
        spec = supported_spec(body.get("provider"))
        model = body.get("model")
        if not isinstance(model, str) or not model.strip() or len(model) > 200:
            raise BadRequest("model must be a non-empty string", code="invalid_model")
        now = self._clock.now()
        override = PriceOverride(
            id=self._ids.new("price"),
            workspace_id=workspace_id,
            provider=spec.id,
            model=model.strip(),
            input_per_mtok=_price(body, "inputPerMTok", required=True) or "0",
            output_per_mtok=_price(body, "outputPerMTok", required=True) or "0",
            cache_read_per_mtok=_price(body, "cacheReadPerMTok", required=False),
            cache_write_per_mtok=_price(body, "cacheWritePerMTok", required=False),
            created_at=now,
            updated_at=now,
        )
        saved = await self._store.prices.upsert(override)
        await self._state.changed()
        return saved, saved.id == override.id

    async def list(self, workspace_id: str) -> list[PriceOverride]:
        return await self._store.prices.list(workspace_id)

    async def get(self, workspace_id: str, price_id: str) -> PriceOverride:
        found = await self._store.prices.get(workspace_id, price_id)
        if found is None:
            raise NotFound(f"price {price_id} not found", code="price_not_found")
        return found

    async def delete(self, workspace_id: str, price_id: str) -> None:
        if not await self._store.prices.delete(workspace_id, price_id):
            raise NotFound(f"price {price_id} not found", code="price_not_found")
        await self._state.changed()
