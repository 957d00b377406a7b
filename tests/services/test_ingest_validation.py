"""Ingest validation on arbitrary input: it never crashes, refuses with named fields, and keeps the
token arithmetic of seed 001 (cached and cache-write tokens are parts of the prompt)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tollgate.services.ingest import event_record_id
from tollgate.services.ingest_fields import FieldProblem, IngestEvent, TimeWindow, parse_event

WINDOW = TimeWindow(datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
FIELDS = (
    "provider",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost",
    "latency_ms",
    "status",
    "metadata",
    "eventId",
    "timestamp",
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), json_values, max_size=8))
def test_any_json_object_gives_an_event_or_named_problems(raw: dict[str, Any]) -> None:
    parsed = parse_event(raw, WINDOW)
    if isinstance(parsed, list):
        assert parsed and all(isinstance(p, FieldProblem) and p.message for p in parsed)
        assert all(p.field is None or p.field.split(".")[0] in FIELDS for p in parsed)
    else:
        assert isinstance(parsed, IngestEvent) and parsed.provider and parsed.model
        assert parsed.cached_tokens + parsed.cache_write_tokens <= parsed.prompt_tokens
        assert parsed.reasoning_tokens <= parsed.completion_tokens


def test_metadata_json_cannot_carry_is_a_named_problem_not_a_crash() -> None:
    raw = {"provider": "openai", "model": "gpt-4o-mini", "metadata": {"big": -(2**63) - 1}}
    parsed = parse_event(raw, WINDOW)
    assert isinstance(parsed, list) and [p.field for p in parsed] == ["metadata"]
    assert "64 bits" in parsed[0].message


@given(
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.integers(0, 10**9),
    st.one_of(st.none(), st.booleans(), st.floats(0.5, 1e6).filter(lambda f: not f.is_integer())),
)
def test_token_counts_are_whole_and_parts_fit_their_whole(
    cached: int, written: int, extra: int, completion: int, not_whole: Any
) -> None:
    prompt = cached + written + extra
    raw = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "cache_write_tokens": written,
        "completion_tokens": float(completion),
        "reasoning_tokens": completion,
        "total_tokens": prompt + completion,
    }
    event = parse_event(raw, WINDOW)
    assert isinstance(event, IngestEvent)
    assert (event.prompt_tokens, event.completion_tokens) == (prompt, completion)
    too_many = parse_event({**raw, "cached_tokens": prompt + 1}, WINDOW)
    assert isinstance(too_many, list) and too_many[0].field == "cached_tokens"
    refused = parse_event({**raw, "prompt_tokens": not_whole}, WINDOW)
    if not_whole is None:  # null counts as 0: then the parts no longer fit
        assert isinstance(refused, list) or cached + written == 0
    else:
        assert isinstance(refused, list) and refused[0].field == "prompt_tokens"


@given(st.text(min_size=1, max_size=128), st.text(min_size=1, max_size=128))
def test_record_ids_of_event_ids_are_stable_and_per_workspace(a: str, b: str) -> None:
    assert event_record_id("ws_1", a) == event_record_id("ws_1", a)
    assert event_record_id("ws_1", a) != event_record_id("ws_2", a)
    assert (event_record_id("ws_1", a) == event_record_id("ws_1", b)) == (a == b)
    assert len(event_record_id("ws_1", a)) <= 64
