"""Stream meters: read a relayed stream's events as they pass, to find usage. One per stream.

One small class per stream family; ``open_stream_meter`` picks it. Every meter keeps the *last*
usage it saw (never sums chunks) and normalises it once, in ``result()``.

This is the hot path (every chunk of every stream), so a meter parses JSON only when the
chunk can tell it something: substring tests on the raw text skip the rest. They are sound
because in JSON text a key such as ``"usage"`` (quote, name, quote) can only be a real key --
inside a string value every quote is escaped (``\\"usage\\"``). A test that fails only means
the chunk is parsed; it never makes a meter miss anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tollgate.core.jsonx import loads
from tollgate.providers.base import MeterResult, Operation, SseEvent, StreamMeter
from tollgate.providers.error_codes import FAILED_FINISH, finish_error
from tollgate.providers.normalize import (
    NORMALISERS,
    Family,
    family_of,
    obj,
    reported_cost,
    text,
)
from tollgate.providers.usage import cohere_error, error_of, finish_reason_of, model_of, price_context_of


def open_stream_meter(provider: str, operation: Operation, *, drop_usage_chunk: bool) -> StreamMeter:
    """A fresh meter for one stream.

    ``drop_usage_chunk``: the gateway added ``stream_options.include_usage`` for a client that
    did not ask for it, so the usage-only chunk it causes must not reach the client. Only the
    OpenAI chat family has such a chunk; the other meters ignore the flag.
    """
    match family_of(provider, operation):
        case Family.OPENAI_CHAT:
            return OpenAIChatMeter(provider, drop_usage_chunk=drop_usage_chunk)
        case Family.OPENAI_RESPONSES:
            return ResponsesMeter(provider)
        case Family.ANTHROPIC:
            return AnthropicMeter(provider)
        case Family.GEMINI:
            return GeminiMeter(provider)
        case Family.COHERE:
            return CohereMeter(provider)
        case _:  # embeddings do not stream; Bedrock's binary event stream: ``bedrock_stream``
            return NullMeter()


def _parse(data: str) -> Mapping[str, Any] | None:
    try:
        value = loads(data)
    except ValueError:  # orjson.JSONDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None


def _result(
    family: Family,
    provider: str,
    usage: object,
    model: str | None,
    error: Mapping[str, Any] | None,
    finish: str | None,
    context_source: Mapping[str, Any] | None = None,
) -> MeterResult:
    if usage is None:
        return MeterResult(usage=None, upstream_model=model, error=error, finish_reason=finish)
    return MeterResult(
        usage=NORMALISERS[family](provider, usage),
        upstream_model=model,
        reported_cost_usd=reported_cost(provider, usage),
        error=error,
        finish_reason=finish,
        price_context=price_context_of(family, context_source or {}, usage),
    )


class OpenAIChatMeter:
    """Chat Completions chunks (all OpenAI-compatible providers); complete at ``data: [DONE]``.

    Usage may arrive on any chunk (xAI and Together send it before the last one): the last
    non-null ``usage`` wins. Azure's leading chunks with empty ``choices`` and only filter
    results (and an empty ``model``) are read like any other.
    """

    __slots__ = ("_done", "_drop", "_error", "_finish", "_model", "_provider", "_tier", "_usage")

    def __init__(self, provider: str, *, drop_usage_chunk: bool) -> None:
        self._provider = provider
        self._drop = drop_usage_chunk
        self._tier: Mapping[str, Any] = {}
        self._usage: Mapping[str, Any] | None = None
        self._model: str | None = None
        self._finish: str | None = None
        self._error: Mapping[str, Any] | None = None
        self._done = False

    def observe(self, event: SseEvent) -> bool:
        data = event.data
        if not data:
            return True
        if data[0] == "[":
            if data.startswith("[DONE]"):
                self._done = True
            return True
        if (
            self._model is not None
            and ('"usage":null' in data or '"usage"' not in data)
            and '"error"' not in data
            and '"finish_reason":"' not in data
            and '"finish_reason": "' not in data
        ):
            return True  # a plain delta: no usage, no error, no finish reason
        chunk = _parse(data)
        if chunk is None:
            return True
        if self._model is None:
            self._model = text(chunk.get("model"))
        if (error := error_of(chunk)) is not None:
            self._error = error
        if finish := finish_reason_of(Family.OPENAI_CHAT, chunk):
            self._finish = finish
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = usage
            self._tier = {"service_tier": chunk.get("service_tier")}
            if self._drop and chunk.get("choices") == [] and error is None:
                return False  # the usage-only chunk the gateway asked for on the client's behalf
        return True

    @property
    def complete(self) -> bool:
        return self._done

    def result(self) -> MeterResult:
        return _result(
            Family.OPENAI_CHAT,
            self._provider,
            self._usage,
            self._model,
            self._error,
            self._finish,
            self._tier,
        )


_RESPONSES_TERMINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesMeter:
    """OpenAI Responses events: usage only in the terminal event's ``response.usage``."""

    __slots__ = ("_done", "_error", "_model", "_provider", "_response")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._response: Mapping[str, Any] = obj(None)
        self._model: str | None = None
        self._error: Mapping[str, Any] | None = None
        self._done = False

    def observe(self, event: SseEvent) -> bool:
        name, payload = event.event, None
        if name is None:  # a relay that dropped the event lines: the type is in the data
            payload = _parse(event.data) if event.data else None
            if payload is None:
                return True
            name = text(payload.get("type"))
        if name in _RESPONSES_TERMINAL:
            payload = payload or _parse(event.data)
            if payload is not None:
                self._response = obj(payload.get("response"))
                self._model = text(self._response.get("model")) or self._model
                self._error = error_of(self._response) or self._error
                self._done = True
        elif name == "error":
            payload = payload or _parse(event.data)
            if payload is not None:
                self._error = error_of(payload)
        elif name == "response.created" and self._model is None:
            payload = payload or _parse(event.data)
            if payload is not None:
                self._model = text(obj(payload.get("response")).get("model"))
        return True

    @property
    def complete(self) -> bool:
        return self._done

    def result(self) -> MeterResult:
        response = self._response
        finish = finish_reason_of(Family.OPENAI_RESPONSES, response) if self._done else None
        return _result(
            Family.OPENAI_RESPONSES,
            self._provider,
            response.get("usage"),
            self._model,
            self._error,
            finish,
            response,
        )


