"""An OpenAI-compatible chat API as an upstream (for the Anthropic door serving OpenAI-family
models): hub → ``/chat/completions`` body, response → hub, chunks → hub events (A.1, A.10).

``provider`` selects the usage dialect (xAI, DeepSeek, ...) through ``normalize.openai_chat``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tollgate.providers.normalize import count, obj, text
from tollgate.providers.normalize import openai_chat as normalise_usage
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
    ToolChoice,
    ToolResultPart,
    UsageUpdate,
    data_url,
    unsupported,
)
from tollgate.providers.translate.openai_chat import openai_tool, openai_tool_call

FINISH: Mapping[str, FinishReason] = MappingProxyType(
    {
        "stop": FinishReason.STOP,
        "length": FinishReason.LENGTH,
        "tool_calls": FinishReason.TOOL_CALLS,
        "function_call": FinishReason.TOOL_CALLS,
        "content_filter": FinishReason.CONTENT_FILTER,
    }
)


def finish_reason(native: str | None) -> FinishReason:
    return FINISH.get(native or "", FinishReason.STOP)


def _content(parts: list[TextPart | ImagePart]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    return [
        {"type": "text", "text": p.text}
        if isinstance(p, TextPart)
        else {"type": "image_url", "image_url": {"url": data_url(p)}}
        for p in parts
    ]


def _messages(system: str | None, messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for m in messages:
        plain = [p for p in m.parts if isinstance(p, TextPart | ImagePart)]
        if m.role == "assistant":
            calls = [p for p in m.parts if isinstance(p, ToolCallPart)]
            message: dict[str, Any] = {"role": "assistant", "content": _content(plain) or None}
            if calls:
                message["tool_calls"] = [openai_tool_call(c) for c in calls]
            out.append(message)
            continue
        for result in (p for p in m.parts if isinstance(p, ToolResultPart)):
            out.append(
                {"role": "tool", "tool_call_id": result.call_id, "content": _content(list(result.content))}
            )
        if plain:
            out.append({"role": "user", "content": _content(plain)})
    return out


def _tool_choice(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


def request_body(
    req: HubRequest, *, target: str = "openai", max_tokens_field: str = "max_completion_tokens"
) -> dict[str, Any]:
    """The body; streams always ask for usage (the gateway meters it)."""
    req.refuse_extras(target)
    s = req.sampling
    if s.top_k is not None:
        raise unsupported("top_k", target)
    body: dict[str, Any] = {"model": req.model, "messages": _messages(req.system, req.messages)}
    for name, value in (
        (max_tokens_field, s.max_tokens),
        ("temperature", s.temperature),
        ("top_p", s.top_p),
        ("seed", s.seed),
        ("parallel_tool_calls", req.parallel_tool_calls),
        ("user", req.user),
    ):
        if value is not None:
            body[name] = value
    if s.stop:
        body["stop"] = list(s.stop)
    if req.tools:
        body["tools"] = [openai_tool(t) for t in req.tools]
    if req.tool_choice is not None:
        body["tool_choice"] = _tool_choice(req.tool_choice)
    fmt = req.response_format
    if fmt is not None and fmt.kind == "json_schema":
        spec: dict[str, Any] = {"name": fmt.name or "response", "schema": dict(fmt.schema or {})}
        if fmt.strict is not None:
            spec["strict"] = fmt.strict
        body["response_format"] = {"type": "json_schema", "json_schema": spec}
    elif fmt is not None:
        body["response_format"] = {"type": fmt.kind}
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def response_to_hub(body: Mapping[str, Any], *, provider: str = "openai") -> HubResponse:
    choices = body.get("choices")
    choice = obj(choices[0]) if isinstance(choices, list) and choices else obj(None)
    message = obj(choice.get("message"))
    parts: list[TextPart | ToolCallPart] = []
    if content := text(message.get("content")):
        parts.append(TextPart(content))
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else ():
        fn = obj(obj(call).get("function"))
        parts.append(
            ToolCallPart(str(obj(call).get("id")), str(fn.get("name")), text(fn.get("arguments")) or "{}")
        )
    native = text(choice.get("finish_reason"))
    return HubResponse(
        id=text(body.get("id")) or "",
        model=text(body.get("model")) or "",
        parts=tuple(parts),
        finish_reason=finish_reason(native),
        usage=normalise_usage(provider, body.get("usage")),
        native_finish_reason=native,
    )


@dataclass(slots=True)
class StreamReader:
    """``chat.completion.chunk`` dicts → hub events. Chunks with empty ``choices`` (Azure's
    filter results, the usage chunk) are fine; usage may come on any chunk, the last wins."""

    provider: str = "openai"
    _started: bool = False
    _tools: dict[int, int] = field(default_factory=dict)  # upstream index -> hub index

    def feed(self, chunk: Mapping[str, Any]) -> list[HubStreamEvent]:
        if (error := chunk.get("error")) is not None:
            err = obj(error)
            return [
                StreamError(text(err.get("message")) or str(error), text(err.get("type")) or "upstream_error")
            ]
        events: list[HubStreamEvent] = []
        if not self._started:
            self._started = True
            events.append(RoleStart(text(chunk.get("id")), text(chunk.get("model"))))
        choices = chunk.get("choices")
        for choice in choices if isinstance(choices, list) else ():
            c = obj(choice)
            if count(c.get("index")) not in (0, None):
                continue
            delta = obj(c.get("delta"))
            if content := text(delta.get("content")):
                events.append(TextDelta(content))
            calls = delta.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                events += self._tool_delta(obj(call))
            if native := text(c.get("finish_reason")):
                events.append(Finish(finish_reason(native), native))
        if (usage := normalise_usage(self.provider, chunk.get("usage"))) is not None:
            events.append(UsageUpdate(usage))
        return events

    def _tool_delta(self, call: Mapping[str, Any]) -> list[HubStreamEvent]:
        index = count(call.get("index")) or 0
        fn = obj(call.get("function"))
        events: list[HubStreamEvent] = []
        if index not in self._tools:
            hub_index = self._tools[index] = len(self._tools)
            events.append(ToolCallStart(hub_index, text(call.get("id")) or "", text(fn.get("name")) or ""))
        if arguments := text(fn.get("arguments")):
            events.append(ToolCallDelta(self._tools[index], arguments))
        return events
