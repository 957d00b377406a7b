"""AWS Bedrock end to end: ``/v1/chat`` and the native pass-through, signed by the gateway with the
stored secrets, metered from Converse usage and ConverseStream's binary ``metadata`` frame.

The simulator is the us-east-1 Bedrock endpoint: it recomputes every SigV4 signature from the secret
it holds for the access key id, so a request the gateway signs wrongly fails here as it would at AWS.
The expected cost is genai-prices' own reading of the usage the simulator returned.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx2
import pytest
from genai_prices import extract_usage

from tests.support.gateway import Tenant
from tollgate.core import jsonx
from tollgate.core.money import usd_to_nanos
from tollgate.providers.eventstream import EventMessage, EventStreamDecoder
from tollgate.testing import MESSAGE_OVERHEAD, Scenario, Simulator, SimulatorServer
from tollgate.testing._bedrock import (
    SIM_ACCESS_KEY_ID,
    SIM_REGION,
    SIM_SECRET_ACCESS_KEY,
    SIM_SESSION_ACCESS_KEY_ID,
    SIM_SESSION_SECRET_ACCESS_KEY,
    SIM_SESSION_TOKEN,
)

MODEL = "us.anthropic.claude-haiku-4-5-20251001-v1:0"  # an inference profile, priced by genai-prices
PROMPT = "Summarise the quarter in one line"
PROMPT_TOKENS = len(PROMPT.split()) + MESSAGE_OVERHEAD
CACHED = Scenario(
    cache_read_tokens=2000, cache_write_tokens=1500, cache_write_1h_tokens=1000, output_tokens=40
)
CONVERSE_BODY: dict[str, Any] = {
    "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
    "inferenceConfig": {"maxTokens": 200},
}
STREAM_EVENTS = [
    "messageStart",
    *["contentBlockDelta"] * 5,
    "contentBlockStop",
    "messageStop",
    "metadata",
]


def genai_nanos(usage: dict[str, Any], model: str = MODEL) -> int:
    """genai-prices' cost of a Converse usage object, read by its own Bedrock extractor."""
    extracted = extract_usage({"model": model, "usage": usage}, provider_id="aws")
    return usd_to_nanos(extracted.calc_price().total_price)


def native_path(model: str = MODEL, operation: str = "converse", provider: str = "aws_bedrock") -> str:
    return f"/api/proxy/{provider}/model/{quote(model, safe='')}/{operation}"


def chat_body(**extra: Any) -> dict[str, Any]:
    return {
        "provider": "aws_bedrock",
        "model": MODEL,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}],
        **extra,
    }


def post(tenant: Tenant, path: str, body: Any, **headers: str) -> httpx2.Response:
    return httpx2.post(tenant.url + path, json=body, headers=tenant.headers(**headers), timeout=30)


def stream(tenant: Tenant, path: str, body: Any, **headers: str) -> tuple[httpx2.Response, bytes]:
    with httpx2.stream(
        "POST", tenant.url + path, json=body, headers=tenant.headers(**headers), timeout=30
    ) as response:
        return response, b"".join(response.iter_bytes())


def frames(raw: bytes) -> list[EventMessage]:
    """Decode what the client received, CRCs checked, in awkward 7-byte reads."""
    decoder = EventStreamDecoder()
    out = [m for i in range(0, len(raw), 7) for m in decoder.feed(raw[i : i + 7])]
    decoder.finish()
    return out