class AnthropicMeter:
    """Anthropic Messages events, accumulated as the SDK does: start from ``message_start``'s
    usage; each ``message_delta`` overwrites every field it carries non-null (its counts are
    cumulative, not increments). Complete at ``message_stop``; ``ping`` is ignored."""

    __slots__ = ("_done", "_error", "_finish", "_model", "_provider", "_usage")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._usage: dict[str, Any] | None = None
        self._model: str | None = None
        self._finish: str | None = None
        self._error: Mapping[str, Any] | None = None
        self._done = False

    def observe(self, event: SseEvent) -> bool:
        name, payload = event.event, None
        if name is None:
            payload = _parse(event.data) if event.data else None
            if payload is None:
                return True
            name = text(payload.get("type"))
        if name not in ("message_start", "message_delta", "message_stop", "error"):
            return True  # content blocks and pings carry no usage
        if name == "message_stop":
            self._done = True
            return True
        payload = payload or _parse(event.data)
        if payload is None:
            return True
        if name == "message_start":
            message = obj(payload.get("message"))
            self._model = text(message.get("model")) or self._model
            self._usage = dict(obj(message.get("usage")))
        elif name == "message_delta":
            usage = self._usage if self._usage is not None else {}
            usage.update((k, v) for k, v in obj(payload.get("usage")).items() if v is not None)
            self._usage = usage
            self._finish = text(obj(payload.get("delta")).get("stop_reason")) or self._finish
        else:
            self._error = error_of(payload)
        return True

    @property
    def complete(self) -> bool:
        return self._done

    def result(self) -> MeterResult:
        return _result(Family.ANTHROPIC, self._provider, self._usage, self._model, self._error, self._finish)


