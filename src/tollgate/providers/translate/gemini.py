"""Gemini (and Gemini on Vertex) as an upstream: hub → ``generateContent`` body, response →
hub, ``streamGenerateContent?alt=sse`` chunks → hub events (PROVIDERS.md A.4, A.5).

Chosen behaviour:
- Tool parameters go out as ``parametersJsonSchema`` and JSON-schema output as
  ``responseJsonSchema``: both take JSON Schema as OpenAI clients write it, where the older
  ``parameters``/``responseSchema`` accept only an OpenAPI subset (no ``additionalProperties``).
- Images must be base64: Gemini fetches no http(s) URLs, so a URL image is refused.
- Thought parts are not answer text; their tokens are reasoning inside output usage.
- Gemini calls have no ids; the reader mints them with ``new_id``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from tollgate.providers.normalize import gemini as normalise_usage
from tollgate.providers.normalize import obj, text
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
    StreamError,
    TextDelta,
    TextPart,
    ToolCallDelta,
    ToolCallPart,
    ToolCallStart,
    ToolChoice,
    ToolResultPart,
    UsageUpdate,
    invalid,
    json_text,
    random_call_id,
    unsupported,
)

TARGET = "gemini"

FINISH: Mapping[str, FinishReason] = MappingProxyType(
    {
        "STOP": FinishReason.STOP,
        "FINISH_REASON_UNSPECIFIED": FinishReason.STOP,
        "MAX_TOKENS": FinishReason.LENGTH,
        "SAFETY": FinishReason.CONTENT_FILTER,
        "RECITATION": FinishReason.CONTENT_FILTER,
        "BLOCKLIST": FinishReason.CONTENT_FILTER,
        "PROHIBITED_CONTENT": FinishReason.CONTENT_FILTER,
        "SPII": FinishReason.CONTENT_FILTER,
        "IMAGE_SAFETY": FinishReason.CONTENT_FILTER,
        "LANGUAGE": FinishReason.ERROR,
        "MALFORMED_FUNCTION_CALL": FinishReason.ERROR,
        "UNEXPECTED_TOOL_CALL": FinishReason.ERROR,
        "OTHER": FinishReason.ERROR,
    }
)
_MODES: Mapping[str, str] = MappingProxyType(
    {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}
)


def finish_reason(native: str | None, *, called_tools: bool) -> FinishReason:
    reason = FINISH.get(native or "", FinishReason.STOP)
    return FinishReason.TOOL_CALLS if reason is FinishReason.STOP and called_tools else reason


def _image(image: ImagePart) -> dict[str, Any]:
    if image.data is None:
        raise unsupported("image URLs (send base64 data URLs)", TARGET)
    return {"inlineData": {"mimeType": image.media_type, "data": image.data}}


def _result(part: ToolResultPart) -> dict[str, Any]:
    if part.name is None:
        raise invalid(f"tool result {part.call_id} answers no earlier tool call")
    if any(isinstance(p, ImagePart) for p in part.content):
        raise unsupported("images in tool results", TARGET)
    try:
        response = json.loads(part.text)
    except ValueError:
        response = None
    if not isinstance(response, dict):
        response = {"result": part.text}
    return {"functionResponse": {"name": part.name, "response": response}}


def _part(part: Part) -> dict[str, Any] | None:
    match part:
        case TextPart(text=t):
            return {"text": t} if t else None  # Gemini rejects empty parts
        case ImagePart():
            return _image(part)
        case ToolCallPart():
            return {"functionCall": {"name": part.name, "args": part.arguments_object()}}
        case ToolResultPart():
            return _result(part)


def contents(messages: tuple[Message, ...]) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for message in messages:
        parts = [p for p in map(_part, message.parts) if p is not None]
        role = "model" if message.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["parts"].extend(parts)
        elif parts:
            turns.append({"role": role, "parts": parts})
    return turns


def _tool_config(choice: ToolChoice | None) -> dict[str, Any]:
    mode = choice.mode if choice is not None else "auto"
    config: dict[str, Any] = {"mode": _MODES[mode]}
    if choice is not None and choice.name is not None:
        config["allowedFunctionNames"] = [choice.name]
    return {"functionCallingConfig": config}


def _generation_config(req: HubRequest) -> dict[str, Any]:
    s = req.sampling
    config: dict[str, Any] = {}
    for key, value in (
        ("maxOutputTokens", s.max_tokens),
        ("temperature", s.temperature),
        ("topP", s.top_p),
        ("topK", s.top_k),
        ("seed", s.seed),
    ):
        if value is not None:
            config[key] = value
    if s.stop:
        config["stopSequences"] = list(s.stop)
    fmt = req.response_format
    if fmt is not None and fmt.kind != "text":
        config["responseMimeType"] = "application/json"
        if fmt.schema is not None:
            config["responseJsonSchema"] = dict(fmt.schema)
    return config


def request_body(req: HubRequest) -> dict[str, Any]:
    """The generateContent body (the model is in the URL, not the body)."""
    req.refuse_extras(TARGET)
    if req.parallel_tool_calls is False:
        raise unsupported("parallel_tool_calls=false", TARGET)
    body: dict[str, Any] = {"contents": contents(req.messages)}
    if req.system:
        body["systemInstruction"] = {"parts": [{"text": req.system}]}
    if req.tools:
        declarations = [
            {"name": t.name, "parametersJsonSchema": dict(t.parameters)}
            | ({"description": t.description} if t.description else {})
            for t in req.tools
        ]
        body["tools"] = [{"functionDeclarations": declarations}]
    if req.tools or req.tool_choice is not None:
        body["toolConfig"] = _tool_config(req.tool_choice)
    if config := _generation_config(req):
        body["generationConfig"] = config
    return body


def _candidate_parts(
    candidate: Mapping[str, Any], new_id: Callable[[], str]
) -> list[TextPart | ToolCallPart]:
    parts: list[TextPart | ToolCallPart] = []
    raw = obj(candidate.get("content")).get("parts")
    for item in raw if isinstance(raw, list) else ():
        p = obj(item)
        if p.get("thought"):
            continue
        if (t := text(p.get("text"))) is not None:
            parts.append(TextPart(t))
        elif "functionCall" in p:
            call = obj(p["functionCall"])
            call_id = text(call.get("id")) or new_id()
            parts.append(ToolCallPart(call_id, str(call.get("name")), json_text(call.get("args") or {})))
    return parts


def _first_candidate(body: Mapping[str, Any]) -> Mapping[str, Any]:
    candidates = body.get("candidates")
    return obj(candidates[0]) if isinstance(candidates, list) and candidates else obj(None)


def response_to_hub(body: Mapping[str, Any], *, new_id: Callable[[], str] = random_call_id) -> HubResponse:
    candidate = _first_candidate(body)
    parts = _candidate_parts(candidate, new_id)
    native = text(candidate.get("finishReason"))
    if not candidate and text(obj(body.get("promptFeedback")).get("blockReason")):
        native, reason = "PROMPT_BLOCKED", FinishReason.CONTENT_FILTER
    else:
        reason = finish_reason(native, called_tools=any(isinstance(p, ToolCallPart) for p in parts))
    return HubResponse(
        id=text(body.get("responseId")) or "",
        model=text(body.get("modelVersion")) or "",
        parts=tuple(parts),
        finish_reason=reason,
        usage=normalise_usage(TARGET, body.get("usageMetadata")),
        native_finish_reason=native,
    )


@dataclass(slots=True)
class StreamReader:
    """Gemini SSE chunks (each a whole ``GenerateContentResponse``) → hub events.

    Every chunk's ``usageMetadata`` is the total so far, so each one becomes a ``UsageUpdate``
    and the last wins. A function call arrives whole: start and arguments are emitted together.
    A ``data: {"error": {...}}`` event (Gemini's mid-stream failure) is a ``StreamError``.
    """

    new_id: Callable[[], str] = random_call_id
    _started: bool = False
    _tools: int = 0
    _finished: bool = field(default=False)

    def feed(self, chunk: Mapping[str, Any]) -> list[HubStreamEvent]:
        if isinstance(error := chunk.get("error"), dict):  # ``data: {"error": {...}}`` mid-stream
            detail = text(error.get("message")) or "upstream error"
            return [StreamError(detail, text(error.get("status")) or "upstream_error")]
        events: list[HubStreamEvent] = []
        if not self._started:
            self._started = True
            events.append(RoleStart(text(chunk.get("responseId")), text(chunk.get("modelVersion"))))
        candidate = _first_candidate(chunk)
        for part in _candidate_parts(candidate, self.new_id):
            if isinstance(part, TextPart):
                events.append(TextDelta(part.text))
            else:
                events += [
                    ToolCallStart(self._tools, part.id, part.name),
                    ToolCallDelta(self._tools, part.arguments),
                ]
                self._tools += 1
        native = text(candidate.get("finishReason"))
        if not candidate and text(obj(chunk.get("promptFeedback")).get("blockReason")):
            native = "PROMPT_BLOCKED"
            events.append(Finish(FinishReason.CONTENT_FILTER, native))
        elif native is not None and not self._finished:
            events.append(Finish(finish_reason(native, called_tools=self._tools > 0), native))
        self._finished = self._finished or native is not None
        if (usage := normalise_usage(TARGET, chunk.get("usageMetadata"))) is not None:
            events.append(UsageUpdate(usage))
        return events
