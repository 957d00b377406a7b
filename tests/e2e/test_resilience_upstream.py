"""Upstream that is slow, silent or gone, and requests that are too big.

The server here runs with short upstream timeouts and a small body limit, so each failure is
provoked for real: the simulator waits longer than the gateway will, or nothing listens at all.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.support.gateway import Tenant, make_tenant, running_gateway
from tollgate.testing import Scenario, Simulator, SimulatorServer

FIRST_BYTE_TIMEOUT = 2.0
IDLE_TIMEOUT = 2.0
BODY_LIMIT = 4096
PROMPT = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory, sim_server: SimulatorServer) -> Iterator[Tenant]:
    with running_gateway(
        tmp_path_factory.mktemp("tight") / "home",
        upstream_first_byte_timeout=FIRST_BYTE_TIMEOUT,
        upstream_idle_timeout=IDLE_TIMEOUT,
        max_body_bytes=BODY_LIMIT,
    ) as server:
        yield make_tenant(server, sim_server.root)


def wait_record(tenant: Tenant, request_id: str, deadline: float = 30.0) -> dict[str, Any]:
    end = time.monotonic() + deadline
    while True:
        tenant.server.flush()
        response = tenant.admin("GET", f"/v1/requests/{request_id}")
        if response.status_code == 200:
            record: dict[str, Any] = response.json()
            return record
        if time.monotonic() > end:
            raise AssertionError(f"no record for {request_id}: {response.text}")
        time.sleep(0.1)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, read, released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# 4. Upstream timeouts and an unreachable upstream.


def test_first_byte_timeout_is_a_504_in_the_openai_format_and_recorded(tight: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(latency=FIRST_BYTE_TIMEOUT * 4))
    client = openai.OpenAI(base_url=tight.url + "/v1", api_key=tight.key, max_retries=0, timeout=60)
    with pytest.raises(openai.APIStatusError) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)  # type: ignore[arg-type]
    error = raised.value
    assert error.status_code == 504
    assert error.code == "upstream_timeout"
    record = wait_record(tight, error.response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "upstream_timeout"
    assert record["httpStatus"] == 504


def test_first_byte_timeout_on_a_stream_in_the_anthropic_format(tight: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(latency=FIRST_BYTE_TIMEOUT * 4))
    client = anthropic.Anthropic(base_url=tight.url, api_key=tight.key, max_retries=0, timeout=60)
    with pytest.raises(anthropic.APIStatusError) as raised:
        client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=PROMPT, stream=True)  # type: ignore[arg-type]
    error = raised.value
    assert error.status_code == 504
    body = error.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["code"] == "upstream_timeout"
    record = wait_record(tight, error.response.headers["x-tollgate-request-id"])
    assert record["errorCode"] == "upstream_timeout" and record["stream"] is True


def test_first_byte_timeout_through_the_proxy_envelope(tight: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(latency=FIRST_BYTE_TIMEOUT * 4))
    response = httpx2.post(
        tight.url + "/api/proxy",
        json={"provider": "openai", "payload": {"model": "gpt-4o-mini", "messages": PROMPT}},
        headers=tight.headers(),
        timeout=60,
    )
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"
    record = wait_record(tight, response.headers["x-tollgate-request-id"])
    assert record["errorCode"] == "upstream_timeout"


def test_silence_between_chunks_ends_the_stream_with_an_error_event(tight: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(chunks=4, output_tokens=8, chunk_delay=IDLE_TIMEOUT * 4))
    client = openai.OpenAI(base_url=tight.url + "/v1", api_key=tight.key, max_retries=0, timeout=60)
    text = ""
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini",
        messages=PROMPT,  # type: ignore[arg-type]
        stream=True,
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        with pytest.raises(openai.APIError) as raised:
            for chunk in response.parse():
                text += "".join(c.delta.content or "" for c in chunk.choices)
    assert text.split() == ["tok1", "tok2"], "what came before the silence was relayed"
    assert raised.value.code == "upstream_idle_timeout"
    record = wait_record(tight, request_id)
    assert record["status"] == "error" and record["errorCode"] == "upstream_idle_timeout"
    assert record["httpStatus"] == 504


def test_silence_between_chunks_in_the_anthropic_format(tight: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(chunks=4, output_tokens=8, chunk_delay=IDLE_TIMEOUT * 4))
    client = anthropic.Anthropic(base_url=tight.url, api_key=tight.key, max_retries=0, timeout=60)
    with (
        client.messages.with_streaming_response.create(
            model="claude-haiku-4-5",
            max_tokens=50,
            messages=PROMPT,  # type: ignore[arg-type]
            stream=True,
        ) as response,
        pytest.raises(anthropic.APIError) as raised,
    ):
        request_id = response.headers["x-tollgate-request-id"]
        for _ in response.parse():
            pass
    assert "sent nothing" in str(raised.value)
    record = wait_record(tight, request_id)
    assert record["errorCode"] == "upstream_idle_timeout"


def test_unreachable_upstream_is_a_502(tight: Tenant, sim: Simulator) -> None:
    created = tight.admin(
        "POST",
        "/v1/provider-credentials",
        json={
            "provider": "openai",
            "name": f"nowhere-{closed_port()}",
            "apiKey": "sk-nowhere-0000000000",
            "config": {"baseUrl": f"http://127.0.0.1:{closed_port()}/v1"},
        },
    )
    assert created.status_code == 201, created.text
    name = created.json()["name"]
    for path in ("/v1/chat/completions", "/api/proxy/openai/chat/completions"):
        response = httpx2.post(
            tight.url + path,
            json={"model": "gpt-4o-mini", "messages": PROMPT},
            headers=tight.headers(**{"x-tollgate-credential": name}),
            timeout=60,
        )
        assert response.status_code == 502, response.text
        error = response.json()["error"]
        assert error["code"] == "upstream_unreachable" and error["type"] == "api_error"
        assert "127.0.0.1" in error["message"]
        record = wait_record(tight, response.headers["x-tollgate-request-id"])
        assert record["status"] == "error" and record["errorCode"] == "upstream_unreachable"
    assert sim.received == []


# 5. A body over the limit is refused in the door's format, and nothing goes upstream.

BIG = "word " * BODY_LIMIT  # well over the limit once in any body


def _assert_openai_413(response: httpx2.Response) -> None:
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "payload_too_large"


def _assert_anthropic_413(response: httpx2.Response) -> None:
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "request_too_large"


def _assert_proxy_413(response: httpx2.Response) -> None:
    body = response.json()
    assert body["code"] == "payload_too_large" and "limit" in body["error"]


def _assert_native_413(response: httpx2.Response) -> None:
    assert response.json()["error"]["code"] == "payload_too_large"


def _assert_gemini_413(response: httpx2.Response) -> None:
    error = response.json()["error"]
    assert error["code"] == 413 and error["details"] == [{"reason": "payload_too_large"}]


OVERSIZED = [
    (
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": BIG}]},
        _assert_openai_413,
    ),
    (
        "/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": BIG}]},
        _assert_anthropic_413,
    ),
    (
        "/api/proxy",
        {
            "provider": "openai",
            "payload": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": BIG}]},
        },
        _assert_proxy_413,
    ),
    (
        "/api/proxy/anthropic/v1/messages",
        {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": BIG}]},
        _assert_anthropic_413,
    ),
    (
        "/api/proxy/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        {"contents": [{"role": "user", "parts": [{"text": BIG}]}]},
        _assert_gemini_413,
    ),
    (
        "/v1/chat",
        {"provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": BIG}]},
        _assert_native_413,
    ),
]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(("path", "body", "check"), OVERSIZED, ids=[p for p, _, _ in OVERSIZED])
def test_oversized_body_is_a_413_in_the_door_format_and_never_sent_upstream(
    tight: Tenant, sim: Simulator, path: str, body: dict[str, Any], check: Any, chunked: bool
) -> None:
    import orjson

    payload = orjson.dumps(body)
    assert len(payload) > BODY_LIMIT
    content: Any = payload
    if chunked:
        # No content-length: the limit must hold while reading, not only on the declared size.
        content = iter([payload[i : i + 1024] for i in range(0, len(payload), 1024)])
    response = httpx2.post(
        tight.url + path,
        content=content,
        headers=tight.headers(**{"content-type": "application/json"}),
        timeout=60,
    )
    assert response.status_code == 413, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["x-tollgate-request-id"]
    check(response)
    assert sim.received == []


def test_a_body_just_under_the_limit_goes_through(tight: Tenant, sim: Simulator) -> None:
    import orjson

    filler = "x" * (BODY_LIMIT - 200)
    payload = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": filler}]})
    assert len(payload) <= BODY_LIMIT
    response = httpx2.post(
        tight.url + "/v1/chat/completions",
        content=payload,
        headers=tight.headers(**{"content-type": "application/json"}),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert len(sim.received) == 1
