"""Builds a provider's native chat request from OpenAI-style messages (``/v1/chat``).

Text content and multi-part text are translated for Anthropic and Gemini (also on Vertex AI, where
a ``claude*`` model is Claude and any other is Gemini); the OpenAI family takes the messages as
they are. ``providerOptions`` are merged into the native body; for
Gemini the common sampling options move into ``generationConfig``. Bedrock gets a Converse body
(content blocks, ``system``, sampling options in ``inferenceConfig``; the model is in the path).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tollgate.core.errors import BadRequest
from tollgate.providers.base import Operation
from tollgate.providers.registry import ProviderSpec, bedrock_converse_path
from tollgate.providers.vertex_urls import anthropic_body_for_vertex, publisher_path

ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
ANTHROPIC_DEFAULT_MAX_TOKENS = 4096
_GEMINI_CONFIG = {
    "temperature": "temperature",
    "top_p": "topP",
    "top_k": "topK",
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "seed": "seed",
}


@dataclass(frozen=True, slots=True)
class NativeRequest:
    path: str
    query: str
    operation: Operation
    body: dict[str, Any]


def validate_messages(messages: object) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise BadRequest("messages must be a non-empty array", code="invalid_messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise BadRequest(f"messages[{index}] must be an object", code="invalid_messages")
        if message.get("role") not in ROLES:
            raise BadRequest(
                f"messages[{index}].role must be one of {', '.join(sorted(ROLES))}", code="invalid_messages"
            )
        content = message.get("content")
        if not isinstance(content, str | list) and not (content is None and message.get("tool_calls")):
            raise BadRequest(
                f"messages[{index}].content must be a string or an array", code="invalid_messages"
            )
    return messages


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") in (None, "text")
        ]
        return "".join(str(p) for p in parts)
    return ""


def _anthropic(model: str, messages: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    system = "\n\n".join(_text(m["content"]) for m in messages if m["role"] in ("system", "developer"))
    turns = [
        {"role": m["role"], "content": m["content"] if isinstance(m["content"], str) else _text(m["content"])}
        for m in messages
        if m["role"] in ("user", "assistant")
    ]
    body: dict[str, Any] = {"model": model, "messages": turns, "max_tokens": ANTHROPIC_DEFAULT_MAX_TOKENS}
    if system:
        body["system"] = system
    body.update(options)
    return body


def _take_renamed(
    options: dict[str, Any], renames: Iterable[tuple[str, str]], stop_field: str
) -> dict[str, Any]:
    """Pop each option named in ``renames`` from ``options``, under the provider's name for it
    (later names win); a lone stop string becomes the list ``stop_field`` takes."""
    taken: dict[str, Any] = {}
    for name, target in renames:
        if name in options:
            value = options.pop(name)
            taken[target] = [value] if target == stop_field and isinstance(value, str) else value
    return taken


def _gemini(messages: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    system = "\n\n".join(_text(m["content"]) for m in messages if m["role"] in ("system", "developer"))
    contents = [
        {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": _text(m["content"])}]}
        for m in messages
        if m["role"] in ("user", "assistant")
    ]
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config: dict[str, Any] = dict(options.pop("generationConfig", None) or {})
    config.update(_take_renamed(options, _GEMINI_CONFIG.items(), "stopSequences"))
    if config:
        body["generationConfig"] = config
    body.update(options)
    return body


# Cohere v2 (A.9): OpenAI-like messages without ``name``; a few options have their own names.
_COHERE_FIELDS = ("role", "content", "tool_calls", "tool_call_id", "tool_plan")
_COHERE_OPTIONS = (
    ("top_p", "p"),
    ("top_k", "k"),
    ("stop", "stop_sequences"),
    ("max_completion_tokens", "max_tokens"),
)


def _cohere(
    model: str, messages: list[dict[str, Any]], options: dict[str, Any], stream: bool
) -> dict[str, Any]:
    turns = []
    for message in messages:
        turn = {k: message[k] for k in _COHERE_FIELDS if message.get(k) is not None}
        if turn["role"] == "developer":
            turn["role"] = "system"
        turns.append(turn)
    body: dict[str, Any] = {"model": model, "messages": turns}
    body.update(_take_renamed(options, _COHERE_OPTIONS, "stop_sequences"))
    body.update(options)
    body["stream"] = stream  # Cohere's SDK always says which
    return body


# Bedrock Converse (A.6): sampling options live in ``inferenceConfig``.
_BEDROCK_CONFIG = (
    ("max_tokens", "maxTokens"),
    ("max_completion_tokens", "maxTokens"),
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("stop", "stopSequences"),
)


def _bedrock(messages: list[dict[str, Any]], options: dict[str, Any]) -> dict[str, Any]:
    """Converse messages: content blocks, consecutive turns of one role merged, no empty text
    (Converse refuses both); system and developer messages go to ``system``."""
    instructions = (_text(m["content"]) for m in messages if m["role"] in ("system", "developer"))
    system = [{"text": t} for t in instructions if t]
    turns: list[dict[str, Any]] = []
    for message in messages:
        text = _text(message["content"])
        if message["role"] not in ("user", "assistant") or not text:
            continue
        if turns and turns[-1]["role"] == message["role"]:
            turns[-1]["content"].append({"text": text})
        else:
            turns.append({"role": message["role"], "content": [{"text": text}]})
    body: dict[str, Any] = {"messages": turns}
    if system:
        body["system"] = system
    config: dict[str, Any] = dict(options.pop("inferenceConfig", None) or {})
    config.update(_take_renamed(options, _BEDROCK_CONFIG, "stopSequences"))
    if config:
        body["inferenceConfig"] = config
    body.update(options)
    return body


def vertex_request(model: str, body: Mapping[str, Any], *, stream: bool) -> NativeRequest:
    """A native body for a model on Vertex AI. A ``claude*`` model takes the Anthropic Messages body
    (``model`` moves to the URL, ``anthropic_version`` into the body) at ``:rawPredict`` or
    ``:streamRawPredict``; any other model is Gemini, its body at ``:generateContent`` or
    ``:streamGenerateContent?alt=sse`` (without ``model`` and ``stream``, which Gemini does not
    take). Paths are below the project: ``route_path`` adds it. ``body`` is not modified."""
    if model.lower().startswith("claude"):
        native = anthropic_body_for_vertex(body)
        if stream:
            native["stream"] = True
        path = publisher_path("anthropic", model, "streamRawPredict" if stream else "rawPredict")
        return NativeRequest(path, "", Operation.MESSAGES, native)
    native = {k: v for k, v in body.items() if k not in ("model", "stream")}
    path = publisher_path("google", model, "streamGenerateContent" if stream else "generateContent")
    return NativeRequest(path, "alt=sse" if stream else "", Operation.GENERATE, native)


def _vertex(
    model: str, messages: list[dict[str, Any]], options: dict[str, Any], stream: bool
) -> NativeRequest:
    """Claude on Vertex takes the Anthropic body; every other model is Gemini."""
    if model.lower().startswith("claude"):
        return vertex_request(model, _anthropic(model, messages, options), stream=stream)
    return vertex_request(model, _gemini(messages, options), stream=stream)


def build_native_chat(
    spec: ProviderSpec,
    model: str,
    messages: list[dict[str, Any]],
    provider_options: Mapping[str, Any],
    *,
    stream: bool,
) -> NativeRequest:
    options = {k: v for k, v in provider_options.items() if k != "stream"}
    if spec.family == "anthropic":
        body = _anthropic(model, messages, options)
        if stream:
            body["stream"] = True
        return NativeRequest("v1/messages", "", Operation.MESSAGES, body)
    if spec.family == "vertex":
        return _vertex(model, messages, options, stream)
    if spec.family == "gemini":
        body = _gemini(messages, options)
        if stream:
            return NativeRequest(
                f"v1beta/models/{model}:streamGenerateContent", "alt=sse", Operation.GENERATE, body
            )
        return NativeRequest(f"v1beta/models/{model}:generateContent", "", Operation.GENERATE, body)
    if spec.family == "bedrock":  # the model is in the path, percent-encoded as SigV4 signs it
        path = bedrock_converse_path(model, stream=stream)
        return NativeRequest(path, "", Operation.CONVERSE, _bedrock(messages, options))
    if spec.family == "cohere":
        return NativeRequest("v2/chat", "", Operation.CHAT, _cohere(model, messages, options, stream))
    body = {"model": model, "messages": messages, **options}
    if stream:
        body["stream"] = True
    return NativeRequest("chat/completions", "", Operation.CHAT, body)
