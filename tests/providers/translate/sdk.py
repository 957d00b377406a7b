"""Feed translated chunks to the official ``openai`` SDK, as a client of the door would see them."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk


def sse(chunks: list[dict[str, Any]]) -> bytes:
    lines = [f"data: {json.dumps(c)}\n\n" for c in chunks]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


def client_for(body: bytes, content_type: str = "text/event-stream") -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": content_type})

    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="k", base_url="http://door/v1", http_client=httpx2.Client(transport=transport)
    )


def stream_through_sdk(chunks: list[dict[str, Any]]) -> list[ChatCompletionChunk]:
    client = client_for(sse(chunks))
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}], stream=True
    )
    return list(stream)


def accumulate(chunks: list[dict[str, Any]]) -> ChatCompletion:
    """The SDK's own stream helper: it reassembles tool-call arguments and parses them."""
    client = client_for(sse(chunks))
    with client.chat.completions.stream(model="m", messages=[{"role": "user", "content": "x"}]) as stream:
        for _ in stream:
            pass
        return stream.get_final_completion()


def parse_body(body: dict[str, Any]) -> ChatCompletion:
    client = client_for(json.dumps(body).encode(), "application/json")
    return client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