class GeminiMeter:
    """Gemini ``streamGenerateContent?alt=sse``: every chunk carries ``usageMetadata`` with growing
    counts, so the last one wins. Complete once a candidate has a ``finishReason``; one that says the
    generation failed (``MALFORMED_FUNCTION_CALL``, ...) is the stream's error.

    Chunks are parsed only when they might hold a model, finish reason or error; otherwise the
    text of the latest chunk with ``usageMetadata`` is kept and parsed once, in ``result()``.
    """

    __slots__ = ("_done", "_error", "_finish", "_model", "_pending", "_provider", "_usage")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._usage: object = None
        self._pending: str | None = None  # newer than _usage, not parsed yet
        self._model: str | None = None
        self._finish: str | None = None
        self._error: Mapping[str, Any] | None = None
        self._done = False

    def observe(self, event: SseEvent) -> bool:
        data = event.data
        if not data:
            return True
        if self._model is not None and '"finishReason"' not in data and '"error"' not in data:
            if '"usageMetadata"' in data:
                self._pending = data
            return True
        chunk = _parse(data)
        if chunk is None:
            return True
        self._take(chunk)
        return True

    def _take(self, chunk: Mapping[str, Any]) -> None:
        self._model = self._model or model_of(Family.GEMINI, chunk)
        if (error := error_of(chunk)) is not None:
            self._error = error
        if (usage := chunk.get("usageMetadata")) is not None:
            self._usage, self._pending = usage, None
        if finish := finish_reason_of(Family.GEMINI, chunk):
            self._finish, self._done = finish, True
            self._error = self._error or finish_error(Family.GEMINI, finish)

    @property
    def complete(self) -> bool:
        return self._done

    def result(self) -> MeterResult:
        if self._pending is not None:
            chunk = _parse(self._pending)
            self._pending = None
            if chunk is not None:
                self._usage = chunk.get("usageMetadata", self._usage)
        return _result(Family.GEMINI, self._provider, self._usage, self._model, self._error, self._finish)


class CohereMeter:
    """Cohere v2 chat: dispatch on the data's ``type`` (the ``event:`` line is ignored, as the SDK
    does); usage and finish reason arrive in ``message-end``'s ``delta``, which completes the
    stream. A generation that failed mid-stream ends with a ``message-end`` whose finish reason is
    ``ERROR`` (or ``TIMEOUT``) and whose ``delta.error`` says why; an error object in place of an
    event (``{"id", "message"}``, no ``type``) is an error too. Both are the stream's error."""

    __slots__ = ("_done", "_error", "_finish", "_provider", "_usage")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._usage: object = None
        self._finish: str | None = None
        self._error: Mapping[str, Any] | None = None
        self._done = False

    def observe(self, event: SseEvent) -> bool:
        data = event.data
        # Every regular event has a "type"; only message-end and error objects matter.
        if not data or ('"message-end"' not in data and '"error"' not in data and '"type"' in data):
            return True
        chunk = _parse(data)
        if chunk is None:
            return True
        kind = chunk.get("type")
        if kind == "message-end":
            delta = obj(chunk.get("delta"))
            self._usage = delta.get("usage", self._usage)
            self._finish = text(delta.get("finish_reason"))
            reason = text(delta.get("error"))
            if reason is not None or self._finish in FAILED_FINISH[Family.COHERE]:
                self._error = {"message": reason or "generation failed", "finish_reason": self._finish}
            self._done = True
        elif (error := error_of(chunk) or (cohere_error(chunk) if kind is None else None)) is not None:
            self._error = error
        return True

    @property
    def complete(self) -> bool:
        return self._done

    def result(self) -> MeterResult:
        return _result(Family.COHERE, self._provider, self._usage, None, self._error, self._finish)


class NullMeter:
    """For streams whose format tollgate does not meter: forwards everything, learns nothing.
    ``complete`` stays False because nothing says the stream was whole."""

    __slots__ = ()

    def observe(self, event: SseEvent) -> bool:
        return True

    @property
    def complete(self) -> bool:
        return False

    def result(self) -> MeterResult:
        return MeterResult(usage=None)
