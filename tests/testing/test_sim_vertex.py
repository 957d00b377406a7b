"""Vertex AI on the simulator over loopback: the token endpoint, Gemini and Claude on Vertex, token expiry.

The client side is tollgate's own: ``TokenSource`` for tokens, ``vertex_urls`` for the URLs and
``send_with_token`` for the refresh-once contract, all through the real aiohttp transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sim_helpers import data_frames, split_frames

from tollgate.core import jsonx
from tollgate.core.clock import FakeClock
from tollgate.gateway.upstream import AiohttpTransport, UpstreamRequest, UpstreamResponse
from tollgate.providers.vertex_auth import (
    ServiceAccount,
    TokenSource,
    VertexAuthError,
    send_with_token,
    validate_service_account,
)
from tollgate.providers.vertex_urls import (
    VertexConfig,
    anthropic_body_for_vertex,
    anthropic_count_tokens_url,
    anthropic_url,
    gemini_url,
    vertex_config,
)
from tollgate.testing import Scenario, Simulator, SimulatorServer
from tollgate.testing._providers import vertex_token_uri
from tollgate.testing._vertex import VertexUpstream

EMAIL = "sim@my-proj.iam.gserviceaccount.com"
GEMINI_BODY = {
    "contents": [{"role": "user", "parts": [{"text": "one two three"}]}],
    "systemInstruction": {"parts": [{"text": "be brief"}]},
}
GEMINI_PROMPT = (3 + 4) + (2 + 4)
CLAUDE_BODY = {
    "model": "ignored-here",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "one two three"}],
}
CLAUDE_PROMPT = 3 + 4
CLAUDE_MODEL = "claude-sonnet-4@20250514"


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def account(rsa_key: rsa.RSAPrivateKey) -> ServiceAccount:
    return validate_service_account(
        {"clientEmail": EMAIL, "privateKey": _pem(rsa_key), "privateKeyId": "abc123"}
    )


@pytest.fixture(scope="module")
def vertex() -> VertexUpstream:
    return VertexUpstream()


@pytest.fixture(scope="module")
def sim_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def vertex_served(vertex: VertexUpstream, sim_clock: FakeClock) -> Iterator[SimulatorServer]:
    with SimulatorServer(Simulator(clock=sim_clock, vertex=vertex)) as server:
        yield server


@pytest.fixture
def server(vertex_served: SimulatorServer, vertex: VertexUpstream) -> SimulatorServer:
    vertex_served.sim.reset()
    vertex_served.sim.defaults = Scenario()
    vertex.revoke_all()
    vertex.public_keys.clear()
    vertex.expires_in = 3599
    vertex.issued = 0
    return vertex_served


@pytest.fixture
async def transport() -> AsyncIterator[AiohttpTransport]:
    client = AiohttpTransport()
    yield client
    await client.close()


@pytest.fixture
def config(server: SimulatorServer) -> VertexConfig:
    return vertex_config(
        {"projectId": "my-proj", "location": "us-east5", "endpointUrl": server.base_url("google_vertex")}
    )


def _source(
    server: SimulatorServer, account: ServiceAccount, transport: AiohttpTransport, clock: FakeClock
) -> TokenSource:
    token_uri = server.base_url("google_vertex_oauth") + "/token"
    return TokenSource(account, transport, FakeClock(start=clock.now()), token_uri=token_uri)


async def _call(
    source: TokenSource, transport: AiohttpTransport, url: str, body: dict[str, Any]
) -> tuple[UpstreamResponse, bytes]:
    def build(token: str) -> UpstreamRequest:
        headers = [("authorization", f"Bearer {token}"), ("content-type", "application/json")]
        return UpstreamRequest("POST", url, headers, jsonx.dumps(body))

    response = await send_with_token(source, build, transport)
    return response, await response.read()


async def test_token_endpoint_issues_a_bearer_token(
    server: SimulatorServer, account: ServiceAccount, transport: AiohttpTransport, sim_clock: FakeClock
) -> None:
    source = _source(server, account, transport, sim_clock)
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": source.assertion()}
    response = httpx2.post(server.base_url("google_vertex_oauth") + "/token", data=form, timeout=10)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    assert body["access_token"].startswith("ya29.")
    token = await source.token()
    assert token != body["access_token"] and source.exchanges == 1


async def test_gemini_on_vertex_plain_and_streaming(
    server: SimulatorServer,
    account: ServiceAccount,
    transport: AiohttpTransport,
    config: VertexConfig,
    sim_clock: FakeClock,
    vertex: VertexUpstream,
) -> None:
    source = _source(server, account, transport, sim_clock)
    response, raw = await _call(
        source, transport, gemini_url(config, "gemini-2.5-flash", stream=False), GEMINI_BODY
    )
    assert response.status == 200
    body = jsonx.loads(raw)
    usage = body["usageMetadata"]
    assert usage["promptTokenCount"] == GEMINI_PROMPT and usage["candidatesTokenCount"] == 12
    assert body["modelVersion"] == "gemini-2.5-flash"

    response, raw = await _call(
        source, transport, gemini_url(config, "gemini-2.5-flash", stream=True), GEMINI_BODY
    )
    assert response.status == 200 and dict(response.headers)["content-type"].startswith("text/event-stream")
    chunks = data_frames(raw)
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] == GEMINI_PROMPT + 12
    assert source.exchanges == 1 and vertex.issued == 1  # one token served every call
    received = server.sim.received[-1]
    assert received.provider == "google_vertex" and received.query_string == "alt=sse"
    assert received.path.startswith("/vertex/v1/projects/my-proj/locations/us-east5/publishers/google/")


async def test_claude_on_vertex_plain_streaming_and_count(
    server: SimulatorServer,
    account: ServiceAccount,
    transport: AiohttpTransport,
    config: VertexConfig,
    sim_clock: FakeClock,
) -> None:
    server.sim.defaults = Scenario(cache_read_tokens=10, output_tokens=4)
    source = _source(server, account, transport, sim_clock)
    body = anthropic_body_for_vertex(CLAUDE_BODY)
    response, raw = await _call(source, transport, anthropic_url(config, CLAUDE_MODEL, stream=False), body)
    assert response.status == 200
    message = jsonx.loads(raw)
    assert message["model"] == CLAUDE_MODEL and message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] == CLAUDE_PROMPT
    assert message["usage"]["cache_read_input_tokens"] == 10 and message["usage"]["output_tokens"] == 4
    assert server.sim.received[-1].json == body  # what Vertex received: no model, version in the body

    response, raw = await _call(source, transport, anthropic_url(config, CLAUDE_MODEL, stream=True), body)
    assert response.status == 200
    events = [frame.event for frame in split_frames(raw)]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    delta = next(f.json() for f in split_frames(raw) if f.event == "message_delta")
    assert delta["usage"]["output_tokens"] == 4

    count_body = {**body, "model": CLAUDE_MODEL}
    response, raw = await _call(source, transport, anthropic_count_tokens_url(config), count_body)
    assert response.status == 200 and jsonx.loads(raw) == {"input_tokens": CLAUDE_PROMPT + 10}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"max_tokens": 8, "messages": []}, "anthropic_version: Field required"),
        ({**anthropic_body_for_vertex(CLAUDE_BODY), "model": "m"}, "model: Extra inputs are not permitted"),
    ],
)
async def test_claude_on_vertex_wants_the_vertex_body(
    server: SimulatorServer,
    account: ServiceAccount,
    transport: AiohttpTransport,
    config: VertexConfig,
    sim_clock: FakeClock,
    body: dict[str, Any],
    message: str,
) -> None:
    source = _source(server, account, transport, sim_clock)
    response, raw = await _call(source, transport, anthropic_url(config, CLAUDE_MODEL, stream=False), body)
    assert response.status == 400 and jsonx.loads(raw)["error"]["message"] == message


@pytest.mark.parametrize("authorization", [None, "Bearer ya29.never-issued"])
def test_a_missing_or_unknown_token_is_googles_401(
    server: SimulatorServer, config: VertexConfig, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = httpx2.post(
        gemini_url(config, "gemini-2.5-flash", stream=False), json=GEMINI_BODY, headers=headers
    )
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED"


async def test_an_expired_token_is_refreshed_once_then_succeeds(
    server: SimulatorServer,
    account: ServiceAccount,
    transport: AiohttpTransport,
    config: VertexConfig,
    sim_clock: FakeClock,
    vertex: VertexUpstream,
) -> None:
    own_clock = FakeClock(start=sim_clock.now())
    token_uri = server.base_url("google_vertex_oauth") + "/token"
    source = TokenSource(account, transport, own_clock, token_uri=token_uri)
    stale = await source.token()
    sim_clock.advance(3600)  # the simulator's token has expired; this source's clock says it has not
    url = gemini_url(config, "gemini-2.5-flash", stream=False)
    plain = httpx2.post(url, json=GEMINI_BODY, headers={"authorization": f"Bearer {stale}"}, timeout=10)
    assert plain.status_code == 401 and plain.json()["error"]["status"] == "UNAUTHENTICATED"
    own_clock.advance(1000)  # still within the cached token's life; the next assertion must be current
    response, _ = await _call(source, transport, url, GEMINI_BODY)
    assert response.status == 200
    assert source.exchanges == 2 and vertex.issued == 2
    statuses = [r.path.rsplit(":", 1)[-1] for r in server.sim.received if r.provider == "google_vertex"]
    assert statuses == ["generateContent"] * 3  # the plain call, the refused one, the retry


async def test_a_registered_key_is_checked_and_a_wrong_one_refused(
    server: SimulatorServer,
    account: ServiceAccount,
    rsa_key: rsa.RSAPrivateKey,
    transport: AiohttpTransport,
    sim_clock: FakeClock,
    vertex: VertexUpstream,
) -> None:
    vertex.public_keys[EMAIL] = _public_pem(rsa_key)
    assert (await _source(server, account, transport, sim_clock).token()).startswith("ya29.")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    impostor = validate_service_account({"clientEmail": EMAIL, "privateKey": _pem(other)})
    with pytest.raises(VertexAuthError) as caught:
        await _source(server, impostor, transport, sim_clock).token()
    assert caught.value.code == "vertex_auth_failed" and "invalid_grant" in caught.value.message
    assert "PRIVATE KEY" not in caught.value.message


async def test_an_assertion_outside_its_time_window_is_refused(
    server: SimulatorServer, account: ServiceAccount, transport: AiohttpTransport, sim_clock: FakeClock
) -> None:
    token_uri = server.base_url("google_vertex_oauth") + "/token"
    behind = FakeClock(start=sim_clock.now())
    behind.advance(-7200)
    with pytest.raises(VertexAuthError) as caught:
        await TokenSource(account, transport, behind, token_uri=token_uri).token()
    assert caught.value.code == "vertex_auth_failed"


async def test_scenario_knobs_apply_to_vertex_calls_not_to_the_token_endpoint(
    server: SimulatorServer,
    account: ServiceAccount,
    transport: AiohttpTransport,
    config: VertexConfig,
    sim_clock: FakeClock,
) -> None:
    server.sim.enqueue(Scenario(error_status=429), provider="google_vertex")
    source = _source(server, account, transport, sim_clock)
    response, raw = await _call(
        source, transport, gemini_url(config, "gemini-2.5-flash", stream=False), GEMINI_BODY
    )
    assert response.status == 429 and jsonx.loads(raw)["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert server.sim.pending == 0 and source.exchanges == 1


async def test_the_revoke_token_knob_is_a_401_only_a_new_token_recovers_from(
    server: SimulatorServer,
    account: ServiceAccount,
    transport: AiohttpTransport,
    config: VertexConfig,
    sim_clock: FakeClock,
    vertex: VertexUpstream,
) -> None:
    url = gemini_url(config, "gemini-2.5-flash", stream=False)
    source = _source(server, account, transport, sim_clock)
    first = await source.token()
    server.sim.enqueue(Scenario(revoke_token=True), provider="google_vertex")
    refused = httpx2.post(url, json=GEMINI_BODY, headers={"authorization": f"Bearer {first}"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"
    again = httpx2.post(url, json=GEMINI_BODY, headers={"authorization": f"Bearer {first}"}, timeout=10)
    assert again.status_code == 401  # revoked for good, not just for one call
    source.invalidate(first)
    response, _ = await _call(source, transport, url, GEMINI_BODY)
    assert response.status == 200 and vertex.issued == 2


async def test_two_revocations_in_a_row_are_a_clear_error_after_one_refresh(
    server: SimulatorServer,
    account: ServiceAccount,
    transport: AiohttpTransport,
    config: VertexConfig,
    sim_clock: FakeClock,
    vertex: VertexUpstream,
) -> None:
    for _ in range(2):
        server.sim.enqueue(Scenario(revoke_token=True), provider="google_vertex")
    source = _source(server, account, transport, sim_clock)
    with pytest.raises(VertexAuthError) as caught:
        await _call(source, transport, gemini_url(config, "gemini-2.5-flash", stream=False), GEMINI_BODY)
    assert caught.value.details == {"upstream_status": 401} and EMAIL in caught.value.message
    assert source.exchanges == 2 and vertex.issued == 2  # refreshed exactly once


def test_the_token_uri_goes_with_the_vertex_base_url(server: SimulatorServer) -> None:
    assert vertex_token_uri(server.base_url("google_vertex")) == (
        server.base_url("google_vertex_oauth") + "/token"
    )
