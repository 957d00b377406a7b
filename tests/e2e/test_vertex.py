"""Google Vertex AI end to end: ``/v1/chat`` to Gemini and Claude on Vertex, pass-through, the
service-account token's life (cached, refreshed once, then a clear error), credential checks.

Every call goes from a real gateway over HTTP to the simulator's Vertex AI and its OAuth token
endpoint; the tenant's google_vertex credential is the one ``serve --demo`` makes (a fixed, public
test key). Expected costs come from genai-prices on the exact body the simulator returned.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from genai_prices import calc_price, extract_usage

from tests.support.gateway import Tenant
from tollgate.cli.demo import simulator_credentials
from tollgate.core import jsonx
from tollgate.core.money import usd_to_nanos
from tollgate.testing import Scenario, Simulator
from tollgate.testing._vertex_account import (
    DEMO_CLIENT_EMAIL,
    DEMO_LOCATION,
    DEMO_PROJECT,
    demo_public_key_pem,
    demo_service_account,
)

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-sonnet-4@20250514"
SCOPE = f"v1/projects/{DEMO_PROJECT}/locations/{DEMO_LOCATION}"
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Explain the quarterly numbers in two sentences please"},
]


def chat(tenant: Tenant, model: str, **extra: Any) -> httpx2.Response:
    body = {"provider": "google_vertex", "model": model, "messages": MESSAGES, **extra}
    return httpx2.post(tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30)


def chat_stream(tenant: Tenant, model: str) -> tuple[str, list[bytes], dict[str, Any]]:
    """(request id, the provider's events, the closing metrics) of a streamed ``/v1/chat``."""
    body = {"provider": "google_vertex", "model": model, "messages": MESSAGES, "stream": True}
    with httpx2.stream("POST", tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30) as r:
        assert r.status_code == 200
        raw = b"".join(r.iter_bytes())
        request_id = r.headers["x-tollgate-request-id"]
    events = [block for block in raw.replace(b"\r\n", b"\n").split(b"\n\n") if block.strip()]
    assert events[-1].startswith(b"event: metrics\ndata: ")
    return request_id, events[:-1], jsonx.loads(events[-1].split(b"data: ", 1)[1])


def exchanges(sim: Simulator) -> int:
    """Token requests the simulator's OAuth endpoint received."""
    return sum(1 for r in sim.received if r.provider == "google_vertex_oauth")


def vertex_calls(sim: Simulator) -> list[Any]:
    return [r for r in sim.received if r.provider == "google_vertex"]


def gemini_nanos(body: dict[str, Any]) -> int:
    return usd_to_nanos(extract_usage(body, provider_id="google").calc_price().total_price)


def claude_nanos(body: dict[str, Any]) -> int:
    """Claude on Vertex: Anthropic's usage, priced as genai-prices prices it under Google."""
    usage = extract_usage(body, provider_id="anthropic").usage
    return usd_to_nanos(calc_price(usage, body["model"], provider_id="google").total_price)


def assert_no_secret(text: str) -> None:
    assert "PRIVATE KEY" not in text and "ya29." not in text and "eyJ" not in text


# -- /v1/chat ------------------------------------------------------------------------------------


def test_gemini_on_vertex_plain_and_streamed_cost_what_genai_prices_says(
    tenant: Tenant, sim: Simulator
) -> None:
    scenario = Scenario(cache_read_tokens=4096, reasoning_tokens=250, output_tokens=40)
    sim.enqueue(scenario, provider="google_vertex")  # not the token request
    response = chat(tenant, GEMINI)
    assert response.status_code == 200, response.text
    body = response.json()
    native = body["response"]
    assert native["usageMetadata"]["thoughtsTokenCount"] == 250
    want = gemini_nanos(native)
    assert want > 0
    record = tenant.record(body["metrics"]["requestId"])
    assert record["costNanos"] == want and record["priceSource"].startswith("genai-prices")
    assert record["provider"] == "google_vertex" and record["model"] == GEMINI
    assert record["operation"] == "generate" and record["estimated"] is False
    assert record["cacheReadTokens"] == 4096 and record["reasoningTokens"] == 250
    assert record["outputTokens"] == 290  # candidates + thoughts
    upstream = vertex_calls(sim)[-1]
    assert upstream.path == f"/vertex/{SCOPE}/publishers/google/models/{GEMINI}:generateContent"
    assert upstream.json["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert upstream.header("authorization").startswith("Bearer ya29.")  # a token, not the gateway key

    sim.enqueue(scenario, provider="google_vertex")
    request_id, events, metrics = chat_stream(tenant, GEMINI)
    assert all(event.startswith(b"data: {") for event in events) and len(events) > 2
    upstream = vertex_calls(sim)[-1]
    assert upstream.path.endswith(f"/models/{GEMINI}:streamGenerateContent")
    assert upstream.query_string == "alt=sse"
    streamed = tenant.record(request_id)
    assert streamed["stream"] is True and streamed["costNanos"] == want
    assert metrics["costUsd"] == streamed["costUsd"]


def test_claude_on_vertex_plain_and_streamed_cost_what_genai_prices_says(
    tenant: Tenant, sim: Simulator
) -> None:
    scenario = Scenario(cache_read_tokens=2000, cache_write_tokens=1500, output_tokens=30)
    sim.enqueue(scenario, provider="google_vertex")
    response = chat(tenant, CLAUDE, providerOptions={"max_tokens": 256})
    assert response.status_code == 200, response.text
    native = response.json()["response"]
    assert native["model"] == CLAUDE and native["usage"]["cache_read_input_tokens"] == 2000
    want = claude_nanos(native)
    assert want > 0
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["costNanos"] == want and record["operation"] == "messages"
    assert record["cacheWriteTokens"] == 1500 and record["outputTokens"] == 30
    upstream = vertex_calls(sim)[-1]
    assert upstream.path == f"/vertex/{SCOPE}/publishers/anthropic/models/{CLAUDE}:rawPredict"
    # The Vertex body: no model (it is in the URL), the version in the body, the system prompt kept.
    assert "model" not in upstream.json and upstream.json["anthropic_version"] == "vertex-2023-10-16"
    assert upstream.json["system"] == "Be brief." and upstream.json["max_tokens"] == 256

    sim.enqueue(scenario, provider="google_vertex")
    request_id, events, _ = chat_stream(tenant, CLAUDE)
    assert events[0].startswith(b"event: message_start") and events[-1].startswith(b"event: message_stop")
    assert vertex_calls(sim)[-1].path.endswith(f"/models/{CLAUDE}:streamRawPredict")
    assert vertex_calls(sim)[-1].json["stream"] is True
    streamed = tenant.record(request_id)
    assert streamed["stream"] is True and streamed["costNanos"] == want


def test_a_model_name_that_could_change_the_url_is_refused(tenant: Tenant, sim: Simulator) -> None:
    sent = len(sim.received)
    response = chat(tenant, "gemini-2.5-flash/../../other-project")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_model"
    assert len(sim.received) == sent


def test_vertex_faults_reach_the_client_and_the_record(tenant: Tenant, sim: Simulator) -> None:
    sim.enqueue(Scenario(error_status=429), provider="google_vertex")
    limited = chat(tenant, GEMINI)
    assert limited.status_code == 429
    assert limited.json()["error"]["providerError"]["error"]["status"] == "RESOURCE_EXHAUSTED"
    record = tenant.record(limited.headers["x-tollgate-request-id"])
    # The code Google stated, as the client saw it; the status is in httpStatus.
    assert record["status"] == "error" and record["errorCode"] == "RESOURCE_EXHAUSTED"
    assert record["httpStatus"] == 429

    sim.enqueue(Scenario(chunks=6, midstream_error_after=3), provider="google_vertex")
    request_id, events, _ = chat_stream(tenant, CLAUDE)
    assert any(event.startswith(b"event: error") for event in events)
    record = tenant.record(request_id)
    assert record["status"] == "error" and record["errorCode"] == "overloaded_error"

    sim.enqueue(Scenario(chunks=6, disconnect_after=2), provider="google_vertex")
    body = {"provider": "google_vertex", "model": GEMINI, "messages": MESSAGES, "stream": True}
    with httpx2.stream("POST", tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30) as r:
        b"".join(r.iter_bytes())
        cut_id = r.headers["x-tollgate-request-id"]
    record = tenant.record(cut_id)
    assert record["status"] == "error" and record["errorCode"] == "upstream_stream_broken"


# -- the access token ----------------------------------------------------------------------------


def test_one_token_serves_many_calls(tenant: Tenant, sim: Simulator) -> None:
    for model in (GEMINI, CLAUDE, GEMINI):
        assert chat(tenant, model).status_code == 200
    assert exchanges(sim) == 1
    tokens = {r.header("authorization") for r in vertex_calls(sim)}
    assert len(tokens) == 1


def test_a_revoked_token_is_refreshed_once_and_the_call_succeeds(tenant: Tenant, sim: Simulator) -> None:
    assert chat(tenant, GEMINI).status_code == 200
    sim.enqueue(Scenario(revoke_token=True), provider="google_vertex")
    response = chat(tenant, GEMINI)
    assert response.status_code == 200, response.text
    assert exchanges(sim) == 2
    refused, retried = vertex_calls(sim)[-2:]
    assert refused.header("authorization") != retried.header("authorization")
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "success" and record["costNanos"] > 0
    assert chat(tenant, GEMINI).status_code == 200 and exchanges(sim) == 2  # the new token is kept


def test_a_token_refused_again_after_the_refresh_is_a_clear_recorded_error(
    tenant: Tenant, sim: Simulator
) -> None:
    for _ in range(2):
        sim.enqueue(Scenario(revoke_token=True), provider="google_vertex")
    response = chat(tenant, GEMINI)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "vertex_auth_failed"
    assert DEMO_CLIENT_EMAIL in error["message"] and "Vertex AI User" in error["message"]
    assert_no_secret(response.text)
    assert exchanges(sim) == 2 and len(vertex_calls(sim)) == 2  # refreshed exactly once
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and record["errorCode"] == "vertex_auth_failed"
    assert record["costNanos"] == 0
    assert_no_secret(jsonx.dumps(record).decode())


@pytest.fixture
def verifying_sim(sim: Simulator) -> Iterator[Simulator]:
    """The session simulator, verifying assertion signatures against the demo account's key."""
    sim.vertex.public_keys[DEMO_CLIENT_EMAIL] = demo_public_key_pem()
    try:
        yield sim
    finally:
        sim.vertex.public_keys.clear()


def _other_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _vertex_credential(tenant: Tenant, name: str, secrets: dict[str, str], **config: str) -> httpx2.Response:
    stored = tenant.admin("GET", f"/v1/provider-credentials/{tenant.credentials['google_vertex']}").json()
    body = {"provider": "google_vertex", "name": name, "secrets": secrets}
    body["config"] = {**stored["config"], **config}
    return tenant.admin("POST", "/v1/provider-credentials", json=body)


def test_a_key_google_does_not_accept_fails_with_the_reason(tenant: Tenant, verifying_sim: Simulator) -> None:
    assert chat(tenant, GEMINI).status_code == 200  # the demo key's signature verifies
    impostor = {"clientEmail": DEMO_CLIENT_EMAIL, "privateKey": _other_key_pem()}
    assert _vertex_credential(tenant, "impostor", impostor).status_code == 201
    body = {"provider": "google_vertex", "model": GEMINI, "messages": MESSAGES}
    response = httpx2.post(
        tenant.url + "/v1/chat",
        json=body,
        headers=tenant.headers(**{"x-tollgate-credential": "impostor"}),
        timeout=30,
    )
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "vertex_auth_failed" and "invalid_grant" in error["message"]
    assert_no_secret(response.text)
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["errorCode"] == "vertex_auth_failed"


# -- credentials ---------------------------------------------------------------------------------


def _weak_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"privateKey": "-----BEGIN PRIVATE KEY-----\nnot-a-key\n-----END PRIVATE KEY-----\n"}, "privateKey"),
        ({"privateKey": "weak"}, "privateKey"),
        ({"clientEmail": "not-an-email"}, "clientEmail"),
        ({"client_email": DEMO_CLIENT_EMAIL}, "client_email"),
    ],
)
def test_a_bad_service_account_is_refused_at_creation(
    tenant: Tenant, change: dict[str, str], field: str
) -> None:
    secrets = {**demo_service_account(), **change}
    if secrets["privateKey"] == "weak":
        secrets["privateKey"] = _weak_key_pem()
    response = _vertex_credential(tenant, "bad", secrets)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_provider_secrets" and error["details"]["field"] == field
    assert "not-a-key" not in response.text and "PRIVATE KEY" not in response.text
    assert all(c["name"] != "bad" for c in tenant.admin("GET", "/v1/provider-credentials").json()["data"])


