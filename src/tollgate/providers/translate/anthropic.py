"""Anthropic Messages as an upstream: hub → request body, response → hub, stream → hub events
(PROVIDERS.md A.3). The door side (Anthropic in, any provider out) is ``anthropic_door``.

Chosen behaviour, stated once:
- ``response_format`` json_object/json_schema is refused: Messages has no JSON mode to map it to
  faithfully, and a forced-tool emulation would change what the model sees.
- ``max_tokens`` is required by Anthropic; absent, ``DEFAULT_MAX_TOKENS`` is sent.
- API version 2026-10-21 removed ``temperature``/``top_p``/``top_k``; pass ``sampling=False`` to
  refuse them for such an upstream instead of forwarding them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tollgate.providers.normalize import anthropic as normalise_usage
from tollgate.providers.normalize import count, obj, text
from tollgate.providers.translate.hub import (
    Finish,
    FinishReason,
    HubRequest,
    HubResponse,
    HubStreamEvent,
    ImagePart,
    Message,
    Part,
    RoleStart,
    StreamError,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    UsageUpdate,
    json_text,
    unsupported,
)

TARGET = "anthropic"
DEFAULT_MAX_TOKENS = 4096

FINISH: Mapping[str, FinishReason] = MappingProxyType(
    {
        "end_turn": FinishReason.STOP,
        "stop_sequence": FinishReason.STOP,
        "pause_turn": FinishReason.STOP,
        "max_tokens": FinishReason.LENGTH,
        "model_context_window_exceeded": FinishReason.LENGTH,
        "tool_use": FinishReason.TOOL_CALLS,
        "refusal": FinishReason.CONTENT_FILTER,
    }
)


def finish_reason(native: str | None) -> FinishReason:
    return FINISH.get(native or "", FinishReason.STOP)


def image_block(image: ImagePart) -> dict[str, Any]:
    if image.url is not None:
        return {"type": "image", "source": {"type": "url", "url": image.url}}
    source = {"type": "base64", "media_type": image.media_type, "data": image.data}
    return {"type": "image", "source": source}


def _block(part: Part) -> dict[str, Any] | None:
    match part:
        case TextPart(text=t):
            return {"type": "text", "text": t} if t else None  # Anthropic rejects empty text blocks
        case ImagePart():
            return image_block(part)
        case ToolCallPart():
            return {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments_object()}
        case ToolResultPart():
            content = [b for b in map(_block, part.content) if b is not None]
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": part.call_id, "content": content}
            if part.is_error:
                block["is_error"] = True
            return block


def messages_body(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    """Anthropic turns: consecutive same-role messages merged (tool results join the user turn)."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        blocks = [b for b in map(_block, message.parts) if b is not None]
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": message.role, "content": blocks})
    return turns


