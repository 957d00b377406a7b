"""``GET /v1/me``: who a token is, for ``tollgate login`` and ``whoami``; never the key itself."""

from __future__ import annotations

import httpx2

from tests.support.gateway import ADMIN_TOKEN, Tenant


def me(tenant: Tenant, token: str, workspace: str | None = None) -> httpx2.Response:
    headers = {"authorization": f"Bearer {token}"}
    if workspace:
        headers["x-tollgate-workspace"] = workspace
    return httpx2.get(tenant.url + "/v1/me", headers=headers, timeout=30)


def test_a_key_sees_its_workspace_and_itself_but_not_its_secret(tenant: Tenant) -> None:
    settings = {"settings": {"timeZone": "Europe/Paris"}}
    changed = tenant.admin("PATCH", f"/v1/workspaces/{tenant.workspace_id}", json=settings)
    assert changed.status_code == 200, changed.text
    response = me(tenant, tenant.key)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "kind": "key",
        "workspace": {"id": tenant.workspace_id, "name": "acme", "timeZone": "Europe/Paris"},
        "key": {
            "id": tenant.key_id,
            "name": "app",
            "preview": tenant.key[-4:],
            "scopes": ["proxy", "ingest", "read"],
            "status": "active",
        },
    }
    assert tenant.key not in response.text
    # Naming its own workspace is fine; naming another is not.
    assert me(tenant, tenant.key, tenant.workspace_id).status_code == 200
    other = me(tenant, tenant.key, "ws_someone_else")
    assert other.status_code == 403 and other.json()["error"]["code"] == "wrong_workspace"


def test_any_active_key_may_ask_whatever_its_scopes(tenant: Tenant) -> None:
    minted = tenant.admin("POST", "/v1/keys", json={"name": "ingest-only", "scopes": ["ingest"]})
    assert minted.status_code == 201, minted.text
    response = me(tenant, minted.json()["key"])
    assert response.status_code == 200, response.text
    assert response.json()["key"]["scopes"] == ["ingest"]
    assert response.json()["workspace"]["timeZone"] == "UTC"


def test_the_admin_token_with_and_without_a_workspace(tenant: Tenant) -> None:
    alone = me(tenant, ADMIN_TOKEN)
    assert alone.status_code == 200, alone.text
    assert alone.json() == {"kind": "admin", "workspace": None, "key": None}
    named = me(tenant, ADMIN_TOKEN, tenant.workspace_id)
    assert named.json()["workspace"] == {"id": tenant.workspace_id, "name": "acme", "timeZone": "UTC"}
    missing = me(tenant, ADMIN_TOKEN, "ws_missing")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "workspace_not_found"


def test_bad_revoked_and_missing_tokens_are_refused(tenant: Tenant) -> None:
    assert me(tenant, "tg_not_a_key").json()["error"]["code"] == "invalid_api_key"
    revoked = tenant.admin("POST", "/v1/keys", json={"name": "old"}).json()
    assert tenant.admin("DELETE", f"/v1/keys/{revoked['id']}").status_code == 200
    answer = me(tenant, revoked["key"])
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "revoked_api_key"
    bare = httpx2.get(tenant.url + "/v1/me", timeout=30)
    assert bare.status_code == 401 and bare.json()["error"]["code"] == "missing_api_key"
