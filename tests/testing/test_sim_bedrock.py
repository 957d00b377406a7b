"""The Bedrock simulator: botocore's client proves it faithful; our signer and decoder make the same calls."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.config
import botocore.session
import httpx2
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from botocore.exceptions import EventStreamError as BotoEventStreamError

from tollgate.core import jsonx
from tollgate.providers.eventstream import EventMessage, EventStreamDecoder, EventStreamError
from tollgate.providers.sigv4 import AwsCredentials, bedrock_path, sign_request
from tollgate.testing import Scenario, Simulator, SimulatorServer
from tollgate.testing._bedrock import (
    SIM_ACCESS_KEY_ID,
    SIM_REGION,
    SIM_SECRET_ACCESS_KEY,
    SIM_SESSION_ACCESS_KEY_ID,
    SIM_SESSION_SECRET_ACCESS_KEY,
    SIM_SESSION_TOKEN,
)

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
MESSAGES: Any = [{"role": "user", "content": [{"text": "one two three"}]}]
PROMPT = 3 + 4
CREDS = AwsCredentials(SIM_ACCESS_KEY_ID, SIM_SECRET_ACCESS_KEY)


def _client(server: SimulatorServer, secret: str = SIM_SECRET_ACCESS_KEY) -> BaseClient:
    return botocore.session.get_session().create_client(
        "bedrock-runtime",
        region_name=SIM_REGION,
        endpoint_url=server.base_url("aws_bedrock"),
        aws_access_key_id=SIM_ACCESS_KEY_ID,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}),
    )


@pytest.fixture
def client(server: SimulatorServer) -> Iterator[BaseClient]:
    c = _client(server)
    yield c
    c.close()


def test_botocore_converse_reads_text_and_usage_without_cache_in_input(
    client: BaseClient, sim: Simulator
) -> None:
    sim.defaults = Scenario(
        output_tokens=4, cache_read_tokens=100, cache_write_tokens=30, cache_write_1h_tokens=10
    )
    reply = client.converse(modelId=MODEL, messages=MESSAGES, system=[{"text": "be brief"}])
    assert reply["output"]["message"] == {"role": "assistant", "content": [{"text": "tok1 tok2 tok3 tok4"}]}
    assert reply["stopReason"] == "end_turn"
    usage = reply["usage"]
    assert usage["inputTokens"] == PROMPT + 2 + 4  # uncached only
    assert (usage["cacheReadInputTokens"], usage["cacheWriteInputTokens"]) == (100, 30)
    assert usage["totalTokens"] == usage["inputTokens"] + 100 + 30 + 4
    assert usage["cacheDetails"] == [{"ttl": "5m", "inputTokens": 20}, {"ttl": "1h", "inputTokens": 10}]
    assert reply["metrics"]["latencyMs"] > 0
    request = sim.received[-1]
    assert request.provider == "aws_bedrock"
    assert request.path == f"/bedrock/model/{MODEL}/converse"  # the server hands over the decoded path
    assert "/us-east-1/bedrock/aws4_request" in request.headers["authorization"]


def test_botocore_converse_stream_ends_with_metadata_usage(client: BaseClient, sim: Simulator) -> None:
    sim.defaults = Scenario(output_tokens=9, reasoning_tokens=3, chunks=3)
    reply = client.converse_stream(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 100})
    assert reply["ResponseMetadata"]["HTTPHeaders"]["content-type"] == "application/vnd.amazon.eventstream"
    events = list(reply["stream"])
    kinds = [next(iter(event)) for event in events]
    assert kinds == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        *["contentBlockDelta"] * 3,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert events[1]["contentBlockDelta"]["delta"]["reasoningContent"]["text"] == "think1 think2 think3"
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events[4:7])
    assert text == " ".join(f"tok{i}" for i in range(1, 10))
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 12  # reasoning included
    assert events[-1]["metadata"]["usage"]["inputTokens"] == PROMPT


def test_max_tokens_truncates_and_says_so(client: BaseClient, sim: Simulator) -> None:
    sim.defaults = Scenario(output_tokens=10)
    reply = client.converse(modelId=MODEL, messages=MESSAGES, inferenceConfig={"maxTokens": 3})
    assert reply["stopReason"] == "max_tokens"
    assert reply["usage"]["outputTokens"] == 3


def test_botocore_sees_a_throttling_exception_inside_the_200(client: BaseClient, sim: Simulator) -> None:
    sim.defaults = Scenario(midstream_error_after=2, error_message="slow down")
    reply = client.converse_stream(modelId=MODEL, messages=MESSAGES)
    assert reply["ResponseMetadata"]["HTTPStatusCode"] == 200
    seen = []
    with pytest.raises(BotoEventStreamError) as caught:
        for event in reply["stream"]:
            seen.append(next(iter(event)))
    assert caught.value.response["Error"] == {"Code": "throttlingException", "Message": "slow down"}
    assert seen == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


def test_a_wrong_secret_is_refused_with_invalid_signature(server: SimulatorServer) -> None:
    bad = _client(server, secret="not-the-secret")
    with pytest.raises(ClientError) as caught:
        bad.converse(modelId=MODEL, messages=MESSAGES)
    bad.close()
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert "signature we calculated does not match" in error["Error"]["Message"]


def test_a_bedrock_api_key_is_accepted_as_bearer(server: SimulatorServer, sim: Simulator) -> None:
    # botocore sends AWS_BEARER_TOKEN_BEDROCK as this header, but refuses to over plain http.
    url = server.base_url("aws_bedrock") + bedrock_path(MODEL, "converse")
    with httpx2.Client(timeout=10) as http:
        response = http.post(
            url, json={"messages": MESSAGES}, headers={"authorization": "Bearer bedrock-api-key-test"}
        )
    assert response.status_code == 200
    assert response.json()["usage"]["inputTokens"] == PROMPT
    assert sim.received[-1].headers["authorization"] == "Bearer bedrock-api-key-test"


# --- the same calls with tollgate's signer and decoder, no botocore client ---------------------------


def _post(
    server: SimulatorServer,
    operation: str,
    body: dict[str, Any],
    *,
    now: datetime | None = None,
    creds: AwsCredentials = CREDS,
    scenario: dict[str, Any] | None = None,
    model: str = MODEL,
    region: str = SIM_REGION,
) -> httpx2.Response:
    url = server.base_url("aws_bedrock") + bedrock_path(model, operation)
    raw = jsonx.dumps(body)
    headers = {"content-type": "application/json"}
    if scenario is not None:
        headers["x-sim-scenario"] = jsonx.dumps(scenario).decode()
    headers |= sign_request(
        "POST", url, headers, raw, credentials=creds, region=region, now=now or datetime.now(UTC)
    )
    with httpx2.Client(timeout=10) as http:
        return http.post(url, content=raw, headers=headers)


def _frames(body: bytes, piece: int = 5) -> list[EventMessage]:
    decoder = EventStreamDecoder()
    messages = [m for i in range(0, len(body), piece) for m in decoder.feed(body[i : i + piece])]
    decoder.finish()
    return messages


def test_our_signer_and_decoder_make_the_same_stream_call(server: SimulatorServer, sim: Simulator) -> None:
    sim.defaults = Scenario(output_tokens=5, cache_read_tokens=40)
    response = _post(server, "converse-stream", {"messages": MESSAGES})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    messages = _frames(response.content)
    assert [m.event_type for m in messages] == [
        "messageStart",
        *["contentBlockDelta"] * 5,
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    assert all(m.message_type == "event" and m.content_type == "application/json" for m in messages)
    payloads = [m.json() for m in messages]
    assert all(isinstance(p["p"], str) and p["p"] for p in payloads)  # the padding field
    assert len({len(p["p"]) for p in payloads}) > 1
    assert payloads[-1]["usage"] == {
        "inputTokens": PROMPT,
        "outputTokens": 5,
        "totalTokens": PROMPT + 40 + 5,
        "cacheReadInputTokens": 40,
        "cacheWriteInputTokens": 0,
    }
    assert sim.received[-1].headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIASIMULATOR/")


def test_our_signer_makes_the_same_converse_call(server: SimulatorServer) -> None:
    response = _post(server, "converse", {"messages": MESSAGES, "inferenceConfig": {"maxTokens": 50}})
    assert response.status_code == 200
    assert response.json()["usage"]["outputTokens"] == 12
    assert response.headers["x-amzn-requestid"]


def test_a_stale_signature_is_refused_with_the_bedrock_error_shape(server: SimulatorServer) -> None:
    response = _post(
        server, "converse", {"messages": MESSAGES}, now=datetime.now(UTC) - timedelta(minutes=20)
    )
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"].startswith("InvalidSignatureException:")
    assert response.json()["message"].startswith("Signature expired")


def test_an_unknown_access_key_is_refused(server: SimulatorServer) -> None:
    response = _post(server, "converse", {"messages": MESSAGES}, creds=AwsCredentials("AKIAOTHER", "x"))
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"].startswith("UnrecognizedClientException:")


def test_an_empty_conversation_is_a_validation_error(server: SimulatorServer) -> None:
    response = _post(server, "converse", {"messages": []})
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"].startswith("ValidationException:")
    assert "message" in response.json()


def test_omit_usage_leaves_metadata_with_metrics_only(server: SimulatorServer) -> None:
    response = _post(server, "converse-stream", {"messages": MESSAGES}, scenario={"omit_usage": True})
    metadata = _frames(response.content)[-1]
    assert metadata.event_type == "metadata"
    assert set(metadata.json()) == {"metrics", "p"}


def test_midstream_error_is_an_exception_frame(server: SimulatorServer) -> None:
    response = _post(server, "converse-stream", {"messages": MESSAGES}, scenario={"midstream_error_after": 1})
    messages = _frames(response.content)
    assert [m.event_type for m in messages[:2]] == ["messageStart", "contentBlockDelta"]
    last = messages[-1]
    assert last.message_type == "exception" and last.exception_type == "throttlingException"
    assert "message" in last.json()


def test_malformed_after_corrupts_the_framing(server: SimulatorServer) -> None:
    response = _post(server, "converse-stream", {"messages": MESSAGES}, scenario={"malformed_after": 2})
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError):
        decoder.feed(response.content)
    assert decoder.messages_decoded == 0  # one feed: the good frames before it are not handed out either


def test_disconnect_after_leaves_no_metadata(server: SimulatorServer) -> None:
    url = server.base_url("aws_bedrock") + bedrock_path(MODEL, "converse-stream")
    raw = jsonx.dumps({"messages": MESSAGES})
    headers = {"content-type": "application/json", "x-sim-scenario": '{"disconnect_after": 2}'}
    headers |= sign_request(
        "POST", url, headers, raw, credentials=CREDS, region="us-east-1", now=datetime.now(UTC)
    )
    decoder = EventStreamDecoder()
    events: list[str | None] = []
    with (
        httpx2.Client(timeout=10) as http,
        pytest.raises(httpx2.HTTPError),
        http.stream("POST", url, content=raw, headers=headers) as response,
    ):
        for chunk in response.iter_bytes():
            events += [m.event_type for m in decoder.feed(chunk)]
    assert "metadata" not in events
    assert events[:3] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


def test_error_status_answers_that_status(server: SimulatorServer) -> None:
    response = _post(
        server, "converse", {"messages": MESSAGES}, scenario={"error_status": 429, "error_message": "busy"}
    )
    assert response.status_code == 429
    assert response.json()["message"] == "busy"
    assert response.headers["x-amzn-errortype"].startswith("ThrottlingException:")


# --- what the gateway's wiring leans on: count-tokens, temporary keys, the region, the model id -----


def test_botocore_count_tokens_matches_what_converse_reports(client: BaseClient, sim: Simulator) -> None:
    counted = client.count_tokens(
        modelId=MODEL, input={"converse": {"messages": MESSAGES, "system": [{"text": "be brief"}]}}
    )
    reply = client.converse(modelId=MODEL, messages=MESSAGES, system=[{"text": "be brief"}])
    assert counted["inputTokens"] == reply["usage"]["inputTokens"] == PROMPT + 2 + 4
    assert sim.received[-2].path == f"/bedrock/model/{MODEL}/count-tokens"


def test_temporary_credentials_need_their_session_token(server: SimulatorServer) -> None:
    temporary = AwsCredentials(SIM_SESSION_ACCESS_KEY_ID, SIM_SESSION_SECRET_ACCESS_KEY, SIM_SESSION_TOKEN)
    assert _post(server, "converse", {"messages": MESSAGES}, creds=temporary).status_code == 200
    for token in (None, "IQoJb3JpZ2luX2VjE-someone-elses-token"):
        refused = _post(
            server,
            "converse",
            {"messages": MESSAGES},
            creds=AwsCredentials(SIM_SESSION_ACCESS_KEY_ID, SIM_SESSION_SECRET_ACCESS_KEY, token),
        )
        assert refused.status_code == 403
        assert refused.headers["x-amzn-errortype"].startswith("UnrecognizedClientException:")
        assert refused.json()["message"] == "The security token included in the request is invalid."


def test_a_signature_for_another_region_is_refused(server: SimulatorServer) -> None:
    response = _post(server, "converse", {"messages": MESSAGES}, region="eu-west-1")
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"].startswith("InvalidSignatureException:")
    assert "scoped to a valid region, not 'eu-west-1'; expected 'us-east-1'" in response.json()["message"]


@pytest.mark.parametrize("model", ["gpt-4o", "claude-nonsense"])
def test_an_id_that_is_no_bedrock_model_is_a_validation_error(server: SimulatorServer, model: str) -> None:
    for operation, body in (
        ("converse", {"messages": MESSAGES}),
        ("count-tokens", {"input": {"converse": {"messages": MESSAGES}}}),
    ):
        response = _post(server, operation, body, model=model)
        assert response.status_code == 400
        assert response.headers["x-amzn-errortype"].startswith("ValidationException:")
        assert response.json() == {"message": "The provided model identifier is invalid."}


@pytest.mark.parametrize(
    "model",
    [
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "amazon.nova-lite-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
    ],
)
def test_inference_profiles_and_arns_are_model_ids(server: SimulatorServer, model: str) -> None:
    assert _post(server, "converse", {"messages": MESSAGES}, model=model).status_code == 200


def test_a_missing_or_unknown_key_is_refused_the_aws_way() -> None:
    with SimulatorServer(Simulator(valid_keys={SIM_ACCESS_KEY_ID})) as strict:
        url = strict.base_url("aws_bedrock") + bedrock_path(MODEL, "converse")
        missing = httpx2.post(url, json={"messages": MESSAGES})
        unknown = httpx2.post(url, json={"messages": MESSAGES}, headers={"authorization": "Bearer not-a-key"})
        signed = _post(strict, "converse", {"messages": MESSAGES})
    assert (missing.status_code, unknown.status_code, signed.status_code) == (403, 403, 200)
    assert missing.headers["x-amzn-errortype"].startswith("MissingAuthenticationTokenException:")
    assert unknown.headers["x-amzn-errortype"].startswith("UnrecognizedClientException:")
    assert "not-a-key" not in unknown.text


# --- Claude's InvokeModel: Anthropic bodies, AWS framing ----------------------------------------------

INVOKE_BODY: Any = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "one two three"}],
}


def test_botocore_invoke_model_answers_an_anthropic_message(client: BaseClient, sim: Simulator) -> None:
    sim.defaults = Scenario(output_tokens=4, cache_read_tokens=100)
    reply = client.invoke_model(modelId=MODEL, body=jsonx.dumps(INVOKE_BODY))
    message = jsonx.loads(reply["body"].read())
    assert message["type"] == "message" and message["model"] == "claude-3-5-sonnet-20240620"
    assert message["content"] == [{"type": "text", "text": "tok1 tok2 tok3 tok4"}]
    assert message["usage"]["cache_read_input_tokens"] == 100 and message["usage"]["output_tokens"] == 4


def test_botocore_invoke_stream_chunks_are_anthropic_events(client: BaseClient, sim: Simulator) -> None:
    sim.defaults = Scenario(output_tokens=6, chunks=3)
    reply = client.invoke_model_with_response_stream(modelId=f"us.{MODEL}", body=jsonx.dumps(INVOKE_BODY))
    events = [jsonx.loads(event["chunk"]["bytes"]) for event in reply["body"]]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 3
    assert events[-2]["usage"]["output_tokens"] == 6
    assert events[-1]["amazon-bedrock-invocationMetrics"]["outputTokenCount"] == 6


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({**INVOKE_BODY, "model": MODEL}, "extraneous key [model]"),
        ({**INVOKE_BODY, "stream": True}, "extraneous key [stream]"),
        ({k: v for k, v in INVOKE_BODY.items() if k != "anthropic_version"}, "[anthropic_version]"),
    ],
)
def test_an_invoke_body_is_checked_as_bedrock_checks_it(
    server: SimulatorServer, body: Any, words: str
) -> None:
    response = _post(server, "invoke", body)
    assert response.status_code == 400 and words in response.json()["message"]
    assert response.headers["x-amzn-errortype"].startswith("ValidationException")


def test_invoke_serves_claude_only(server: SimulatorServer) -> None:
    assert _post(server, "invoke", INVOKE_BODY, model="amazon.nova-lite-v1:0").status_code == 400


def test_an_invoke_stream_midstream_error_is_an_exception_frame(server: SimulatorServer) -> None:
    scenario = {"midstream_error_after": 1}
    response = _post(server, "invoke-with-response-stream", INVOKE_BODY, scenario=scenario)
    messages = _frames(response.content)
    assert {m.event_type for m in messages[:-1]} == {"chunk"}
    last = messages[-1]
    assert last.message_type == "exception" and last.exception_type == "throttlingException"
