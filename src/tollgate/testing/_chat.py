"""Chat Completions for the whole OpenAI-compatible family (PROVIDERS.md A.1, A.8, A.10).

Streams are ``data:`` frames only: a role chunk, one chunk per content piece, a finish chunk, the
flavor's usage chunk(s), then ``data: [DONE]``. A request that forces a tool gets a call to it (``_tools``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from tollgate.core import jsonx
from tollgate.testing._errors import ErrorStyle, bad_request, error_payload
from tollgate.testing._flavors import ChatFlavor, UsagePlacement
from tollgate.testing._sse import DONE, data_frame
from tollgate.testing._tokens import Tally, answer_pieces, answer_text, count_prompt, tally
from tollgate.testing._tools import argument_pieces, arguments, forced_openai
from tollgate.testing._types import Call, Handler, Headers, Reply, StreamPlan

_ALWAYS = (UsagePlacement.EXTRA_CHUNK_ALWAYS, UsagePlacement.FINISH_CHUNK)
_FILTER_CATEGORIES = ("hate", "self_harm", "sexual", "violence")


def content_filter_results() -> dict[str, Any]:
    """Azure's verdict on a prompt or an answer: every category safe."""
    return {name: {"filtered": False, "severity": "safe"} for name in _FILTER_CATEGORIES}


def prompt_filter_results() -> list[dict[str, Any]]:
    return [{"prompt_index": 0, "content_filter_results": content_filter_results()}]


_OBFUSCATION_PAD = "abcdefghijklmnop"


def chat_handler(flavor: ChatFlavor) -> Handler:
    return partial(chat_completion, flavor=flavor)


