"""The pure parts: scenario validation, token arithmetic, frame surgery."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tollgate.core import jsonx
from tollgate.testing import MESSAGE_OVERHEAD, Scenario, answer_text, count_prompt
from tollgate.testing._embeddings import vector
from tollgate.testing._scenario import ScenarioQueue
from tollgate.testing._sse import crlf_data_frame, data_frame, event_frame, truncated
from tollgate.testing._tokens import answer_pieces, count_words, tally

json_objects = st.dictionaries(
    st.text(max_size=5),
    st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1), st.text(max_size=20), st.booleans(), st.none()
    ),
    min_size=1,
    max_size=5,
)


@pytest.mark.parametrize(
    "fields",
    [
        {"chunks": 0},
        {"latency": -1},
        {"output_tokens": -3},
        {"cache_write_tokens": 5, "cache_write_1h_tokens": 6},
        {"error_status": 200},
        {"error_status": 600},
    ],
)
def test_scenario_rejects_impossible_values(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Scenario(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "overrides",
    [{"chunks": True}, {"omit_usage": 1}, {"output_tokens": 1.5}, {"upstream_model": 3}, {"bogus": 1}],
)
def test_overrides_are_type_checked(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Scenario().with_overrides(overrides)


def test_overrides_replace_only_named_fields() -> None:
    base = Scenario(output_tokens=3, latency=0.5)
    assert base.with_overrides({"latency": 1}) == Scenario(output_tokens=3, latency=1)


def test_counting_is_words_plus_overhead_per_message() -> None:
    messages = [
        {"role": "user", "content": "a b c"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "d e"}, {"type": "image_url", "image_url": "x y z"}],
        },
    ]
    assert count_prompt(messages) == 3 + 2 + 2 * MESSAGE_OVERHEAD
    assert count_prompt(messages, system="be nice") == 3 + 2 + 2 + 3 * MESSAGE_OVERHEAD
    assert count_prompt([]) == 1
    assert count_words({"parts": [{"text": "one two"}, {"inlineData": "aaaa bbbb"}]}) == 2


def test_tally_caps_visible_output_after_reasoning() -> None:
    counts = tally(Scenario(output_tokens=10, reasoning_tokens=6), 5, max_output=8)
    assert (counts.visible, counts.reasoning, counts.truncated) == (2, 6, True)
    assert tally(Scenario(output_tokens=10), 5, max_output=10).truncated is False
    assert tally(Scenario(input_tokens=99), 5).uncached == 99


@given(words=st.integers(min_value=0, max_value=300), chunks=st.integers(min_value=1, max_value=50))
def test_pieces_rebuild_the_answer(words: int, chunks: int) -> None:
    pieces = answer_pieces(words, chunks)
    assert "".join(pieces) == answer_text(words)
    assert len(pieces) == max(1, min(words, chunks))
    assert len(answer_text(words).split()) == words


@given(payload=json_objects, event=st.sampled_from(["message_start", "response.output_text.delta"]))
def test_truncated_frames_never_parse(payload: dict[str, object], event: str) -> None:
    for frame in (data_frame(payload), crlf_data_frame(payload), event_frame(event, payload)):
        cut = truncated(frame)
        line = next(raw for raw in cut.splitlines() if raw.startswith(b"data: "))
        with pytest.raises(jsonx.JSONDecodeError):
            jsonx.loads(line[len(b"data: ") :])
        assert cut.endswith((b"\n\n", b"\r\n\r\n"))  # still a whole frame


def test_vectors_are_deterministic_unit_and_input_specific() -> None:
    first = vector("hello", 64)
    assert first == vector("hello", 64)
    assert first != vector("hello!", 64)
    assert sum(x * x for x in first) == pytest.approx(1.0, abs=1e-5)


def test_queue_takes_the_first_match_only() -> None:
    queue = ScenarioQueue()
    queue.push(Scenario(output_tokens=1), "anthropic", None)
    queue.push(Scenario(output_tokens=2), None, "/embeddings")
    queue.push(Scenario(output_tokens=3), None, None)
    assert queue.take("openai", "/openai/v1/chat/completions") == Scenario(output_tokens=3)
    assert queue.take("openai", "/openai/v1/chat/completions") is None
    assert queue.take("openai", "/openai/v1/embeddings") == Scenario(output_tokens=2)
    assert len(queue) == 1
