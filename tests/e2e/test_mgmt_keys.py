"""Management API: gateway keys, from minting to revocation, and what each state does to the next call."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import pytest

from tests.support.gateway import Tenant
from tollgate.testing import Simulator

RAW_KEY = re.compile(r"^tg_[A-Za-z0-9_-]+$")


def chat(tenant: Tenant, key: str, provider: str = "openai", model: str = "gpt-4o-mini") -> httpx2.Response:
    body = {"provider": provider, "model": model, "messages": [{"role": "user", "content": "hi"}]}
    return httpx2.post(
        tenant.url + "/v1/chat", json=body, headers={"authorization": f"Bearer {key}"}, timeout=30
    )


def code_of(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def mint(tenant: Tenant, **body: Any) -> dict[str, Any]:
    created = tenant.admin("POST", "/v1/keys", json={"name": "svc", **body})
    assert created.status_code == 201, created.text
    data: dict[str, Any] = created.json()
    return data


def stored_key(tenant: Tenant, key_id: str) -> Any:
    return tenant.server.run(tenant.server.ctx.store.keys.get(tenant.workspace_id, key_id))


def test_a_new_key_is_shown_once_and_stored_as_a_hash(tenant: Tenant) -> None:
    created = mint(tenant, metadata={"team": "search"})
    raw = created["key"]
    assert RAW_KEY.match(raw), raw
    random_part = base64.urlsafe_b64decode(raw[3:] + "=" * (-len(raw[3:]) % 4))
    assert len(random_part) >= 32
    assert created["id"].startswith("key_") and created["workspaceId"] == tenant.workspace_id
    assert created["preview"] == raw[-4:]
    assert created["scopes"] == ["proxy", "ingest", "read"]
    assert created["status"] == "active" and created["metadata"] == {"team": "search"}
    assert created["allowedProviders"] is None and created["allowedModels"] is None
    assert mint(tenant)["key"] != raw

    one = tenant.admin("GET", f"/v1/keys/{created['id']}")
    listed = tenant.admin("GET", "/v1/keys")
    for response in (one, listed):
        assert response.status_code == 200
        assert raw not in response.text and raw[3:-4] not in response.text
    assert "key" not in one.json() or one.json()["key"] is None
    assert one.json()["preview"] == raw[-4:]
    assert {k["id"] for k in listed.json()["data"]} >= {tenant.key_id, created["id"]}

    row = stored_key(tenant, created["id"])
    assert row.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in repr(row)
    assert chat(tenant, raw).status_code == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"scopes": []}, "invalid_scopes"),
        ({"scopes": ["proxy", "root"]}, "invalid_scopes"),
        ({"name": ""}, "invalid_request"),
        ({"allowedProviders": ["skynet"]}, "provider_not_supported"),
        ({"expiresAt": "next tuesday"}, "invalid_request"),
        ({"expiresAt": "9999-12-31T23:59:59-05:00"}, "invalid_expires_at"),
        ({"key": "tg_choose-my-own-key-please-0000000000000000"}, "invalid_request"),
    ],
)
def test_key_create_validation(tenant: Tenant, body: dict[str, Any], code: str) -> None:
    response = tenant.admin("POST", "/v1/keys", json={"name": "bad", **body})
    assert response.status_code in (400, 422), response.text
    assert code_of(response) == code
    assert [k["name"] for k in tenant.admin("GET", "/v1/keys").json()["data"]] == ["app"]


def test_deactivate_then_reactivate(tenant: Tenant) -> None:
    patched = tenant.admin("PATCH", f"/v1/keys/{tenant.key_id}", json={"status": "inactive"})
    assert patched.status_code == 200 and patched.json()["status"] == "inactive"
    refused = chat(tenant, tenant.key)
    assert refused.status_code == 401 and code_of(refused) == "inactive_api_key"
    back = tenant.admin("PATCH", f"/v1/keys/{tenant.key_id}", json={"status": "active"})
    assert back.status_code == 200 and back.json()["status"] == "active"
    assert chat(tenant, tenant.key).status_code == 200


def test_revoke_is_final_and_immediate(tenant: Tenant) -> None:
    assert chat(tenant, tenant.key).status_code == 200
    revoked = tenant.admin("DELETE", f"/v1/keys/{tenant.key_id}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    refused = chat(tenant, tenant.key)
    assert refused.status_code == 401 and code_of(refused) == "revoked_api_key"
    assert tenant.admin("GET", f"/v1/keys/{tenant.key_id}").json()["status"] == "revoked"
    for method, path, body in [
        ("PATCH", f"/v1/keys/{tenant.key_id}", {"status": "active"}),
        ("POST", f"/v1/keys/{tenant.key_id}/rotate", None),
    ]:
        response = tenant.admin(method, path, json=body)
        assert response.status_code in (400, 409) and code_of(response) == "key_revoked"
    assert chat(tenant, tenant.key).status_code == 401
    assert tenant.admin("DELETE", f"/v1/keys/{tenant.key_id}").json()["status"] == "revoked"
    assert tenant.admin("DELETE", "/v1/keys/key_nope").status_code == 404


def test_rotate_swaps_the_secret_and_keeps_everything_else(tenant: Tenant) -> None:
    original = mint(
        tenant,
        name="billing",
        scopes=["proxy", "read"],
        allowedProviders=["openai", "anthropic"],
        allowedModels=["gpt-4o-mini", "claude-haiku-4-5"],
        metadata={"env": "prod"},
    )
    assert chat(tenant, original["key"]).status_code == 200
    rotated = tenant.admin("POST", f"/v1/keys/{original['id']}/rotate")
    assert rotated.status_code == 200, rotated.text
    fresh = rotated.json()
    assert RAW_KEY.match(fresh["key"]) and fresh["key"] != original["key"]
    assert fresh["preview"] == fresh["key"][-4:]
    for field in ("name", "scopes", "allowedProviders", "allowedModels", "metadata", "workspaceId"):
        assert fresh[field] == original[field], field
    assert fresh["status"] == "active"

    old = chat(tenant, original["key"])
    assert old.status_code == 401 and code_of(old) == "revoked_api_key"
    assert chat(tenant, fresh["key"]).status_code == 200
    assert chat(tenant, fresh["key"], "openai", "gpt-4o").status_code == 403
    assert tenant.admin("GET", f"/v1/keys/{fresh['id']}").json()["allowedModels"] == original["allowedModels"]
    assert fresh["key"] not in tenant.admin("GET", "/v1/keys").text


def test_allowed_providers_and_models_are_enforced(tenant: Tenant, sim: Simulator) -> None:
    only_anthropic = mint(tenant, allowedProviders=["anthropic"])
    refused = chat(tenant, only_anthropic["key"])
    assert refused.status_code == 403 and code_of(refused) == "provider_not_allowed"
    assert chat(tenant, only_anthropic["key"], "anthropic", "claude-haiku-4-5").status_code == 200

    gemini_by_alias = mint(tenant, allowedProviders=["google"])
    assert gemini_by_alias["allowedProviders"] == ["gemini"]
    assert chat(tenant, gemini_by_alias["key"], "gemini", "gemini-2.5-flash").status_code == 200

    key = mint(tenant)
    patched = tenant.admin("PATCH", f"/v1/keys/{key['id']}", json={"allowedModels": ["gpt-4o-mini"]})
    assert patched.status_code == 200 and patched.json()["allowedModels"] == ["gpt-4o-mini"]
    sent = len(sim.received)
    outside = chat(tenant, key["key"], "openai", "gpt-4o")
    assert outside.status_code == 403 and code_of(outside) == "model_not_allowed"
    assert len(sim.received) == sent, "a refused call never reaches the provider"
    assert chat(tenant, key["key"], "openai", "gpt-4o-mini").status_code == 200

    cleared = tenant.admin("PATCH", f"/v1/keys/{key['id']}", json={"allowedModels": None})
    assert cleared.status_code == 200 and cleared.json()["allowedModels"] is None
    assert chat(tenant, key["key"], "openai", "gpt-4o").status_code == 200


def test_scopes_are_enforced(tenant: Tenant) -> None:
    reader = mint(tenant, scopes=["read"])
    refused = chat(tenant, reader["key"])
    assert refused.status_code == 403 and code_of(refused) == "insufficient_scope"
    listing = httpx2.get(
        tenant.url + "/v1/requests", headers={"authorization": f"Bearer {reader['key']}"}, timeout=30
    )
    assert listing.status_code == 200

    proxy_only = mint(tenant, scopes=["proxy"])
    assert chat(tenant, proxy_only["key"]).status_code == 200
    denied = httpx2.get(
        tenant.url + "/v1/requests", headers={"authorization": f"Bearer {proxy_only['key']}"}, timeout=30
    )
    assert denied.status_code == 403 and code_of(denied) == "insufficient_scope"

    narrowed = tenant.admin("PATCH", f"/v1/keys/{tenant.key_id}", json={"scopes": ["read"]})
    assert narrowed.json()["scopes"] == ["read"]
    assert chat(tenant, tenant.key).status_code == 403


def test_expired_key_is_refused(tenant: Tenant) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    expired = mint(tenant, expiresAt=past)
    refused = chat(tenant, expired["key"])
    assert refused.status_code == 401 and code_of(refused) == "expired_api_key"
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    renewed = tenant.admin("PATCH", f"/v1/keys/{expired['id']}", json={"expiresAt": future})
    assert renewed.status_code == 200
    assert chat(tenant, expired["key"]).status_code == 200


@pytest.mark.parametrize(
    ("written", "shown", "works"),
    [
        ("2999-01-01", "2999-01-01T00:00:00Z", True),
        ("2999-01-01T12:00:00", "2999-01-01T12:00:00Z", True),
        ("2999-01-01T12:00:00+02:00", "2999-01-01T10:00:00Z", True),
        ("2001-01-01T00:00:00", "2001-01-01T00:00:00Z", False),
    ],
)
def test_an_expiry_without_a_zone_is_utc(tenant: Tenant, written: str, shown: str, works: bool) -> None:
    created = tenant.admin("POST", "/v1/keys", json={"name": "dated", "expiresAt": written})
    assert created.status_code == 201, created.text
    assert created.json()["expiresAt"] == shown
    assert chat(tenant, created.json()["key"]).status_code == (200 if works else 401)
    patched = tenant.admin("PATCH", f"/v1/keys/{tenant.key_id}", json={"expiresAt": written})
    assert patched.status_code == 200 and patched.json()["expiresAt"] == shown
    assert chat(tenant, tenant.key).status_code == (200 if works else 401)


@pytest.mark.parametrize(
    "body",
    [
        {"name": None},
        {"name": ""},
        {"scopes": None},
        {"scopes": ["superuser"]},
        {"status": None},
        {"status": "revoked"},
        {"metadata": None},
        {"allowedProviders": ["skynet"]},
        {"allowedModels": "gpt-4o"},
        {"key": "tg_x"},
    ],
)
def test_key_patch_validation_changes_nothing(tenant: Tenant, body: dict[str, Any]) -> None:
    before = tenant.admin("GET", f"/v1/keys/{tenant.key_id}").json()
    response = tenant.admin("PATCH", f"/v1/keys/{tenant.key_id}", json=body)
    assert response.status_code in (400, 422), response.text
    assert set(response.json()) == {"error"}
    assert tenant.admin("GET", f"/v1/keys/{tenant.key_id}").json() == before
    assert chat(tenant, tenant.key).status_code == 200
