"""Budget holds are never below what the call can cost: the worst-case rates of a model cover
plain input and cache writes, short and long prompts (long-context tiers), and its output."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate.core.clock import SystemClock
from tollgate.gateway.worst_case import HoldPricer
from tollgate.pricing.prices import ModelPrice, PriceBook
from tollgate.pricing.usage import NormalizedUsage

MODELS = [
    ("gemini", "gemini-2.5-pro"),  # long-context tier above 200k prompt tokens
    ("anthropic", "claude-sonnet-4-5"),  # cache writes dearer than input, and a long-context tier
    ("openai", "gpt-4o-mini"),
]


class Overrides:
    def __init__(self, prices: dict[tuple[str, str, str], ModelPrice] | None = None) -> None:
        self.prices = prices or {}

    def price_override(self, workspace_id: str, provider: str, model: str) -> ModelPrice | None:
        return self.prices.get((workspace_id, provider, model))


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook()


@settings(max_examples=60, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    input_tokens=st.integers(0, 1_500_000),
    output_tokens=st.integers(0, 100_000),
)
def test_a_hold_covers_every_way_the_call_can_be_billed(
    book: PriceBook, model: tuple[str, str], input_tokens: int, output_tokens: int
) -> None:
    provider, name = model
    hold = HoldPricer(book, Overrides(), SystemClock()).hold(
        "ws", provider, name, input_tokens, output_tokens
    )
    assert hold is not None
    for usage in (
        NormalizedUsage(input_tokens=input_tokens, output_tokens=output_tokens),
        NormalizedUsage(cache_write_tokens=input_tokens, output_tokens=output_tokens),
    ):
        cost = book.cost(provider, name, usage).nanos
        assert cost is not None and hold >= cost


def test_a_workspace_price_is_held_exactly_and_unknown_models_have_no_price(book: PriceBook) -> None:
    overrides = Overrides(
        {
            ("ws", "openai", "gpt-4o-mini"): ModelPrice(Decimal(1), Decimal(2)),
            ("ws", "openai", "gpt-4.1-nano"): ModelPrice(Decimal("0.0015"), Decimal(0)),
        }
    )
    pricer = HoldPricer(book, overrides, SystemClock())
    assert pricer.hold("ws", "openai", "gpt-4o-mini", 1_000_000, 1_000_000) == 3_000_000_000
    assert pricer.hold("ws", "openai", "gpt-4.1-nano", 1, 0) == 2, "1.5 nano-dollars: rounded up, never down"
    assert pricer.hold("other", "openai", "gpt-4o-mini", 1_000_000, 0) == 150_000_000, "the catalogue price"
    assert pricer.hold("ws", "openai", "no-such-model-xyz", 10, 10) is None
