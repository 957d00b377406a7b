"""Cohere v2 Chat end to end: ``/v1/chat``, native pass-through (raw HTTP and the official SDK),
metering from ``billed_units`` priced exactly as genai-prices prices it, estimates, errors, ``/test``.

The expected cost is genai-prices' own reading of the body the simulator returned
(``extract_usage`` with Cohere's default extractor, which reads ``usage.billed_units``): an
independent figure, not tollgate's arithmetic.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import cohere
import httpx
import httpx2
import pytest
from genai_prices import Usage, calc_price, extract_usage

from tests.support.gateway import PROVIDER_KEY, Tenant
from tollgate.core import jsonx
from tollgate.core.money import usd_to_nanos
from tollgate.testing import Scenario, Simulator, SimulatorServer

MODEL = "command-a-03-2025"
MESSAGES: list[dict[str, Any]] = [
    {"role": "developer", "content": "Answer in one line"},
    {"role": "user", "content": "Summarise the quarter for the board"},
]
NATIVE_MESSAGES = [{"role": "system", "content": "Answer in one line"}, MESSAGES[1]]


def genai_nanos(cohere_body: dict[str, Any]) -> int:
    """genai-prices' price for a Cohere chat body (which names no model, so it is added)."""
    extracted = extract_usage({**cohere_body, "model": MODEL}, provider_id="cohere")
    return usd_to_nanos(extracted.calc_price().total_price)


def chat(tenant: Tenant, **extra: Any) -> httpx2.Response:
    body = {"provider": "cohere", "model": MODEL, "messages": MESSAGES, **extra}
    return httpx2.post(tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30)


