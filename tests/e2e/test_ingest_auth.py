"""``POST /api/ingest`` refusals: seed 001's 401s, the ingest scope, the 402 quota seam, the 413 body
limit. No refusal stores anything, and no error body ever holds key material."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.gateway import Tenant, make_tenant, running_gateway
from tollgate.services.ingest_quota import QuotaExceeded
from tollgate.testing import SimulatorServer

EVENT = {"provider": "openai", "model": "gpt-4o-mini", "prompt_tokens": 120, "completion_tokens": 80}


def post(url: str, body: Any = EVENT, **headers: str) -> httpx2.Response:
    return httpx2.post(url + "/api/ingest", json=body, headers=headers, timeout=30)


def stored_count(tenant: Tenant) -> int:
    tenant.server.flush()
    page = tenant.admin("GET", "/v1/requests", params={"limit": 500})
    assert page.status_code == 200, page.text
    return len(page.json()["data"])


def assert_refused(response: httpx2.Response, status: int, error: str, code: str, *secrets: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == error and response.json()["code"] == code
    for secret in secrets:
        assert secret not in response.text


def test_missing_and_invalid_keys_are_401(tenant: Tenant) -> None:
    assert_refused(post(tenant.url), 401, "Missing API key", "missing_api_key")
    assert_refused(post(tenant.url, authorization="Basic abc"), 401, "Missing API key", "missing_api_key")
    made_up = "tg_" + "x" * 40
    assert_refused(
        post(tenant.url, authorization=f"Bearer {made_up}"),
        401,
        "Invalid API key",
        "invalid_api_key",
        made_up,
    )
    assert_refused(
        post(tenant.url, **{"x-api-key": made_up}), 401, "Invalid API key", "invalid_api_key", made_up
    )
    assert stored_count(tenant) == 0


def test_a_deactivated_key_is_refused_on_the_very_next_request_and_works_again_when_reactivated(
    tenant: Tenant,
) -> None:
    assert post(tenant.url, **{"x-api-key": tenant.key}).status_code == 201
    patched = tenant.admin("PATCH", f"/v1/keys/{tenant.key_id}", json={"status": "inactive"})
    assert patched.status_code == 200, patched.text
    refused = post(tenant.url, **{"x-api-key": tenant.key})
    assert_refused(refused, 401, "Inactive API key", "inactive_api_key", tenant.key)
    assert tenant.admin("PATCH", f"/v1/keys/{tenant.key_id}", json={"status": "active"}).status_code == 200
    assert post(tenant.url, **{"x-api-key": tenant.key}).status_code == 201
    assert stored_count(tenant) == 2


def test_a_revoked_key_is_refused_on_the_very_next_request(tenant: Tenant) -> None:
    assert post(tenant.url, authorization=f"Bearer {tenant.key}").status_code == 201
    assert tenant.admin("DELETE", f"/v1/keys/{tenant.key_id}").json()["status"] == "revoked"
    refused = post(tenant.url, authorization=f"Bearer {tenant.key}")
    assert refused.status_code == 401 and tenant.key not in refused.text
    assert (refused.json()["error"], refused.json()["code"]) == ("Revoked API key", "revoked_api_key")
    assert stored_count(tenant) == 1


def test_a_key_without_the_ingest_scope_is_403(tenant: Tenant) -> None:
    created = tenant.admin("POST", "/v1/keys", json={"name": "proxy-only", "scopes": ["proxy"]})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    refused = post(tenant.url, authorization=f"Bearer {key}")
    assert_refused(refused, 403, "this key does not have the ingest scope", "insufficient_scope", key)
    assert stored_count(tenant) == 0


def test_a_body_over_the_limit_is_413(tmp_path: Path, sim_server: SimulatorServer) -> None:
    with running_gateway(tmp_path / "home", max_body_bytes=4096) as server:
        tenant = make_tenant(server, sim_server.root)
        batch = [{**EVENT, "metadata": {"note": "n" * 100}} for _ in range(40)]
        refused = post(tenant.url, batch, authorization=f"Bearer {tenant.key}")
        assert_refused(refused, 413, "Payload too large", "payload_too_large", tenant.key)
        assert "4096" in refused.json()["message"]
        assert post(tenant.url, batch[:5], authorization=f"Bearer {tenant.key}").status_code == 201
        assert stored_count(tenant) == 5


class EventAllowance:
    """A plan quota: a fixed number of events per workspace, then 402 (the spend-control seam)."""

    def __init__(self, events: int) -> None:
        self.left: dict[str, int] = {}
        self.events = events

    async def admit(self, workspace_id: str, events: int) -> None:
        left = self.left.setdefault(workspace_id, self.events)
        if events > left:
            raise QuotaExceeded("Free plan quota exceeded", details={"limit": self.events})
        self.left[workspace_id] = left - events


@pytest.fixture
def quota_tenant(tmp_path: Path, sim_server: SimulatorServer) -> Iterator[Tenant]:
    # The same server as every e2e test, with a quota passed in through create_app's seam.
    with running_gateway(tmp_path / "home", app_options={"ingest_quota": EventAllowance(3)}) as server:
        yield make_tenant(server, sim_server.root)


def test_an_exhausted_quota_is_402_and_stores_nothing_of_the_refused_request(quota_tenant: Tenant) -> None:
    tenant = quota_tenant
    auth = {"authorization": f"Bearer {tenant.key}"}
    assert post(tenant.url, [EVENT, EVENT], **auth).status_code == 201
    refused = post(tenant.url, [EVENT, EVENT], **auth)
    assert_refused(refused, 402, "Free plan quota exceeded", "quota_exceeded", tenant.key)
    assert refused.json()["limit"] == 3
    assert post(tenant.url, EVENT, **auth).status_code == 201
    assert post(tenant.url, EVENT, **auth).status_code == 402
    assert stored_count(tenant) == 3
