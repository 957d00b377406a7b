"""The Gemini API, generativelanguage style (PROVIDERS.md A.4).

Usage (``usageMetadata``): ``promptTokenCount`` includes ``cachedContentTokenCount``;
``thoughtsTokenCount`` is separate from ``candidatesTokenCount``. Gemini reports no cache writes, so
``cache_write_tokens`` does not apply here.

``:streamGenerateContent?alt=sse`` sends ``data: {GenerateContentResponse}`` frames separated by CRLF,
with no event names and no ``[DONE]``; every chunk carries ``usageMetadata`` with growing counts and a
last chunk holds ``finishReason`` and the final totals. Without ``alt=sse`` the answer is one JSON array.
A request that forces a tool gets a ``functionCall`` part instead of text, in one chunk (``_tools``).
The ``finish_reason`` knob replaces the ``finishReason`` (e.g. ``MALFORMED_FUNCTION_CALL``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from tollgate.core import jsonx
from tollgate.testing._errors import ErrorStyle, bad_request, error_payload
from tollgate.testing._sse import crlf_data_frame
from tollgate.testing._tokens import Tally, answer_pieces, answer_text, count_prompt, tally
from tollgate.testing._tools import arguments, forced_gemini
from tollgate.testing._types import Call, Handler, Reply, StreamPlan

_STYLE = ErrorStyle.GEMINI
_VERSIONS = ("v1", "v1beta")
_EVENT_STREAM = b"text/event-stream"


GEMINI_MODELS = ("gemini-2.5-flash", "gemini-2.5-pro")


def list_models(call: Call) -> Reply:
    """``GET /{v1|v1beta}/models``: the Gemini API's model list shape."""
    models = [
        {"name": f"models/{name}", "displayName": name, "supportedGenerationMethods": ["generateContent"]}
        for name in GEMINI_MODELS
    ]
    return Reply(200, jsonx.dumps({"models": models}))


def gemini_route(method: str, rest: str) -> Handler | None:
    """``/{v1|v1beta}/models/{model}:{generateContent|streamGenerateContent|countTokens}``,
    and ``GET /{v1|v1beta}/models``."""
    parts = rest.split("/")
    if (
        method == "GET"
        and len(parts) == 3
        and not parts[0]
        and parts[1] in _VERSIONS
        and parts[2] == "models"
    ):
        return list_models
    if method != "POST":
        return None
    if len(parts) != 4 or parts[0] or parts[1] not in _VERSIONS or parts[2] != "models":
        return None
    model, colon, action = parts[3].partition(":")
    if not colon or not model:
        return None
    if action == "generateContent":
        return partial(generate_content, model=model, stream=False)
    if action == "streamGenerateContent":
        return partial(generate_content, model=model, stream=True)
    if action == "countTokens":
        return partial(count_tokens, model=model)
    return None


def _field(body: dict[str, Any], camel: str, snake: str) -> Any:
    return body.get(camel, body.get(snake))


def _prompt_tokens(body: dict[str, Any]) -> int:
    contents = body.get("contents")
    return count_prompt(
        contents if isinstance(contents, list) else [],
        _field(body, "systemInstruction", "system_instruction"),
    )


def _invalid(call: Call) -> Reply | None:
    if not isinstance(call.request.json, dict):
        return bad_request(_STYLE, "Invalid JSON payload received.")
    contents = call.body.get("contents")
    if not isinstance(contents, list) or not contents:
        return bad_request(_STYLE, "* GenerateContentRequest.contents: contents is not specified")
    return None


def count_tokens(call: Call, model: str) -> Reply:
    problem = _invalid(call)
    if problem is not None:
        return problem
    counts = tally(call.scenario, _prompt_tokens(call.body))
    prompt = counts.uncached + counts.cache_read
    payload: dict[str, Any] = {
        "totalTokens": prompt,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if counts.cache_read:
        payload["cachedContentTokenCount"] = counts.cache_read
    return Reply(200, jsonx.dumps(payload))


def _usage(t: Tally, candidates: int) -> dict[str, Any]:
    prompt = t.uncached + t.cache_read
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "totalTokenCount": prompt + candidates + t.reasoning,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if t.cache_read:
        usage["cachedContentTokenCount"] = t.cache_read
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": t.cache_read}]
    if t.reasoning:
        usage["thoughtsTokenCount"] = t.reasoning
    return usage


def generate_content(call: Call, model: str, stream: bool) -> Reply | StreamPlan:
    problem = _invalid(call)
    if problem is not None:
        return problem
    body = call.body
    config = _field(body, "generationConfig", "generation_config")
    cap = _field(config, "maxOutputTokens", "max_output_tokens") if isinstance(config, dict) else None
    counts = tally(call.scenario, _prompt_tokens(body), cap)
    chunks = _Chunks(call, model, counts, forced_gemini(body))
    if not stream:
        return Reply(200, jsonx.dumps(chunks.whole()), answer=True)
    frames = chunks.stream()
    if "alt=sse" in call.request.query_string.split("&"):
        return chunks.plan(frames)
    return Reply(200, b"[" + b",\r\n".join(jsonx.dumps(frame) for frame in frames) + b"]", answer=True)


class _Chunks:
    def __init__(self, call: Call, model: str, counts: Tally, tool: str | None = None) -> None:
        self._call = call
        self._counts = counts
        self._tool = tool  # a forced tool: the answer is a call to it (``_tools``)
        self._ident = call.ident("sim")
        self._model = call.reported_model(model)
        natural = "MAX_TOKENS" if counts.truncated else "STOP"
        self._finish = call.scenario.finish_reason or natural

    def _response(self, text: str, candidates: int, finish: str | None) -> dict[str, Any]:
        part: dict[str, Any] = {"text": text}
        if self._tool is not None and text:  # Gemini sends a call whole, in one part
            part = {"functionCall": {"name": self._tool, "args": arguments(self._counts.visible)}}
        candidate: dict[str, Any] = {"content": {"parts": [part], "role": "model"}, "index": 0}
        if finish is not None:
            candidate["finishReason"] = finish
        response: dict[str, Any] = {"candidates": [candidate]}
        if not self._call.scenario.omit_usage:
            response["usageMetadata"] = _usage(self._counts, candidates)
        response["modelVersion"] = self._model
        response["responseId"] = self._ident
        return response

    def whole(self) -> dict[str, Any]:
        return self._response(answer_text(self._counts.visible), self._counts.visible, self._finish)

    def stream(self) -> list[dict[str, Any]]:
        """Content chunks with growing usage, then a last chunk with ``finishReason`` and the final totals."""
        visible = self._counts.visible
        if self._tool is not None:  # the call, then the finish
            return [
                self._response(answer_text(visible), visible, None),
                self._response("", visible, self._finish),
            ]
        frames = []
        seen = 0
        for piece in answer_pieces(self._counts.visible, self._call.scenario.chunks):
            seen += len(piece.split())
            frames.append(self._response(piece, seen, None))
        frames.append(self._response("", self._counts.visible, self._finish))
        return frames

    def plan(self, frames: list[dict[str, Any]]) -> StreamPlan:
        message = self._call.scenario.error_message

        def error(_sent: int) -> bytes:
            return crlf_data_frame(error_payload(_STYLE, 503, message))

        encoded = [crlf_data_frame(frame) for frame in frames]
        return StreamPlan([], encoded[:-1], encoded[-1:], error, content_type=_EVENT_STREAM)
