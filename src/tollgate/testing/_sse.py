"""Server-sent-event framing, byte for byte as the providers send it.

- OpenAI Chat Completions and its compatible family: ``data: {json}`` frames, ending ``data: [DONE]``.
- OpenAI Responses and Anthropic: ``event: <name>`` then ``data: {json}``; no ``[DONE]``.
- Gemini: ``data: {json}`` frames separated by CRLF blank lines; no ``[DONE]``.
- Comments (``: keep-alive``) are lines starting with a colon; clients ignore them.
"""

from __future__ import annotations

from typing import Any

from tollgate.core import jsonx

DONE = b"data: [DONE]\n\n"
EVENT_STREAM = b"text/event-stream; charset=utf-8"


def data_frame(payload: Any) -> bytes:
    return b"data: " + jsonx.dumps(payload) + b"\n\n"


def crlf_data_frame(payload: Any) -> bytes:
    return b"data: " + jsonx.dumps(payload) + b"\r\n\r\n"


def event_frame(event: str, payload: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + jsonx.dumps(payload) + b"\n\n"


def comment_frame(text: str) -> bytes:
    return b": " + text.encode() + b"\n\n"


def truncated(frame: bytes) -> bytes:
    """The same frame with its JSON data cut in half: a frame whose data is not valid JSON.

    Half of a JSON object never balances its braces, so the result cannot parse by accident.
    """
    start = frame.find(b"data: ")
    if start < 0:
        return b"data: {\n\n"
    start += len(b"data: ")
    end = frame.find(b"\n", start)
    newline = b"\n"
    if end < 0:
        end = len(frame)
    elif frame[end - 1 : end] == b"\r":
        end -= 1
        newline = b"\r\n"
    payload = frame[start:end]
    return frame[:start] + payload[: max(len(payload) // 2, 1)] + newline + newline