def test_an_api_key_with_secrets_or_instead_of_them_is_refused(tenant: Tenant) -> None:
    body = {
        "provider": "google_vertex",
        "name": "mixed",
        "apiKey": "AIza-not-for-vertex",
        "secrets": demo_service_account(),
        "config": {"projectId": DEMO_PROJECT, "location": DEMO_LOCATION, "defaultModel": GEMINI},
    }
    mixed = tenant.admin("POST", "/v1/provider-credentials", json=body)
    assert mixed.status_code == 400 and mixed.json()["error"]["code"] == "invalid_provider_secrets"
    del body["secrets"]
    alone = tenant.admin("POST", "/v1/provider-credentials", json=body)
    assert alone.status_code == 400 and alone.json()["error"]["code"] == "invalid_provider_secrets"
    assert "AIza-not-for-vertex" not in mixed.text + alone.text


@pytest.mark.parametrize(
    ("token_uri", "status"),
    [
        ("https://oauth2.example.com/token", 201),
        ("http://127.0.0.1:9/token", 201),
        ("http://oauth2.example.com/token", 400),  # an assertion never crosses a network unencrypted
        ("https://oauth2.example.com/token?x=1", 400),
        ("https://user:pw@oauth2.example.com/token", 400),
        ("not a url", 400),
    ],
)
def test_the_token_uri_must_be_https_except_on_loopback(tenant: Tenant, token_uri: str, status: int) -> None:
    response = _vertex_credential(tenant, "uri", demo_service_account(), tokenUri=token_uri)
    assert response.status_code == status, response.text
    if status == 400:
        error = response.json()["error"]
        assert error["code"] == "invalid_config" and error["details"]["field"] == "tokenUri"


