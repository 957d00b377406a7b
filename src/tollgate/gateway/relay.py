"""Relays a streamed upstream answer to the client while metering a tee of it.

Each upstream read is split into events and forwarded at once (only a usage chunk the
gateway asked for on the client's behalf is held back). The record is appended to the journal
*before* the terminal event is forwarded, so a client that received the whole stream always
has a record. If the client goes away, the caller keeps draining this iterator so the call is
still metered; if upstream breaks, an error event in the stream's own format ends it (AWS's
binary event stream ends with an exception frame; a JSON array has no such event:
``StreamAborted`` tells the response to cut the transfer).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from tollgate.core import jsonx
from tollgate.core.errors import TollgateError, UpstreamError
from tollgate.gateway.call import GatewayCall, StreamAborted, StreamState
from tollgate.gateway.estimate import estimate_usage
from tollgate.gateway.recorder import Finish, Recorder, Timing
from tollgate.gateway.upstream import UpstreamResponse
from tollgate.providers.base import MeterResult, SseEvent, StreamMeter
from tollgate.providers.bedrock_invoke import EventStreamMeter, open_eventstream_meter
from tollgate.providers.bedrock_stream import Frame, FrameReader, exception_frame
from tollgate.providers.sse import SseDecoder
from tollgate.providers.streams import open_stream_meter
from tollgate.providers.usage import meter_body

RAW_TEE_LIMIT = 16 * 1024 * 1024
# The relay stopped before the upstream answer ended (cancelled, or closed by the server).
INTERRUPTED = "interrupted"


def _interrupted() -> UpstreamError:
    """What a relay reports until its upstream loop ends normally (cancelled, or closed early)."""
    return UpstreamError("the relay was interrupted before the upstream answer ended", code=INTERRUPTED)


Clock = Callable[[], float]


def stream_error_event(family: str, error: TollgateError) -> bytes:
    """An in-stream error in the format the client's SDK raises on."""
    if family == "anthropic":
        payload = {"type": "error", "error": {"type": "api_error", "message": error.message}}
        return b"event: error\ndata: " + jsonx.dumps(payload) + b"\n\n"
    if family == "gemini":
        payload = {"error": {"code": error.http_status, "message": error.message, "status": "UNAVAILABLE"}}
        return b"data: " + jsonx.dumps(payload) + b"\n\n"
    if family == "cohere":
        # Cohere's SDK raises on nothing in a stream: a failed generation is a message-end
        # whose finish reason is ERROR and whose delta.error says why.
        end = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": error.message}}
        return b"event: message-end\ndata: " + jsonx.dumps(end) + b"\n\n"
    body = {"error": {"message": error.message, "type": "upstream_error", "param": None, "code": error.code}}
    return b"data: " + jsonx.dumps(body) + b"\n\n"


def _error_code(meter: MeterResult | None) -> str | None:
    if meter is None or meter.error is None:
        return None
    err = meter.error
    inner = err.get("error") if isinstance(err.get("error"), dict) else err
    for field in ("code", "type", "status"):
        value = inner.get(field) if isinstance(inner, dict) else None
        if isinstance(value, str | int) and value != "error":
            return str(value)
    return "upstream_stream_error"