def stream_bytes(tenant: Tenant, path: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
    with httpx2.stream("POST", tenant.url + path, json=body, headers=tenant.headers(), timeout=30) as r:
        return r.status_code, b"".join(r.iter_bytes()), r.headers["x-tollgate-request-id"]


def events(raw: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    """(event name, data) of every SSE block."""
    out = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        name = None
        data = b""
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data = line[6:]
        out.append((name, jsonx.loads(data)))
    return out


def passthrough_stream(tenant: Tenant) -> tuple[int, bytes, str]:
    body = {"model": MODEL, "messages": NATIVE_MESSAGES, "stream": True}
    return stream_bytes(tenant, "/api/proxy/cohere/v2/chat", body)


# --- /v1/chat -----------------------------------------------------------------------------------------------


def test_v1_chat_sends_a_v2_body_and_prices_the_billed_units(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(cache_read_tokens=400, output_tokens=30))
    response = chat(tenant, providerOptions={"top_p": 0.5, "stop": "END"})
    assert response.status_code == 200, response.text
    upstream = sim.received[-1]
    assert upstream.path == "/cohere/v2/chat"
    assert upstream.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert upstream.json == {
        "model": MODEL,
        "messages": NATIVE_MESSAGES,
        "p": 0.5,
        "stop_sequences": ["END"],
        "stream": False,
    }
    body = response.json()
    native = body["response"]
    assert native["finish_reason"] == "COMPLETE"
    billed = native["usage"]["billed_units"]
    want = genai_nanos(native)
    assert want > 0
    metrics = body["metrics"]
    record = tenant.record(metrics["requestId"])
    assert record["provider"] == "cohere" and record["operation"] == "chat" and record["door"] == "chat"
    # Billed input, split into what hit the cache and what did not; never the larger raw counts.
    assert record["cacheReadTokens"] == 400 == native["usage"]["cached_tokens"]
    assert record["inputTokens"] + record["cacheReadTokens"] == billed["input_tokens"]
    assert record["outputTokens"] == billed["output_tokens"] == 30
    assert record["costNanos"] == want and record["estimated"] is False
    assert record["priceSource"].startswith("genai-prices") and "cohere/command-a" in record["priceSource"]
    assert metrics["costUsd"] == response.headers["x-tollgate-cost"]


def test_v1_chat_stream_relays_cohere_events_then_metrics(tenant: Tenant, sim: Simulator) -> None:
    plain = chat(tenant)
    want = genai_nanos(plain.json()["response"])
    body = {"provider": "cohere", "model": MODEL, "messages": MESSAGES, "stream": True}
    status, raw, request_id = stream_bytes(tenant, "/v1/chat", body)
    assert status == 200
    assert sim.received[-1].json["stream"] is True
    seen = events(raw)
    names = [name for name, _ in seen]
    assert names[0] == "message-start" and names[-2:] == ["message-end", "metrics"]
    text = "".join(d["delta"]["message"]["content"]["text"] for n, d in seen if n == "content-delta")
    assert text.startswith("tok1 tok2")
    metrics = seen[-1][1]
    assert metrics["requestId"] == request_id and metrics["outputTokens"] == 12
    record = tenant.record(request_id)
    assert record["stream"] is True and record["status"] == "success"
    assert record["costNanos"] == want and record["estimated"] is False


# --- pass-through, raw HTTP ---------------------------------------------------------------------------------


def test_passthrough_returns_the_provider_body_and_records_its_cost(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(output_tokens=48))
    response = httpx2.post(
        tenant.url + "/api/proxy/cohere/v2/chat",
        json={"model": MODEL, "messages": NATIVE_MESSAGES, "stream": False},
        headers=tenant.headers(),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "message", "finish_reason", "usage"}
    assert sim.received[-1].headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["door"] == "passthrough" and record["model"] == MODEL
    assert record["outputTokens"] == 48
    assert record["costNanos"] == genai_nanos(body)


def test_passthrough_stream_is_relayed_byte_for_byte_and_metered(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(chunks=4, output_tokens=20))
    status, raw, request_id = passthrough_stream(tenant)
    assert status == 200
    seen = events(raw)
    assert [name for name, _ in seen].count("content-delta") == 4
    end = seen[-1][1]
    assert end["type"] == "message-end"
    want = genai_nanos({"usage": end["delta"]["usage"]})
    record = tenant.record(request_id)
    assert record["stream"] is True and record["status"] == "success"
    assert record["outputTokens"] == 20 and record["costNanos"] == want


def test_a_stream_that_ends_without_usage_is_recorded_as_an_estimate(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(omit_usage=True, output_tokens=40))
    status, raw, request_id = passthrough_stream(tenant)
    assert status == 200 and events(raw)[-1][1]["delta"] == {"finish_reason": "COMPLETE"}
    record = tenant.record(request_id)
    assert record["status"] == "success"
    assert record["estimated"] is True, "no usage came back: the record must say it is an estimate"
    assert record["inputTokens"] > 0 and record["outputTokens"] > 0 and record["costNanos"] > 0


def test_a_failed_generation_mid_stream_reaches_the_client_and_the_record(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(chunks=6, midstream_error_after=2, error_message="model crashed"))
    status, raw, request_id = passthrough_stream(tenant)
    assert status == 200
    seen = events(raw)
    assert [name for name, _ in seen].count("content-delta") == 2
    assert seen[-1][1]["delta"] == {"finish_reason": "ERROR", "error": "model crashed"}
    record = tenant.record(request_id)
    assert record["status"] == "error" and record["httpStatus"] == 502
    assert record["errorCode"] == "upstream_stream_error"


def test_an_upstream_that_drops_mid_stream_ends_with_a_cohere_error_event(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(chunks=6, disconnect_after=3))
    status, raw, request_id = passthrough_stream(tenant)
    assert status == 200
    seen = events(raw)
    assert [name for name, _ in seen].count("content-delta") == 3
    # The gateway ends the stream the way Cohere reports a failed generation.
    name, last = seen[-1]
    assert name == "message-end" and last["delta"]["finish_reason"] == "ERROR" and last["delta"]["error"]
    record = tenant.record(request_id)
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"


def test_upstream_errors_keep_coheres_shape_and_gateway_errors_take_it(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(error_status=429, retry_after=2))
    url = tenant.url + "/api/proxy/cohere/v2/chat"
    body = {"model": MODEL, "messages": NATIVE_MESSAGES}
    limited = httpx2.post(url, json=body, headers=tenant.headers(), timeout=30)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert set(limited.json()) == {"id", "message"}
    record = tenant.record(limited.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["costNanos"] == 0
    refused = httpx2.post(url, json=body, headers={"authorization": "Bearer tg_not-a-real-key"}, timeout=30)
    assert refused.status_code == 401
    assert refused.json()["message"] and "tg_not-a-real-key" not in refused.text


# --- the official SDK ---------------------------------------------------------------------------------------


@pytest.fixture
def client(tenant: Tenant) -> Iterator[cohere.ClientV2]:
    """The SDK pointed at the gateway, with the gateway key as its API key."""
    with httpx.Client(timeout=30) as http:
        yield cohere.ClientV2(
            api_key=tenant.key, base_url=tenant.url + "/api/proxy/cohere", httpx_client=http
        )


def billed_nanos(usage: Any) -> int:
    billed = usage.billed_units
    tokens = Usage(input_tokens=int(billed.input_tokens), output_tokens=int(billed.output_tokens))
    return usd_to_nanos(calc_price(tokens, MODEL, provider_id="cohere").total_price)


def test_sdk_chat_through_the_gateway(tenant: Tenant, sim: Simulator, client: cohere.ClientV2) -> None:
    sim.enqueue(Scenario(output_tokens=25))
    raw = client.with_raw_response.chat(model=MODEL, messages=NATIVE_MESSAGES)
    reply = raw.data
    assert reply.finish_reason == "COMPLETE" and reply.message.content
    assert sim.received[-1].headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert tenant.key not in str(sim.received[-1].headers)
    record = tenant.record(raw.headers["x-tollgate-request-id"])
    assert record["door"] == "passthrough" and record["outputTokens"] == 25
    assert record["costNanos"] == billed_nanos(reply.usage) > 0


def test_sdk_stream_through_the_gateway(tenant: Tenant, sim: Simulator, client: cohere.ClientV2) -> None:
    sim.enqueue(Scenario(chunks=3, output_tokens=9))
    with client.with_raw_response.chat_stream(model=MODEL, messages=NATIVE_MESSAGES) as raw:
        streamed = list(raw.data)
        request_id = raw.headers["x-tollgate-request-id"]
    text = "".join(e.delta.message.content.text for e in streamed if e.type == "content-delta")
    assert text == "tok1 tok2 tok3 tok4 tok5 tok6 tok7 tok8 tok9"
    end = streamed[-1]
    assert end.type == "message-end" and end.delta.finish_reason == "COMPLETE"
    record = tenant.record(request_id)
    assert record["stream"] is True and record["outputTokens"] == 9
    assert record["costNanos"] == billed_nanos(end.delta.usage) > 0


# --- credential check ---------------------------------------------------------------------------------------


def test_credential_check_lists_models_with_the_stored_key(tenant: Tenant, sim: Simulator) -> None:
    response = tenant.admin("POST", f"/v1/provider-credentials/{tenant.credentials['cohere']}/test")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] is True and result["provider"] == "cohere" and result["status"] == 200
    check = sim.received[-1]
    assert (check.method, check.path) == ("GET", "/cohere/v1/models")
    assert check.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert PROVIDER_KEY not in response.text


def test_credential_check_explains_a_refused_key(tenant: Tenant) -> None:
    wrong = "co-wrong-key-never-shown-8642"
    with SimulatorServer(Simulator(valid_keys={PROVIDER_KEY})) as strict:
        created = tenant.admin(
            "POST",
            "/v1/provider-credentials",
            json={
                "provider": "cohere",
                "name": "wrong",
                "apiKey": wrong,
                "config": {"baseUrl": strict.base_url("cohere")},
            },
        )
        assert created.status_code == 201, created.text
        response = tenant.admin("POST", f"/v1/provider-credentials/{created.json()['id']}/test")
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False and result["status"] == 401
    assert "rejected the key" in result["reason"]
    assert wrong not in response.text and wrong[-8:] not in response.text
