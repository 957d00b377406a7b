"""The Anthropic Messages door serving any provider: its request → hub, hub response →
``message`` body, hub stream events → Anthropic SSE events (PROVIDERS.md A.3).

Accepted but without effect on other providers: ``cache_control`` markers (a billing hint, not
a change to the answer) and earlier ``thinking`` blocks in assistant turns (other providers
cannot take Claude's signed reasoning back). Every other unmodelled field lands in
``HubRequest.extras`` and the target refuses it by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tollgate.pricing.usage import NormalizedUsage
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
    Sampling,
    StreamError,
    TextDelta,
    TextPart,
    Tool,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    UsageUpdate,
    invalid,
    json_text,
    unsupported,
    upstream_failed,
)

DOOR = "the Anthropic messages door"
_READ = frozenset(
    {
        "model", "max_tokens", "messages", "system", "tools", "tool_choice", "temperature",
        "top_p", "top_k", "stop_sequences", "stream", "metadata",
    }
)  # fmt: skip
STOP_REASON: Mapping[FinishReason, str] = MappingProxyType(
    {
        FinishReason.STOP: "end_turn",
        FinishReason.LENGTH: "max_tokens",
        FinishReason.TOOL_CALLS: "tool_use",
        FinishReason.CONTENT_FILTER: "refusal",
    }
)
Event = tuple[str, dict[str, Any]]
_EMPTY_MESSAGE: Mapping[str, Any] = MappingProxyType(
    {"type": "message", "role": "assistant", "stop_reason": None, "stop_sequence": None}
)


def _image(block: Mapping[str, Any], where: str) -> ImagePart:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        return ImagePart(data=str(source.get("data")), media_type=str(source.get("media_type")))
    if isinstance(source, dict) and source.get("type") == "url":
        return ImagePart(url=str(source.get("url")))
    raise unsupported(f"{where}: image source {source!r}", DOOR)


def _blocks(content: object, where: str, names: dict[str, str]) -> list[Part]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise invalid(f"{where} must be a string or an array of content blocks")
    parts: list[Part] = []
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        here = f"{where}[{i}]"
        if kind == "text":
            parts.append(TextPart(str(block.get("text", ""))))
        elif kind == "image":
            parts.append(_image(block, here))
        elif kind == "tool_use":
            call = ToolCallPart(str(block["id"]), str(block["name"]), json_text(block.get("input") or {}))
            names[call.id] = call.name
            parts.append(call)
        elif kind == "tool_result":
            parts.append(_tool_result(block, here, names))
        elif kind in ("thinking", "redacted_thinking"):
            continue  # see the module docstring
        else:
            raise unsupported(f"content block type {kind!r}", DOOR)
    return parts


def _tool_result(block: Mapping[str, Any], where: str, names: dict[str, str]) -> ToolResultPart:
    call_id = str(block.get("tool_use_id"))
    inner = block.get("content", "")
    content = [p for p in _blocks(inner, f"{where}.content", names) if isinstance(p, TextPart | ImagePart)]
    return ToolResultPart(call_id, tuple(content), names.get(call_id), bool(block.get("is_error")))


def _system(raw: object) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    if isinstance(raw, list) and all(isinstance(b, dict) and b.get("type") == "text" for b in raw):
        return "\n\n".join(str(b.get("text", "")) for b in raw)
    raise invalid("system must be a string or an array of text blocks")


def _tools(raw: object) -> tuple[Tool, ...]:
    tools = []
    for i, t in enumerate(raw if isinstance(raw, list) else ()):
        if not isinstance(t, dict) or "input_schema" not in t or t.get("type") not in (None, "custom"):
            kind = t.get("type") if isinstance(t, dict) else t
            raise unsupported(f"tools[{i}] of type {kind!r} (server tools)", DOOR)
        tools.append(Tool(str(t.get("name")), t.get("description"), t["input_schema"]))
    return tuple(tools)


def _tool_choice(raw: object) -> tuple[ToolChoice | None, bool | None]:
    if not isinstance(raw, dict):
        return None, None
    parallel = False if raw.get("disable_parallel_tool_use") else None
    kind = raw.get("type")
    if kind == "auto" or kind == "none":
        return ToolChoice(kind), parallel
    if kind == "any":
        return ToolChoice("required"), parallel
    if kind == "tool":
        return ToolChoice("tool", str(raw.get("name"))), parallel
    raise invalid("tool_choice.type must be auto, any, tool or none")


def request_to_hub(body: Mapping[str, Any], model: str) -> HubRequest:
    """Read a ``/v1/messages`` body; ``model`` is the upstream model (prefix removed)."""
    max_tokens = body.get("max_tokens")
    if type(max_tokens) is not int or max_tokens < 1:
        raise invalid("max_tokens is required and must be a positive integer")
    raw = body.get("messages")
    if not isinstance(raw, list) or not raw:
        raise invalid("messages must be a non-empty array")
    names: dict[str, str] = {}
    messages = []
    for i, m in enumerate(raw):
        role = m.get("role") if isinstance(m, dict) else None
        if role != "user" and role != "assistant":
            raise invalid(f"messages[{i}].role must be user or assistant")
        messages.append(Message(role, tuple(_blocks(m.get("content"), f"messages[{i}].content", names))))
    choice, parallel = _tool_choice(body.get("tool_choice"))
    stop = body.get("stop_sequences") or ()
    user = body.get("metadata", {}).get("user_id") if isinstance(body.get("metadata"), dict) else None
    return HubRequest(
        model=model,
        messages=tuple(messages),
        system=_system(body.get("system")),
        tools=_tools(body.get("tools")),
        tool_choice=choice,
        parallel_tool_calls=parallel,
        sampling=Sampling(
            max_tokens, body.get("temperature"), body.get("top_p"), tuple(stop), None, body.get("top_k")
        ),
        stream=bool(body.get("stream")),
        include_usage=bool(body.get("stream")),  # Anthropic streams always carry usage
        user=user if isinstance(user, str) else None,
        extras={k: v for k, v in body.items() if k not in _READ and v is not None},
    )


# -- hub → Anthropic ----------------------------------------------------------------------------


def usage_body(usage: NormalizedUsage | None) -> dict[str, Any]:
    """Anthropic semantics: ``input_tokens`` excludes the cache."""
    u = usage or NormalizedUsage()
    return {
        "input_tokens": u.input_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"thinking_tokens": u.reasoning_tokens},
    }


def _stop_reason(reason: FinishReason, native: str | None, target: str) -> str:
    if reason is FinishReason.ERROR:
        raise upstream_failed(native, target)
    return STOP_REASON[reason]


def response_body(resp: HubResponse, *, target: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in resp.parts:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        else:
            content.append(
                {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments_object()}
            )
    return {
        "id": resp.id,
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": _stop_reason(resp.finish_reason, resp.native_finish_reason, target),
        "stop_sequence": None,
        "usage": usage_body(resp.usage),
    }


@dataclass(slots=True)
class EventEncoder:
    """Hub stream events → ``(event name, data)`` pairs of an Anthropic stream.

    ``close`` ends the stream: it closes the open block and sends ``message_delta`` (stop reason,
    cumulative usage) and ``message_stop``, since usage may arrive after the finish.
    """

    id: str
    model: str
    _started: bool = False
    _open: int | None = None  # index of the open content block
    _blocks: int = 0
    _tool_blocks: dict[int, int] = field(default_factory=dict)
    _finish: Finish | None = None
    _usage: NormalizedUsage | None = None

    def _start(self) -> list[Event]:
        if self._started:
            return []
        self._started = True
        message = {
            **_EMPTY_MESSAGE,
            "id": self.id,
            "model": self.model,
            "content": [],
            "usage": usage_body(None),
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def _close_block(self) -> list[Event]:
        if self._open is None:
            return []
        index, self._open = self._open, None
        return [("content_block_stop", {"type": "content_block_stop", "index": index})]

    def _open_block(self, block: dict[str, Any]) -> list[Event]:
        events = self._close_block()
        self._open, self._blocks = self._blocks, self._blocks + 1
        start = {"type": "content_block_start", "index": self._open, "content_block": block}
        return [*events, ("content_block_start", start)]

    def _delta(self, index: int, delta: dict[str, Any]) -> Event:
        return ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def encode(self, event: HubStreamEvent) -> list[Event]:
        events = self._start()
        match event:
            case TextDelta(text=t) if t:
                if self._open is None or self._open in self._tool_blocks.values():
                    events += self._open_block({"type": "text", "text": ""})
                assert self._open is not None
                events.append(self._delta(self._open, {"type": "text_delta", "text": t}))
            case ToolCallStart(index=i, id=call_id, name=name):
                events += self._open_block({"type": "tool_use", "id": call_id, "name": name, "input": {}})
                assert self._open is not None
                self._tool_blocks[i] = self._open
            case ToolCallDelta(index=i, arguments=args) if args and i in self._tool_blocks:
                events.append(
                    self._delta(self._tool_blocks[i], {"type": "input_json_delta", "partial_json": args})
                )
            case Finish():
                self._finish = event
            case UsageUpdate(usage=usage):
                self._usage = usage
            case StreamError(message=message, type=kind):
                events.append(("error", {"type": "error", "error": {"type": kind, "message": message}}))
            case RoleStart() | TextDelta() | ToolCallDelta():
                pass
        return events

    def close(self) -> list[Event]:
        events = [*self._start(), *self._close_block()]
        finish = self._finish or Finish(FinishReason.STOP)
        if finish.reason is FinishReason.ERROR:
            message = f"upstream stopped generating with an error ({finish.native or 'unknown'})"
            return [*events, ("error", {"type": "error", "error": {"type": "api_error", "message": message}})]
        delta = {"stop_reason": STOP_REASON[finish.reason], "stop_sequence": None}
        events.append(
            ("message_delta", {"type": "message_delta", "delta": delta, "usage": usage_body(self._usage)})
        )
        return [*events, ("message_stop", {"type": "message_stop"})]
