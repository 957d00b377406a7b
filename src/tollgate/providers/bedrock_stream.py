"""Relaying and metering Bedrock's ConverseStream (PROVIDERS.md A.6): binary frames, not SSE.

- ``FrameReader`` hands out each frame with its exact bytes, and only once both of its CRCs checked
  out, so a relay forwards whole, verified frames and can end a corrupt stream at a frame boundary.
- ``BedrockStreamMeter`` reads the frames as they pass: the stop reason from ``messageStop``, usage
  only from ``metadata``, which comes *after* ``messageStop``; the answer is whole only once
  ``metadata`` arrived. An ``exception`` frame inside the 200 is the stream's error, named by its
  ``:exception-type``.
- ``exception_frame`` is how tollgate reports its own relay failure in-band, so the AWS SDKs raise.
- ``EventStreamAsSse`` re-frames the events as SSE (``event: <type>``, the JSON unchanged) for
  doors whose clients read SSE.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tollgate.core import jsonx
from tollgate.core.errors import TollgateError, UpstreamError, UpstreamTimeout
from tollgate.providers.base import MeterResult
from tollgate.providers.eventstream import (
    EventMessage,
    EventStreamDecoder,
    EventStreamError,
    encode_event,
    exception_headers,
)
from tollgate.providers.normalize import bedrock_converse, obj, text

_PRELUDE_LENGTH = 12  # total length, headers length, prelude CRC
_TOTAL = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class Frame:
    message: EventMessage
    raw: bytes  # the frame exactly as received, both CRCs included


class FrameReader:
    """Incremental: ``feed`` what the socket gave, get back the frames it completed.

    The decoder is fed at most one frame at a time (first its prelude, then the rest), so every
    message it returns comes with the bytes it was decoded from. At the first corrupt frame, the
    frames completed before it are returned, and the next ``feed`` or ``finish`` raises
    ``EventStreamError``.
    """

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()
        self._frame = bytearray()
        self._broken: EventStreamError | None = None

    def feed(self, data: bytes) -> list[Frame]:
        if self._broken is not None:
            raise self._broken
        frames: list[Frame] = []
        view = memoryview(data)
        while view:
            held = len(self._frame)
            # Once the prelude is in, the decoder has checked its CRC and length: the total is sound.
            end = _TOTAL.unpack_from(self._frame)[0] if held >= _PRELUDE_LENGTH else _PRELUDE_LENGTH
            need = end - held
            piece = bytes(view[:need])
            view = view[need:]
            self._frame += piece
            try:
                messages = self._decoder.feed(piece)
            except EventStreamError as exc:
                self._broken = exc
                if frames:  # hand out the good frames first; the next feed or finish raises
                    return frames
                raise
            if messages:
                frames.append(Frame(messages[0], bytes(self._frame)))
                self._frame.clear()
        return frames

    def finish(self) -> None:
        """At the end of the body: ``EventStreamError`` if it stopped inside a frame (or was corrupt)."""
        if self._broken is not None:
            raise self._broken
        self._decoder.finish()


def _payload(message: EventMessage) -> Mapping[str, Any]:
    try:
        return obj(jsonx.loads(message.payload))
    except jsonx.JSONDecodeError:
        return obj(None)


def stream_error(message: EventMessage) -> Mapping[str, Any] | None:
    """The error an ``exception`` (or event-stream ``error``) frame carries, else None."""
    kind = message.message_type
    if kind == "exception":
        code = message.exception_type or "exception"
        return {"code": code, "message": text(_payload(message).get("message")) or code}
    if kind == "error":
        named, words = message.headers.get(":error-code"), message.headers.get(":error-message")
        code = named if isinstance(named, str) and named else "error"
        return {"code": code, "message": words if isinstance(words, str) and words else code}
    return None


def as_exception(error: Mapping[str, Any] | None) -> UpstreamError | None:
    """A stream error seen by a meter (``{code, message}``), as an error a door can render."""
    if error is None:
        return None
    return UpstreamError(str(error["message"]), code=str(error["code"]))


class BedrockStreamMeter:
    """One per ConverseStream. ``complete`` once ``metadata`` was read; ``error`` once an exception was."""

    __slots__ = ("_done", "_error", "_finish", "_provider", "_usage")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._usage: object = None
        self._finish: str | None = None
        self._error: Mapping[str, Any] | None = None
        self._done = False

    def observe(self, message: EventMessage) -> None:
        error = stream_error(message)
        if error is not None:
            self._error = error
            return
        name = message.event_type
        if name == "messageStop":
            self._finish = text(_payload(message).get("stopReason")) or self._finish
        elif name == "metadata":
            self._usage = _payload(message).get("usage")
            self._done = True

    @property
    def complete(self) -> bool:
        return self._done

    @property
    def error(self) -> Mapping[str, Any] | None:
        return self._error

    def exception(self) -> UpstreamError | None:
        """The error frame seen, as an error a translating door can render."""
        return as_exception(self._error)

    def result(self) -> MeterResult:
        usage = bedrock_converse(self._provider, self._usage) if self._usage is not None else None
        return MeterResult(usage=usage, error=self._error, finish_reason=self._finish)


def exception_frame(error: TollgateError) -> bytes:
    """tollgate's own failure mid-stream, as the exception frame an AWS SDK raises on."""
    kind = "serviceUnavailableException" if isinstance(error, UpstreamTimeout) else "internalServerException"
    payload = {"message": f"tollgate: {error.message}", "code": error.code}
    return encode_event(exception_headers(kind), jsonx.dumps(payload))


class EventStreamAsSse:
    """A ``StreamTranslator``: each Converse event as ``event: <type>`` / ``data: <its JSON>``."""

    content_type = "text/event-stream"

    def event(self, name: str | None, data: str) -> bytes:
        # A line break would end the SSE field: each line goes in its own ``data:`` (SSE joins them).
        lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
        return f"event: {name or 'message'}\n{lines}\n".encode()

    def end(self) -> bytes:
        return b""

    def error(self, error: TollgateError) -> bytes:
        payload = {"error": {"code": error.code, "message": error.message}}
        return b"event: error\ndata: " + jsonx.dumps(payload) + b"\n\n"
