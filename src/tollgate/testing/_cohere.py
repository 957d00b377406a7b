"""Cohere v2 Chat and model list (PROVIDERS.md A.9).

Usage has two sets of counts: ``billed_units`` (what is charged) and ``tokens`` (raw counts with
the chat template, so larger: ``TEMPLATE_INPUT_TOKENS`` and ``TEMPLATE_OUTPUT_TOKENS`` more).
``cached_tokens`` is the part of the input that hit the cache. In the scenario's terms the billed
input is the uncached input plus the cache reads (Cohere reports no cache writes) and the billed
output is the visible answer plus reasoning.

When the request has ``tools`` (and ``tool_choice`` is not ``NONE``), the answer is a tool call of
the first tool, with a ``tool_plan`` of ``output_tokens`` words, unless the last message is already
a tool result (then the answer is text again, so a tool loop ends); ``REQUIRED`` always calls.

Streams are ``event: <type>`` / ``data: {"type": <type>, ...}`` pairs without ``[DONE]``:
``message-start``, then ``content-start``, ``content-delta`` × N, ``content-end`` (or
``tool-plan-delta`` × N, ``tool-call-start``, ``tool-call-delta``, ``tool-call-end``), then
``message-end`` with ``delta.finish_reason`` and ``delta.usage``. A failure mid-stream is a
``message-end`` with ``finish_reason: "ERROR"`` and ``delta.error`` (the SDK's documented shape).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from tollgate.core import jsonx
from tollgate.testing._errors import ErrorStyle, bad_request
from tollgate.testing._sse import event_frame
from tollgate.testing._tokens import Tally, answer_pieces, answer_text, count_prompt, tally
from tollgate.testing._types import Call, Headers, Reply, StreamPlan

_STYLE = ErrorStyle.COHERE
_ROLES = frozenset({"system", "user", "assistant", "tool"})
_TOOL_CHOICES = frozenset({"REQUIRED", "NONE"})
TEMPLATE_INPUT_TOKENS = 64
TEMPLATE_OUTPUT_TOKENS = 2

COHERE_MODELS: tuple[tuple[str, str, int], ...] = (
    ("command-a-03-2025", "chat", 256000),
    ("command-r-plus-08-2024", "chat", 128000),
    ("command-r-08-2024", "chat", 128000),
    ("command-r7b-12-2024", "chat", 128000),
    ("embed-v4.0", "embed", 128000),
)


def list_models(call: Call) -> Reply:
    """``GET /v1/models`` (``?endpoint=chat`` keeps the models serving that endpoint)."""
    wanted = None
    for pair in call.request.query_string.split("&"):
        name, _, value = pair.partition("=")
        if name == "endpoint" and value:
            wanted = value
    models = [
        {
            "name": name,
            "endpoints": [endpoint],
            "finetuned": False,
            "context_length": context,
            "features": ["tools", "strict_tools"] if endpoint == "chat" else [],
        }
        for name, endpoint, context in COHERE_MODELS
        if wanted is None or wanted == endpoint
    ]
    return Reply(200, jsonx.dumps({"models": models}))


def _invalid(call: Call) -> Reply | None:
    if not isinstance(call.request.json, dict):
        return bad_request(_STYLE, "invalid request: the body is not valid JSON")
    body = call.body
    if not isinstance(body.get("model"), str) or not body["model"]:
        return bad_request(_STYLE, "invalid request: model must be a non-empty string")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return bad_request(_STYLE, "invalid request: list of messages must not be empty")
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in _ROLES:
            return bad_request(
                _STYLE,
                f"invalid request: messages[{index}].role must be one of assistant, system, tool, user",
            )
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        return bad_request(_STYLE, "invalid request: tools must be a list")
    choice = body.get("tool_choice")
    if choice is not None and choice not in _TOOL_CHOICES:
        return bad_request(_STYLE, "invalid request: tool_choice must be one of REQUIRED, NONE")
    max_tokens = body.get("max_tokens")
    if max_tokens is not None and (
        not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1
    ):
        return bad_request(_STYLE, "invalid request: max_tokens must be a positive integer")
    if "stream" in body and not isinstance(body["stream"], bool):
        return bad_request(_STYLE, "invalid request: stream must be a boolean")
    return None


def usage(t: Tally) -> dict[str, Any]:
    billed_in = t.uncached + t.cache_read
    return {
        "billed_units": {"input_tokens": billed_in, "output_tokens": t.output_total},
        "tokens": {
            "input_tokens": billed_in + TEMPLATE_INPUT_TOKENS,
            "output_tokens": t.output_total + TEMPLATE_OUTPUT_TOKENS,
        },
        "cached_tokens": t.cache_read,
    }


def _tool_call(call: Call) -> dict[str, Any] | None:
    """The tool call this request is answered with, if any."""
    body = call.body
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not tools or choice == "NONE":
        return None
    last = body["messages"][-1]
    if last.get("role") == "tool" and choice != "REQUIRED":
        return None
    function = next(
        (t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)), None
    )
    if function is None or not isinstance(function.get("name"), str):
        return None
    name = function["name"]
    return {
        "id": f"{name}_{call.serial:012x}",
        "type": "function",
        "function": {"name": name, "arguments": jsonx.dumps(_arguments(function)).decode()},
    }


_PLACEHOLDERS: Mapping[str, Any] = MappingProxyType(
    {"string": "tok1", "integer": 1, "number": 1, "boolean": True}
)


def _arguments(function: dict[str, Any]) -> dict[str, Any]:
    """A placeholder for every required parameter, by its JSON-schema type."""
    schema = function.get("parameters")
    schema = schema if isinstance(schema, dict) else {}
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    required = schema.get("required")
    arguments: dict[str, Any] = {}
    for name in required if isinstance(required, list) else ():
        spec = properties.get(name)
        kind = spec.get("type") if isinstance(spec, dict) else None
        arguments[str(name)] = _PLACEHOLDERS.get(kind) if isinstance(kind, str) else None
    return arguments


def chat(call: Call) -> Reply | StreamPlan:
    """``POST /v2/chat``."""
    problem = _invalid(call)
    if problem is not None:
        return problem
    body = call.body
    counts = tally(call.scenario, count_prompt(body["messages"]), body.get("max_tokens"))
    tool_call = _tool_call(call)
    finish = "MAX_TOKENS" if counts.truncated else "TOOL_CALL" if tool_call else "COMPLETE"
    ident = str(uuid.UUID(int=call.serial))
    headers: Headers = ((b"x-debug-trace-id", f"{call.serial:032x}".encode()),)
    if body.get("stream") is True:
        return _stream(call, ident, counts, tool_call, finish, headers)
    message: dict[str, Any] = {"role": "assistant"}
    if tool_call is None:
        message["content"] = [{"type": "text", "text": answer_text(counts.visible)}]
    else:
        message["tool_plan"] = answer_text(counts.visible)
        message["tool_calls"] = [tool_call]
    payload: dict[str, Any] = {"id": ident, "message": message, "finish_reason": finish}
    if not call.scenario.omit_usage:
        payload["usage"] = usage(counts)
    return Reply(200, jsonx.dumps(payload), headers, answer=True)


def _event(payload: dict[str, Any]) -> bytes:
    return event_frame(payload["type"], payload)


def _stream(
    call: Call,
    ident: str,
    counts: Tally,
    tool_call: dict[str, Any] | None,
    finish: str,
    headers: Headers,
) -> StreamPlan:
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    head = [_event({"id": ident, "type": "message-start", "delta": {"message": start}})]
    pieces = answer_pieces(counts.visible, call.scenario.chunks)
    tail: list[bytes] = []
    if tool_call is None:
        head.append(
            _event(
                {
                    "type": "content-start",
                    "index": 0,
                    "delta": {"message": {"content": {"type": "text", "text": ""}}},
                }
            )
        )
        content = [
            _event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": p}}}})
            for p in pieces
        ]
        tail.append(_event({"type": "content-end", "index": 0}))
    else:
        content = [
            _event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}}) for p in pieces
        ]
        tail.extend(_tool_call_events(tool_call))
    end: dict[str, Any] = {"finish_reason": finish}
    if not call.scenario.omit_usage:
        end["usage"] = usage(counts)
    tail.append(_event({"type": "message-end", "delta": end}))
    message = call.scenario.error_message or "internal server error, this has been reported to our developers"

    def error(_sent: int) -> bytes:
        return _event({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message}})

    return StreamPlan(head, content, tail, error, headers)


def _tool_call_events(tool_call: dict[str, Any]) -> list[bytes]:
    arguments: str = tool_call["function"]["arguments"]
    half = len(arguments) // 2
    opening = {**tool_call, "function": {**tool_call["function"], "arguments": ""}}
    frames = [_event({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": opening}}})]
    for piece in (arguments[:half], arguments[half:]):
        if piece:
            delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
            frames.append(_event({"type": "tool-call-delta", "index": 0, "delta": delta}))
    frames.append(_event({"type": "tool-call-end", "index": 0}))
    return frames
