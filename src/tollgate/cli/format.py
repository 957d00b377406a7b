"""How the command line shows numbers: money from exact decimal strings, counts, times."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_CENT = Decimal("0.01")
NONE = "(none)"


def money(usd: str | None) -> str:
    """``"12.5"`` -> ``$12.50``; ``"0.0123"`` -> ``$0.0123``; ``"0.000123456"`` -> ``$0.000123``.

    From a dollar up: cents. Below: three significant digits, at least two decimals. A non-zero
    amount is never shown as ``$0.00``; no float is involved.
    """
    if usd is None:
        return "unknown"
    try:
        value = Decimal(usd)
    except InvalidOperation:
        return usd
    if not value.is_finite():
        return usd
    sign, value = ("-" if value < 0 else ""), abs(value)
    if value == 0:
        return "$0.00"
    if value >= 1:
        return f"{sign}${format(value.quantize(_CENT, rounding=ROUND_HALF_EVEN), ',f')}"
    exponent = min(value.adjusted() - 2, -2)
    text = format(value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_EVEN), "f")
    whole, _, decimals = text.partition(".")
    return f"{sign}${whole}.{decimals.rstrip('0').ljust(2, '0')}"


def count(value: int | None) -> str:
    return "" if value is None else f"{value:,}"


def percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}%"


def millis(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.0f} ms" if value < 10_000 else f"{value / 1000:,.1f} s"


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def instant(text: str | None, tz: ZoneInfo | None = None, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    """An ISO 8601 instant from the API, as ``2026-12-03 09:12:01`` (in ``tz``, else as given)."""
    if not text:
        return ""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text
    if tz is not None and moment.tzinfo is not None:
        moment = moment.astimezone(tz)
    return moment.strftime(pattern)


def label(value: object) -> str:
    """A group value; ``null`` is the "none" group."""
    return NONE if value is None or value == "" else str(value)
