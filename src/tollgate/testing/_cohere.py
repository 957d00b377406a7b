"""Cohere v2 Chat and model list (PROVIDERS.md A.9).

Usage has two sets of counts: ``billed_units`` (what is charged) and ``tokens`` (raw counts with
the chat template, so larger: ``TEMPLATE_INPUT_TOKENS`` and ``TEMPLATE_OUTPUT_TOKENS`` more).
``cached_tokens`` is the part of the input that hit the cache. In the scenario's terms the billed
input is the uncached input plus the cache reads (Cohere reports no cache writes) and the billed
output is the visible answer plus reasoning.

When the request has ``tools`` (and ``tool_choice`` is not ``NONE``), the answer is a tool call of
the first tool, with a ``tool_plan`` of ``output_tokens`` words and a placeholder for each required
parameter, unless the last message is already a tool result (then the answer is text again, so a
tool loop ends). ``REQUIRED`` forces the call, the way ``_tools`` does for every provider: its
arguments are ``{"query": "tok1 … tokN"}``, the plan is one short sentence, and a stream sends the
arguments in ``chunks`` pieces.

Streams are ``event: <type>`` / ``data: {"type": <type>, ...}`` pairs without ``[DONE]``:
``message-start``, then ``content-start``, ``content-delta`` × N, ``content-end`` (or
``tool-plan-delta`` × N, ``tool-call-start``, ``tool-call-delta`` × 2, ``tool-call-end``; forced:
``tool-plan-delta``, ``tool-call-start``, ``tool-call-delta`` × N, ``tool-call-end``), then
``message-end`` with ``delta.finish_reason`` and ``delta.usage``. A failure mid-stream is a
``message-end`` with ``finish_reason: "ERROR"`` and ``delta.error`` (the SDK's documented shape).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from tollgate.core import jsonx
from tollgate.testing._errors import ErrorStyle, bad_request
from tollgate.testing._sse import event_frame
from tollgate.testing._tokens import Tally, answer_pieces, answer_text, count_prompt, tally
from tollgate.testing._tools import argument_pieces, arguments, forced_cohere
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


@dataclass(frozen=True, slots=True)
class _ToolAnswer:
    """A tool call answering the request: the call, its plan, and how each streams (the pieces that
    count as content for the stream knobs are the plan's, or with a forced call the arguments')."""

    call: dict[str, Any]
    plan: list[str]  # the tool_plan, in the pieces it streams in
    arguments: list[str]  # the arguments' JSON text, in the pieces it streams in
    forced: bool


def _tool_answer(call: Call, counts: Tally) -> _ToolAnswer | None:
    """The tool call this request is answered with, if any."""
    body = call.body
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not tools or choice == "NONE":
        return None
    if (name := forced_cohere(body)) is not None:  # see _tools
        text = jsonx.dumps(arguments(counts.visible)).decode()
        pieces = argument_pieces(counts.visible, call.scenario.chunks)
        return _ToolAnswer(_function_call(call, name, text), [f"I will call {name}."], pieces, True)
    if body["messages"][-1].get("role") == "tool":
        return None
    function = next(
        (t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)), None
    )
    if function is None or not isinstance(function.get("name"), str):
        return None
    text = jsonx.dumps(_arguments(function)).decode()
    half = len(text) // 2
    plan = answer_pieces(counts.visible, call.scenario.chunks)
    pieces = [piece for piece in (text[:half], text[half:]) if piece]
    return _ToolAnswer(_function_call(call, function["name"], text), plan, pieces, False)


def _function_call(call: Call, name: str, arguments_text: str) -> dict[str, Any]:
    return {
        "id": f"{name}_{call.serial:012x}",
        "type": "function",
        "function": {"name": name, "arguments": arguments_text},
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
    placeholders: dict[str, Any] = {}
    for name in required if isinstance(required, list) else ():
        spec = properties.get(name)
        kind = spec.get("type") if isinstance(spec, dict) else None
        placeholders[str(name)] = _PLACEHOLDERS.get(kind) if isinstance(kind, str) else None
    return placeholders


def chat(call: Call) -> Reply | StreamPlan:
    """``POST /v2/chat``."""
    problem = _invalid(call)
    if problem is not None:
        return problem
    body = call.body
    counts = tally(call.scenario, count_prompt(body["messages"]), body.get("max_tokens"))
    tool = _tool_answer(call, counts)
    finish = _finish(counts, tool)
    ident = str(uuid.UUID(int=call.serial))
    headers: Headers = ((b"x-debug-trace-id", f"{call.serial:032x}".encode()),)
    if body.get("stream") is True:
        return _stream(call, ident, counts, tool, finish, headers)
    message: dict[str, Any] = {"role": "assistant"}
    if tool is None:
        message["content"] = [{"type": "text", "text": answer_text(counts.visible)}]
    else:
        message["tool_plan"] = "".join(tool.plan)
        message["tool_calls"] = [tool.call]
    payload: dict[str, Any] = {"id": ident, "message": message, "finish_reason": finish}
    if not call.scenario.omit_usage:
        payload["usage"] = usage(counts)
    return Reply(200, jsonx.dumps(payload), headers, answer=True)


def _finish(counts: Tally, tool: _ToolAnswer | None) -> str:
    """A forced call finishes ``TOOL_CALL`` whatever the cap (as the other simulators' forced calls do)."""
    if tool is not None and tool.forced:
        return "TOOL_CALL"
    if counts.truncated:
        return "MAX_TOKENS"
    return "COMPLETE" if tool is None else "TOOL_CALL"


def _event(payload: dict[str, Any]) -> bytes:
    return event_frame(payload["type"], payload)


def _stream(
    call: Call,
    ident: str,
    counts: Tally,
    tool: _ToolAnswer | None,
    finish: str,
    headers: Headers,
) -> StreamPlan:
    start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
    head = [_event({"id": ident, "type": "message-start", "delta": {"message": start}})]
    tail: list[bytes] = []
    if tool is None:
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
            for p in answer_pieces(counts.visible, call.scenario.chunks)
        ]
        tail.append(_event({"type": "content-end", "index": 0}))
    elif tool.forced:  # the plan, then the call's arguments as the content
        head += [*_plan_events(tool), _call_start(tool)]
        content = _argument_events(tool)
        tail.append(_event({"type": "tool-call-end", "index": 0}))
    else:  # the plan as the content, then the whole call
        content = _plan_events(tool)
        tail += [_call_start(tool), *_argument_events(tool), _event({"type": "tool-call-end", "index": 0})]
    end: dict[str, Any] = {"finish_reason": finish}
    if not call.scenario.omit_usage:
        end["usage"] = usage(counts)
    tail.append(_event({"type": "message-end", "delta": end}))
    message = call.scenario.error_message or "internal server error, this has been reported to our developers"

    def error(_sent: int) -> bytes:
        return _event({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": message}})

    return StreamPlan(head, content, tail, error, headers)


def _plan_events(tool: _ToolAnswer) -> list[bytes]:
    return [_event({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}}) for p in tool.plan]


def _call_start(tool: _ToolAnswer) -> bytes:
    opening = {**tool.call, "function": {**tool.call["function"], "arguments": ""}}
    return _event({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": opening}}})


def _argument_events(tool: _ToolAnswer) -> list[bytes]:
    return [
        _event(
            {
                "type": "tool-call-delta",
                "index": 0,
                "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}},
            }
        )
        for piece in tool.arguments
    ]
