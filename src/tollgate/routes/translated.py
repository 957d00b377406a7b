"""A door answering in its own format for a provider that speaks another: the door side of hub
translation (the target side is ``providers/translate/targets.py``).

A ``Translation`` is made per call. It rewrites a buffered native answer into the door's body
(a native error becomes a ``TollgateError`` with the provider's status, which the door renders in
its error shape), and makes the ``StreamTranslator`` the relay feeds each native stream event to.
Metering is untouched: cost comes from the native usage as it passes.

After a stream reports an error nothing more is written: no usage chunk, no ``[DONE]``, no
``message_stop``, so no client can take the broken answer for a whole one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tollgate.core import jsonx
from tollgate.core.errors import TollgateError, UpstreamError
from tollgate.gateway.call import StreamTranslator
from tollgate.providers.translate import anthropic_door, openai_chat
from tollgate.providers.translate.hub import (
    Finish,
    FinishReason,
    HubRequest,
    HubResponse,
    HubStreamEvent,
    RoleStart,
    StreamError,
)
from tollgate.providers.translate.targets import EventReader, Target
from tollgate.providers.usage import error_of

SSE = "text/event-stream"


@dataclass(frozen=True, slots=True)
class Answer:
    """Who the answer is for: ids and the model name the client sees when upstream gives none."""

    fallback_id: str
    model: str
    created: int  # unix seconds

    def fill(self, resp: HubResponse) -> HubResponse:
        return dataclasses.replace(resp, id=resp.id or self.fallback_id, model=resp.model or self.model)


class DoorSide(Protocol):
    """A door's half of a translation: its request into the hub, the hub back into its format."""

    @property
    def id_prefix(self) -> str:
        """Ids this door's answers carry when upstream gives none (``chatcmpl-``, ``msg_``)."""
        ...

    def to_hub(self, body: Mapping[str, Any], model: str) -> HubRequest: ...

    def body(self, resp: HubResponse, answer: Answer, target: str) -> dict[str, Any]: ...

    def stream(self, reader: EventReader, answer: Answer, req: HubRequest) -> StreamTranslator: ...


def _breaks(event: HubStreamEvent) -> bool:
    return isinstance(event, StreamError) or (
        isinstance(event, Finish) and event.reason is FinishReason.ERROR
    )


# -- OpenAI Chat Completions --------------------------------------------------------------------


def _data(chunk: Mapping[str, Any]) -> bytes:
    return b"data: " + jsonx.dumps(chunk) + b"\n\n"


@dataclass(slots=True)
class OpenAIChunks:
    """Native events → ``data: {chat.completion.chunk}`` frames, the usage chunk when the client
    asked for it, then ``data: [DONE]``."""

    reader: EventReader
    answer: Answer
    include_usage: bool
    content_type: str = SSE
    _encoder: openai_chat.ChunkEncoder | None = None
    _broken: bool = False

    def _encoder_for(self, first: HubStreamEvent) -> openai_chat.ChunkEncoder:
        if self._encoder is None:
            start = first if isinstance(first, RoleStart) else RoleStart()
            self._encoder = openai_chat.ChunkEncoder(
                id=start.id or self.answer.fallback_id,
                created=self.answer.created,
                model=start.model or self.answer.model,
                include_usage=self.include_usage,
            )
        return self._encoder

    def event(self, name: str | None, data: str) -> bytes:
        out: list[bytes] = []
        for hub_event in self.reader.feed(name, data):
            if self._broken:
                break
            out += map(_data, self._encoder_for(hub_event).encode(hub_event))
            self._broken = _breaks(hub_event)
        return b"".join(out)

    def end(self) -> bytes:
        if self._broken:
            return b""
        closing = self._encoder.close() if self._encoder is not None else []
        return b"".join(map(_data, closing)) + b"data: [DONE]\n\n"

    def error(self, error: TollgateError) -> bytes:
        if self._broken:
            return b""
        self._broken = True
        body = {"message": error.message, "type": "upstream_error", "param": None, "code": error.code}
        return _data({"error": body})


