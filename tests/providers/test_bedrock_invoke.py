"""Claude's InvokeModel on Bedrock: the body sent, the stream metered and re-framed as Anthropic SSE."""

from __future__ import annotations

import base64
from typing import Any

from tollgate.core import jsonx
from tollgate.core.errors import UpstreamError
from tollgate.providers.base import Operation
from tollgate.providers.bedrock_invoke import (
    InvokeAsAnthropicSse,
    InvokeStreamMeter,
    anthropic_body_for_bedrock,
    open_eventstream_meter,
)
from tollgate.providers.bedrock_stream import BedrockStreamMeter
from tollgate.providers.eventstream import (
    EventStreamDecoder,
    encode_event,
    event_headers,
    exception_headers,
)

EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {"model": "claude-3-5-haiku-20241022", "usage": {"input_tokens": 9, "output_tokens": 1}},
    },
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hi"}},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
    {"type": "message_stop", "amazon-bedrock-invocationMetrics": {"outputTokenCount": 7}},
]


def chunk(event: dict[str, Any]) -> bytes:
    payload = {"bytes": base64.b64encode(jsonx.dumps(event)).decode(), "p": "abc"}
    return encode_event(event_headers("chunk"), jsonx.dumps(payload))


def decoded(frame: bytes) -> Any:
    return EventStreamDecoder().feed(frame)[0]


def test_the_body_loses_model_and_stream_and_gains_a_version() -> None:
    body = {"model": "m", "stream": True, "max_tokens": 5, "messages": []}
    assert anthropic_body_for_bedrock(body) == {
        "max_tokens": 5,
        "messages": [],
        "anthropic_version": "bedrock-2023-05-31",
    }
    assert body["model"] == "m"  # the input is untouched
    assert (
        anthropic_body_for_bedrock({"anthropic_version": "2026-10-21"})["anthropic_version"] == "2026-10-21"
    )


def test_the_meter_reads_usage_from_decoded_chunks_and_completes_at_message_stop() -> None:
    meter = open_eventstream_meter("aws_bedrock", Operation.MESSAGES)
    assert isinstance(meter, InvokeStreamMeter)
    for event in EVENTS[:-1]:
        meter.observe(decoded(chunk(event)))
    assert not meter.complete
    meter.observe(decoded(chunk(EVENTS[-1])))
    result = meter.result()
    assert meter.complete and meter.error is None and result.finish_reason == "end_turn"
    assert result.usage is not None
    assert (result.usage.input_tokens, result.usage.output_tokens) == (9, 7)
    assert result.upstream_model == "claude-3-5-haiku-20241022"


def test_an_exception_frame_is_the_meters_error() -> None:
    meter = InvokeStreamMeter("aws_bedrock")
    meter.observe(decoded(chunk(EVENTS[0])))
    meter.observe(decoded(encode_event(exception_headers("throttlingException"), b'{"message":"slow"}')))
    assert meter.error == {"code": "throttlingException", "message": "slow"}
    assert meter.result().error == meter.error and not meter.complete


def test_converse_streams_keep_their_own_meter() -> None:
    assert isinstance(open_eventstream_meter("aws_bedrock", Operation.CONVERSE), BedrockStreamMeter)


def test_chunks_become_anthropic_sse_and_an_unfinished_stream_ends_in_error() -> None:
    sse = InvokeAsAnthropicSse()
    payload = decoded(chunk(EVENTS[1])).payload.decode()
    out = sse.event("chunk", payload)
    assert out.startswith(b"event: content_block_delta\ndata: {") and out.endswith(b"\n\n")
    assert jsonx.loads(out.split(b"data: ", 1)[1]) == EVENTS[1]
    assert sse.event("chunk", '{"bytes": "not base64!"}') == b""
    ended = sse.end()
    assert ended.startswith(b"event: error\n") and b"before message_stop" in ended
    assert sse.end() == b"" and sse.event("chunk", payload) == b""


def test_a_finished_stream_needs_no_closing_and_errors_name_their_kind() -> None:
    sse = InvokeAsAnthropicSse()
    sse.event("chunk", decoded(chunk(EVENTS[-1])).payload.decode())
    assert sse.end() == b""
    throttled = InvokeAsAnthropicSse().error(UpstreamError("slow", code="throttlingException"))
    assert b'"rate_limit_error"' in throttled and b'"slow"' in throttled
