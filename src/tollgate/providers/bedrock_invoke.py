"""Claude on Bedrock's ``InvokeModel`` (PROVIDERS.md A.6, last bullet): Anthropic bodies, AWS framing.

- ``anthropic_body_for_bedrock``: the Messages body as ``/invoke`` takes it: ``model`` moves to the
  path, ``stream`` is the path's business (``/invoke-with-response-stream``), and
  ``anthropic_version`` goes in the body. A client's own ``anthropic_version`` is kept (newer Claude
  models on Bedrock want a newer one than the default); otherwise ``bedrock-2023-05-31``.
- ``InvokeStreamMeter``: meters ``/invoke-with-response-stream``, whose ``chunk`` frames carry
  ``{"bytes": <base64 of one Anthropic stream event>}``: each event is read as the Anthropic meter
  reads SSE (usage from ``message_start`` and ``message_delta``, whole at ``message_stop``).
- ``InvokeAsAnthropicSse``: a ``StreamTranslator`` writing each decoded event as Anthropic SSE.
- ``open_eventstream_meter``: the meter for a Bedrock event stream, by operation.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

from tollgate.core import jsonx
from tollgate.core.errors import TollgateError, UpstreamError
from tollgate.providers.base import MeterResult, Operation, SseEvent
from tollgate.providers.bedrock_stream import BedrockStreamMeter, as_exception, stream_error
from tollgate.providers.eventstream import EventMessage
from tollgate.providers.normalize import obj, text
from tollgate.providers.streams import AnthropicMeter

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
SSE = "text/event-stream"
# The Bedrock exception a client's Anthropic SDK sees as the closest Anthropic error type.
_ERROR_TYPES: Mapping[str, str] = {
    "throttlingException": "rate_limit_error",
    "serviceUnavailableException": "overloaded_error",
    "validationException": "invalid_request_error",
}


def anthropic_body_for_bedrock(body: Mapping[str, Any]) -> dict[str, Any]:
    """The Messages body for ``/invoke``; the input is not modified."""
    out = {k: v for k, v in body.items() if k not in ("model", "stream")}
    if not isinstance(out.get("anthropic_version"), str) or not out["anthropic_version"]:
        out["anthropic_version"] = BEDROCK_ANTHROPIC_VERSION
    return out


def chunk_event(payload: bytes | str) -> str | None:
    """The Anthropic event JSON text a ``chunk`` frame's ``{"bytes": <base64>}`` carries, else None."""
    try:
        encoded = obj(jsonx.loads(payload)).get("bytes")
        return base64.b64decode(encoded, validate=True).decode() if isinstance(encoded, str) else None
    except (jsonx.JSONDecodeError, binascii.Error, UnicodeDecodeError):
        return None


class EventStreamMeter(Protocol):
    """Reads a Bedrock event stream's frames as they pass. One per stream."""

    def observe(self, message: EventMessage) -> None: ...

    @property
    def complete(self) -> bool: ...

    @property
    def error(self) -> Mapping[str, Any] | None: ...

    def exception(self) -> UpstreamError | None: ...

    def result(self) -> MeterResult: ...


class InvokeStreamMeter:
    """One per ``/invoke-with-response-stream``: ``complete`` at ``message_stop``; ``error`` once an
    exception frame (or an Anthropic ``error`` event) was read."""

    __slots__ = ("_anthropic", "_error")

    def __init__(self, provider: str) -> None:
        self._anthropic = AnthropicMeter(provider)
        self._error: Mapping[str, Any] | None = None

    def observe(self, message: EventMessage) -> None:
        error = stream_error(message)
        if error is not None:
            self._error = error
            return
        if message.event_type != "chunk":
            return
        data = chunk_event(message.payload)
        if data is not None:
            self._anthropic.observe(SseEvent(None, data, b""))
            inner = self._anthropic.result().error
            if inner is not None and self._error is None:
                self._error = _named(inner)

    @property
    def complete(self) -> bool:
        return self._anthropic.complete

    @property
    def error(self) -> Mapping[str, Any] | None:
        return self._error

    def exception(self) -> UpstreamError | None:
        return as_exception(self._error)

    def result(self) -> MeterResult:
        result = self._anthropic.result()
        if self._error is None:
            return result
        return dataclasses.replace(result, error=self._error)


def _named(error: Mapping[str, Any]) -> Mapping[str, Any]:
    """An Anthropic error object as ``{code, message}``."""
    code = text(error.get("type")) or "error"
    return {"code": code, "message": text(error.get("message")) or code}


def open_eventstream_meter(provider: str, operation: Operation) -> EventStreamMeter:
    """Claude's ``/invoke-with-response-stream`` (``messages``) or ConverseStream (the rest)."""
    if operation is Operation.MESSAGES:
        return InvokeStreamMeter(provider)
    return BedrockStreamMeter(provider)


def _sse(name: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"event: {name}\n{lines}\n".encode()


class InvokeAsAnthropicSse:
    """A ``StreamTranslator``: each ``chunk``'s Anthropic event as ``event: <type>`` / ``data: <json>``.

    A stream that ends before ``message_stop`` (or breaks) ends with an Anthropic ``event: error``,
    so the SDK raises rather than take the answer for a whole one; nothing follows an error.
    """

    __slots__ = ("_broken", "_stopped")
    content_type = SSE

    def __init__(self) -> None:
        self._stopped = False
        self._broken = False

    def event(self, name: str | None, data: str) -> bytes:
        if self._broken or name != "chunk":
            return b""
        event = chunk_event(data)
        if event is None:
            return b""
        kind = text(obj(_loads(event)).get("type")) or "message"
        self._stopped = self._stopped or kind == "message_stop"
        self._broken = kind == "error"
        return _sse(kind, event)

    def end(self) -> bytes:
        if self._stopped or self._broken:
            return b""
        return self.error(UpstreamError("the Bedrock stream ended before message_stop"))

    def error(self, error: TollgateError) -> bytes:
        if self._broken:
            return b""
        self._broken = True
        kind = _ERROR_TYPES.get(error.code, "api_error")
        payload = {"type": "error", "error": {"type": kind, "message": error.message}}
        return b"event: error\ndata: " + jsonx.dumps(payload) + b"\n\n"


def _loads(data: str) -> object:
    try:
        return jsonx.loads(data)
    except jsonx.JSONDecodeError:
        return None