@dataclass(frozen=True, slots=True)
class OpenAIDoor:
    id_prefix: str = "chatcmpl-"

    def to_hub(self, body: Mapping[str, Any], model: str) -> HubRequest:
        return openai_chat.request_to_hub(body, model)

    def body(self, resp: HubResponse, answer: Answer, target: str) -> dict[str, Any]:
        return openai_chat.response_body(answer.fill(resp), created=answer.created, target=target)

    def stream(self, reader: EventReader, answer: Answer, req: HubRequest) -> StreamTranslator:
        return OpenAIChunks(reader, answer, req.include_usage)


# -- Anthropic Messages -------------------------------------------------------------------------


def _event(name: str, data: Mapping[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + jsonx.dumps(data) + b"\n\n"


@dataclass(slots=True)
class AnthropicEvents:
    """Native events → Anthropic's named SSE events, ending with ``message_delta`` (stop reason and
    usage) and ``message_stop``."""

    reader: EventReader
    answer: Answer
    content_type: str = SSE
    _encoder: anthropic_door.EventEncoder | None = None
    _broken: bool = False

    def _encoder_for(self, first: HubStreamEvent | None) -> anthropic_door.EventEncoder:
        if self._encoder is None:
            start = first if isinstance(first, RoleStart) else RoleStart()
            self._encoder = anthropic_door.EventEncoder(
                id=start.id or self.answer.fallback_id, model=start.model or self.answer.model
            )
        return self._encoder

    def event(self, name: str | None, data: str) -> bytes:
        out: list[bytes] = []
        for hub_event in self.reader.feed(name, data):
            if self._broken:
                break
            out += (_event(n, d) for n, d in self._encoder_for(hub_event).encode(hub_event))
            # A finish in error is only known to be one at the close: write it now.
            if isinstance(hub_event, Finish) and hub_event.reason is FinishReason.ERROR:
                out += (_event(n, d) for n, d in self._encoder_for(None).close())
            self._broken = _breaks(hub_event)
        return b"".join(out)

    def end(self) -> bytes:
        if self._broken:
            return b""
        return b"".join(_event(n, d) for n, d in self._encoder_for(None).close())

    def error(self, error: TollgateError) -> bytes:
        if self._broken:
            return b""
        self._broken = True
        return _event("error", {"type": "error", "error": {"type": "api_error", "message": error.message}})


@dataclass(frozen=True, slots=True)
class AnthropicDoor:
    id_prefix: str = "msg_"

    def to_hub(self, body: Mapping[str, Any], model: str) -> HubRequest:
        return anthropic_door.request_to_hub(body, model)

    def body(self, resp: HubResponse, answer: Answer, target: str) -> dict[str, Any]:
        return anthropic_door.response_body(answer.fill(resp), target=target)

    def stream(self, reader: EventReader, answer: Answer, req: HubRequest) -> StreamTranslator:
        return AnthropicEvents(reader, answer)


# -- one call -----------------------------------------------------------------------------------


def native_error(target: str, status: int, parsed: object, raw: bytes | None) -> UpstreamError:
    """The provider's error answer, keeping its status; its message and code as it stated them."""
    payload = parsed if isinstance(parsed, dict) else {}
    inner = error_of(payload) or payload
    message = inner.get("message") if isinstance(inner.get("message"), str) else None
    if message is None and raw and not payload:
        message = raw.decode(errors="replace")[:500]
    code = next(
        (str(v) for k in ("code", "type", "status", "__type") if isinstance(v := inner.get(k), str)),
        f"upstream_{status}",
    )
    return UpstreamError(
        f"{target} answered {status}: {message or 'no error message'}", code=code, status=status
    )


@dataclass(frozen=True, slots=True)
class Translation:
    """One call's translation between a door and a target."""

    door: DoorSide
    target: Target
    hub: HubRequest
    answer: Answer

    def stream(self) -> StreamTranslator:
        return self.door.stream(self.target.reader(), self.answer, self.hub)

    def body(self, status: int, parsed: object, raw: bytes | None) -> dict[str, Any]:
        """The door's answer body for a buffered native answer; raises the provider's error."""
        if status >= 400:
            raise native_error(self.target.name, status, parsed, raw)
        if not isinstance(parsed, dict):
            raise UpstreamError(f"{self.target.name} answered with a body that is not a JSON object")
        return self.door.body(self.target.response(parsed), self.answer, self.target.name)
