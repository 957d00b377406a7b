"""Streams under stress: relayed as they arrive, metered when the client leaves, recorded when they break.

Every test drives the real server over HTTP against the upstream simulator; the client is either a
raw HTTP client (to see bytes and their arrival) or the provider's own SDK (to see what an
application would see when something goes wrong).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from tests.support.gateway import Tenant
from tollgate.testing import MESSAGE_OVERHEAD, Scenario, Simulator

PROMPT = "tell me a story"
PROMPT_TOKENS = len(PROMPT.split()) + MESSAGE_OVERHEAD
OPENAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": PROMPT}], "stream": True}
ANTHROPIC_BODY = {
    "model": "claude-haiku-4-5",
    "max_tokens": 200,
    "messages": [{"role": "user", "content": PROMPT}],
    "stream": True,
}
RECORD_DEADLINE = 30.0
ANSWER_WORD = re.compile(rb"tok[0-9]")
EVENT_END = re.compile(rb"\r\n\r\n|\n\n")  # Gemini separates its events with CRLF


@dataclass(frozen=True)
class Door:
    """One way into the gateway for a streamed call, and how its stream says "the end"."""

    name: str
    path: str
    body: dict[str, Any]
    provider: str
    terminal: bytes  # the bytes of the event that ends a whole stream


DOORS = [
    Door("openai", "/v1/chat/completions", OPENAI_BODY, "openai", b"data: [DONE]"),
    Door("anthropic", "/v1/messages", ANTHROPIC_BODY, "anthropic", b"event: message_stop"),
    Door("passthrough", "/api/proxy/openai/chat/completions", OPENAI_BODY, "openai", b"data: [DONE]"),
    Door(
        "passthrough-anthropic",
        "/api/proxy/anthropic/v1/messages",
        ANTHROPIC_BODY,
        "anthropic",
        b"event: message_stop",
    ),
    Door("proxy", "/api/proxy", {"provider": "openai", "payload": OPENAI_BODY}, "openai", b"data: [DONE]"),
    Door("chat", "/v1/chat", {"provider": "openai", **OPENAI_BODY}, "openai", b"event: metrics"),
]
HANGUP_DOORS = [DOORS[0], DOORS[1], DOORS[2], DOORS[5]]


@dataclass
class Arrivals:
    """The SSE events a client received, each with the monotonic time it was complete."""

    request_id: str = ""
    status: int = 0
    events: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def raw(self) -> bytes:
        return b"".join(event for _, event in self.events)

    def first(self, needle: bytes) -> float:
        return next(at for at, event in self.events if needle in event)

    def last(self) -> float:
        return self.events[-1][0]


def stream_events(
    tenant: Tenant,
    door: Door,
    *,
    stop_when: Callable[[Arrivals], bool] | None = None,
    headers: dict[str, str] | None = None,
) -> Arrivals:
    """POST a streamed call and collect its events as they arrive; ``stop_when`` hangs up early."""
    seen = Arrivals()
    pending = b""
    with httpx2.stream(
        "POST",
        tenant.url + door.path,
        json=door.body,
        headers=tenant.headers(**(headers or {})),
        timeout=60,
    ) as response:
        seen.request_id = response.headers["x-tollgate-request-id"]
        seen.status = response.status_code
        for piece in response.iter_raw():
            now = time.monotonic()
            pending += piece
            while match := EVENT_END.search(pending):
                seen.events.append((now, pending[: match.end()]))
                pending = pending[match.end() :]
            if stop_when is not None and stop_when(seen):
                return seen  # leaving the block closes the connection mid-stream
    if pending:
        seen.events.append((time.monotonic(), pending))
    return seen


def wait_record(tenant: Tenant, request_id: str, deadline: float = RECORD_DEADLINE) -> dict[str, Any]:
    """The record of a call, polling until the gateway has written it (a drained stream ends later)."""
    end = time.monotonic() + deadline
    while True:
        tenant.server.flush()
        response = tenant.admin("GET", f"/v1/requests/{request_id}")
        if response.status_code == 200:
            record: dict[str, Any] = response.json()
            return record
        assert response.status_code == 404, response.text
        if time.monotonic() > end:
            raise AssertionError(f"no record for {request_id} after {deadline}s")
        time.sleep(0.1)


def content_events(arrivals: Arrivals) -> int:
    """Events carrying answer text (the simulator answers ``tok1 tok2 …``)."""
    return sum(1 for _, event in arrivals.events if ANSWER_WORD.search(event))


# 1. Chunks go to the client as they arrive, never buffered.


@pytest.mark.parametrize("door", DOORS, ids=[d.name for d in DOORS])
def test_chunks_reach_the_client_as_upstream_sends_them(tenant: Tenant, sim: Simulator, door: Door) -> None:
    delay, chunks = 0.3, 6
    sim.enqueue(Scenario(chunk_delay=delay, chunks=chunks, output_tokens=12))
    arrivals = stream_events(tenant, door)
    assert arrivals.status == 200
    assert door.terminal in arrivals.raw, "the client must get the whole stream"
    assert content_events(arrivals) == chunks
    # Upstream spaces its content chunks `delay` apart and sends its closing frames one more
    # `delay` after the last. A gateway that buffered would deliver the first content chunk
    # together with the last event; a relay delivers it while upstream is still sending.
    first_content = arrivals.first(b"tok1")
    assert first_content < arrivals.last() - 2 * delay, (
        f"first content chunk came {arrivals.last() - first_content:.2f}s before the end: buffered?"
    )
    record = wait_record(tenant, arrivals.request_id)
    assert record["status"] == "success" and record["stream"] is True
    assert record["outputTokens"] == 12 and record["estimated"] is False


# 2. A client that disconnects mid-stream still gets a usage record.


@pytest.mark.parametrize("door", HANGUP_DOORS, ids=[d.name for d in HANGUP_DOORS])
def test_client_that_hangs_up_mid_stream_still_gets_a_full_usage_record(
    tenant: Tenant, sim: Simulator, door: Door
) -> None:
    delay, chunks, output = 0.25, 8, 16
    sim.enqueue(Scenario(chunk_delay=delay, chunks=chunks, output_tokens=output))
    arrivals = stream_events(tenant, door, stop_when=lambda seen: content_events(seen) >= 2)
    assert 2 <= content_events(arrivals) < chunks, "the client hung up after a couple of content chunks"
    assert door.terminal not in arrivals.raw

    record = wait_record(tenant, arrivals.request_id)
    assert record["status"] == "client_closed"
    assert record["httpStatus"] == 499
    # The usage comes from upstream's last frames, which the simulator sends only after every
    # content chunk: the upstream answer was read to its very end after the client left.
    assert record["outputTokens"] == output
    assert record["inputTokens"] == PROMPT_TOKENS
    assert record["estimated"] is False
    assert record["costNanos"] > 0 and record["priceSource"]
    assert len(sim.received) == 1


def test_client_that_hangs_up_is_counted_in_metrics_as_client_closed(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(chunk_delay=0.25, chunks=6, output_tokens=12))
    arrivals = stream_events(tenant, DOORS[0], stop_when=lambda seen: content_events(seen) >= 1)
    wait_record(tenant, arrivals.request_id)
    metrics = httpx2.get(tenant.url + "/metrics", timeout=30).text
    assert 'tollgate_requests_total{door="openai",provider="openai",status="client_closed"} 1.0' in metrics


# 3. A stream that breaks mid-way ends with an error event in the door's format, and is recorded.


def openai_client(tenant: Tenant) -> openai.OpenAI:
    return openai.OpenAI(base_url=tenant.url + "/v1", api_key=tenant.key, max_retries=0, timeout=60)


def anthropic_client(tenant: Tenant) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tenant.url, api_key=tenant.key, max_retries=0, timeout=60)


def openai_stream_fails(tenant: Tenant) -> tuple[str, str, openai.APIError]:
    """Stream through the OpenAI door with the SDK; returns (request id, text seen, the error raised)."""
    text = ""
    with openai_client(tenant).chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        with pytest.raises(openai.APIError) as raised:
            for chunk in response.parse():
                text += "".join(c.delta.content or "" for c in chunk.choices)
    return request_id, text, raised.value


def anthropic_stream_fails(tenant: Tenant) -> tuple[str, str, anthropic.APIError]:
    text = ""
    with anthropic_client(tenant).messages.with_streaming_response.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        with pytest.raises(anthropic.APIError) as raised:
            for event in response.parse():
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    text += event.delta.text
    return request_id, text, raised.value


def test_upstream_dropping_the_connection_ends_an_openai_stream_with_an_error(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=12, disconnect_after=2))
    request_id, text, error = openai_stream_fails(tenant)
    assert text.split() == ["tok1", "tok2", "tok3", "tok4"], "the chunks before the break were relayed"
    assert "closed the connection" in error.message
    assert error.code == "upstream_stream_broken"
    record = wait_record(tenant, request_id)
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"
    assert record["httpStatus"] == 502


def test_upstream_dropping_the_connection_ends_an_anthropic_stream_with_an_error(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=12, disconnect_after=2))
    request_id, text, error = anthropic_stream_fails(tenant)
    assert text.split() == ["tok1", "tok2", "tok3", "tok4"]
    assert "closed the connection" in str(error)
    record = wait_record(tenant, request_id)
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"
    # message_start told the input before the break; it is kept.
    assert record["inputTokens"] == PROMPT_TOKENS


def test_provider_error_event_mid_stream_reaches_the_openai_client_and_the_record(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=12, midstream_error_after=3, error_message="melted down"))
    request_id, text, error = openai_stream_fails(tenant)
    assert len(text.split()) == 6
    assert "melted down" in error.message
    record = wait_record(tenant, request_id)
    assert record["status"] == "error"
    assert record["errorCode"], "the provider's error code is kept"
    assert record["httpStatus"] == 502


def test_provider_error_event_mid_stream_reaches_the_anthropic_client_and_the_record(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=12, midstream_error_after=3, error_message="overloaded now"))
    request_id, text, error = anthropic_stream_fails(tenant)
    assert len(text.split()) == 6
    assert "overloaded now" in str(error)
    record = wait_record(tenant, request_id)
    assert record["status"] == "error" and record["errorCode"] == "overloaded_error"


@pytest.mark.parametrize("door", [DOORS[0], DOORS[1]], ids=["openai", "anthropic"])
def test_malformed_frame_mid_stream_is_survived_and_usage_still_read(
    tenant: Tenant, sim: Simulator, door: Door
) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=12, malformed_after=2))
    arrivals = stream_events(tenant, door)
    assert arrivals.status == 200
    assert door.terminal in arrivals.raw, "the stream went on after the malformed frame"
    record = wait_record(tenant, arrivals.request_id)
    assert record["status"] == "success"
    assert record["outputTokens"] == 12 and record["inputTokens"] == PROMPT_TOKENS
    assert record["estimated"] is False


@pytest.mark.parametrize("door", [DOORS[0], DOORS[1]], ids=["openai", "anthropic"])
def test_stream_without_usage_is_recorded_as_an_estimate(tenant: Tenant, sim: Simulator, door: Door) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=40, omit_usage=True))
    arrivals = stream_events(tenant, door)
    assert door.terminal in arrivals.raw
    record = wait_record(tenant, arrivals.request_id)
    assert record["status"] == "success"
    assert record["estimated"] is True
    assert record["inputTokens"] > 0 and record["outputTokens"] > 0
    assert record["costNanos"] > 0


@pytest.mark.parametrize(
    "door",
    [
        Door("passthrough", "/api/proxy/deepseek/chat/completions", OPENAI_BODY, "deepseek", b"data: [DONE]"),
        Door(
            "openai",
            "/v1/chat/completions",
            {**OPENAI_BODY, "model": "deepseek/deepseek-chat"},
            "deepseek",
            b"data: [DONE]",
        ),
    ],
    ids=["passthrough", "openai"],
)
def test_keep_alive_comments_are_relayed(tenant: Tenant, sim: Simulator, door: Door) -> None:
    sim.enqueue(Scenario(chunks=3, output_tokens=6, chunk_delay=0.05))
    arrivals = stream_events(tenant, door)
    assert arrivals.raw.startswith(b": keep-alive\n\n: keep-alive\n\n")
    assert door.terminal in arrivals.raw
    record = wait_record(tenant, arrivals.request_id)
    assert record["provider"] == "deepseek" and record["outputTokens"] == 6


# Other shapes of the same failures: the Responses API, Gemini (SSE and JSON array), plain calls.


def test_responses_stream_broken_by_upstream_raises_in_the_sdk(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=12, disconnect_after=2))
    with openai_client(tenant).responses.with_streaming_response.create(
        model="gpt-4.1-mini", input=PROMPT, stream=True
    ) as response:
        request_id = response.headers["x-tollgate-request-id"]
        with pytest.raises(openai.APIError) as raised:
            for _ in response.parse():
                pass
    assert raised.value.code == "upstream_stream_broken"
    record = wait_record(tenant, request_id)
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"


GEMINI_STREAM = "/api/proxy/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent"
GEMINI_BODY = {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]}


def test_gemini_sse_stream_broken_by_upstream_ends_with_a_gemini_error(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=12, disconnect_after=2))
    door = Door("gemini", GEMINI_STREAM + "?alt=sse", GEMINI_BODY, "gemini", b"")
    arrivals = stream_events(tenant, door)
    assert content_events(arrivals) >= 2
    last = arrivals.events[-1][1]
    assert b'"error"' in last and b'"code":502' in last and b'"status":"UNAVAILABLE"' in last
    record = wait_record(tenant, arrivals.request_id)
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"


def test_gemini_json_array_stream_broken_by_upstream_is_not_passed_off_as_complete(
    tenant: Tenant, sim: Simulator
) -> None:
    """Without ``alt=sse`` there is no error event to send: the client must see the transfer break."""
    sim.enqueue(Scenario(chunks=6, output_tokens=12, disconnect_after=2))
    received = b""
    with (
        httpx2.stream(
            "POST", tenant.url + GEMINI_STREAM, json=GEMINI_BODY, headers=tenant.headers(), timeout=60
        ) as response,
        pytest.raises(httpx2.RemoteProtocolError),
    ):
        request_id = response.headers["x-tollgate-request-id"]
        for piece in response.iter_raw():
            received += piece
    assert received.startswith(b"[")
    record = wait_record(tenant, request_id)
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"


def test_gemini_json_array_stream_whole_is_metered(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(chunks=6, output_tokens=12))
    response = httpx2.post(tenant.url + GEMINI_STREAM, json=GEMINI_BODY, headers=tenant.headers(), timeout=60)
    assert response.status_code == 200 and isinstance(response.json(), list)
    record = wait_record(tenant, response.headers["x-tollgate-request-id"])
    assert record["status"] == "success" and record["outputTokens"] == 12 and record["estimated"] is False


@pytest.mark.parametrize(
    ("path", "body", "code_of"),
    [
        (
            "/v1/chat/completions",
            {**OPENAI_BODY, "stream": False},
            lambda body: body["error"]["code"],
        ),
        (
            "/v1/messages",
            {**ANTHROPIC_BODY, "stream": False},
            lambda body: body["error"]["code"],
        ),
        (
            "/api/proxy",
            {"provider": "openai", "payload": {**OPENAI_BODY, "stream": False}},
            lambda body: body["code"],
        ),
    ],
    ids=["openai", "anthropic", "proxy"],
)
def test_plain_answer_cut_off_by_upstream_is_a_502(
    tenant: Tenant, sim: Simulator, path: str, body: dict[str, Any], code_of: Callable[[Any], str]
) -> None:
    sim.enqueue(Scenario(disconnect_after=1))
    response = httpx2.post(tenant.url + path, json=body, headers=tenant.headers(), timeout=60)
    assert response.status_code == 502, response.text
    assert code_of(response.json()) == "upstream_stream_broken"
    record = wait_record(tenant, response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"


@pytest.mark.parametrize("knob", ["omit_usage", "malformed_after"])
def test_plain_answer_without_readable_usage_is_recorded_as_an_estimate(
    tenant: Tenant, sim: Simulator, knob: str
) -> None:
    scenario = (
        Scenario(output_tokens=40, omit_usage=True) if knob == "omit_usage" else Scenario(malformed_after=1)
    )
    sim.enqueue(scenario)
    response = httpx2.post(
        tenant.url + "/v1/chat/completions",
        json={**OPENAI_BODY, "stream": False},
        headers=tenant.headers(),
        timeout=60,
    )
    assert response.status_code == 200
    record = wait_record(tenant, response.headers["x-tollgate-request-id"])
    assert record["status"] == "success"
    assert record["estimated"] is True, "a record without the provider's usage must say it is an estimate"
    assert record["inputTokens"] > 0 and record["outputTokens"] > 0 and record["costNanos"] > 0


def test_client_that_hangs_up_on_a_slow_plain_call_still_gets_a_full_usage_record(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(latency=1.5, output_tokens=16))
    with pytest.raises(httpx2.ReadTimeout):
        httpx2.post(
            tenant.url + "/v1/chat/completions",
            json={**OPENAI_BODY, "stream": False},
            headers=tenant.headers(),
            timeout=httpx2.Timeout(30, read=0.3),
        )
    # The client never saw the request id: find the call in the log.
    deadline = time.monotonic() + RECORD_DEADLINE
    while True:
        tenant.server.flush()
        records = tenant.admin("GET", "/v1/requests").json()["data"]
        if records or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert len(records) == 1
    record = records[0]
    assert record["outputTokens"] == 16 and record["inputTokens"] == PROMPT_TOKENS
    assert record["status"] == "client_closed"
