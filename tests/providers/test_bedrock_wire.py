"""Bedrock on the wire: the paths the gateway builds and forwards are the ones SigV4 signs, byte for byte.

AWS SDKs send a model id percent-encoded (``…-v1%3A0``) and sign the path encoded once more
(``%253A``). A gateway that decodes the path somewhere on the way (a pass-through route does; so
does an HTTP client that "normalises" URLs) would sign one path and send another.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tollgate.gateway.upstream import AiohttpTransport, UpstreamRequest
from tollgate.providers.base import Operation
from tollgate.providers.chat_requests import build_native_chat
from tollgate.providers.normalize import Family, family_of
from tollgate.providers.registry import (
    PROVIDERS,
    bedrock_model_from_path,
    detect_operation,
    passthrough_path,
    resolve_provider,
)

BEDROCK = PROVIDERS["aws_bedrock"]
ARN = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0"


@pytest.mark.parametrize(
    ("client_path", "wire", "model"),
    [
        # Starlette hands a pass-through route the decoded path; it is encoded again as the SDK sent it.
        (
            "model/anthropic.claude-3-5-haiku-20241022-v1:0/converse",
            "model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
            "anthropic.claude-3-5-haiku-20241022-v1:0",
        ),
        (
            "model/us.amazon.nova-lite-v1%3A0/converse-stream",
            "model/us.amazon.nova-lite-v1%3A0/converse-stream",
            "us.amazon.nova-lite-v1:0",
        ),
        (
            f"model/{ARN}/converse",
            "model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2F"
            "us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse",
            ARN,
        ),
    ],
)
def test_passthrough_paths_are_encoded_as_the_sdks_send_them(client_path: str, wire: str, model: str) -> None:
    path = passthrough_path(BEDROCK, client_path)
    assert path == wire
    assert bedrock_model_from_path(path) == model
    assert detect_operation(BEDROCK, "POST", path) is Operation.CONVERSE
    assert family_of("aws_bedrock", Operation.CONVERSE) is Family.BEDROCK_CONVERSE


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "model/amazon.titan-text-express-v1/invoke"),
        ("POST", "model/meta.llama3-8b-instruct-v1%3A0/invoke-with-response-stream"),
        ("POST", "model/anthropic.claude-v2%3A1/count-tokens"),
        ("GET", "model/anthropic.claude-v2%3A1/converse"),
        ("POST", "guardrail/abc/version/1/apply"),
    ],
)
def test_only_converse_and_claude_invoke_are_metered(method: str, path: str) -> None:
    assert detect_operation(BEDROCK, method, path) is Operation.OTHER


@pytest.mark.parametrize(
    "path",
    [
        "model/anthropic.claude-v2%3A1/invoke",
        "model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke-with-response-stream",
        "model/us.anthropic.claude-haiku-4-5-20251001-v1%3A0/invoke",
    ],
)
def test_claude_invoke_is_an_anthropic_messages_call(path: str) -> None:
    assert detect_operation(BEDROCK, "POST", path) is Operation.MESSAGES
    assert family_of("aws_bedrock", Operation.MESSAGES) is Family.ANTHROPIC


def test_the_bedrock_alias_is_the_same_provider() -> None:
    assert resolve_provider("bedrock") is BEDROCK


def test_chat_messages_become_a_converse_body() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "No lists."}]},
        {"role": "user", "content": "Hello"},
        {"role": "user", "content": [{"type": "text", "text": "again"}]},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "Bye"},
    ]
    options = {"max_tokens": 50, "top_p": 0.9, "stop": "END", "additionalModelRequestFields": {"top_k": 5}}
    native = build_native_chat(BEDROCK, "us.amazon.nova-lite-v1:0", messages, options, stream=True)
    assert native.path == "model/us.amazon.nova-lite-v1%3A0/converse-stream"
    assert native.operation is Operation.CONVERSE
    assert native.body == {
        "system": [{"text": "Be brief."}, {"text": "No lists."}],
        "messages": [
            {"role": "user", "content": [{"text": "Hello"}, {"text": "again"}]},
            {"role": "assistant", "content": [{"text": "Hi."}]},
            {"role": "user", "content": [{"text": "Bye"}]},
        ],
        "inferenceConfig": {"maxTokens": 50, "topP": 0.9, "stopSequences": ["END"]},
        "additionalModelRequestFields": {"top_k": 5},
    }
    plain = build_native_chat(BEDROCK, "amazon.nova-lite-v1:0", messages[2:3], {}, stream=False)
    assert plain.path == "model/amazon.nova-lite-v1%3A0/converse"
    assert plain.body == {"messages": [{"role": "user", "content": [{"text": "Hello"}]}]}


async def test_the_transport_sends_an_encoded_path_unchanged() -> None:
    """aiohttp (yarl) would turn ``%3A`` into ``:``: the path AWS sees would not be the path signed."""
    lines: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.append(await reader.readline())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = AiohttpTransport()
    try:
        for url in (
            f"http://127.0.0.1:{port}/model/anthropic.claude-v2%3A1/converse",
            f"http://127.0.0.1:{port}/v1/chat completions",  # not a valid URI: still quoted for the wire
        ):
            response = await transport(UpstreamRequest("POST", url, [], b"{}"))
            assert await response.read() == b"{}"
    finally:
        await transport.close()
        server.close()
        await server.wait_closed()
    assert lines == [
        b"POST /model/anthropic.claude-v2%3A1/converse HTTP/1.1\r\n",
        b"POST /v1/chat%20completions HTTP/1.1\r\n",
    ]
