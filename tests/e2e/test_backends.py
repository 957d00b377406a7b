"""The whole gateway flow on each storage backend: SQLite and PostgreSQL run the same test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest

from tests.support.databases import BACKENDS, provision_database
from tests.support.gateway import Tenant, make_tenant, running_gateway
from tollgate.testing import Scenario, Simulator, SimulatorServer


@pytest.fixture(params=BACKENDS)
def backend_tenant(
    request: pytest.FixtureRequest, tmp_path: Path, sim_server: SimulatorServer
) -> Iterator[Tenant]:
    database = asyncio.run(provision_database(request.param, tmp_path))
    try:
        with running_gateway(tmp_path / "home", database_url=database.url) as server:
            assert server.ctx.store.dialect == ("postgresql" if request.param == "postgres" else "sqlite")
            yield make_tenant(server, sim_server.root)
    finally:
        asyncio.run(database.cleanup())


def test_calls_are_recorded_and_listed(backend_tenant: Tenant, sim: Simulator) -> None:
    tenant = backend_tenant
    oa = openai.OpenAI(base_url=tenant.url + "/v1", api_key=tenant.key, max_retries=0)
    sim.enqueue(Scenario(cache_read_tokens=256))
    plain = oa.chat.completions.with_raw_response.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "hi"}],
        extra_headers={"x-tollgate-feature": "search"},
    )
    with oa.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    ) as streamed:
        list(streamed.parse())
        streamed_id = streamed.headers["x-tollgate-request-id"]
    claude = anthropic.Anthropic(base_url=tenant.url, api_key=tenant.key, max_retries=0)
    with claude.messages.stream(
        model="claude-haiku-4-5", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        stream.get_final_message()
        claude_id = stream.response.headers["x-tollgate-request-id"]

    first = tenant.record(plain.headers["x-tollgate-request-id"])
    assert first["cacheReadTokens"] == 256 and first["tags"]["feature"] == "search"
    assert first["costUsd"] == plain.headers["x-tollgate-cost"]
    assert tenant.record(streamed_id)["stream"] is True
    assert tenant.record(claude_id)["provider"] == "anthropic"

    listing = tenant.admin("GET", "/v1/requests", params={"limit": 2}).json()
    assert [r["id"] for r in listing["data"]] == [claude_id, streamed_id]  # newest first
    rest = tenant.admin("GET", "/v1/requests", params={"limit": 2, "cursor": listing["nextCursor"]}).json()
    assert [r["id"] for r in rest["data"]] == [plain.headers["x-tollgate-request-id"]]
    assert rest["nextCursor"] is None
    only = tenant.admin("GET", "/v1/requests", params={"provider": "anthropic"}).json()["data"]
    assert [r["id"] for r in only] == [claude_id]
    tagged = tenant.admin("GET", "/v1/requests", params={"feature": "search"}).json()["data"]
    assert len(tagged) == 1


def test_revocation_is_immediate(backend_tenant: Tenant, sim: Simulator) -> None:
    tenant = backend_tenant
    body = {"provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx2.post(tenant.url + "/v1/chat", json=body, headers=tenant.headers()).status_code == 200
    assert tenant.admin("DELETE", f"/v1/keys/{tenant.key_id}").status_code == 200
    refused = httpx2.post(tenant.url + "/v1/chat", json=body, headers=tenant.headers())
    assert refused.status_code == 401
