"""The one way a call's usage is priced, shared by the gateway's recorder and the ingest door.

Order: the workspace's price override for (provider, model), then a charge the provider stated
itself, then genai-prices; if the requested model has no price and the provider answered under
another model name, that name is tried too. A call that consumed nothing costs nothing: pricing
it anyway would charge per-request fees (Perplexity) for calls the provider did not bill.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from tollgate.pricing.prices import Cost, ModelPrice, PriceBook
from tollgate.pricing.usage import NormalizedUsage

FREE = Cost(0, None, False)


class PriceOverrides(Protocol):
    """A workspace's own prices (``LiveState`` serves them from memory)."""

    def price_override(self, workspace_id: str, provider: str, model: str) -> ModelPrice | None: ...


def price_usage(
    prices: PriceBook,
    overrides: PriceOverrides,
    workspace_id: str,
    provider: str,
    model: str,
    usage: NormalizedUsage,
    *,
    at: datetime,
    reported_usd: Decimal | None = None,
    upstream_model: str | None = None,
    price_context: Mapping[str, str] | None = None,
) -> Cost:
    """The cost of ``usage`` at time ``at``; ``Cost.unknown`` when no price applies."""
    if usage.total_tokens == 0 and not usage.extras and reported_usd is None:
        return FREE
    cost = prices.cost(
        provider,
        model,
        usage,
        override=overrides.price_override(workspace_id, provider, model),
        reported_usd=reported_usd,
        at=at,
        price_context=price_context,
    )
    if cost.unknown and upstream_model and upstream_model != model:
        cost = prices.cost(
            provider,
            upstream_model,
            usage,
            override=overrides.price_override(workspace_id, provider, upstream_model),
            at=at,
            price_context=price_context,
        )
    return cost
