"""The AWS event-stream codec: frames split anywhere, every header type, both CRCs, garbage, the cap."""

from __future__ import annotations

import itertools
import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate.core import jsonx
from tollgate.core.errors import UpstreamError
from tollgate.providers.eventstream import (
    EventMessage,
    EventStreamDecoder,
    EventStreamError,
    HeaderValue,
    Timestamp,
    encode_event,
    event_headers,
    exception_headers,
)


def _converse_stream() -> list[bytes]:
    events = [
        ("messageStart", {"role": "assistant", "p": "abcdefgh"}),
        *[
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f" tok{i}"}, "p": "abc"})
            for i in range(5)
        ],
        ("contentBlockStop", {"contentBlockIndex": 0, "p": "abcdefghijklmnop"}),
        ("messageStop", {"stopReason": "end_turn", "p": "ab"}),
        (
            "metadata",
            {
                "usage": {"inputTokens": 7, "outputTokens": 5, "totalTokens": 12},
                "metrics": {"latencyMs": 120},
                "p": "abcdefghijklmnopqrstuvwxyz",
            },
        ),
    ]
    return [encode_event(event_headers(name), jsonx.dumps(payload)) for name, payload in events]


FRAMES = _converse_stream()
STREAM = b"".join(FRAMES)


def _decode_all(pieces: list[bytes]) -> list[EventMessage]:
    decoder = EventStreamDecoder()
    out = [message for piece in pieces for message in decoder.feed(piece)]
    decoder.finish()
    return out


def test_a_converse_stream_decodes_to_its_events_and_usage() -> None:
    messages = _decode_all([STREAM])
    assert [m.event_type for m in messages] == [
        "messageStart",
        *["contentBlockDelta"] * 5,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert {m.message_type for m in messages} == {"event"}
    assert {m.content_type for m in messages} == {"application/json"}
    assert "".join(m.json()["delta"]["text"] for m in messages[1:6]) == " tok0 tok1 tok2 tok3 tok4"
    assert messages[-1].json()["usage"] == {"inputTokens": 7, "outputTokens": 5, "totalTokens": 12}


def test_an_exception_frame_names_its_type() -> None:
    frame = encode_event(exception_headers("throttlingException"), b'{"message":"slow down"}')
    (message,) = _decode_all([frame])
    assert message.message_type == "exception"
    assert message.exception_type == "throttlingException"
    assert message.event_type is None
    assert message.json() == {"message": "slow down"}


def test_botocore_reads_what_we_encode_and_we_read_the_same() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(STREAM)
    theirs = [(m.headers, m.payload) for m in buffer]
    ours = [(dict(m.headers), m.payload) for m in _decode_all([STREAM])]
    assert ours == theirs


ALL_TYPES: dict[str, HeaderValue] = {
    "true": True,
    "false": False,
    "int32": -(2**31),
    "int64": 2**40,
    "bytes": b"\x00\xff",
    "string": "héllo",
    "timestamp": Timestamp(1_700_000_000_123),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
}


def test_every_header_type_round_trips() -> None:
    (message,) = _decode_all([encode_event(ALL_TYPES, b"x")])
    assert dict(message.headers) == ALL_TYPES
    assert message.payload == b"x"


def _raw_frame(raw_headers: bytes, payload: bytes = b"") -> bytes:
    total = 16 + len(raw_headers) + len(payload)
    prelude = struct.pack(">II", total, len(raw_headers))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def test_byte_and_short_headers_are_read_by_their_width() -> None:
    raw = b"\x01b\x02\xff" + b"\x01s\x03\x80\x00" + b"\x01z\x07\x00\x02ok"
    (message,) = _decode_all([_raw_frame(raw, b"{}")])
    assert dict(message.headers) == {"b": -1, "s": -32768, "z": "ok"}


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"\x01a\x0a", "unknown value type"),
        (b"\x01a\x07\x00\x09ab", "overruns"),
        (b"\x01a", "no value type"),
        (b"\x01a\x05\x00\x00", "overruns"),
        (b"\x02\xff\xfe\x00", "UTF-8"),
    ],
)
def test_bad_headers_inside_a_frame_with_good_crcs_are_corrupt(raw: bytes, why: str) -> None:
    with pytest.raises(EventStreamError, match=why):
        EventStreamDecoder().feed(_raw_frame(raw, b"{}"))


def test_the_error_is_an_upstream_error_with_a_stable_code() -> None:
    with pytest.raises(EventStreamError) as caught:
        EventStreamDecoder().feed(b"\x00" * 11 + b"\x01")
    assert isinstance(caught.value, UpstreamError)
    assert caught.value.code == "eventstream_corrupt" and caught.value.http_status == 502


def test_a_frame_over_the_cap_is_refused_before_its_body_arrives() -> None:
    decoder = EventStreamDecoder(max_message_length=1024)
    prelude = struct.pack(">II", 4096, 0)
    with pytest.raises(EventStreamError, match="exceeds 1024"):
        decoder.feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_lengths_that_contradict_each_other_are_corrupt() -> None:
    prelude = struct.pack(">II", 20, 10)
    with pytest.raises(EventStreamError, match="cannot hold"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_a_stream_cut_inside_a_frame_is_corrupt_at_finish_and_the_decoder_stays_broken() -> None:
    decoder = EventStreamDecoder()
    assert len(decoder.feed(STREAM[:-3])) == len(FRAMES) - 1
    assert decoder.pending == len(FRAMES[-1]) - 3
    with pytest.raises(EventStreamError, match="ended inside a frame"):
        decoder.finish()
    with pytest.raises(EventStreamError):
        decoder.feed(STREAM[-3:])


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=30))
def test_any_split_decodes_to_the_same_messages(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    pieces = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert _decode_all(pieces) == _decode_all([STREAM])


@given(st.lists(st.binary(max_size=64), max_size=8))
@settings(max_examples=300)
def test_garbage_raises_eventstream_error_or_waits(pieces: list[bytes]) -> None:
    decoder = EventStreamDecoder()
    try:
        for piece in pieces:
            decoder.feed(piece)
    except EventStreamError:
        return


@given(st.lists(st.integers(min_value=0), max_size=20), st.binary(min_size=1, max_size=80))
@settings(max_examples=300)
def test_garbage_after_a_valid_stream_yields_a_prefix_of_it_then_an_error(
    cuts: list[int], garbage: bytes
) -> None:
    data = STREAM + garbage
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    decoder = EventStreamDecoder()
    decoded: list[EventMessage] = []
    with pytest.raises(EventStreamError):
        for a, b in itertools.pairwise(points):
            decoded += decoder.feed(data[a:b])
        decoder.finish()
    assert decoded == _decode_all([STREAM])[: len(decoded)]


@given(st.data())
@settings(max_examples=300)
def test_a_flipped_bit_is_always_detected(data: st.DataObject) -> None:
    frame = bytearray(data.draw(st.sampled_from(FRAMES)))
    bit = data.draw(st.integers(min_value=0, max_value=len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(EventStreamError, match="CRC mismatch"):
        EventStreamDecoder().feed(bytes(frame))


header_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.binary(max_size=40),
    st.text(max_size=40),
    st.builds(Timestamp, st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    st.uuids(),
)


@given(
    st.dictionaries(st.text(min_size=1, max_size=20).filter(lambda s: len(s.encode()) < 256), header_values),
    st.binary(max_size=200),
)
def test_encode_then_decode_is_the_identity(headers: dict[str, HeaderValue], payload: bytes) -> None:
    (message,) = _decode_all([encode_event(headers, payload)])
    assert dict(message.headers) == headers
    assert message.payload == payload