def _tool_choice(choice: ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    mode = choice.mode if choice is not None else "auto"
    body: dict[str, Any] = {"type": {"required": "any"}.get(mode, mode)}
    if mode == "tool" and choice is not None:
        body["name"] = choice.name
    if parallel is False and mode != "none":
        body["disable_parallel_tool_use"] = True
    return body


def request_body(req: HubRequest, *, sampling: bool = True) -> dict[str, Any]:
    """The ``/v1/messages`` body for ``req``; a 400 for anything Anthropic cannot honour."""
    req.refuse_extras(TARGET)
    s = req.sampling
    if req.response_format is not None and req.response_format.kind != "text":
        raise unsupported(f"response_format {req.response_format.kind}", TARGET)
    if s.seed is not None:
        raise unsupported("seed", TARGET)
    body: dict[str, Any] = {
        "model": req.model,
        "max_tokens": s.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": messages_body(req.messages),
    }
    if req.system:
        body["system"] = req.system
    for name, value in (("temperature", s.temperature), ("top_p", s.top_p), ("top_k", s.top_k)):
        if value is not None:
            if not sampling:
                raise unsupported(name, f"{TARGET} (API version 2026-10-21)")
            body[name] = value
    if s.stop:
        body["stop_sequences"] = list(s.stop)
    if req.tools:
        body["tools"] = [
            {"name": t.name, "input_schema": dict(t.parameters)}
            | ({"description": t.description} if t.description else {})
            for t in req.tools
        ]
    if (choice := _tool_choice(req.tool_choice, req.parallel_tool_calls)) is not None:
        body["tool_choice"] = choice
    if req.user:
        body["metadata"] = {"user_id": req.user}
    if req.stream:
        body["stream"] = True
    return body


def response_to_hub(body: Mapping[str, Any]) -> HubResponse:
    parts: list[TextPart | ToolCallPart] = []
    content = body.get("content")
    for block in content if isinstance(content, list) else ():
        b = obj(block)
        if b.get("type") == "text":
            parts.append(TextPart(text(b.get("text")) or ""))
        elif b.get("type") == "tool_use":
            parts.append(ToolCallPart(str(b.get("id")), str(b.get("name")), json_text(b.get("input") or {})))
        # thinking / redacted_thinking blocks carry no answer text; their tokens are in usage.
    native = text(body.get("stop_reason"))
    return HubResponse(
        id=text(body.get("id")) or "",
        model=text(body.get("model")) or "",
        parts=tuple(parts),
        finish_reason=finish_reason(native),
        usage=normalise_usage(TARGET, body.get("usage")),
        native_finish_reason=native,
    )


@dataclass(slots=True)
class StreamReader:
    """Anthropic stream events → hub events, one instance per stream.

    Usage follows the SDK's accumulator: start from ``message_start``'s usage; each
    ``message_delta`` overwrites ``output_tokens`` and every other field that is non-null.
    """

    _usage: dict[str, Any] = field(default_factory=dict)
    _tools: dict[int, int] = field(default_factory=dict)  # content block index -> hub tool index

    def feed(self, event: str | None, data: Mapping[str, Any]) -> list[HubStreamEvent]:
        kind = event or text(data.get("type"))
        if kind == "message_start":
            message = obj(data.get("message"))
            self._usage = dict(obj(message.get("usage")))
            return [RoleStart(text(message.get("id")), text(message.get("model")))]
        if kind == "content_block_start":
            return self._block_start(data)
        if kind == "content_block_delta":
            return self._delta(data)
        if kind == "message_delta":
            return self._message_delta(data)
        if kind == "error":
            error = obj(data.get("error"))
            detail = text(error.get("message")) or "upstream error"
            return [StreamError(detail, text(error.get("type")) or "upstream_error")]
        return []  # ping, content_block_stop, message_stop

    def _block_start(self, data: Mapping[str, Any]) -> list[HubStreamEvent]:
        block, index = obj(data.get("content_block")), count(data.get("index")) or 0
        if block.get("type") == "text" and (initial := text(block.get("text"))):
            return [TextDelta(initial)]
        if block.get("type") != "tool_use":
            return []
        hub_index = self._tools[index] = len(self._tools)
        events: list[HubStreamEvent] = [
            ToolCallStart(hub_index, str(block.get("id")), str(block.get("name")))
        ]
        if block.get("input"):  # input normally streams as input_json_delta, starting from {}
            events.append(ToolCallDelta(hub_index, json_text(block["input"])))
        return events

    def _delta(self, data: Mapping[str, Any]) -> list[HubStreamEvent]:
        delta = obj(data.get("delta"))
        if delta.get("type") == "text_delta":
            return [TextDelta(text(delta.get("text")) or "")]
        if delta.get("type") == "input_json_delta":
            hub_index = self._tools.get(count(data.get("index")) or 0)
            fragment = text(delta.get("partial_json"))
            return [ToolCallDelta(hub_index, fragment)] if hub_index is not None and fragment else []
        return []  # thinking, signature and citation deltas carry no answer text

    def _message_delta(self, data: Mapping[str, Any]) -> list[HubStreamEvent]:
        update = obj(data.get("usage"))
        for key, value in update.items():
            if value is not None or key == "output_tokens":
                self._usage[key] = value
        events: list[HubStreamEvent] = []
        native = text(obj(data.get("delta")).get("stop_reason"))
        if native is not None:
            events.append(Finish(finish_reason(native), native))
        if (usage := normalise_usage(TARGET, self._usage)) is not None:
            events.append(UsageUpdate(usage))
        return events