def sse_events(raw: bytes) -> list[tuple[str, Any]]:
    events = []
    for block in raw.split(b"\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(b": ", 1) for line in block.split(b"\n"))
        events.append((lines[b"event"].decode(), jsonx.loads(lines[b"data"])))
    return events


def signed_by(request_headers: dict[str, str]) -> str:
    """The access key id and scope a received request was signed with."""
    authorization = request_headers["authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=")
    return authorization.split("Credential=", 1)[1].split(",", 1)[0]


# --- /v1/chat ---------------------------------------------------------------------------------------


def test_chat_is_signed_converse_and_costs_what_genai_prices_says(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(CACHED)
    response = post(tenant, "/v1/chat", chat_body(providerOptions={"max_tokens": 300, "temperature": 0.2}))
    assert response.status_code == 200, response.text
    body = response.json()
    converse = body["response"]
    assert converse["output"]["message"]["content"][0]["text"].startswith("tok1 tok2")
    usage = converse["usage"]
    assert (usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"]) == (2000, 1500)

    upstream = sim.received[-1]
    assert upstream.path == f"/bedrock/model/{MODEL}/converse"
    assert upstream.json["system"] == [{"text": "Be brief."}]
    assert upstream.json["messages"] == [{"role": "user", "content": [{"text": PROMPT}]}]
    assert upstream.json["inferenceConfig"] == {"maxTokens": 300, "temperature": 0.2}
    assert signed_by(upstream.headers).startswith(f"{SIM_ACCESS_KEY_ID}/")
    assert signed_by(upstream.headers).endswith(f"/{SIM_REGION}/bedrock/aws4_request")
    assert tenant.key not in str(upstream.headers)

    want = genai_nanos(usage)
    record = tenant.record(body["metrics"]["requestId"])
    assert record["costNanos"] == want > 0
    assert record["priceSource"].startswith("genai-prices")
    assert (record["provider"], record["model"], record["operation"]) == ("aws_bedrock", MODEL, "converse")
    assert (record["inputTokens"], record["cacheReadTokens"], record["cacheWriteTokens"]) == (
        usage["inputTokens"],
        2000,
        1500,
    )
    assert record["outputTokens"] == 40 and record["estimated"] is False
    assert body["metrics"]["costUsd"] == response.headers["x-tollgate-cost"]


def test_chat_stream_arrives_as_sse_events_then_metrics(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(CACHED)
    response, raw = stream(tenant, "/v1/chat", chat_body(stream=True))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(raw)
    assert [name for name, _ in events] == [*STREAM_EVENTS, "metrics"]
    assert "".join(data["delta"]["text"] for name, data in events if name == "contentBlockDelta") == " ".join(
        f"tok{i}" for i in range(1, 41)
    )
    usage = events[-2][1]["usage"]
    metrics = events[-1][1]
    assert sim.received[-1].path == f"/bedrock/model/{MODEL}/converse-stream"
    record = tenant.record(metrics["requestId"])
    assert record["stream"] is True and record["status"] == "success"
    assert record["costNanos"] == genai_nanos(usage) > 0
    assert metrics["outputTokens"] == 40 and metrics["cacheReadTokens"] == 2000


def test_chat_stream_with_an_exception_frame_ends_with_an_error_event(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(midstream_error_after=2, error_message="Too many tokens, slow down"))
    response, raw = stream(tenant, "/v1/chat", chat_body(stream=True))
    events = sse_events(raw)
    names = [name for name, _ in events]
    assert names == ["messageStart", "contentBlockDelta", "contentBlockDelta", "error", "metrics"]
    assert events[-2][1]["error"] == {"code": "throttlingException", "message": "Too many tokens, slow down"}
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "throttlingException"


# --- pass-through ------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["aws_bedrock", "bedrock"])
def test_passthrough_converse_is_relayed_unmodified_and_signed_by_the_gateway(
    tenant: Tenant, sim: Simulator, provider: str
) -> None:
    sim.enqueue(CACHED)
    response = post(tenant, native_path(provider=provider), CONVERSE_BODY)
    assert response.status_code == 200, response.text
    converse = response.json()
    assert set(converse) == {"output", "stopReason", "usage", "metrics"}
    assert converse["usage"]["inputTokens"] == PROMPT_TOKENS
    assert response.headers["x-amzn-requestid"]
    upstream = sim.received[-1]
    assert upstream.json == CONVERSE_BODY
    assert signed_by(upstream.headers).startswith(f"{SIM_ACCESS_KEY_ID}/")
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert (record["door"], record["model"], record["operation"]) == ("passthrough", MODEL, "converse")
    assert record["costNanos"] == genai_nanos(converse["usage"]) > 0
    assert response.headers["x-tollgate-cost"] == record["costUsd"]


def test_passthrough_stream_relays_verified_frames_and_meters_metadata(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(CACHED)
    response, raw = stream(tenant, native_path(operation="converse-stream"), CONVERSE_BODY)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    messages = frames(raw)
    assert [m.event_type for m in messages] == STREAM_EVENTS
    usage = messages[-1].json()["usage"]
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["stream"] is True and record["status"] == "success" and record["estimated"] is False
    assert record["costNanos"] == genai_nanos(usage) > 0
    assert (record["cacheReadTokens"], record["cacheWriteTokens"], record["outputTokens"]) == (2000, 1500, 40)


def test_an_exception_inside_the_200_is_forwarded_and_recorded_under_its_type(
    tenant: Tenant, sim: Simulator
) -> None:
    sim.enqueue(Scenario(midstream_error_after=2, error_message="Too many tokens"))
    response, raw = stream(tenant, native_path(operation="converse-stream"), CONVERSE_BODY)
    assert response.status_code == 200
    messages = frames(raw)
    assert [m.event_type for m in messages[:3]] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    last = messages[-1]
    assert last.message_type == "exception" and last.exception_type == "throttlingException"
    assert last.json()["message"] == "Too many tokens"
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "throttlingException"


def test_a_crc_corrupt_frame_ends_the_stream_with_a_clear_exception(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(malformed_after=2))
    response, raw = stream(tenant, native_path(operation="converse-stream"), CONVERSE_BODY)
    messages = frames(raw)  # what the client got still decodes: the corrupt bytes were not forwarded
    assert [m.event_type for m in messages[:3]] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    last = messages[-1]
    assert last.message_type == "exception" and last.exception_type == "internalServerException"
    assert "CRC mismatch" in last.json()["message"] and last.json()["code"] == "eventstream_corrupt"
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "eventstream_corrupt"
    assert record["estimated"] is True and record["inputTokens"] > 0


def test_a_stream_cut_before_metadata_is_recorded_as_estimated(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(disconnect_after=5))  # all the text, then the connection drops
    response, raw = stream(tenant, native_path(operation="converse-stream"), CONVERSE_BODY)
    messages = frames(raw)
    assert [m.event_type for m in messages[:-1]] == ["messageStart", *["contentBlockDelta"] * 5]
    assert messages[-1].message_type == "exception"  # the AWS SDK raises instead of ending quietly
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"
    assert record["estimated"] is True
    assert record["inputTokens"] > 0 and record["outputTokens"] > 0
    assert record["costNanos"] > 0


@pytest.mark.parametrize("streamed", [False, True])
def test_the_proxy_envelope_puts_the_model_in_the_converse_path(
    tenant: Tenant, sim: Simulator, streamed: bool
) -> None:
    payload = {"model": MODEL, **CONVERSE_BODY, **({"stream": True} if streamed else {})}
    body = {"provider": "bedrock", "payload": payload, "_meta": {"routeName": "/api/summary"}}
    response, raw = stream(tenant, "/api/proxy", body)
    assert response.status_code == 200
    upstream = sim.received[-1]
    assert upstream.path == f"/bedrock/model/{MODEL}/{'converse-stream' if streamed else 'converse'}"
    assert upstream.json == CONVERSE_BODY  # model and stream moved to the path, nothing else touched
    usage = frames(raw)[-1].json()["usage"] if streamed else jsonx.loads(raw)["usage"]
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["tags"]["routeName"] == "/api/summary" and record["costNanos"] == genai_nanos(usage) > 0


def test_metadata_without_usage_is_recorded_as_estimated(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(omit_usage=True))
    response, raw = stream(tenant, native_path(operation="converse-stream"), CONVERSE_BODY)
    assert [m.event_type for m in frames(raw)] == STREAM_EVENTS
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "success" and record["estimated"] is True
    assert record["inputTokens"] > 0 and record["outputTokens"] > 0


def test_a_client_that_signs_itself_is_re_signed_cleanly(tenant: Tenant, sim: Simulator) -> None:
    # An SDK configured with its own AWS keys sends its date and session token; the gateway's
    # signature must not travel beside them (AWS would see two dates, or someone else's session).
    client_headers = {"x-amz-date": "20200101T000000Z", "x-amz-security-token": "the-clients-own-session"}
    response = post(tenant, native_path(), CONVERSE_BODY, **client_headers)
    assert response.status_code == 200, response.text
    upstream = sim.received[-1]
    assert upstream.headers["x-amz-date"] != "20200101T000000Z" and "," not in upstream.headers["x-amz-date"]
    assert "x-amz-security-token" not in upstream.headers


def test_an_upstream_error_keeps_the_aws_shape(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(error_status=429, retry_after=3, error_message="Rate exceeded"))
    response = post(tenant, native_path(), CONVERSE_BODY)
    assert response.status_code == 429
    assert response.json() == {"message": "Rate exceeded"}
    assert response.headers["x-amzn-errortype"].startswith("ThrottlingException:")
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["costNanos"] in (0, None)


def test_a_refused_gateway_key_is_an_aws_shaped_error(tenant: Tenant) -> None:
    response = httpx2.post(
        tenant.url + native_path(),
        json=CONVERSE_BODY,
        headers={"authorization": "Bearer tg_not_a_real_key"},
        timeout=30,
    )
    assert response.status_code == 401
    assert response.headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert response.json()["code"] == "invalid_api_key"


# --- other credentials -------------------------------------------------------------------------------


def add_credential(tenant: Tenant, name: str, sim_root: str, **fields: Any) -> str:
    config = {"region": SIM_REGION, "baseUrl": f"{sim_root}/bedrock", **fields.pop("config", {})}
    body = {"provider": "aws_bedrock", "name": name, "config": config, **fields}
    created = tenant.admin("POST", "/v1/provider-credentials", json=body)
    assert created.status_code == 201, created.text
    assert SIM_SESSION_SECRET_ACCESS_KEY not in created.text and SIM_SECRET_ACCESS_KEY not in created.text
    return str(created.json()["id"])


def test_a_session_token_credential_signs_and_sends_its_token(
    tenant: Tenant, sim: Simulator, sim_server: Any
) -> None:
    secrets = {
        "accessKeyId": SIM_SESSION_ACCESS_KEY_ID,
        "secretAccessKey": SIM_SESSION_SECRET_ACCESS_KEY,
        "sessionToken": SIM_SESSION_TOKEN,
    }
    add_credential(tenant, "sts", sim_server.root, secrets=secrets)
    response = post(tenant, "/v1/chat", chat_body(), **{"x-tollgate-credential": "sts"})
    assert response.status_code == 200, response.text
    upstream = sim.received[-1]
    assert signed_by(upstream.headers).startswith(f"{SIM_SESSION_ACCESS_KEY_ID}/")
    assert upstream.headers["x-amz-security-token"] == SIM_SESSION_TOKEN
    assert "x-amz-security-token" in upstream.headers["authorization"].split("SignedHeaders=")[1]
    record = tenant.record(response.json()["metrics"]["requestId"])
    assert SIM_SESSION_TOKEN not in str(record) and SIM_SESSION_TOKEN not in response.text


def test_an_api_key_credential_is_sent_as_bearer(tenant: Tenant, sim: Simulator, sim_server: Any) -> None:
    api_key = "ABSKQmVkcm9ja0FQSUtleS1zaW11bGF0b3I-test-7777"
    add_credential(tenant, "api-key", sim_server.root, apiKey=api_key)
    response, raw = stream(tenant, "/v1/chat", chat_body(stream=True), **{"x-tollgate-credential": "api-key"})
    assert response.status_code == 200
    assert [name for name, _ in sse_events(raw)][-2:] == ["metadata", "metrics"]
    assert sim.received[-1].headers["authorization"] == f"Bearer {api_key}"
    assert api_key not in raw.decode()


# --- POST /v1/provider-credentials/{id}/test ----------------------------------------------------------


def check(tenant: Tenant, credential_id: str) -> dict[str, Any]:
    response = tenant.admin("POST", f"/v1/provider-credentials/{credential_id}/test")
    assert response.status_code == 200, response.text
    for secret in (SIM_SECRET_ACCESS_KEY, SIM_SESSION_SECRET_ACCESS_KEY, SIM_SESSION_TOKEN, "wrong/secret"):
        assert secret not in response.text
    result: dict[str, Any] = response.json()
    return result


def test_check_passes_with_a_free_count_tokens_call(tenant: Tenant, sim: Simulator) -> None:
    result = check(tenant, tenant.credentials["aws_bedrock"])
    assert result["ok"] is True and result["status"] == 200 and result["reason"] is None
    upstream = sim.received[-1]
    assert upstream.path.endswith("/count-tokens") and upstream.path.startswith("/bedrock/model/")
    assert signed_by(upstream.headers).startswith(f"{SIM_ACCESS_KEY_ID}/")


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            {"secrets": {"accessKeyId": SIM_ACCESS_KEY_ID, "secretAccessKey": "wrong/secret/key/00000"}},
            "secretAccessKey",
        ),
        ({"secrets": {"accessKeyId": "AKIANOBODYKNOWS", "secretAccessKey": "x" * 40}}, "access key id"),
        (
            {
                "secrets": {"accessKeyId": SIM_ACCESS_KEY_ID, "secretAccessKey": SIM_SECRET_ACCESS_KEY},
                "config": {"region": "eu-west-1"},
            },
            "region 'eu-west-1'",
        ),
        (
            {
                "secrets": {"accessKeyId": SIM_ACCESS_KEY_ID, "secretAccessKey": SIM_SECRET_ACCESS_KEY},
                "config": {"defaultModel": "claude-of-my-dreams"},
            },
            "no model 'claude-of-my-dreams'",
        ),
        (
            {
                "secrets": {
                    "accessKeyId": SIM_SESSION_ACCESS_KEY_ID,
                    "secretAccessKey": SIM_SESSION_SECRET_ACCESS_KEY,
                    "sessionToken": "an-expired-session-token",
                }
            },
            "session token",
        ),
    ],
    ids=["bad-secret", "unknown-key", "wrong-region", "unknown-model", "bad-session-token"],
)
def test_check_explains_what_aws_refused(
    tenant: Tenant, sim_server: Any, fields: dict[str, Any], words: str
) -> None:
    credential_id = add_credential(tenant, "broken", sim_server.root, **fields)
    result = check(tenant, credential_id)
    assert result["ok"] is False and result["status"] in (400, 403)
    assert words in result["reason"]


def test_check_of_a_session_token_credential_passes(tenant: Tenant, sim_server: Any) -> None:
    secrets = {
        "accessKeyId": SIM_SESSION_ACCESS_KEY_ID,
        "secretAccessKey": SIM_SESSION_SECRET_ACCESS_KEY,
        "sessionToken": SIM_SESSION_TOKEN,
    }
    assert check(tenant, add_credential(tenant, "sts", sim_server.root, secrets=secrets))["ok"] is True


def test_check_of_an_api_key_the_endpoint_refuses_says_so(tenant: Tenant) -> None:
    wrong = "ABSKQmVkcm9ja0FQSUtleS1yZXZva2Vk-refused-4242"
    with SimulatorServer(Simulator(valid_keys={"ABSK-the-only-good-key"})) as strict:
        result = check(tenant, add_credential(tenant, "revoked", strict.root, apiKey=wrong))
    assert result["ok"] is False and result["status"] == 403
    assert "Bedrock API key" in result["reason"]
    assert wrong not in str(result) and wrong[:-4] not in str(result)
