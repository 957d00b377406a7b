"""The OpenAI Chat Completions door: its request → hub, hub response → ``chat.completion``,
hub stream events → ``chat.completion.chunk`` dicts (PROVIDERS.md A.1).

Usage is written in OpenAI semantics: ``prompt_tokens`` includes cache reads and writes,
``completion_tokens`` includes reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    ResponseFormat,
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
    parse_data_url,
    unsupported,
    upstream_failed,
)

DOOR = "the OpenAI chat door"
# Fields the hub models, read below; anything else lands in ``HubRequest.extras``.
_READ = frozenset(
    {
        "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens",
        "max_completion_tokens", "temperature", "top_p", "stop", "seed", "response_format",
        "stream", "stream_options", "user", "n", "store", "metadata", "service_tier",
    }
)  # fmt: skip


def _str(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise invalid(f"{where} must be a string")
    return value


def _content_parts(content: object, where: str) -> list[TextPart | ImagePart]:
    if isinstance(content, str):
        return [TextPart(content)]
    if content is None:
        return []
    if not isinstance(content, list):
        raise invalid(f"{where} must be a string or an array of content parts")
    parts: list[TextPart | ImagePart] = []
    for i, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append(TextPart(_str(part.get("text"), f"{where}[{i}].text")))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(parse_data_url(_str(url, f"{where}[{i}].image_url.url")))
        elif kind in ("input_audio", "file", "refusal"):
            raise unsupported(f"content part type {kind!r}", DOOR)
        else:
            raise invalid(f"{where}[{i}] has an unknown content part type {kind!r}")
    return parts


def _tool_calls(calls: object, where: str) -> list[ToolCallPart]:
    if calls is None:
        return []
    if not isinstance(calls, list):
        raise invalid(f"{where}.tool_calls must be an array")
    out = []
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or call.get("type", "function") != "function":
            raise invalid(f"{where}.tool_calls[{i}] must be a function call")
        out.append(
            ToolCallPart(
                id=_str(call.get("id"), f"{where}.tool_calls[{i}].id"),
                name=_str(fn.get("name"), f"{where}.tool_calls[{i}].function.name"),
                arguments=_str(fn.get("arguments", "{}"), f"{where}.tool_calls[{i}].function.arguments"),
            )
        )
    return out


def _messages(raw: object) -> tuple[str | None, list[Message]]:
    if not isinstance(raw, list) or not raw:
        raise invalid("messages must be a non-empty array")
    system: list[str] = []
    messages: list[Message] = []
    names: dict[str, str] = {}  # tool call id -> tool name, for tool results
    for i, m in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise invalid(f"{where} must be an object")
        role = m.get("role")
        if role in ("system", "developer"):
            parts = _content_parts(m.get("content"), f"{where}.content")
            if any(isinstance(p, ImagePart) for p in parts):
                raise invalid(f"{where}: {role} messages take text only")
            system.append("".join(p.text for p in parts if isinstance(p, TextPart)))
        elif role == "user":
            messages.append(Message("user", tuple(_content_parts(m.get("content"), f"{where}.content"))))
        elif role == "assistant":
            calls = _tool_calls(m.get("tool_calls"), where)
            names.update((c.id, c.name) for c in calls)
            content: list[Part] = [*_content_parts(m.get("content"), f"{where}.content"), *calls]
            messages.append(Message("assistant", tuple(content)))
        elif role == "tool":
            call_id = _str(m.get("tool_call_id"), f"{where}.tool_call_id")
            result = _content_parts(m.get("content"), f"{where}.content")
            part = ToolResultPart(call_id, tuple(result), name=names.get(call_id))
            messages.append(Message("user", (part,)))
        elif role == "function":
            raise unsupported("legacy 'function' messages (use tools)", DOOR)
        else:
            raise invalid(f"{where}.role {role!r} is not one of system, developer, user, assistant, tool")
    return ("\n\n".join(system) if system else None), messages


def _tools(raw: object) -> tuple[Tool, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise invalid("tools must be an array")
    tools = []
    for i, t in enumerate(raw):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or t.get("type") != "function":
            raise unsupported(f"tools[{i}] of type {t.get('type') if isinstance(t, dict) else t!r}", DOOR)
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise invalid(f"tools[{i}].function.parameters must be an object")
        desc = fn.get("description")
        tools.append(Tool(_str(fn.get("name"), f"tools[{i}].function.name"), desc, params))
    return tuple(tools)


def _tool_choice(raw: object) -> ToolChoice | None:
    if raw is None:
        return None
    if raw == "auto" or raw == "none" or raw == "required":
        return ToolChoice(raw)
    fn = raw.get("function") if isinstance(raw, dict) else None
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return ToolChoice("tool", fn["name"])
    raise invalid("tool_choice must be auto, none, required or {type: function, function: {name}}")


def _response_format(raw: object) -> ResponseFormat | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("response_format must be an object")
    kind = raw.get("type")
    if kind == "text" or kind == "json_object":
        return ResponseFormat(kind)
    if kind == "json_schema":
        spec = raw.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise invalid("response_format.json_schema.schema must be an object")
        return ResponseFormat("json_schema", spec["schema"], spec.get("name"), spec.get("strict"))
    raise invalid("response_format.type must be text, json_object or json_schema")


def _sampling(body: Mapping[str, Any]) -> Sampling:
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (type(max_tokens) is not int or max_tokens < 1):
        raise invalid("max_completion_tokens must be a positive integer")
    stop = body.get("stop")
    stops = (stop,) if isinstance(stop, str) else tuple(stop or ())
    if not all(isinstance(s, str) for s in stops):
        raise invalid("stop must be a string or an array of strings")
    if body.get("seed") is not None and type(body["seed"]) is not int:
        raise invalid("seed must be an integer")
    for name in ("temperature", "top_p"):
        if body.get(name) is not None and not isinstance(body[name], int | float):
            raise invalid(f"{name} must be a number")
    return Sampling(max_tokens, body.get("temperature"), body.get("top_p"), stops, body.get("seed"))


def request_to_hub(body: Mapping[str, Any], model: str) -> HubRequest:
    """Read a ``/v1/chat/completions`` body; ``model`` is the upstream model (prefix removed)."""
    if body.get("n", 1) not in (1, None):
        raise unsupported("n > 1 (several choices)", DOOR)
    if body.get("service_tier") not in (None, "auto", "default"):
        raise unsupported(f"service_tier {body['service_tier']!r}", DOOR)
    system, messages = _messages(body.get("messages"))
    options = body.get("stream_options")
    stream = bool(body.get("stream"))
    return HubRequest(
        model=model,
        messages=tuple(messages),
        system=system,
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=body.get("parallel_tool_calls"),
        sampling=_sampling(body),
        response_format=_response_format(body.get("response_format")),
        stream=stream,
        include_usage=stream and isinstance(options, dict) and bool(options.get("include_usage")),
        user=body.get("user") if isinstance(body.get("user"), str) else None,
        extras={k: v for k, v in body.items() if k not in _READ and v is not None},
    )


# -- hub → OpenAI -------------------------------------------------------------------------------


def usage_body(usage: NormalizedUsage) -> dict[str, Any]:
    prompt = usage.total_input_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _finish(reason: FinishReason, native: str | None, target: str) -> str:
    if reason is FinishReason.ERROR:
        raise upstream_failed(native, target)
    return reason.value


def openai_tool_call(call: ToolCallPart) -> dict[str, Any]:
    """A tool call in OpenAI's wire shape (also what OpenAI-style upstreams take back)."""
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}


