"""Pass-through path rules, model ownership, and the native chat bodies ``/v1/chat`` builds."""

from __future__ import annotations

import pytest

from tollgate.core.errors import BadRequest
from tollgate.providers.base import Operation
from tollgate.providers.chat_requests import build_native_chat, validate_messages
from tollgate.providers.registry import (
    PROVIDERS,
    detect_operation,
    gemini_model_from_path,
    passthrough_path,
    provider_for_model,
    resolve_provider,
)


@pytest.mark.parametrize(
    ("provider", "path", "upstream"),
    [
        ("openai", "v1/chat/completions", "chat/completions"),  # OPENAI_BASE_URL=.../api/proxy/openai/v1
        ("openai", "chat/completions", "chat/completions"),  # OPENAI_BASE_URL=.../api/proxy/openai
        ("anthropic", "v1/messages", "v1/messages"),
        (
            "gemini",
            "v1beta/models/gemini-2.5-flash:generateContent",
            "v1beta/models/gemini-2.5-flash:generateContent",
        ),
        (
            "gemini",
            "models/gemini-2.5-flash:generateContent",
            "v1beta/models/gemini-2.5-flash:generateContent",
        ),
        ("mistral", "v1/chat/completions", "chat/completions"),
        ("openrouter", "api/v1/chat/completions", "chat/completions"),
        ("deepseek", "chat/completions", "chat/completions"),
    ],
)
def test_passthrough_paths_land_on_the_base_url(provider: str, path: str, upstream: str) -> None:
    assert passthrough_path(PROVIDERS[provider], path) == upstream


@pytest.mark.parametrize(
    ("provider", "method", "path", "operation"),
    [
        ("openai", "POST", "chat/completions", Operation.CHAT),
        ("openai", "POST", "responses", Operation.RESPONSES),
        ("openai", "POST", "embeddings", Operation.EMBEDDINGS),
        ("openai", "GET", "models", Operation.OTHER),
        ("anthropic", "POST", "v1/messages", Operation.MESSAGES),
        ("anthropic", "POST", "v1/messages/count_tokens", Operation.OTHER),
        ("gemini", "POST", "v1beta/models/g:streamGenerateContent", Operation.GENERATE),
        ("gemini", "POST", "v1beta/models/g:countTokens", Operation.OTHER),
    ],
)
def test_operations(provider: str, method: str, path: str, operation: Operation) -> None:
    assert detect_operation(PROVIDERS[provider], method, path) is operation


def test_model_ownership_and_aliases() -> None:
    assert provider_for_model("gpt-4o-mini") is PROVIDERS["openai"]
    assert provider_for_model("claude-haiku-4-5") is PROVIDERS["anthropic"]
    assert provider_for_model("grok-4") is PROVIDERS["xai"]
    assert provider_for_model("llama3") is None
    assert resolve_provider("google") is PROVIDERS["gemini"]
    assert resolve_provider(" OpenAI ") is PROVIDERS["openai"]
    assert provider_for_model("command-a-03-2025") is PROVIDERS["cohere"]
    assert resolve_provider("bedrock") is PROVIDERS["aws_bedrock"]
    assert resolve_provider("vertex") is PROVIDERS["google_vertex"]
    assert resolve_provider("azure") is PROVIDERS["azure_openai"]
    assert resolve_provider("watsonx") is None
    assert gemini_model_from_path("v1beta/models/gemini-2.5-pro:generateContent") == "gemini-2.5-pro"


MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]},
    {"role": "assistant", "content": "Hi."},
    {"role": "user", "content": "Bye"},
]


def test_anthropic_body() -> None:
    native = build_native_chat(
        PROVIDERS["anthropic"], "claude-haiku-4-5", MESSAGES, {"max_tokens": 99}, stream=True
    )
    assert native.path == "v1/messages" and native.operation is Operation.MESSAGES
    assert native.body["system"] == "Be brief."
    assert native.body["messages"] == [
        {"role": "user", "content": "Hello there"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "Bye"},
    ]
    assert native.body["max_tokens"] == 99 and native.body["stream"] is True


def test_gemini_body() -> None:
    options = {"temperature": 0.2, "max_tokens": 50, "stop": "END"}
    native = build_native_chat(PROVIDERS["gemini"], "gemini-2.5-flash", MESSAGES, options, stream=True)
    assert native.path == "v1beta/models/gemini-2.5-flash:streamGenerateContent" and native.query == "alt=sse"
    assert native.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in native.body["contents"]] == ["user", "model", "user"]
    assert native.body["generationConfig"] == {
        "temperature": 0.2,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
    }


def test_openai_family_body_is_the_messages_as_given() -> None:
    native = build_native_chat(
        PROVIDERS["mistral"], "mistral-small", MESSAGES, {"temperature": 0}, stream=False
    )
    assert native.body == {"model": "mistral-small", "messages": MESSAGES, "temperature": 0}


@pytest.mark.parametrize("bad", [None, [], "hi", [{"role": "user"}], [{"role": "bot", "content": "x"}], [1]])
def test_invalid_messages(bad: object) -> None:
    with pytest.raises(BadRequest) as caught:
        validate_messages(bad)
    assert caught.value.code == "invalid_messages"
