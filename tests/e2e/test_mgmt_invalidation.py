"""A change made through one instance is in force on the very next request to every other instance.

Two gateway servers share a home folder and a database, as two workers (or two instances on one
host) do. Nothing here sleeps or retries: the first request after the change must see it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.databases import BACKENDS, provision_database
from tests.support.gateway import GatewayServer, Tenant, admin_call, make_tenant, running_gateway
from tollgate.testing import Simulator, SimulatorServer

CHAT = {"provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def chat(server: GatewayServer, key: str, **headers: str) -> httpx2.Response:
    return httpx2.post(
        server.url + "/v1/chat",
        json=CHAT,
        headers={"authorization": f"Bearer {key}", **headers},
        timeout=30,
    )


def code_of(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    db = asyncio.run(provision_database(request.param, tmp_path))
    try:
        yield db.url
    finally:
        asyncio.run(db.cleanup())


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[tuple[GatewayServer, GatewayServer]]:
    home = tmp_path / "home"
    with (
        running_gateway(home, database_url=database_url) as a,
        running_gateway(home, database_url=database_url) as b,
    ):
        yield a, b


@pytest.fixture
def shared(pair: tuple[GatewayServer, GatewayServer], sim_server: SimulatorServer, sim: Simulator) -> Tenant:
    a, b = pair
    tenant = make_tenant(a, sim_server.root)
    # B has served this key before the change, so it holds the key in its memory.
    assert chat(b, tenant.key).status_code == 200
    return tenant


def test_revoke_on_a_is_refused_by_b(pair: tuple[GatewayServer, GatewayServer], shared: Tenant) -> None:
    a, b = pair
    assert (
        admin_call(a, "DELETE", f"/v1/keys/{shared.key_id}", workspace=shared.workspace_id).status_code == 200
    )
    refused = chat(b, shared.key)
    assert refused.status_code == 401 and code_of(refused) == "revoked_api_key"


def test_deactivate_and_reactivate_across_instances(
    pair: tuple[GatewayServer, GatewayServer], shared: Tenant
) -> None:
    a, b = pair
    path = f"/v1/keys/{shared.key_id}"
    admin_call(a, "PATCH", path, workspace=shared.workspace_id, json={"status": "inactive"})
    refused = chat(b, shared.key)
    assert refused.status_code == 401 and code_of(refused) == "inactive_api_key"
    admin_call(b, "PATCH", path, workspace=shared.workspace_id, json={"status": "active"})
    assert chat(a, shared.key).status_code == 200


def test_rotate_on_a_swaps_the_key_on_b(pair: tuple[GatewayServer, GatewayServer], shared: Tenant) -> None:
    a, b = pair
    rotated = admin_call(a, "POST", f"/v1/keys/{shared.key_id}/rotate", workspace=shared.workspace_id)
    assert rotated.status_code == 200
    assert chat(b, shared.key).status_code == 401
    assert chat(b, rotated.json()["key"]).status_code == 200


def test_a_key_minted_on_a_works_on_b_at_once(
    pair: tuple[GatewayServer, GatewayServer], shared: Tenant
) -> None:
    a, b = pair
    minted = admin_call(a, "POST", "/v1/keys", workspace=shared.workspace_id, json={"name": "new"})
    assert chat(b, minted.json()["key"]).status_code == 200


def test_deleting_the_workspace_on_a_stops_its_keys_on_b(
    pair: tuple[GatewayServer, GatewayServer], shared: Tenant
) -> None:
    a, b = pair
    assert admin_call(a, "DELETE", f"/v1/workspaces/{shared.workspace_id}").status_code == 204
    assert chat(b, shared.key).status_code == 401


def test_credential_changes_on_a_steer_calls_on_b(
    pair: tuple[GatewayServer, GatewayServer], shared: Tenant, sim: Simulator, sim_server: SimulatorServer
) -> None:
    a, b = pair
    cred = f"/v1/provider-credentials/{shared.credentials['openai']}"
    ws = shared.workspace_id
    # Point openai at the simulator's OpenAI-compatible path instead: the next call on B goes there.
    moved = admin_call(
        a, "PATCH", cred, workspace=ws, json={"config": {"baseUrl": sim_server.root + "/compat/v1"}}
    )
    assert moved.status_code == 200, moved.text
    assert chat(b, shared.key).status_code == 200
    assert sim.received[-1].path == "/compat/v1/chat/completions"

    resealed = admin_call(a, "PATCH", cred, workspace=ws, json={"apiKey": "sk-sim-rotated-provider-key-4242"})
    assert resealed.json()["last4"] == "4242"
    assert chat(b, shared.key).status_code == 200
    assert sim.received[-1].headers["authorization"] == "Bearer sk-sim-rotated-provider-key-4242"

    admin_call(a, "PATCH", cred, workspace=ws, json={"status": "inactive"})
    missing = chat(b, shared.key)
    assert missing.status_code == 400 and code_of(missing) == "provider_credential_required"

    admin_call(a, "PATCH", cred, workspace=ws, json={"status": "active"})
    assert chat(b, shared.key).status_code == 200
    assert admin_call(a, "DELETE", cred, workspace=ws).status_code == 204
    assert code_of(chat(b, shared.key)) == "provider_credential_required"


def test_price_override_on_a_prices_calls_on_b(
    pair: tuple[GatewayServer, GatewayServer], shared: Tenant
) -> None:
    a, b = pair
    before = chat(b, shared.key)
    body: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "inputPerMTok": "0",
        "outputPerMTok": "0",
    }
    price = admin_call(a, "POST", "/v1/prices", workspace=shared.workspace_id, json=body)
    assert price.status_code == 201, price.text
    free = chat(b, shared.key)
    assert float(before.headers["x-tollgate-cost"]) > 0
    assert float(free.headers["x-tollgate-cost"]) == 0
    admin_call(a, "DELETE", f"/v1/prices/{price.json()['id']}", workspace=shared.workspace_id)
    assert chat(b, shared.key).headers["x-tollgate-cost"] == before.headers["x-tollgate-cost"]