@pytest.mark.parametrize("root", ["http://127.0.0.1:9", "http://0.0.0.0:9"])  # serve --demo --host
def test_the_demo_makes_one_vertex_credential_and_no_token_endpoint_one(root: str) -> None:
    bodies = simulator_credentials(Simulator(), root, "sk-unused")
    vertex = [b for b in bodies if "vertex" in b["provider"]]
    assert [b["provider"] for b in vertex] == ["google_vertex"]
    assert "apiKey" not in vertex[0] and vertex[0]["secrets"]["clientEmail"] == DEMO_CLIENT_EMAIL
    assert vertex[0]["config"]["endpointUrl"] == "http://127.0.0.1:9/vertex"
    assert vertex[0]["config"]["tokenUri"] == "http://127.0.0.1:9/vertex-oauth/token"


def test_credential_check_passes_and_spends_nothing(tenant: Tenant, sim: Simulator) -> None:
    response = tenant.admin("POST", f"/v1/provider-credentials/{tenant.credentials['google_vertex']}/test")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result == {**result, "ok": True, "provider": "google_vertex", "status": 200, "reason": None}
    assert exchanges(sim) == 1
    probe = vertex_calls(sim)[-1]
    assert probe.path == f"/vertex/{SCOPE}/publishers/google/models/gemini-2.5-flash:countTokens"
    assert_no_secret(response.text)


