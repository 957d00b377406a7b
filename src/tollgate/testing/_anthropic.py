"""Anthropic Messages (PROVIDERS.md A.3).

Usage: ``input_tokens`` is uncached input only; ``cache_read_input_tokens`` and
``cache_creation_input_tokens`` are separate, the latter split 5m/1h in ``cache_creation``;
``output_tokens`` includes thinking (``output_tokens_details.thinking_tokens`` is a breakdown).

Streams are named events: ``message_start`` (input and cache usage, provisional ``output_tokens: 1``),
``content_block_start``, ``ping``, ``content_block_delta`` × N, ``content_block_stop``, ``message_delta``
(stop reason and cumulative usage), ``message_stop``. In-stream errors are ``event: error``.
A request that forces a tool gets a ``tool_use`` block instead of text (``_tools``).
"""

from __future__ import annotations

from typing import Any

from tollgate.core import jsonx
from tollgate.testing._errors import ErrorStyle, bad_request, error_payload
from tollgate.testing._sse import event_frame
from tollgate.testing._tokens import Tally, answer_pieces, answer_text, count_prompt, tally
from tollgate.testing._tools import argument_pieces, arguments, forced_anthropic
from tollgate.testing._types import Call, Headers, Reply, StreamPlan

_STYLE = ErrorStyle.ANTHROPIC


def _invalid(call: Call) -> Reply | None:
    if not call.request.header("anthropic-version"):
        return bad_request(_STYLE, "anthropic-version: header is required")
    if not isinstance(call.request.json, dict):
        return bad_request(_STYLE, "There was an issue with your request body: it is not valid JSON.")
    body = call.body
    if not isinstance(body.get("model"), str) or not body["model"]:
        return bad_request(_STYLE, "model: Field required")
    if not isinstance(body.get("messages"), list):
        return bad_request(_STYLE, "messages: Field required")
    return None


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    return count_prompt(messages if isinstance(messages, list) else [], body.get("system"))


def count_tokens(call: Call) -> Reply:
    """``POST /v1/messages/count_tokens``: ``{input_tokens}`` without generating."""
    problem = _invalid(call)
    if problem is not None:
        return problem
    counts = tally(call.scenario, _prompt_tokens(call.body))
    return Reply(200, jsonx.dumps({"input_tokens": counts.input_total}))


def create_message(call: Call) -> Reply | StreamPlan:
    problem = _invalid(call)
    if problem is not None:
        return problem
    built = build_message(call, call.body, call.body["model"])
    if isinstance(built, Reply):
        return built
    message, counts = built
    headers: Headers = ((b"request-id", call.ident("req_").encode()),)
    if call.body.get("stream") is True:
        return _stream(call, message, counts, headers)
    return Reply(200, jsonx.dumps(message), headers, answer=True)


def build_message(call: Call, body: dict[str, Any], model: str) -> tuple[dict[str, Any], Tally] | Reply:
    """The whole answer to a Messages body (also Claude on Bedrock's ``/invoke``), or a 400."""
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return bad_request(
            _STYLE, "max_tokens: Field required" if max_tokens is None else "max_tokens: must be >= 1"
        )
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return bad_request(_STYLE, "messages: at least one message is required")
    counts = tally(call.scenario, _prompt_tokens(body), max_tokens)
    message: dict[str, Any] = {
        "id": call.ident("msg_"),
        "type": "message",
        "role": "assistant",
        "model": call.reported_model(model),
        "content": [{"type": "text", "text": answer_text(counts.visible)}],
        "stop_reason": "max_tokens" if counts.truncated else "end_turn",
        "stop_sequence": None,
    }
    if (tool := forced_anthropic(body)) is not None:  # see _tools
        use = {
            "type": "tool_use",
            "id": call.ident("toolu_"),
            "name": tool,
            "input": arguments(counts.visible),
        }
        message["content"], message["stop_reason"] = [use], "tool_use"
    if not call.scenario.omit_usage:
        message["usage"] = _usage(counts)
    return message, counts


def _input_usage(t: Tally) -> dict[str, Any]:
    return {
        "input_tokens": t.uncached,
        "cache_creation_input_tokens": t.cache_write,
        "cache_read_input_tokens": t.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": t.cache_write_5m,
            "ephemeral_1h_input_tokens": t.cache_write_1h,
        },
    }


def _usage(t: Tally) -> dict[str, Any]:
    usage = {**_input_usage(t), "output_tokens": t.output_total, "service_tier": "standard"}
    if t.reasoning:
        usage["output_tokens_details"] = {"thinking_tokens": t.reasoning}
    return usage


# An event's name and its JSON payload, before any framing.
Event = tuple[str, dict[str, Any]]


def stream_events(
    call: Call, message: dict[str, Any], counts: Tally
) -> tuple[list[Event], list[Event], list[Event]]:
    """The events of a streamed ``message`` as (head, one per content chunk, tail), unframed."""
    omit = call.scenario.omit_usage
    start = {**message, "content": [], "stop_reason": None}
    if not omit:
        start["usage"] = {**_input_usage(counts), "output_tokens": 1, "service_tier": "standard"}
    block: dict[str, Any] = {"type": "text", "text": ""}
    deltas = [{"type": "text_delta", "text": p} for p in answer_pieces(counts.visible, call.scenario.chunks)]
    if message["content"][0]["type"] == "tool_use":  # a forced tool call: its input streams as JSON text
        block = {**message["content"][0], "input": {}}
        pieces = argument_pieces(counts.visible, call.scenario.chunks)
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    head: list[Event] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
        ("ping", {"type": "ping"}),
    ]
    content: list[Event] = [
        ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        for delta in deltas
    ]
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
    }
    if not omit:
        # Cumulative, not an increment; the input and cache counts are repeated.
        usage = _usage(counts)
        del usage["service_tier"], usage["cache_creation"]
        delta["usage"] = usage
    tail: list[Event] = [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", delta),
        ("message_stop", {"type": "message_stop"}),
    ]
    return head, content, tail


def _stream(call: Call, message: dict[str, Any], counts: Tally, headers: Headers) -> StreamPlan:
    head, content, tail = stream_events(call, message, counts)
    request_id = headers[0][1].decode()
    error_message = call.scenario.error_message

    def error(_sent: int) -> bytes:
        payload = error_payload(_STYLE, 529, error_message)
        payload["request_id"] = request_id
        return event_frame("error", payload)

    def frames(events: list[Event]) -> list[bytes]:
        return [event_frame(name, payload) for name, payload in events]

    return StreamPlan(frames(head), frames(content), frames(tail), error, headers)
