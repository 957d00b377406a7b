"""Money as integers: one US dollar is 10**9 nano-dollars.

Costs are computed in ``Decimal`` and rounded once, half-even, to whole nano-dollars.
At the API edge they are shown as exact decimal strings (``"0.0075"``), never floats.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

NANOS_PER_USD = 10**9
_NANO = Decimal(1).scaleb(-9)


def usd_to_nanos(usd: Decimal | str | int) -> int:
    """Exact conversion, rounding half-even to the nearest nano-dollar."""
    value = Decimal(usd) * NANOS_PER_USD
    return int(value.to_integral_value(rounding=ROUND_HALF_EVEN))


def nanos_to_usd(nanos: int) -> Decimal:
    return (Decimal(nanos) * _NANO).quantize(_NANO)


def format_usd(nanos: int) -> str:
    """``7500000`` -> ``"0.0075"``; ``0`` -> ``"0"``. Fixed notation, no trailing zeros.
    Integer arithmetic only: analytics answers format thousands of these."""
    whole, fraction = divmod(abs(nanos), NANOS_PER_USD)
    sign = "-" if nanos < 0 else ""
    if not fraction:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:09d}".rstrip("0")


def parse_usd(text: str) -> Decimal:
    """Parse a non-negative decimal string; raises ``ValueError`` on anything else."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError) as exc:
        raise ValueError(f"not a decimal amount: {text!r}") from exc
    if not value.is_finite() or value < 0:
        raise ValueError(f"not a non-negative amount: {text!r}")
    return value
