"""SseDecoder: WHATWG parsing, byte-exact ``raw`` for relaying, independence from read sizes."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate.providers.base import SseEvent
from tollgate.providers.sse import SseDecoder


def decode(pieces: Iterable[bytes]) -> list[SseEvent]:
    decoder = SseDecoder()
    events: list[SseEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events + decoder.flush()


def pieces_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


def fields(events: list[SseEvent]) -> list[tuple[str | None, str]]:
    return [(e.event, e.data) for e in events]


def test_openai_style_chunks() -> None:
    data = b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n'
    events = decode([data])
    assert fields(events) == [(None, '{"a":1}'), (None, '{"b":2}'), (None, "[DONE]")]
    assert [e.raw for e in events] == [b'data: {"a":1}\n\n', b'data: {"b":2}\n\n', b"data: [DONE]\n\n"]


def test_named_events_multiline_data_and_comments() -> None:
    data = (
        b'event: message_start\ndata: {\ndata:  "x": 1}\n\n'  # only one space after the colon is dropped
        b": keep-alive\n\n"
        b"event: ping\n\n"
        b"id: 7\nretry: 100\ndata\n\n"  # a field name with no colon; id/retry are read and not exposed
    )
    assert fields(decode([data])) == [
        ("message_start", '{\n "x": 1}'),
        (None, ""),
        ("ping", ""),
        (None, ""),
    ]


@pytest.mark.parametrize("eol", [b"\r\n", b"\r", b"\n"])
def test_every_line_ending(eol: bytes) -> None:
    data = b"event: a" + eol + b"data: 1" + eol + b"data: 2" + eol + eol + b"data: 3" + eol + eol
    events = decode([data])
    assert fields(events) == [("a", "1\n2"), (None, "3")]
    assert b"".join(e.raw for e in events) == data


def test_crlf_split_between_reads() -> None:
    events = decode([b"data: 1\r", b"\n\r", b"\ndata: 2\r\n\r\n"])
    assert fields(events) == [(None, "1"), (None, "2")]
    assert [e.raw for e in events] == [b"data: 1\r\n\r\n", b"data: 2\r\n\r\n"]


def test_a_trailing_cr_waits_for_the_next_read() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b"data: 1\r\n\r") == []  # the blank line may still be a CRLF
    [event] = decoder.feed(b"\n")
    assert event.raw == b"data: 1\r\n\r\n"


def test_bom_is_skipped_but_kept_in_raw() -> None:
    data = b"\xef\xbb\xbfdata: 1\n\n"
    for pieces in ([data], [data[:1], data[1:2], data[2:]]):
        [event] = decode(pieces)
        assert (event.data, event.raw) == ("1", data)
    # a BOM is only special at the very start
    assert decode([b"data: 1\n\n\xef\xbb\xbfdata: 2\n\n"])[1].data == ""


def test_flush_emits_an_unterminated_block() -> None:
    decoder = SseDecoder()
    assert decoder.feed(b'data: {"usage": 1}') == []
    [event] = decoder.flush()
    assert (event.data, event.raw) == ('{"usage": 1}', b'data: {"usage": 1}')
    assert decoder.flush() == []


def test_blank_lines_are_empty_blocks() -> None:
    # DeepSeek pads a slow response with blank lines; each becomes an empty event so raw is kept.
    events = decode([b"\n\n\ndata: 1\n\n"])
    assert fields(events) == [(None, ""), (None, ""), (None, ""), (None, "1")]
    assert b"".join(e.raw for e in events) == b"\n\n\ndata: 1\n\n"


def test_invalid_utf8_is_replaced() -> None:
    [event] = decode([b"data: \xff\xfe ok\n\n"])
    assert event.data == "\ufffd\ufffd ok"


def test_one_large_event_in_many_reads() -> None:
    payload = b"x" * 200_000
    data = b"data: " + payload + b"\n\n"
    events = decode(data[i : i + 4096] for i in range(0, len(data), 4096))
    assert len(events) == 1 and events[0].data == payload.decode()


# -- properties -------------------------------------------------------------------------------

_line = st.one_of(
    st.builds(
        lambda v: b"data: " + v, st.binary(max_size=12).filter(lambda b: b"\r" not in b and b"\n" not in b)
    ),
    st.builds(lambda v: b"event: " + v.encode(), st.text("abc_.", max_size=8)),
    st.just(b": keep-alive"),
    st.just(b"data: [DONE]"),
    st.just(b"id: 1"),
    st.just(b"data"),
    st.just("data: é€😀".encode()),
)
_eol = st.sampled_from([b"\n", b"\r\n", b"\r"])


@st.composite
def _valid_stream(draw: st.DrawFn) -> bytes:
    out = bytearray(draw(st.sampled_from([b"", b"\xef\xbb\xbf"])))
    for _ in range(draw(st.integers(0, 6))):
        for line in draw(st.lists(_line, min_size=0, max_size=3)):
            out += line + draw(_eol)
        out += draw(_eol)
    return bytes(out)


@settings(max_examples=300)
@given(data=_valid_stream(), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_valid_streams_decode_the_same_however_they_are_split(data: bytes, cuts: list[int]) -> None:
    whole = decode([data])
    assert decode(pieces_at(data, cuts)) == whole
    assert b"".join(e.raw for e in whole) == data


@settings(max_examples=300)
@given(data=st.binary(max_size=80), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_any_bytes_reproduce_exactly_and_never_raise(data: bytes, cuts: list[int]) -> None:
    whole = decode([data])
    assert b"".join(e.raw for e in whole) == data
    assert decode(pieces_at(data, cuts)) == whole
    assert decode(data[i : i + 1] for i in range(len(data))) == whole


_tricky = st.lists(
    st.sampled_from(
        [b"\r", b"\n", b"\r\n", b"data: x", b"data:", b":c", b"\xef\xbb\xbf", b"\xef", b"\xff", b"event: e"]
    ),
    max_size=24,
).map(b"".join)


@settings(max_examples=500)
@given(data=_tricky, cuts=st.lists(st.integers(min_value=0), max_size=10))
def test_line_ending_soup_is_split_independent(data: bytes, cuts: list[int]) -> None:
    whole = decode([data])
    assert b"".join(e.raw for e in whole) == data
    assert decode(pieces_at(data, cuts)) == whole