class Relay:
    def __init__(
        self,
        call: GatewayCall,
        response: UpstreamResponse,
        recorder: Recorder,
        timing: Timing,
        state: StreamState,
        monotonic: Clock,
        request_bytes: int,
    ) -> None:
        self._call = call
        self._response = response
        self._recorder = recorder
        self._timing = timing
        self._state = state
        self._monotonic = monotonic
        self._request_bytes = request_bytes
        self._data_chars = 0

    def _finish(self, meter: MeterResult | None, failure: TollgateError | None) -> None:
        if self._state.record is not None:
            return
        self._timing.upstream_done = self._monotonic()
        status_code = self._response.status
        error_code = _error_code(meter)
        if failure is not None and failure.code == INTERRUPTED and self._state.client_gone:
            status, http_status = "client_closed", 499
        elif failure is not None:
            status, http_status, error_code = "error", failure.http_status, failure.code
        elif status_code >= 400 or error_code:
            status, http_status = "error", status_code if status_code >= 400 else 502
            error_code = error_code or f"upstream_{status_code}"
        elif self._state.client_gone:
            status, http_status = "client_closed", 499
        else:
            status, http_status = "success", status_code
        finish = Finish(
            status=status,
            http_status=http_status,
            meter=meter,
            error_code=error_code,
            estimate=estimate_usage(self._request_bytes, self._data_chars),
        )
        self._state.record = self._recorder.record(self._call, finish, self._timing)

    async def sse(self) -> AsyncIterator[bytes]:
        call = self._call
        decoder = SseDecoder()
        meter = open_stream_meter(call.spec.id, call.operation, drop_usage_chunk=call.drop_usage_chunk)
        failure: TollgateError | None = _interrupted()
        try:
            async for chunk in self._response.chunks():
                out = self._pass(decoder.feed(chunk), meter)
                if out:
                    yield out
            out = self._pass(decoder.flush(), meter)
            if out:
                yield out
            failure = None
        except TollgateError as exc:
            failure = exc
        finally:
            self._finish(meter.result(), failure)
            await self._response.aclose()
        if failure is not None:
            yield self._error_event(failure)
        elif call.translator is not None:
            yield call.translator.end()

    def _error_event(self, failure: TollgateError) -> bytes:
        translator = self._call.translator
        if translator is not None:
            return translator.error(failure)
        return stream_error_event(self._call.spec.family, failure)

    def _pass(self, events: list[SseEvent], meter: StreamMeter) -> bytes:
        out: list[bytes] = []
        translator = self._call.translator
        for event in events:
            self._data_chars += len(event.data)
            forward = meter.observe(event)
            if meter.complete and self._state.record is None:
                # The terminal event is about to go out: the record goes to the journal first.
                self._finish(meter.result(), None)
            if not forward:
                continue
            out.append(event.raw if translator is None else translator.event(event.event, event.data))
        return b"".join(out)

    async def raw(self) -> AsyncIterator[bytes]:
        """A streamed answer that is not SSE (e.g. Gemini's JSON array): relay, keep a bounded copy."""
        tee = bytearray()
        failure: TollgateError | None = _interrupted()
        meter: MeterResult | None = None
        try:
            async for chunk in self._response.chunks():
                if len(tee) < RAW_TEE_LIMIT:
                    tee += chunk
                yield chunk
            meter = _meter_raw(self._call, bytes(tee))
            failure = None
        except TollgateError as exc:
            failure = exc
        finally:
            self._finish(meter, failure)
            await self._response.aclose()
        if failure is not None:
            # No in-band error exists for a JSON array: the client must see the transfer break.
            raise StreamAborted(failure.message) from failure

    async def eventstream(self) -> AsyncIterator[bytes]:
        """AWS's binary event stream (Bedrock ConverseStream, or Claude's InvokeModelWithResponseStream,
        metered by operation: ``bedrock_invoke.open_eventstream_meter``), relayed frame by frame.

        A frame goes out only once both its CRCs checked out, so a corrupt or cut stream ends at a
        frame boundary with tollgate's own exception frame (``exception_frame``) and the AWS SDK
        raises. The record is written before the terminal frame goes out: ``metadata`` (the usage,
        after ``messageStop``; for invoke, ``message_stop``), or an exception frame inside the 200,
        recorded under its type.
        """
        call = self._call
        reader = FrameReader()
        meter = open_eventstream_meter(call.spec.id, call.operation)
        failure: TollgateError | None = _interrupted()
        try:
            async for chunk in self._response.chunks():
                out = self._frames(reader.feed(chunk), meter)
                if out:
                    yield out
                if meter.error is not None:
                    break  # an exception frame ends the stream
            else:
                reader.finish()
            failure = None
        except TollgateError as exc:
            failure = exc
        finally:
            self._finish(meter.result(), failure)
            await self._response.aclose()
        if failure is not None and not meter.complete:
            translator = call.translator
            yield exception_frame(failure) if translator is None else translator.error(failure)
        elif call.translator is not None and meter.error is None:
            yield call.translator.end()

    def _frames(self, frames: list[Frame], meter: EventStreamMeter) -> bytes:
        out: list[bytes] = []
        translator = self._call.translator
        for frame in frames:
            message = frame.message
            self._data_chars += len(message.payload)
            meter.observe(message)
            if (meter.complete or meter.error is not None) and self._state.record is None:
                # The terminal frame is about to go out: the record goes to the journal first.
                self._finish(meter.result(), None)
            exception = meter.exception()
            if translator is None:
                out.append(frame.raw)
            elif exception is not None:
                out.append(translator.error(exception))
            elif message.message_type == "event":
                out.append(translator.event(message.event_type, message.payload.decode(errors="replace")))
            if exception is not None:
                break
        return b"".join(out)


def _meter_raw(call: GatewayCall, data: bytes) -> MeterResult | None:
    try:
        parsed = jsonx.loads(data)
    except jsonx.JSONDecodeError:
        return None
    if isinstance(parsed, list):
        items = [item for item in parsed if isinstance(item, dict)]
        if not items:
            return None
        with_usage = [item for item in items if "usageMetadata" in item or "usage" in item]
        parsed = (with_usage or items)[-1]
    return meter_body(call.spec.id, call.operation, parsed)