def openai_tool(tool: Tool) -> dict[str, Any]:
    """A tool definition in OpenAI's wire shape."""
    function: dict[str, Any] = {"name": tool.name, "parameters": dict(tool.parameters)}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def response_body(resp: HubResponse, *, created: int, target: str) -> dict[str, Any]:
    """A ``chat.completion`` body. A response the upstream ended in error is a 502."""
    message: dict[str, Any] = {"role": "assistant", "content": resp.text or None}
    if resp.tool_calls:
        message["tool_calls"] = [openai_tool_call(c) for c in resp.tool_calls]
    body: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": created,
        "model": resp.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _finish(resp.finish_reason, resp.native_finish_reason, target),
                "logprobs": None,
            }
        ],
    }
    if resp.usage is not None:
        body["usage"] = usage_body(resp.usage)
    return body


@dataclass(slots=True)
class ChunkEncoder:
    """Hub stream events → ``chat.completion.chunk`` dicts for one stream (one id/created/model).

    ``encode`` gives the chunks for one event; ``close`` gives the final usage chunk (``choices:
    []``) when the client asked for ``include_usage``. Usage updates are kept, never summed.
    """

    id: str
    created: int
    model: str
    include_usage: bool = False
    _started: bool = False
    _usage: NormalizedUsage | None = None

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _start(self) -> list[dict[str, Any]]:
        if self._started:
            return []
        self._started = True
        return [self._chunk({"role": "assistant", "content": ""})]

    def encode(self, event: HubStreamEvent) -> list[dict[str, Any]]:
        match event:
            case UsageUpdate(usage=usage):
                self._usage = usage
                return []
            case StreamError(message=message, type=kind):
                return [_error_chunk(message, kind)]
            case RoleStart():
                return self._start()
            case TextDelta(text=text):
                return [*self._start(), self._chunk({"content": text})] if text else []
            case ToolCallStart(index=i, id=call_id, name=name):
                call = {"index": i, "id": call_id, "type": "function",
                        "function": {"name": name, "arguments": ""}}  # fmt: skip
                return [*self._start(), self._chunk({"tool_calls": [call]})]
            case ToolCallDelta(index=i, arguments=args):
                delta = {"tool_calls": [{"index": i, "function": {"arguments": args}}]}
                return [*self._start(), self._chunk(delta)] if args else []
            case Finish(reason=FinishReason.ERROR, native=native):
                message = f"upstream stopped generating with an error ({native or 'unknown'})"
                return [_error_chunk(message, "upstream_error")]
            case Finish(reason=reason):
                return [*self._start(), self._chunk({}, reason.value)]

    def close(self) -> list[dict[str, Any]]:
        if not self.include_usage or self._usage is None:
            return []
        return [
            {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_body(self._usage),
            }
        ]


def _error_chunk(message: str, kind: str) -> dict[str, Any]:
    """A mid-stream error as OpenAI sends it: the SDK raises ``APIError`` on it."""
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
