"""PriceBook: precedence, exact overrides, genai-prices semantics, memoisation, monotonicity."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices
import pytest
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate.core.money import usd_to_nanos
from tollgate.pricing.prices import GENAI_PROVIDER_IDS, UNKNOWN, Cost, ModelPrice, PriceBook
from tollgate.pricing.usage import NormalizedUsage

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SONNET = ("anthropic", "claude-sonnet-4-5-20250929")
USAGE = NormalizedUsage(input_tokens=1000, cache_read_tokens=2000, output_tokens=500)


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook()


def test_genai_prices_example_from_providers_md(book: PriceBook) -> None:
    cost = book.cost("anthropic", "claude-3-5-sonnet-20241022", USAGE, at=AT)
    assert cost == Cost(11_100_000, "genai-prices 0.2.3 anthropic/claude-3-5-sonnet", False)  # $0.0111


def test_precedence_override_then_reported_then_genai(book: PriceBook) -> None:
    override = ModelPrice(input_per_mtok=Decimal("1"), output_per_mtok=Decimal("2"))
    reported = Decimal("0.5")
    assert book.cost(*SONNET, USAGE, override=override, reported_usd=reported).source == "override"
    assert book.cost(*SONNET, USAGE, reported_usd=reported) == Cost(500_000_000, "provider-reported", False)
    assert book.cost(*SONNET, USAGE).source == "genai-prices 0.2.3 anthropic/claude-sonnet-4-5"
    # an override prices models genai-prices has never heard of
    assert book.cost("openai_compatible", "my-llama", USAGE, override=override).nanos == 4_000_000


@pytest.mark.parametrize("bad", [Decimal("-1"), Decimal("NaN"), Decimal("Infinity")])
def test_a_nonsense_reported_charge_is_ignored(book: PriceBook, bad: Decimal) -> None:
    assert (
        book.cost(*SONNET, USAGE, reported_usd=bad).source == "genai-prices 0.2.3 anthropic/claude-sonnet-4-5"
    )


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "no-such-model"),
        ("openai_compatible", "llama-3-local"),
        ("nobody", "gpt-4o"),
        ("openai", ""),
    ],
)
def test_unknown_is_a_value_not_an_exception(book: PriceBook, provider: str, model: str) -> None:
    assert book.cost(provider, model, USAGE) == UNKNOWN == Cost(None, None, True)
    assert not book.known(provider, model)


def test_provider_mapping_and_auto_detection(book: PriceBook) -> None:
    assert (
        book.cost("gemini", "gemini-2.5-flash", USAGE).source == "genai-prices 0.2.3 google/gemini-2.5-flash"
    )
    assert book.cost("xai", "grok-4-0709", USAGE).source == "genai-prices 0.2.3 x-ai/grok-4-0709"
    assert book.cost("google_vertex", "claude-3-5-sonnet@20240620", USAGE).source is not None
    # openai_compatible: genai-prices picks the provider from the model name
    assert book.cost("openai_compatible", "gpt-4o", USAGE).source == "genai-prices 0.2.3 openai/gpt-4o"
    # ids genai-prices knows by the same name pass through
    assert book.known("groq", "llama-3.3-70b-versatile")
    assert set(GENAI_PROVIDER_IDS) >= {
        "openai",
        "anthropic",
        "gemini",
        "mistral",
        "deepseek",
        "xai",
        "openrouter",
    }


def test_models_lists_priced_model_ids(book: PriceBook) -> None:
    assert "gpt-4o" in book.models("openai")
    assert "gemini-2.5-flash" in book.models("gemini")
    assert book.models("openai_compatible") == () == book.models("nobody")


# -- overrides ----------------------------------------------------------------------------------


def test_override_is_exact_and_cache_prices_default_to_input() -> None:
    price = ModelPrice(input_per_mtok=Decimal("3"), output_per_mtok=Decimal("15"))
    usage = NormalizedUsage(input_tokens=1, cache_read_tokens=2, cache_write_tokens=4, output_tokens=7)
    # (1 + 2 + 4) * 3 + 7 * 15 = 126 USD per MTok-token = 126e-6 USD
    assert PriceBook().cost("x", "y", usage, override=price).nanos == 126_000
    cached = replace(price, cache_read_per_mtok=Decimal("0.3"), cache_write_per_mtok=Decimal("3.75"))
    # 3 + 0.6 + 15 + 105 = 123.6e-6 USD
    assert PriceBook().cost("x", "y", usage, override=cached).nanos == 123_600


@pytest.mark.parametrize(("per_mtok", "nanos"), [("0.0015", 2), ("0.0025", 2), ("0.0035", 4)])
def test_override_rounds_once_half_even(per_mtok: str, nanos: int) -> None:
    price = ModelPrice(input_per_mtok=Decimal(per_mtok), output_per_mtok=Decimal(0))
    assert PriceBook().cost("x", "y", NormalizedUsage(input_tokens=1), override=price).nanos == nanos


def test_override_has_no_precision_limit() -> None:
    price = ModelPrice(input_per_mtok=Decimal("0.123456789123456789"), output_per_mtok=Decimal(0))
    usage = NormalizedUsage(input_tokens=2**62)
    expected = int((Decimal(2**62) * Decimal("0.123456789123456789") * 1000).to_integral_value())
    assert PriceBook().cost("x", "y", usage, override=price).nanos == expected


@pytest.mark.parametrize("bad", [Decimal("-0.01"), Decimal("NaN")])
def test_override_rejects_nonsense_prices(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        ModelPrice(input_per_mtok=Decimal(1), output_per_mtok=Decimal(1), cache_read_per_mtok=bad)


# -- genai-prices semantics -------------------------------------------------------------------


def nanos(book: PriceBook, provider: str, model: str, **counts: Any) -> int:
    cost = book.cost(provider, model, NormalizedUsage(**counts), at=AT)
    assert cost.nanos is not None
    return cost.nanos


def test_one_hour_cache_writes_are_priced_at_the_one_hour_rate(book: PriceBook) -> None:
    five_min = nanos(book, *SONNET, cache_write_tokens=3000)
    mixed = nanos(book, *SONNET, cache_write_tokens=3000, cache_write_1h_tokens=2000)
    assert mixed - five_min == 2000 * (6_000 - 3_750)  # $6 vs $3.75 per MTok
    # a 1h count above the write total is clamped, not an error
    assert nanos(book, *SONNET, cache_write_tokens=3000, cache_write_1h_tokens=9000) == nanos(
        book, *SONNET, cache_write_tokens=3000, cache_write_1h_tokens=3000
    )


def test_reasoning_is_a_part_of_output_never_added(book: PriceBook) -> None:
    # gpt-4o has no reasoning rate: the breakdown changes nothing
    assert nanos(book, "openai", "gpt-4o", output_tokens=1000, reasoning_tokens=400) == nanos(
        book, "openai", "gpt-4o", output_tokens=1000
    )
    # sonar-deep-research bills reasoning at $3 instead of $8: those 400 tokens move, not double
    plain = nanos(book, "perplexity", "sonar-deep-research", output_tokens=1000)
    split = nanos(book, "perplexity", "sonar-deep-research", output_tokens=1000, reasoning_tokens=400)
    assert plain - split == 400 * (8_000 - 3_000)
    # reasoning above output is clamped, not an error
    assert nanos(book, "perplexity", "sonar-deep-research", output_tokens=10, reasoning_tokens=99) == nanos(
        book, "perplexity", "sonar-deep-research", output_tokens=10, reasoning_tokens=10
    )


def test_extras_reach_genai_prices(book: PriceBook) -> None:
    base = nanos(book, *SONNET, input_tokens=10)
    assert nanos(book, *SONNET, input_tokens=10, extras={"web_searches": 3}) - base == 3 * 10_000_000  # $10/K
    text = nanos(book, "gemini", "gemini-2.5-flash", input_tokens=1500)
    audio = nanos(book, "gemini", "gemini-2.5-flash", input_tokens=1500, extras={"input_audio_tokens": 1200})
    assert audio - text == 1200 * (1_000 - 300)  # audio input is $1 vs $0.30 per MTok
    # keys genai-prices does not know are ignored (a warning would fail this suite)
    assert nanos(book, *SONNET, input_tokens=10, extras={"bogus": 5, "web_searches": -1}) == base


def test_inconsistent_breakdowns_fall_back_to_the_totals(book: PriceBook) -> None:
    # cached tokens plus an audio breakdown, without saying how much cached audio there was:
    # genai-prices refuses; tollgate prices the totals rather than losing the call's cost
    usage = NormalizedUsage(
        input_tokens=500, cache_read_tokens=1000, output_tokens=10, extras={"input_audio_tokens": 500}
    )
    cost = book.cost("gemini", "gemini-2.5-flash", usage, at=AT)
    assert cost.nanos == book.cost("gemini", "gemini-2.5-flash", replace(usage, extras={}), at=AT).nanos
    assert not cost.unknown


def test_request_time_selects_the_price(book: PriceBook) -> None:
    peak = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    off_peak = datetime(2026, 11, 1, 18, 0, tzinfo=UTC)  # DeepSeek's discount window
    usage = NormalizedUsage(input_tokens=1_000_000)
    assert book.cost("deepseek", "deepseek-chat", usage, at=peak).nanos == 270_000_000
    assert book.cost("deepseek", "deepseek-chat", usage, at=off_peak).nanos == 135_000_000


# -- memoisation ------------------------------------------------------------------------------


class CountingSnapshot(DataSnapshot):
    lookups: int = 0

    def find_provider_model(self, *args: Any, **kwargs: Any) -> Any:
        self.lookups += 1
        return super().find_provider_model(*args, **kwargs)


def counting() -> CountingSnapshot:
    return CountingSnapshot(providers=get_snapshot().providers, from_auto_update=False)


def test_resolution_is_memoised_per_provider_and_model_misses_included() -> None:
    snapshot = counting()
    book = PriceBook(snapshot=lambda: snapshot)
    for _ in range(3):
        book.cost(*SONNET, USAGE)
        book.cost("openai", "no-such-model", USAGE)
        book.known(*SONNET)
    assert snapshot.lookups == 2


def test_a_new_snapshot_drops_the_memo() -> None:
    current = [counting()]
    book = PriceBook(snapshot=lambda: current[0])
    book.cost(*SONNET, USAGE)
    current[0] = counting()  # what UpdatePrices does
    book.cost(*SONNET, USAGE)
    assert current[0].lookups == 1


def test_the_memo_is_bounded() -> None:
    snapshot = counting()
    book = PriceBook(snapshot=lambda: snapshot, memo_size=2)
    for name in ("a-1", "a-2", "a-3", "a-1"):
        book.known("openai", name)
    assert snapshot.lookups == 4


# -- properties -------------------------------------------------------------------------------

_count = st.integers(min_value=0, max_value=3_000_000)
FIELDS = ("input_tokens", "cache_read_tokens", "cache_write_tokens", "cache_write_1h_tokens", "output_tokens")


@settings(max_examples=150, deadline=None)
@given(
    model=st.sampled_from(
        [
            SONNET,
            ("openai", "gpt-4o"),
            ("gemini", "gemini-2.5-pro"),
            ("deepseek", "deepseek-chat"),
            ("xai", "grok-4"),
        ]
    ),
    counts=st.fixed_dictionaries({name: _count for name in FIELDS}),
    field=st.sampled_from(FIELDS),
    more=st.integers(min_value=1, max_value=1_000_000),
)
def test_cost_never_falls_when_a_count_grows(
    book: PriceBook, model: tuple[str, str], counts: dict[str, Any], field: str, more: int
) -> None:
    """Each independent count, alone, can only raise the cost -- through tier cliffs too.
    (Reasoning is a breakdown of output, not a count: at a cheaper reasoning rate it lowers it.)"""
    low = NormalizedUsage(**counts)
    high = replace(low, **{field: counts[field] + more})
    low_cost, high_cost = book.cost(*model, low, at=AT), book.cost(*model, high, at=AT)
    assert low_cost.nanos is not None and high_cost.nanos is not None
    assert high_cost.nanos >= low_cost.nanos


def test_price_context_selects_a_variant(book: PriceBook) -> None:
    usage = NormalizedUsage(input_tokens=1_000_000)
    standard = book.cost("openai", "gpt-5", usage, at=AT)
    batch = book.cost("openai", "gpt-5", usage, at=AT, price_context={"processing": "batch"})
    assert standard.nanos == 1_250_000_000
    assert batch.nanos is not None and batch.nanos < standard.nanos


def test_explicit_zeros_change_nothing(book: PriceBook) -> None:
    """The zeros tollgate passes for unused web/storage searches price exactly like omissions."""
    for provider, model, genai_id in (
        ("openai", "gpt-4o", "openai"),
        ("gemini", "gemini-2.5-flash", "google"),
    ):
        usage = NormalizedUsage(
            input_tokens=700, cache_read_tokens=300, output_tokens=90, reasoning_tokens=20
        )
        bare = genai_prices.calc_price(
            genai_prices.Usage(input_tokens=1000, cache_read_tokens=300, output_tokens=90),
            model,
            provider_id=genai_id,
            genai_request_timestamp=AT,
        )
        assert book.cost(provider, model, usage, at=AT).nanos == usd_to_nanos(bare.total_price)
