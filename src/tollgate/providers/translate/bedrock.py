"""Bedrock Converse / ConverseStream as an upstream: hub → body, response → hub, decoded stream
events → hub events (PROVIDERS.md A.6). The binary event-stream framing is decoded elsewhere;
``StreamReader.feed`` takes each frame's ``:event-type`` (or exception type) and JSON payload.

Refused: image URLs (Converse takes bytes only), JSON response formats, ``seed``/``top_k``
(model-specific, not in ``inferenceConfig``), ``tool_choice: none`` and ``parallel_tool_calls=false``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tollgate.providers.normalize import bedrock_converse as normalise_usage
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

TARGET = "bedrock"
FINISH: Mapping[str, FinishReason] = MappingProxyType(
    {
        "end_turn": FinishReason.STOP,
        "stop_sequence": FinishReason.STOP,
        "max_tokens": FinishReason.LENGTH,
        "model_context_window_exceeded": FinishReason.LENGTH,
        "tool_use": FinishReason.TOOL_CALLS,
        "guardrail_intervened": FinishReason.CONTENT_FILTER,
        "content_filtered": FinishReason.CONTENT_FILTER,
    }
)
_FORMATS = frozenset({"png", "jpeg", "gif", "webp"})


def finish_reason(native: str | None) -> FinishReason:
    return FINISH.get(native or "", FinishReason.STOP)


def _image(image: ImagePart) -> dict[str, Any]:
    fmt = (image.media_type or "").removeprefix("image/")
    if image.data is None:
        raise unsupported("image URLs (send base64 data URLs)", TARGET)
    if fmt not in _FORMATS:
        raise unsupported(f"image type {image.media_type!r}", TARGET)
    return {"image": {"format": fmt, "source": {"bytes": image.data}}}


def _block(part: Part) -> dict[str, Any] | None:
    match part:
        case TextPart(text=t):
            return {"text": t} if t else None
        case ImagePart():
            return _image(part)
        case ToolCallPart():
            return {"toolUse": {"toolUseId": part.id, "name": part.name, "input": part.arguments_object()}}
        case ToolResultPart():
            content = [b for b in map(_block, part.content) if b is not None] or [{"text": ""}]
            result: dict[str, Any] = {"toolUseId": part.call_id, "content": content}
            if part.is_error:
                result["status"] = "error"
            return {"toolResult": result}


def _messages(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for message in messages:
        blocks = [b for b in map(_block, message.parts) if b is not None]
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": message.role, "content": blocks})
    return turns


def _tool_choice(choice: ToolChoice | None) -> dict[str, Any] | None:
    if choice is None or choice.mode == "auto":
        return None
    if choice.mode == "none":
        raise unsupported("tool_choice none", TARGET)
    if choice.mode == "required":
        return {"any": {}}
    return {"tool": {"name": choice.name}}


def request_body(req: HubRequest) -> dict[str, Any]:
    """The Converse body (the model id is in the URL path)."""
    req.refuse_extras(TARGET)
    s = req.sampling
    for name, value in (("seed", s.seed), ("top_k", s.top_k)):
        if value is not None:
            raise unsupported(name, TARGET)
    if req.parallel_tool_calls is False:
        raise unsupported("parallel_tool_calls=false", TARGET)
    if req.response_format is not None and req.response_format.kind != "text":
        raise unsupported(f"response_format {req.response_format.kind}", TARGET)
    body: dict[str, Any] = {"messages": _messages(req.messages)}
    if req.system:
        body["system"] = [{"text": req.system}]
    config: dict[str, Any] = {
        key: value
        for key, value in (("maxTokens", s.max_tokens), ("temperature", s.temperature), ("topP", s.top_p))
        if value is not None
    }
    if s.stop:
        config["stopSequences"] = list(s.stop)
    if config:
        body["inferenceConfig"] = config
    if req.tools:
        specs = [
            {"toolSpec": {"name": t.name, "inputSchema": {"json": dict(t.parameters)}}
             | ({"description": t.description} if t.description else {})}
            for t in req.tools
        ]  # fmt: skip
        body["toolConfig"] = {"tools": specs}
        if (choice := _tool_choice(req.tool_choice)) is not None:
            body["toolConfig"]["toolChoice"] = choice
    elif req.tool_choice is not None and req.tool_choice.mode not in ("auto", "none"):
        raise unsupported("tool_choice without tools", TARGET)
    return body


def response_to_hub(body: Mapping[str, Any], *, id: str = "", model: str = "") -> HubResponse:
    """Converse responses carry no id or model; the caller supplies them."""
    parts: list[TextPart | ToolCallPart] = []
    content = obj(obj(body.get("output")).get("message")).get("content")
    for block in content if isinstance(content, list) else ():
        b = obj(block)
        if (t := text(b.get("text"))) is not None:
            parts.append(TextPart(t))
        elif "toolUse" in b:
            use = obj(b["toolUse"])
            parts.append(
                ToolCallPart(
                    str(use.get("toolUseId")), str(use.get("name")), json_text(use.get("input") or {})
                )
            )
        # reasoningContent is not answer text; its tokens are in outputTokens.
    native = text(body.get("stopReason"))
    return HubResponse(
        id=id,
        model=model,
        parts=tuple(parts),
        finish_reason=finish_reason(native),
        usage=normalise_usage(TARGET, body.get("usage")),
        native_finish_reason=native,
    )


@dataclass(slots=True)
class StreamReader:
    """ConverseStream events → hub events. Usage arrives in ``metadata`` *after* ``messageStop``,
    so a caller must read to the end of the stream."""

    _tools: dict[int, int] = field(default_factory=dict)  # contentBlockIndex -> hub index

    def feed(self, event_type: str, payload: Mapping[str, Any]) -> list[HubStreamEvent]:
        index = count(payload.get("contentBlockIndex")) or 0
        if event_type == "messageStart":
            return [RoleStart()]
        if event_type == "contentBlockStart":
            use = obj(obj(payload.get("start")).get("toolUse"))
            if not use:
                return []
            hub_index = self._tools[index] = len(self._tools)
            return [ToolCallStart(hub_index, text(use.get("toolUseId")) or "", text(use.get("name")) or "")]
        if event_type == "contentBlockDelta":
            delta = obj(payload.get("delta"))
            if (t := text(delta.get("text"))) is not None:
                return [TextDelta(t)]
            fragment = text(obj(delta.get("toolUse")).get("input"))
            if fragment is not None and index in self._tools:
                return [ToolCallDelta(self._tools[index], fragment)]
            return []  # reasoningContent, citation
        if event_type == "messageStop":
            native = text(payload.get("stopReason"))
            return [Finish(finish_reason(native), native)]
        if event_type == "metadata":
            usage = normalise_usage(TARGET, payload.get("usage"))
            return [UsageUpdate(usage)] if usage is not None else []
        if event_type.endswith("Exception"):
            return [StreamError(text(payload.get("message")) or event_type, event_type)]
        return []  # contentBlockStop
