"""Exact cost of one call: normalised usage + model -> integer nano-dollars, and where the price
came from.

Precedence (first that applies wins):

1. a workspace ``override`` (``ModelPrice``), computed here in exact ``Decimal`` arithmetic;
2. a charge the provider reported itself (OpenRouter ``usage.cost``, Perplexity
   ``usage.cost.total_cost``, xAI ``cost_in_usd_ticks``);
3. genai-prices' bundled (or auto-updated) price data;
4. unknown: ``Cost(None, None, True)`` -- never an exception.

genai-prices semantics this module relies on (checked against 0.2.3's unit registry):

- its ``input_tokens`` is *all* input, cache included, and ``output_tokens`` is all output,
  reasoning included. Every other token key is a *part* of one of those: when a model prices a
  part separately, genai-prices prices the part at its own rate and the rest of the parent at
  the parent's rate; when it does not, the part is simply covered by the parent. So passing
  ``output_reasoning_tokens`` never double-counts (it matters only for models with their own
  reasoning rate, e.g. Perplexity's sonar-deep-research), and ``cache_write_1h_tokens`` moves
  those writes from the 5-minute ``cache_write`` rate to the 1-hour rate where one exists.
- no model in 0.2.3 prices 5-minute writes apart from ``cache_write``, so
  ``cache_write_5m_tokens`` is not passed: the non-1h writes are priced at ``cache_write``.
- a part larger than its parent is an error there; usage is clamped first so it cannot be.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext
from types import MappingProxyType

from genai_prices import Usage
from genai_prices import __version__ as GENAI_PRICES_VERSION
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.data_units import unit_data
from genai_prices.types import ModelInfo, Provider
from genai_prices.types import ModelPrice as GenaiModelPrice

from tollgate.core.money import usd_to_nanos
from tollgate.pricing.usage import NormalizedUsage

#: tollgate provider id -> genai-prices provider id. ``None``: let genai-prices pick the provider
#: from the model name (``gpt-*`` -> openai, ``claude*`` -> anthropic, ...). An id not listed is
#: passed through unchanged (genai-prices knows e.g. ``groq`` and ``fireworks`` by that name).
GENAI_PROVIDER_IDS: Mapping[str, str | None] = MappingProxyType(
    {
        "openai": "openai",
        "azure_openai": "azure",
        "anthropic": "anthropic",
        "gemini": "google",
        "google_vertex": "google",  # falls back to anthropic prices for Claude on Vertex
        "mistral": "mistral",
        "deepseek": "deepseek",
        "xai": "x-ai",
        "openrouter": "openrouter",
        "together": "together",
        "perplexity": "perplexity",
        "cohere": "cohere",
        "aws_bedrock": "aws",
        "openai_compatible": None,
    }
)

_CORE_KEYS = frozenset(
    {
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cache_write_1h_tokens",
        "output_tokens",
        "output_reasoning_tokens",
    }
)
# Extras genai-prices understands; anything else in ``NormalizedUsage.extras`` is ignored.
_EXTRA_KEYS = frozenset(unit_data) - _CORE_KEYS - {"requests"}


def _standalone_units() -> Mapping[str, str]:
    """price key -> usage key for the units that are no part and no whole of another (web
    searches, code executions, ...): a zero for them means exactly what a missing value means."""
    dims = {key: unit["dimensions"].items() for key, unit in unit_data.items()}
    return MappingProxyType(
        {
            unit["price_key"]: key
            for key, unit in unit_data.items()
            if key != "requests"  # genai-prices counts each call itself
            and not any(other != key and (d <= dims[key] or dims[key] <= d) for other, d in dims.items())
        }
    )


_STANDALONE_UNITS = _standalone_units()
_PRECISION = 80  # digits: far beyond any token count times any price, so nothing rounds early
_MTOK = 6


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """A workspace's own price, in USD per million tokens.

    When a cache price is omitted, those tokens are charged at the input price: with no
    discount configured, a cached token costs what any input token costs. 1-hour cache writes
    are charged at ``cache_write_per_mtok`` like all other writes.
    """

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal | None = None
    cache_write_per_mtok: Decimal | None = None

    def __post_init__(self) -> None:
        for price in (
            self.input_per_mtok,
            self.output_per_mtok,
            self.cache_read_per_mtok,
            self.cache_write_per_mtok,
        ):
            if price is not None and (not price.is_finite() or price < 0):
                raise ValueError(f"a price must be a finite, non-negative Decimal, not {price!r}")

    def cost_nanos(self, usage: NormalizedUsage) -> int:
        """Exact: sums in high precision, rounds once (half-even) to a nano-dollar."""
        read = self.input_per_mtok if self.cache_read_per_mtok is None else self.cache_read_per_mtok
        write = self.input_per_mtok if self.cache_write_per_mtok is None else self.cache_write_per_mtok
        with localcontext() as ctx:
            ctx.prec = _PRECISION
            per_mtok = (
                max(usage.input_tokens, 0) * self.input_per_mtok
                + max(usage.cache_read_tokens, 0) * read
                + max(usage.cache_write_tokens, 0) * write
                + max(usage.output_tokens, 0) * self.output_per_mtok
            )
            return usd_to_nanos(per_mtok.scaleb(-_MTOK))


@dataclass(frozen=True, slots=True)
class Cost:
    nanos: int | None  # None when no price is known
    source: str | None  # "override", "provider-reported", "genai-prices 0.2.3 anthropic/claude-3-5-sonnet"
    unknown: bool


UNKNOWN = Cost(nanos=None, source=None, unknown=True)


@dataclass(frozen=True, slots=True)
class _Model:
    """A resolved genai-prices model, with the work that depends only on it done once."""

    provider: Provider
    info: ModelInfo
    source: str
    # Standalone units this model prices (web searches, ...), as explicit zeros: genai-prices
    # otherwise runs an inference pass per missing key, about a third of its time per call.
    zeros: Mapping[str, int]


def _priced_standalone_keys(info: ModelInfo) -> Mapping[str, int]:
    prices = [info.prices] if isinstance(info.prices, GenaiModelPrice) else [c.prices for c in info.prices]
    prices += [variant.prices for variant in info.price_variants or ()]
    keys = {
        _STANDALONE_UNITS[k]
        for price in prices
        for k, v in vars(price).items()
        if v is not None and k in _STANDALONE_UNITS
    }
    return MappingProxyType(dict.fromkeys(sorted(keys), 0))


class PriceBook:
    """Prices calls. Model resolution is memoised per (provider, model) in the instance, misses
    included (a miss is a scan of every model), in a bounded LRU so arbitrary model names from
    clients cannot grow it without limit. The memo is dropped when genai-prices' snapshot is
    replaced (``UpdatePrices``), so updated prices are picked up."""

    def __init__(self, *, snapshot: Callable[[], DataSnapshot] = get_snapshot, memo_size: int = 4096) -> None:
        self._snapshot_of = snapshot
        self._snapshot: DataSnapshot | None = None
        self._resolve = functools.lru_cache(maxsize=memo_size)(self._resolve_uncached)

    def cost(
        self,
        provider: str,
        model: str,
        usage: NormalizedUsage,
        *,
        override: ModelPrice | None = None,
        reported_usd: Decimal | None = None,
        at: datetime | None = None,
        price_context: Mapping[str, str] | None = None,
    ) -> Cost:
        """``at`` is the request time (prices change over time and by time of day; None: now).
        ``price_context`` selects genai-prices price variants, e.g. ``{"service_tier": "flex"}``
        or ``{"processing": "batch"}``."""
        if override is not None:
            return Cost(override.cost_nanos(usage), "override", False)
        if reported_usd is not None and reported_usd.is_finite() and reported_usd >= 0:
            return Cost(usd_to_nanos(reported_usd), "provider-reported", False)
        resolved = self._lookup(provider, model)
        if resolved is None:
            return UNKNOWN
        total = _genai_total(resolved, usage, at, price_context)
        if total is None:
            return UNKNOWN
        return Cost(usd_to_nanos(total), resolved.source, False)

    def known(self, provider: str, model: str) -> bool:
        """Whether genai-prices has a price for this model (workspace overrides aside)."""
        return self._lookup(provider, model) is not None

    def models(self, provider: str) -> tuple[str, ...]:
        """The model ids genai-prices prices under this provider (sorted; for model lists).
        Empty for ``openai_compatible``, whose models can be anything."""
        genai_id = GENAI_PROVIDER_IDS.get(provider, provider)
        if genai_id is None:
            return ()
        for candidate in self._current_snapshot().providers:
            if candidate.id == genai_id:
                return tuple(sorted(model.id for model in candidate.models))
        return ()

    def _current_snapshot(self) -> DataSnapshot:
        snapshot = self._snapshot_of()
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._resolve.cache_clear()
        return snapshot

    def _lookup(self, provider: str, model: str) -> _Model | None:
        self._current_snapshot()
        return self._resolve(provider, model)

    def _resolve_uncached(self, provider: str, model: str) -> _Model | None:
        if not model or self._snapshot is None:
            return None  # an empty name would match every "contains" rule
        genai_id = GENAI_PROVIDER_IDS.get(provider, provider)
        try:
            found, info = self._snapshot.find_provider_model(model, None, genai_id, None)
        except (LookupError, ValueError):
            return None
        source = f"genai-prices {GENAI_PRICES_VERSION} {found.id}/{info.id}"
        return _Model(found, info, source, _priced_standalone_keys(info))


def _genai_total(
    model: _Model, usage: NormalizedUsage, at: datetime | None, context: Mapping[str, str] | None
) -> Decimal | None:
    """genai-prices' total for ``usage``; if its extras are inconsistent for this model (say a
    modality breakdown it cannot split), price again without the token breakdowns."""
    output = max(usage.output_tokens, 0)
    writes = max(usage.cache_write_tokens, 0)
    core = {
        **model.zeros,
        "input_tokens": max(usage.input_tokens, 0) + max(usage.cache_read_tokens, 0) + writes,
        "cache_read_tokens": max(usage.cache_read_tokens, 0),
        "cache_write_tokens": writes,
        "cache_write_1h_tokens": min(max(usage.cache_write_1h_tokens, 0), writes),
        "output_tokens": output,
        "output_reasoning_tokens": min(max(usage.reasoning_tokens, 0), output),
    }
    extras = {k: v for k, v in usage.extras.items() if k in _EXTRA_KEYS and type(v) is int and v > 0}
    attempts = [extras]
    if any(key.endswith("_tokens") for key in extras):
        attempts.append({k: v for k, v in extras.items() if not k.endswith("_tokens")})
    for attempt in attempts:
        try:
            calc = model.info.calc_price(
                Usage(**{**core, **attempt}),
                model.provider,
                genai_request_timestamp=at,
                price_context=context,
            )
        except ValueError:
            continue
        return calc.total_price
    return None
