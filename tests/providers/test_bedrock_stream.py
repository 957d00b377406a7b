"""ConverseStream relaying pieces: frames handed out with their exact bytes, the meter, in-band errors."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from tollgate.core import jsonx
from tollgate.core.errors import UpstreamError, UpstreamTimeout
from tollgate.pricing.usage import NormalizedUsage
from tollgate.providers.bedrock_stream import (
    BedrockStreamMeter,
    EventStreamAsSse,
    FrameReader,
    exception_frame,
)
from tollgate.providers.eventstream import (
    EventMessage,
    EventStreamDecoder,
    EventStreamError,
    encode_event,
    event_headers,
    exception_headers,
)

USAGE = {
    "inputTokens": 12,
    "outputTokens": 30,
    "totalTokens": 3042,
    "cacheReadInputTokens": 2000,
    "cacheWriteInputTokens": 1000,
    "cacheDetails": [{"ttl": "1h", "inputTokens": 400}, {"ttl": "5m", "inputTokens": 600}],
}


def _frame(name: str, payload: dict[str, Any]) -> bytes:
    return encode_event(event_headers(name), jsonx.dumps({**payload, "p": "abcdefgh"}))


FRAMES = [
    _frame("messageStart", {"role": "assistant"}),
    *[_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f" tok{i}"}}) for i in range(4)],
    _frame("contentBlockStop", {"contentBlockIndex": 0}),
    _frame("messageStop", {"stopReason": "max_tokens"}),
    _frame("metadata", {"usage": USAGE, "metrics": {"latencyMs": 80}}),
]
STREAM = b"".join(FRAMES)
EXCEPTION = encode_event(exception_headers("throttlingException"), b'{"message":"slow down"}')


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(points)]


def _meter(raw_frames: list[bytes]) -> BedrockStreamMeter:
    meter = BedrockStreamMeter("aws_bedrock")
    for frame in FrameReader().feed(b"".join(raw_frames)):
        meter.observe(frame.message)
    return meter


@given(st.lists(st.integers(min_value=0), max_size=40))
def test_any_split_gives_back_each_frame_with_its_exact_bytes(cuts: list[int]) -> None:
    reader = FrameReader()
    frames = [frame for piece in _pieces(STREAM, cuts) for frame in reader.feed(piece)]
    reader.finish()
    assert [frame.raw for frame in frames] == FRAMES
    decoder = EventStreamDecoder()
    assert [frame.message for frame in frames] == decoder.feed(STREAM)


@given(st.lists(st.integers(min_value=0), max_size=20), st.binary(min_size=1, max_size=80))
@settings(max_examples=300)
def test_garbage_after_good_frames_never_costs_a_good_frame(cuts: list[int], garbage: bytes) -> None:
    reader = FrameReader()
    got: list[bytes] = []
    with pytest.raises(EventStreamError):
        for piece in _pieces(STREAM + garbage, cuts):
            got += [frame.raw for frame in reader.feed(piece)]
        reader.finish()  # garbage too short to judge: the stream ended inside a frame
    assert got == FRAMES


def test_a_corrupt_frame_in_the_same_read_as_good_ones_comes_after_them() -> None:
    broken = bytearray(FRAMES[3])
    broken[-6] ^= 0x01  # a payload byte: the message CRC no longer matches
    reader = FrameReader()
    good = reader.feed(b"".join(FRAMES[:3]) + bytes(broken))
    assert [frame.raw for frame in good] == FRAMES[:3]
    with pytest.raises(EventStreamError, match="message CRC mismatch"):
        reader.feed(b"")
    with pytest.raises(EventStreamError):
        reader.finish()


def test_the_meter_is_complete_only_at_metadata_and_reads_usage_there() -> None:
    without_metadata = _meter(FRAMES[:-1])
    assert without_metadata.complete is False
    assert without_metadata.result().usage is None
    assert without_metadata.result().finish_reason == "max_tokens"
    meter = _meter(FRAMES)
    assert meter.complete is True and meter.error is None
    assert meter.result().usage == NormalizedUsage(
        input_tokens=12,
        cache_read_tokens=2000,
        cache_write_tokens=1000,
        cache_write_1h_tokens=400,
        output_tokens=30,
    )


def test_an_exception_frame_is_the_streams_error_under_its_type() -> None:
    meter = _meter([*FRAMES[:3], EXCEPTION])
    assert meter.complete is False
    assert meter.error == {"code": "throttlingException", "message": "slow down"}
    error = meter.exception()
    assert isinstance(error, UpstreamError) and error.code == "throttlingException"
    assert meter.result().error == meter.error


def test_an_error_message_frame_is_read_from_its_headers() -> None:
    frame = encode_event(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b""
    )
    assert _meter([frame]).error == {"code": "InternalFailure", "message": "oops"}


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (EventStreamError("event stream message CRC mismatch"), "internalServerException"),
        (
            UpstreamTimeout("upstream sent nothing for 120s", code="upstream_idle_timeout"),
            "serviceUnavailableException",
        ),
    ],
)
def test_tollgates_own_failure_is_an_exception_frame_botocore_reads(error: UpstreamError, kind: str) -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(exception_frame(error))
    (message,) = list(buffer)
    headers = message.headers
    assert headers[":message-type"] == "exception" and headers[":exception-type"] == kind
    payload = jsonx.loads(message.payload)
    assert payload["code"] == error.code and error.message in payload["message"]


def test_events_as_sse_keep_their_json_and_name() -> None:
    sse = EventStreamAsSse()
    assert sse.event("messageStop", '{"stopReason":"end_turn"}') == (
        b'event: messageStop\ndata: {"stopReason":"end_turn"}\n\n'
    )
    assert sse.event("metadata", '{\n "a": 1\n}') == b'event: metadata\ndata: {\ndata:  "a": 1\ndata: }\n\n'
    error = sse.error(UpstreamError("slow down", code="throttlingException"))
    assert error == b'event: error\ndata: {"error":{"code":"throttlingException","message":"slow down"}}\n\n'
    assert sse.end() == b""


def _decoded(frames: list[bytes]) -> list[EventMessage]:
    return EventStreamDecoder().feed(b"".join(frames))


def test_the_reader_agrees_with_botocore() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(STREAM)
    theirs = [(m.headers[":event-type"], m.payload) for m in buffer]
    ours = [(m.event_type, m.payload) for m in _decoded(FRAMES)]
    assert ours == theirs
