"""The OpenAI Responses API (PROVIDERS.md A.2), also served for xAI.

Streams are named events, each data JSON repeating the name in ``type`` with a ``sequence_number``:
``response.created``, ``response.in_progress``, (a reasoning item when there is reasoning),
``response.output_item.added``, ``response.content_part.added``, ``response.output_text.delta`` × N,
``response.output_text.done``, ``response.content_part.done``, ``response.output_item.done``, then
``response.completed`` (or ``response.incomplete`` when ``max_output_tokens`` cut the answer) carrying
``response.usage``. No ``[DONE]``. In-stream errors are ``event: error``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from tollgate.core import jsonx
from tollgate.testing._errors import ErrorStyle, bad_request
from tollgate.testing._sse import event_frame
from tollgate.testing._tokens import Tally, answer_pieces, answer_text, count_prompt, tally
from tollgate.testing._types import Call, Handler, Reply, StreamPlan

_OBFUSCATION_PAD = "abcdefghijklmnop"


def responses_handler(*, obfuscation: bool) -> Handler:
    return partial(create_response, obfuscation=obfuscation)


def _prompt_tokens(body: dict[str, Any]) -> int:
    given = body.get("input")
    messages = [given] if isinstance(given, str) else given if isinstance(given, list) else []
    return count_prompt(messages, body.get("instructions"))


def _invalid(call: Call) -> Reply | None:
    if not isinstance(call.request.json, dict):
        return bad_request(ErrorStyle.OPENAI, "We could not parse the JSON body of your request.")
    model = call.body.get("model")
    if not isinstance(model, str) or not model:
        return bad_request(
            ErrorStyle.OPENAI,
            "Missing required parameter: 'model'.",
            param="model",
            code="missing_required_parameter",
        )
    return None


def count_input_tokens(call: Call) -> Reply:
    """``POST /responses/input_tokens``: the input count without generating."""
    if not isinstance(call.request.json, dict):
        return bad_request(ErrorStyle.OPENAI, "We could not parse the JSON body of your request.")
    counts = tally(call.scenario, _prompt_tokens(call.body))
    return Reply(200, jsonx.dumps({"object": "response.input_tokens", "input_tokens": counts.input_total}))


def create_response(call: Call, obfuscation: bool) -> Reply | StreamPlan:
    problem = _invalid(call)
    if problem is not None:
        return problem
    body = call.body
    counts = tally(call.scenario, _prompt_tokens(body), body.get("max_output_tokens"))
    builder = _ResponseBuilder(call, counts)
    if body.get("stream") is True:
        options = body.get("stream_options")
        hide = isinstance(options, dict) and options.get("include_obfuscation") is False
        return builder.stream(obfuscation and not hide)
    return Reply(200, jsonx.dumps(builder.final()), ((b"x-request-id", builder.ident.encode()),), answer=True)


class _ResponseBuilder:
    def __init__(self, call: Call, counts: Tally) -> None:
        self._call = call
        self._counts = counts
        self.ident = call.ident("resp_")
        self._message_id = call.ident("msg_")
        self._reasoning_id = call.ident("rs_")
        self._model = call.reported_model(call.body["model"])
        self._output_index = 1 if counts.reasoning else 0

    def _envelope(self, status: str) -> dict[str, Any]:
        body = self._call.body
        asked = body.get("reasoning")
        reasoning: dict[str, Any] = asked if isinstance(asked, dict) else {}
        return {
            "id": self.ident,
            "object": "response",
            "created_at": self._call.created,
            "status": status,
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": None,
            "model": self._model,
            "output": [],
            "parallel_tool_calls": True,
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
            "safety_identifier": None,
            "service_tier": body.get("service_tier")
            if body.get("service_tier") in ("flex", "priority")
            else "default",
            "store": body.get("store", True),
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_logprobs": 0,
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": None,
            "user": None,
            "metadata": body.get("metadata") or {},
        }

    def _usage(self) -> dict[str, Any]:
        c = self._counts
        return {
            "input_tokens": c.input_total,
            "input_tokens_details": {"cached_tokens": c.cache_read, "cache_write_tokens": c.cache_write},
            "output_tokens": c.output_total,
            "output_tokens_details": {"reasoning_tokens": c.reasoning},
            "total_tokens": c.input_total + c.output_total,
        }

    def _part(self, text: str) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}

    def _message(self, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self._message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _reasoning_item(self) -> dict[str, Any]:
        return {"id": self._reasoning_id, "type": "reasoning", "summary": []}

    def final(self) -> dict[str, Any]:
        """The finished response object (the non-stream body, and ``response`` of the terminal event)."""
        truncated = self._counts.truncated
        response = self._envelope("incomplete" if truncated else "completed")
        message = self._message(
            "incomplete" if truncated else "completed", [self._part(answer_text(self._counts.visible))]
        )
        response["output"] = [self._reasoning_item(), message] if self._counts.reasoning else [message]
        if truncated:
            response["incomplete_details"] = {"reason": "max_output_tokens"}
        else:
            response["completed_at"] = self._call.created
        if not self._call.scenario.omit_usage:
            response["usage"] = self._usage()
        return response

    def stream(self, obfuscation: bool) -> StreamPlan:
        frames = _Sequencer()
        item = {"item_id": self._message_id, "output_index": self._output_index, "content_index": 0}
        head = [
            frames.event("response.created", response=self._envelope("in_progress")),
            frames.event("response.in_progress", response=self._envelope("in_progress")),
        ]
        if self._counts.reasoning:
            head.append(
                frames.event("response.output_item.added", output_index=0, item=self._reasoning_item())
            )
            head.append(
                frames.event("response.output_item.done", output_index=0, item=self._reasoning_item())
            )
        head.append(
            frames.event(
                "response.output_item.added",
                output_index=self._output_index,
                item=self._message("in_progress", []),
            )
        )
        head.append(frames.event("response.content_part.added", **item, part=self._part("")))
        first_content = frames.next_number
        content = []
        for piece in answer_pieces(self._counts.visible, self._call.scenario.chunks):
            fields: dict[str, Any] = {**item, "delta": piece, "logprobs": []}
            if obfuscation:
                fields["obfuscation"] = _OBFUSCATION_PAD[: 16 - len(piece) % 16]
            content.append(frames.event("response.output_text.delta", **fields))
        final = self.final()
        text = answer_text(self._counts.visible)
        tail = [
            frames.event("response.output_text.done", **item, text=text, logprobs=[]),
            frames.event("response.content_part.done", **item, part=self._part(text)),
            frames.event(
                "response.output_item.done", output_index=self._output_index, item=final["output"][-1]
            ),
            frames.event(f"response.{final['status']}", response=final),
        ]
        message = (
            self._call.scenario.error_message or "The server had an error while processing your request."
        )

        def error(sent: int) -> bytes:
            payload = {
                "type": "error",
                "code": "server_error",
                "message": message,
                "param": None,
                "sequence_number": first_content + sent,
            }
            return event_frame("error", payload)

        return StreamPlan(head, content, tail, error, ((b"x-request-id", self.ident.encode()),))


class _Sequencer:
    """Numbers a stream's events in order."""

    def __init__(self) -> None:
        self.next_number = 0

    def event(self, kind: str, **fields: Any) -> bytes:
        frame = event_frame(kind, {"type": kind, "sequence_number": self.next_number, **fields})
        self.next_number += 1
        return frame
