"""What translating a stream costs next to relaying it: CPU per upstream event, one process.

For an Anthropic stream of N text deltas, times (1) what every relayed stream pays: SSE decoding
plus the stream meter, and (2) that plus translation into OpenAI ``chat.completion.chunk`` frames
(hub reader + chunk encoder + JSON). Also times Bedrock event-stream frame reading against
botocore's ``EventStreamBuffer`` on the same bytes. Prints microseconds per event and the ratios.

    python bench/translation.py [events]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from botocore.eventstream import EventStreamBuffer

from tollgate.core import jsonx
from tollgate.providers.base import Operation
from tollgate.providers.bedrock_stream import FrameReader
from tollgate.providers.eventstream import encode_event, event_headers
from tollgate.providers.registry import PROVIDERS
from tollgate.providers.sse import SseDecoder
from tollgate.providers.streams import open_stream_meter
from tollgate.providers.translate.anthropic_door import request_to_hub
from tollgate.providers.translate.targets import target_for
from tollgate.routes.translated import Answer, OpenAIDoor


def anthropic_stream(events: int) -> bytes:
    def ev(name: str, data: object) -> bytes:
        return b"event: " + name.encode() + b"\ndata: " + jsonx.dumps(data) + b"\n\n"

    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 20, "output_tokens": 1},
        },
    }
    parts = [
        ev("message_start", start),
        ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "word "}}
    parts += [ev("content_block_delta", delta)] * events
    parts += [
        ev("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": events},
            },
        ),
        ev("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(parts)


def per_event(fn: Callable[[], object], events: int, rounds: int = 20) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best / events * 1e6


def main(events: int) -> None:
    data = anthropic_stream(events)
    pieces = [data[i : i + 512] for i in range(0, len(data), 512)]

    def relay() -> None:
        decoder, meter = (
            SseDecoder(),
            open_stream_meter("anthropic", Operation.MESSAGES, drop_usage_chunk=False),
        )
        for piece in pieces:
            for event in decoder.feed(piece):
                meter.observe(event)

    hub = request_to_hub(
        {"model": "claude-haiku-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]},
        "claude-haiku-4-5",
    )
    target = target_for(PROVIDERS["anthropic"], "claude-haiku-4-5", response_id="msg_1")

    def translate() -> None:
        decoder, meter = (
            SseDecoder(),
            open_stream_meter("anthropic", Operation.MESSAGES, drop_usage_chunk=False),
        )
        out = OpenAIDoor().stream(target.reader(), Answer("chatcmpl-1", "claude-haiku-4-5", 0), hub)
        for piece in pieces:
            for event in decoder.feed(piece):
                meter.observe(event)
                out.event(event.event, event.data)
        out.end()

    payload = {"contentBlockIndex": 0, "delta": {"text": "word "}, "p": "abcdefgh"}
    frame = encode_event(event_headers("contentBlockDelta"), jsonx.dumps(payload))
    binary = frame * events
    chunks = [binary[i : i + 512] for i in range(0, len(binary), 512)]

    def ours() -> None:
        reader = FrameReader()
        for chunk in chunks:
            reader.feed(chunk)

    def botocore() -> None:
        buffer = EventStreamBuffer()
        for chunk in chunks:
            buffer.add_data(chunk)
            for _ in buffer:
                pass

    relay_us, translate_us = per_event(relay, events), per_event(translate, events)
    ours_us, boto_us = per_event(ours, events), per_event(botocore, events)
    lines = [
        f"SSE relay + meter:              {relay_us:6.2f} us/event",
        f"  + translation to OpenAI:      {translate_us:6.2f} us/event  ({translate_us / relay_us:.1f}x)",
        f"event-stream frames (tollgate): {ours_us:6.2f} us/frame",
        f"event-stream frames (botocore): {boto_us:6.2f} us/frame  ({boto_us / ours_us:.1f}x tollgate's)",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
