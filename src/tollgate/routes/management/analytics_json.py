"""How analytics look on the wire: camelCase measures with exact decimal cost strings, and the
display strings of seed 003's dashboard ("$25.43", "+12.5%")."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from tollgate.core.money import format_usd, nanos_to_usd
from tollgate.services.analytics.periods import Window
from tollgate.store.rollup_queries import Measures


def iso(moment: datetime) -> str:
    """UTC instants end in ``Z``; local times keep their offset."""
    text = moment.isoformat()
    return text.replace("+00:00", "Z") if moment.tzinfo is UTC else text


def window_json(window: Window) -> dict[str, Any]:
    return {"from": iso(window.start), "to": iso(window.end), "timeZone": window.zone.key}


def measures_json(m: Measures) -> dict[str, Any]:
    return {
        "requests": m.requests,
        "errors": m.errors,
        "inputTokens": m.input_tokens,
        "cacheReadTokens": m.cache_read_tokens,
        "cacheWriteTokens": m.cache_write_tokens,
        "outputTokens": m.output_tokens,
        "reasoningTokens": m.reasoning_tokens,
        "totalTokens": m.total_tokens,
        "costUsd": format_usd(m.cost_nanos),
        "costNanos": m.cost_nanos,
        "reportedCostUsd": format_usd(m.reported_cost_nanos),
        "cacheHits": m.cache_hits,
        "priceUnknown": m.price_unknown,
        "estimated": m.estimated,
        "avgLatencyMs": round(m.latency_ms_sum / m.requests, 1) if m.requests else None,
    }


def grouped_json(dims: Mapping[str, str | None], m: Measures) -> dict[str, Any]:
    return {**dims, **measures_json(m)}


def usd_number(nanos: int) -> float:
    """A cost as a JSON number (seed 003's charts): the nearest float to the exact amount."""
    return float(nanos_to_usd(nanos))


def money_label(nanos: int) -> str:
    """``$25.43`` from a dollar up; smaller amounts keep four significant digits (``$0.001234``),
    so a real cost never shows as ``$0.00``."""
    usd = nanos_to_usd(nanos)
    if usd == 0 or usd >= 1:
        return f"${usd.quantize(Decimal('0.01'), rounding=ROUND_HALF_EVEN):,}"
    digits = max(2, 3 - usd.adjusted())
    return f"${usd.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN).normalize():f}"


def count_label(value: int) -> str:
    return f"{value:,}"


def change(current: float, previous: float) -> tuple[str, str]:
    """Seed 003's ``change`` and ``changeType`` of a metric against the previous period."""
    if previous == 0:
        return ("0%", "neutral") if current == 0 else ("new", "positive")
    ratio = (current - previous) / previous * 100
    rounded = round(ratio, 1)
    if rounded == 0:
        return "0%", "neutral"
    return f"{rounded:+.1f}%", "positive" if rounded > 0 else "negative"
