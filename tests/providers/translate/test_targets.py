"""The target table: where a hub request goes for each provider, and how its stream is read."""

from __future__ import annotations

from typing import Any

import pytest

from tollgate.providers.base import Operation
from tollgate.providers.registry import PROVIDERS
from tollgate.providers.translate.hub import StreamError, TextDelta
from tollgate.providers.translate.openai_chat import request_to_hub
from tollgate.providers.translate.targets import target_for

ASK: dict[str, Any] = {
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
}


def native(provider: str, model: str, *, stream: bool = False, **body: Any) -> Any:
    hub = request_to_hub({**ASK, "model": model, "stream": stream, **body}, model)
    return target_for(PROVIDERS[provider], model, response_id="chatcmpl-req_1").native(hub)


@pytest.mark.parametrize(
    ("provider", "model", "stream", "path", "query", "operation"),
    [
        ("openai", "gpt-4o", False, "chat/completions", "", Operation.CHAT),
        ("anthropic", "claude-haiku-4-5", True, "v1/messages", "", Operation.MESSAGES),
        (
            "gemini",
            "gemini-2.5-flash",
            False,
            "v1beta/models/gemini-2.5-flash:generateContent",
            "",
            Operation.GENERATE,
        ),
        (
            "gemini",
            "gemini-2.5-flash",
            True,
            "v1beta/models/gemini-2.5-flash:streamGenerateContent",
            "alt=sse",
            Operation.GENERATE,
        ),
        ("cohere", "command-a-03-2025", True, "v2/chat", "", Operation.CHAT),
        (
            "aws_bedrock",
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            True,
            "model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream",
            "",
            Operation.CONVERSE,
        ),
        (
            "google_vertex",
            "gemini-2.5-pro",
            True,
            "publishers/google/models/gemini-2.5-pro:streamGenerateContent",
            "alt=sse",
            Operation.GENERATE,
        ),
        (
            "google_vertex",
            "claude-sonnet-4-6@20250929",
            False,
            "publishers/anthropic/models/claude-sonnet-4-6@20250929:rawPredict",
            "",
            Operation.MESSAGES,
        ),
    ],
)
def test_each_target_has_its_native_path_and_operation(
    provider: str, model: str, stream: bool, path: str, query: str, operation: Operation
) -> None:
    call = native(provider, model, stream=stream)
    assert (call.path, call.query, call.operation) == (path, query, operation)


def test_claude_on_vertex_takes_the_anthropic_body_without_model() -> None:
    body = native("google_vertex", "claude-sonnet-4-6", stream=True).body
    assert "model" not in body and body["anthropic_version"]
    assert body["system"] == "Be brief." and body["stream"] is True
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


def test_a_model_name_cannot_add_path_segments() -> None:
    assert native("gemini", "../files?x=1").path == "v1beta/models/..%2Ffiles%3Fx%3D1:generateContent"
    assert native("aws_bedrock", "arn:aws:bedrock:x/y").path == "model/arn%3Aaws%3Abedrock%3Ax%2Fy/converse"


def test_openai_itself_gets_max_completion_tokens_the_rest_of_the_family_max_tokens() -> None:
    assert native("openai", "o4-mini", max_tokens=50).body["max_completion_tokens"] == 50
    assert native("mistral", "mistral-small-latest", max_tokens=50).body["max_tokens"] == 50


def test_bedrock_answers_get_the_callers_id_and_model() -> None:
    target = target_for(PROVIDERS["aws_bedrock"], "amazon.nova-lite-v1:0", response_id="chatcmpl-req_9")
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}},
        "stopReason": "end_turn",
    }
    resp = target.response(answer)
    assert (resp.id, resp.model, resp.text) == ("chatcmpl-req_9", "amazon.nova-lite-v1:0", "hi")


def test_readers_skip_the_done_sentinel_and_report_broken_events() -> None:
    reader = target_for(PROVIDERS["openai"], "gpt-4o", response_id="x").reader()
    assert reader.feed(None, "[DONE]") == []
    broken = reader.feed(None, '{"choices": [')
    assert len(broken) == 1 and isinstance(broken[0], StreamError)


def test_a_gemini_error_event_mid_stream_is_a_stream_error() -> None:
    reader = target_for(PROVIDERS["gemini"], "gemini-2.5-flash", response_id="x").reader()
    first = reader.feed(None, '{"candidates": [{"content": {"parts": [{"text": "tok1"}]}}]}')
    assert TextDelta("tok1") in first
    error = reader.feed(None, '{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}')
    assert error == [StreamError("overloaded", "UNAVAILABLE")]


def test_anthropic_events_are_read_by_name() -> None:
    reader = target_for(PROVIDERS["anthropic"], "claude-haiku-4-5", response_id="x").reader()
    delta = '{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "tok1"}}'
    assert reader.feed("content_block_delta", delta) == [TextDelta("tok1")]
    error = reader.feed(
        "error", '{"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}'
    )
    assert error == [StreamError("busy", "overloaded_error")]