def test_credential_check_of_a_claude_default_model(tenant: Tenant, sim: Simulator) -> None:
    created = _vertex_credential(tenant, "claude", demo_service_account(), defaultModel=CLAUDE)
    result = tenant.admin("POST", f"/v1/provider-credentials/{created.json()['id']}/test").json()
    assert result["ok"] is True and result["status"] == 200
    probe = vertex_calls(sim)[-1]
    assert probe.path == f"/vertex/{SCOPE}/publishers/anthropic/models/count-tokens:rawPredict"
    assert probe.json["model"] == CLAUDE


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (404, ["config.defaultModel", "config.location", "config.projectId"]),
        (403, ["Vertex AI User", "config.projectId"]),
    ],
)
def test_credential_check_explains_what_vertex_refused(
    tenant: Tenant, sim: Simulator, status: int, words: list[str]
) -> None:
    sim.enqueue(Scenario(error_status=status), provider="google_vertex", path_contains=":countTokens")
    response = tenant.admin("POST", f"/v1/provider-credentials/{tenant.credentials['google_vertex']}/test")
    result = response.json()
    assert result["ok"] is False and result["status"] == status
    assert all(word in result["reason"] for word in words), result["reason"]
    assert_no_secret(response.text)


def test_credential_check_says_google_refused_the_key(tenant: Tenant, verifying_sim: Simulator) -> None:
    impostor = {"clientEmail": DEMO_CLIENT_EMAIL, "privateKey": _other_key_pem()}
    created = _vertex_credential(tenant, "impostor", impostor)
    response = tenant.admin("POST", f"/v1/provider-credentials/{created.json()['id']}/test")
    result = response.json()
    assert result["ok"] is False
    assert "Google refused" in result["reason"] and DEMO_CLIENT_EMAIL in result["reason"]
    assert vertex_calls(verifying_sim) == []  # no API call without a token
    assert_no_secret(response.text)


