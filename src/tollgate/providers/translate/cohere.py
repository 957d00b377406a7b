"""Cohere v2 Chat as an upstream: hub → ``/v2/chat`` body, response → hub, stream events →
hub events (PROVIDERS.md A.9). Usage is priced from ``billed_units``.

Cohere has no "auto" tool choice value (auto is the default, so it is omitted), cannot force one
named tool and cannot turn parallel calls off: those are refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tollgate.providers.normalize import cohere as normalise_usage
from tollgate.providers.normalize import obj, text
from tollgate.providers.translate.hub import (
    Finish,
    FinishReason,
    HubRequest,
    HubResponse,
    HubStreamEvent,
    ImagePart,
    Message,
    RoleStart,
    StreamError,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolResultPart,
    UsageUpdate,
    data_url,
    unsupported,
)
from tollgate.providers.translate.openai_chat import openai_tool, openai_tool_call

TARGET = "cohere"
FINISH: Mapping[str, FinishReason] = MappingProxyType(
    {
        "COMPLETE": FinishReason.STOP,
        "STOP_SEQUENCE": FinishReason.STOP,
        "MAX_TOKENS": FinishReason.LENGTH,
        "TOOL_CALL": FinishReason.TOOL_CALLS,
        "ERROR": FinishReason.ERROR,
        "TIMEOUT": FinishReason.ERROR,
    }
)


def finish_reason(native: str | None) -> FinishReason:
    return FINISH.get(native or "", FinishReason.STOP)


def _content(parts: list[TextPart | ImagePart]) -> list[dict[str, Any]]:
    return [
        {"type": "text", "text": p.text}
        if isinstance(p, TextPart)
        else {"type": "image_url", "image_url": {"url": data_url(p)}}
        for p in parts
        if not isinstance(p, TextPart) or p.text
    ]


def _messages(system: str | None, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        plain = [p for p in m.parts if isinstance(p, TextPart | ImagePart)]
        if m.role == "assistant":
            message: dict[str, Any] = {"role": "assistant"}
            if content := _content(plain):
                message["content"] = content
            calls = [p for p in m.parts if isinstance(p, ToolCallPart)]
            if calls:
                message["tool_calls"] = [openai_tool_call(c) for c in calls]
            out.append(message)
            continue
        for result in (p for p in m.parts if isinstance(p, ToolResultPart)):
            content = _content(list(result.content)) or [{"type": "text", "text": ""}]
            out.append({"role": "tool", "tool_call_id": result.call_id, "content": content})
        if plain:
            out.append({"role": "user", "content": _content(plain)})
    return out


def request_body(req: HubRequest) -> dict[str, Any]:
    req.refuse_extras(TARGET)
    s = req.sampling
    if req.parallel_tool_calls is False:
        raise unsupported("parallel_tool_calls=false", TARGET)
    body: dict[str, Any] = {"model": req.model, "messages": _messages(req.system, req.messages)}
    for name, value in (
        ("max_tokens", s.max_tokens),
        ("temperature", s.temperature),
        ("p", s.top_p),
        ("k", s.top_k),
        ("seed", s.seed),
    ):
        if value is not None:
            body[name] = value
    if s.stop:
        body["stop_sequences"] = list(s.stop)
    if req.tools:
        body["tools"] = [openai_tool(t) for t in req.tools]
    if (choice := req.tool_choice) is not None and choice.mode != "auto":
        if choice.mode == "tool":
            raise unsupported("tool_choice naming one tool", TARGET)
        body["tool_choice"] = choice.mode.upper()
    fmt = req.response_format
    if fmt is not None and fmt.kind != "text":
        body["response_format"] = {"type": "json_object"}
        if fmt.schema is not None:
            body["response_format"]["json_schema"] = dict(fmt.schema)
    body["stream"] = req.stream
    return body


def _calls(raw: object) -> list[ToolCallPart]:
    calls = []
    for call in raw if isinstance(raw, list) else ():
        fn = obj(obj(call).get("function"))
        calls.append(
            ToolCallPart(str(obj(call).get("id")), str(fn.get("name")), text(fn.get("arguments")) or "{}")
        )
    return calls


def response_to_hub(body: Mapping[str, Any], *, model: str = "") -> HubResponse:
    message = obj(body.get("message"))
    parts: list[TextPart | ToolCallPart] = []
    content = message.get("content")
    for block in content if isinstance(content, list) else ():
        if obj(block).get("type") == "text" and (t := text(obj(block).get("text"))):
            parts.append(TextPart(t))
    parts += _calls(message.get("tool_calls"))
    native = text(body.get("finish_reason"))
    return HubResponse(
        id=text(body.get("id")) or "",
        model=model,
        parts=tuple(parts),
        finish_reason=finish_reason(native),
        usage=normalise_usage(TARGET, body.get("usage")),
        native_finish_reason=native,
    )


@dataclass(slots=True)
class StreamReader:
    """Cohere v2 stream events (dispatched on the data's ``type``) → hub events. Tool calls
    stream one after another, so deltas belong to the last started call."""

    _tools: int = 0

    def feed(self, data: Mapping[str, Any]) -> list[HubStreamEvent]:
        kind = data.get("type")
        message = obj(obj(data.get("delta")).get("message"))
        if kind == "message-start":
            return [RoleStart(text(data.get("id")))]
        if kind == "content-delta":
            t = text(obj(message.get("content")).get("text"))
            return [TextDelta(t)] if t else []
        if kind in ("tool-call-start", "tool-call-delta"):
            return self._tool(kind, obj(message.get("tool_calls")))
        if kind == "message-end":
            delta = obj(data.get("delta"))
            native = text(delta.get("finish_reason"))
            events: list[HubStreamEvent] = [Finish(finish_reason(native), native)]
            if (usage := normalise_usage(TARGET, delta.get("usage"))) is not None:
                events.append(UsageUpdate(usage))
            return events
        if kind is None and "message" in data:  # an error object in the stream
            return [StreamError(text(data.get("message")) or "upstream error")]
        return []  # content-start/end, tool-plan-delta, citations, debug

    def _tool(self, kind: object, call: Mapping[str, Any]) -> list[HubStreamEvent]:
        fn = obj(call.get("function"))
        events: list[HubStreamEvent] = []
        if kind == "tool-call-start":
            self._tools += 1
            events.append(
                ToolCallStart(self._tools - 1, text(call.get("id")) or "", text(fn.get("name")) or "")
            )
        if self._tools and (arguments := text(fn.get("arguments"))):
            events.append(ToolCallDelta(self._tools - 1, arguments))
        return events
