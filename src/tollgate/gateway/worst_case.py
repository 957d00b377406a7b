"""The most a call can use before it starts: what token limits reserve and budgets hold.

Input: the request body at three bytes a token (a pessimistic rate; English text runs about
four). Output: the request's own cap (``max_tokens`` and its names in each provider's format),
else a configured default; none for embeddings. Cost: those tokens at the model's highest rates
(``HoldPricer``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from tollgate.core.clock import Clock
from tollgate.pricing.prices import ModelPrice, PriceBook
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.base import Operation
from tollgate.services.costing import PriceOverrides

BYTES_PER_TOKEN: Final = 3
# Where each request format puts its output cap: top-level names, then nested ones.
_TOP_LEVEL: Final = ("max_completion_tokens", "max_tokens", "max_output_tokens", "maxTokens")
_NESTED: Final = (
    ("generationConfig", "maxOutputTokens"),
    ("inferenceConfig", "maxTokens"),
    ("parameters", "max_new_tokens"),
)


def input_tokens(request_bytes: int) -> int:
    return -(-request_bytes // BYTES_PER_TOKEN)


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def requested_output_tokens(body: Mapping[str, Any] | None) -> int | None:
    if body is None:
        return None
    for name in _TOP_LEVEL:
        if (found := _positive_int(body.get(name))) is not None:
            return found
    for outer, inner in _NESTED:
        nested = body.get(outer)
        if isinstance(nested, Mapping) and (found := _positive_int(nested.get(inner))) is not None:
            return found
    return None


def output_tokens(operation: Operation, body: Mapping[str, Any] | None, default: int) -> int:
    if operation is Operation.EMBEDDINGS:
        return 0
    return requested_output_tokens(body) or default


MTOK: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class Rates:
    """Nano-dollars per million tokens, at the model's highest tier."""

    input: int  # the dearer of plain input and cache writes
    output: int


class HoldPricer:
    """The worst-case cost of a number of input and output tokens. A model's rates are found once
    (memoised per provider, model and workspace price override, in a bounded LRU) by pricing a
    million tokens of each kind: long-context tiers price by prompt size, so a million-token
    prompt finds the highest input and output rates; the hold is then two multiplications."""

    def __init__(
        self, prices: PriceBook, overrides: PriceOverrides, clock: Clock, memo_size: int = 4096
    ) -> None:
        self._prices = prices
        self._overrides = overrides
        self._clock = clock
        self._rates = functools.lru_cache(maxsize=memo_size)(self._rates_uncached)

    def hold(
        self, workspace_id: str, provider: str, model: str, input_tokens: int, output_tokens: int
    ) -> int | None:
        """Nano-dollars, rounded up; None when the model has no known price."""
        rates = self._rates(provider, model, self._overrides.price_override(workspace_id, provider, model))
        if rates is None:
            return None
        return -(-(input_tokens * rates.input + output_tokens * rates.output) // MTOK)

    def _rates_uncached(self, provider: str, model: str, override: ModelPrice | None) -> Rates | None:
        def cost(usage: NormalizedUsage) -> int | None:
            return self._prices.cost(provider, model, usage, override=override, at=self._clock.now()).nanos

        plain = cost(NormalizedUsage(input_tokens=MTOK))
        written = cost(NormalizedUsage(cache_write_tokens=MTOK))
        both = cost(NormalizedUsage(input_tokens=MTOK, output_tokens=MTOK))
        if plain is None or written is None or both is None:
            return None
        return Rates(max(plain, written), max(0, both - plain))