# -- secrets -------------------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_log() -> Iterator[_Collect]:
    """Everything that reaches the root logger, at every level (what ``tollgate serve`` writes)."""
    root, handler = logging.getLogger(), _Collect()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def test_no_key_assertion_or_token_appears_in_logs_records_or_files(
    tenant: Tenant, sim: Simulator, server_log: _Collect
) -> None:
    assert chat(tenant, GEMINI).status_code == 200
    sim.enqueue(Scenario(revoke_token=True), provider="google_vertex")
    assert chat(tenant, CLAUDE).status_code == 200
    for _ in range(2):
        sim.enqueue(Scenario(revoke_token=True), provider="google_vertex")
    failed = chat(tenant, GEMINI)
    assert failed.status_code == 502
    checked = tenant.admin("POST", f"/v1/provider-credentials/{tenant.credentials['google_vertex']}/test")
    tenant.server.flush()

    pem_lines = [line for line in demo_service_account()["privateKey"].splitlines() if "-----" not in line]
    assertions = [(r.body or b"").decode() for r in sim.received if r.provider == "google_vertex_oauth"]
    tokens = {r.header("authorization").removeprefix("Bearer ") for r in vertex_calls(sim)}
    assert len(assertions) == 4 and len(tokens) == 4  # the first token, and one per refresh
    jwt_parts = [part for form in assertions for part in form.split("assertion=")[1].split(".")]
    secrets = [*pem_lines, *jwt_parts, *tokens]

    records = tenant.admin("GET", "/v1/requests", params={"limit": 100}).json()["data"]
    observed = [failed.text, checked.text, jsonx.dumps(records).decode()]
    observed += [f"{r.getMessage()} {vars(r)!r}" for r in server_log.records]
    home = tenant.server.settings.home
    observed += [p.read_bytes().decode("latin-1") for p in home.rglob("*") if p.is_file()]
    for text in observed:
        assert not [s for s in secrets if s in text]
