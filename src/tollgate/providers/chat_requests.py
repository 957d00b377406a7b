"""Builds a provider's native chat request from OpenAI-style messages (``/v1/chat``).

Text content and multi-part text are translated for Anthropic and Gemini; the OpenAI family
takes the messages as they are. ``providerOptions`` are merged into the native body; for
Gemini the common sampling options move into ``generationConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tollgate.core.errors import BadRequest
from tollgate.providers.base import Operation
from tollgate.providers.registry import ProviderSpec

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
    for name, target in _GEMINI_CONFIG.items():
        if name in options:
            value = options.pop(name)
            config[target] = [value] if target == "stopSequences" and isinstance(value, str) else value
    if config:
        body["generationConfig"] = config
    body.update(options)
    return body


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
    if spec.family == "gemini":
        body = _gemini(messages, options)
        if stream:
            return NativeRequest(
                f"v1beta/models/{model}:streamGenerateContent", "alt=sse", Operation.GENERATE, body
            )
        return NativeRequest(f"v1beta/models/{model}:generateContent", "", Operation.GENERATE, body)
    body = {"model": model, "messages": messages, **options}
    if stream:
        body["stream"] = True
    return NativeRequest("chat/completions", "", Operation.CHAT, body)