def _invalid(body: dict[str, Any], style: ErrorStyle) -> Reply | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return bad_request(style, "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list):
        return bad_request(
            style,
            "Missing required parameter: 'messages'.",
            param="messages",
            code="missing_required_parameter",
        )
    if not messages:
        return bad_request(
            style,
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            param="messages",
            code="empty_array",
        )
    return None


def chat_completion(call: Call, flavor: ChatFlavor) -> Reply | StreamPlan:
    if not isinstance(call.request.json, dict):
        return bad_request(flavor.errors, "We could not parse the JSON body of your request.")
    body = call.body
    problem = _invalid(body, flavor.errors)
    if problem is not None:
        return problem
    cap = body.get("max_completion_tokens", body.get("max_tokens"))
    counts = tally(call.scenario, count_prompt(body["messages"]), cap)
    ident = call.ident(flavor.id_prefix)
    headers: Headers = ((flavor.id_header, ident.encode()),) if flavor.id_header else ()
    if body.get("stream") is True:
        return _ChatStream(call, flavor, counts, ident).plan(headers)
    message = {"role": "assistant", "content": answer_text(counts.visible), **flavor.message_extras}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": _finish(counts)}
    if (tool := forced_openai(body)) is not None:  # see _tools
        arguments_text = jsonx.dumps(arguments(counts.visible)).decode()
        function = {"name": tool, "arguments": arguments_text}
        message["content"] = None
        message["tool_calls"] = [{"id": call.ident("call_"), "type": "function", "function": function}]
        choice["finish_reason"] = "tool_calls"
    payload: dict[str, Any] = {
        "id": ident,
        "object": "chat.completion",
        "created": call.created,
        "model": call.reported_model(body["model"]),
        "choices": [choice],
        **served_tier(flavor.extras(), body),
    }
    if flavor.content_filters:
        choice["content_filter_results"] = content_filter_results()
        payload["prompt_filter_results"] = prompt_filter_results()
    if not call.scenario.omit_usage:
        payload["usage"] = flavor.usage(counts)
    return Reply(200, jsonx.dumps(payload), headers, answer=True)


TIERS = frozenset({"flex", "priority"})


def served_tier(extras: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI reports the tier that served the call: the one asked for, when it is a real one."""
    if "service_tier" in extras and body.get("service_tier") in TIERS:
        extras["service_tier"] = body["service_tier"]
    return extras


def _finish(counts: Tally) -> str:
    return "length" if counts.truncated else "stop"


class _ChatStream:
    """Builds one chat stream's frames."""

    def __init__(self, call: Call, flavor: ChatFlavor, counts: Tally, ident: str) -> None:
        self._call = call
        self._flavor = flavor
        self._counts = counts
        options = call.body.get("stream_options")
        options = options if isinstance(options, dict) else {}
        asked = options.get("include_usage") is True
        self._send_usage = not call.scenario.omit_usage and (asked or flavor.placement in _ALWAYS)
        # OpenAI marks every chunk "usage": null once usage was asked for.
        self._null_usage = flavor.null_usage and asked
        self._obfuscate = flavor.obfuscation and options.get("include_obfuscation") is not False
        self._tool = forced_openai(call.body)  # a forced tool call: its arguments stream as JSON text
        self._tool_id = call.ident("call_")
        self._base = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": call.created,
            "model": call.reported_model(call.body["model"]),
            **served_tier(flavor.extras(), call.body),
        }

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> bytes:
        chunk = {**self._base, "choices": choices}
        if usage is not None or self._null_usage:
            chunk["usage"] = usage
        return data_frame(chunk)

    def _content(self, piece: str, first: bool = False) -> bytes:
        delta: dict[str, Any] = {"content": piece}
        if self._tool is not None:
            call: dict[str, Any] = {"index": 0, "function": {"arguments": piece}}
            if first:
                call = {**call, "id": self._tool_id, "type": "function"}
                call["function"] = {"name": self._tool, "arguments": piece}
            delta = {"tool_calls": [call]}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}
        chunk: dict[str, Any] = {**self._base, "choices": [choice]}
        if self._null_usage:
            chunk["usage"] = None
        if self._obfuscate:
            chunk["obfuscation"] = _OBFUSCATION_PAD[: 16 - len(piece) % 16]
        return data_frame(chunk)

    def _tail(self) -> list[bytes]:
        placement = self._flavor.placement
        reason = "tool_calls" if self._tool is not None else _finish(self._counts)
        finish = {"index": 0, "delta": {}, "logprobs": None, "finish_reason": reason}
        usage = self._flavor.usage(self._counts) if self._send_usage else None
        if usage is not None and placement in (
            UsagePlacement.FINISH_CHUNK,
            UsagePlacement.BEFORE_FINAL_IF_ASKED,
        ):
            frames = [self._chunk([finish], usage)]
            if placement is UsagePlacement.BEFORE_FINAL_IF_ASKED:
                frames.append(self._chunk([]))  # xAI: usage is on the chunk *before* the last one
        else:
            frames = [self._chunk([finish])]
            if usage is not None:
                frames.append(self._chunk([], usage))
        frames.append(DONE)
        return frames

    def _error(self, _sent: int) -> bytes:
        message = (
            self._call.scenario.error_message or "The server had an error while processing your request."
        )
        if self._flavor.errors is ErrorStyle.OPENROUTER:
            # OpenRouter: a normal chunk carrying `error`, with finish_reason "error".
            choice = {
                "index": 0,
                "delta": {"content": ""},
                "finish_reason": "error",
                "native_finish_reason": "error",
            }
            error = {"code": "server_error", "message": message}
            return data_frame({**self._base, "error": error, "choices": [choice]})
        return data_frame({"error": error_payload(ErrorStyle.OPENAI, 500, message)["error"]})

    def _pieces(self) -> list[str]:
        split = argument_pieces if self._tool is not None else answer_pieces
        return split(self._counts.visible, self._call.scenario.chunks)

    def plan(self, headers: Headers) -> StreamPlan:
        role = {
            "index": 0,
            "delta": {"role": "assistant", "content": ""},
            "logprobs": None,
            "finish_reason": None,
        }
        head = [*self._flavor.comments, self._chunk([role])]
        if self._flavor.content_filters:
            # Azure opens with a chunk that has no choices, only the prompt's filter results.
            prelude = {"id": "", "object": "", "created": 0, "model": "", "choices": []}
            head.insert(0, data_frame({**prelude, "prompt_filter_results": prompt_filter_results()}))
        return StreamPlan(
            head=head,
            content=[self._content(piece, index == 0) for index, piece in enumerate(self._pieces())],
            tail=self._tail(),
            error_frame=self._error,
            headers=headers,
        )
