"""Management API: workspaces, who may call what, error bodies, and the OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.support.gateway import ADMIN_TOKEN, GatewayServer, Tenant, admin_call, make_tenant
from tollgate.testing import SimulatorServer

CHAT = {"provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def call(
    server: GatewayServer,
    method: str,
    path: str,
    token: str | None,
    *,
    workspace: str | None = None,
    json: Any = None,
) -> httpx2.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    if workspace is not None:
        headers["x-tollgate-workspace"] = workspace
    return httpx2.request(method, server.url + path, headers=headers, json=json, timeout=30)


def chat(server: GatewayServer, key: str) -> httpx2.Response:
    return call(server, "POST", "/v1/chat", key, json=CHAT)


def error_code(response: httpx2.Response) -> str:
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    code: str = body["error"]["code"]
    return code


def new_key(tenant: Tenant, **body: Any) -> dict[str, Any]:
    created = tenant.admin("POST", "/v1/keys", json={"name": "k", **body})
    assert created.status_code == 201, created.text
    data: dict[str, Any] = created.json()
    return data


def test_workspace_crud(gateway: GatewayServer) -> None:
    created = admin_call(gateway, "POST", "/v1/workspaces", json={"name": "  Acme  ", "settings": {"a": 1}})
    assert created.status_code == 201, created.text
    ws = created.json()
    assert ws["id"].startswith("ws_") and ws["name"] == "Acme" and ws["settings"] == {"a": 1}

    other = admin_call(gateway, "POST", "/v1/workspaces", json={"name": "Globex"}).json()
    listed = admin_call(gateway, "GET", "/v1/workspaces").json()
    assert [w["id"] for w in listed["data"]] == [ws["id"], other["id"]]
    assert listed["nextCursor"] is None

    assert admin_call(gateway, "GET", f"/v1/workspaces/{ws['id']}").json() == ws

    patched = admin_call(gateway, "PATCH", f"/v1/workspaces/{ws['id']}", json={"name": "Acme Inc"})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Acme Inc" and patched.json()["settings"] == {"a": 1}
    assert admin_call(gateway, "GET", f"/v1/workspaces/{ws['id']}").json()["name"] == "Acme Inc"

    deleted = admin_call(gateway, "DELETE", f"/v1/workspaces/{ws['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    gone = admin_call(gateway, "GET", f"/v1/workspaces/{ws['id']}")
    assert gone.status_code == 404 and error_code(gone) == "workspace_not_found"
    assert [w["id"] for w in admin_call(gateway, "GET", "/v1/workspaces").json()["data"]] == [other["id"]]
    again = admin_call(gateway, "DELETE", f"/v1/workspaces/{ws['id']}")
    assert again.status_code == 404


def test_workspace_list_pages(gateway: GatewayServer) -> None:
    ids = [
        admin_call(gateway, "POST", "/v1/workspaces", json={"name": f"w{i}"}).json()["id"] for i in range(5)
    ]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = admin_call(gateway, "GET", "/v1/workspaces", params=params).json()
        assert len(page["data"]) <= 2
        seen += [w["id"] for w in page["data"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_request"),
        ({"name": ""}, "invalid_request"),
        ({"name": "   "}, "invalid_name"),
        ({"name": "x", "settings": [1]}, "invalid_request"),
        ({"name": "x", "plan": "gold"}, "invalid_request"),
    ],
)
def test_workspace_create_validation(gateway: GatewayServer, body: dict[str, Any], code: str) -> None:
    response = admin_call(gateway, "POST", "/v1/workspaces", json=body)
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert admin_call(gateway, "GET", "/v1/workspaces").json()["data"] == []


def test_deleting_a_workspace_stops_its_keys_at_once(tenant: Tenant) -> None:
    assert chat(tenant.server, tenant.key).status_code == 200
    admin_key = new_key(tenant, scopes=["admin"])["key"]
    assert admin_call(tenant.server, "DELETE", f"/v1/workspaces/{tenant.workspace_id}").status_code == 204
    refused = chat(tenant.server, tenant.key)
    assert refused.status_code == 401 and error_code(refused) == "revoked_api_key"
    managed = call(tenant.server, "GET", "/v1/keys", admin_key)
    assert managed.status_code == 401
    by_admin = tenant.admin("GET", "/v1/keys")
    assert by_admin.status_code == 404 and error_code(by_admin) == "workspace_not_found"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"authorization": "Bearer tg_not-a-real-key-at-all-000000000000"}, "invalid_api_key"),
        ({"authorization": "Bearer " + ADMIN_TOKEN + "x"}, "invalid_api_key"),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "missing_api_key"),
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/workspaces"),
        ("POST", "/v1/workspaces"),
        ("GET", "/v1/keys"),
        ("GET", "/v1/provider-credentials"),
        ("GET", "/v1/prices"),
        ("GET", "/v1/requests"),
    ],
)
def test_missing_or_garbage_bearer_is_401_json(
    gateway: GatewayServer, headers: dict[str, str], code: str, method: str, path: str
) -> None:
    response = httpx2.request(method, gateway.url + path, headers=headers, json={"name": "x"}, timeout=30)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert error_code(response) == code


@pytest.mark.parametrize("path", ["/v1/keys", "/v1/provider-credentials", "/v1/prices", "/v1/requests"])
def test_admin_token_must_name_the_workspace(gateway: GatewayServer, path: str) -> None:
    response = admin_call(gateway, "GET", path)
    assert response.status_code == 400
    assert error_code(response) == "workspace_required"
    assert "x-tollgate-workspace" in response.json()["error"]["message"]
    unknown = admin_call(gateway, "GET", path, workspace="ws_does_not_exist")
    assert unknown.status_code == 404 and error_code(unknown) == "workspace_not_found"


def test_admin_key_acts_on_its_own_workspace_only(
    gateway: GatewayServer, sim_server: SimulatorServer
) -> None:
    acme = make_tenant(gateway, sim_server.root, "acme")
    globex = make_tenant(gateway, sim_server.root, "globex")
    admin_key = new_key(acme, name="ops", scopes=["admin", "read"])["key"]

    keys = call(gateway, "GET", "/v1/keys", admin_key)
    assert keys.status_code == 200
    assert {k["workspaceId"] for k in keys.json()["data"]} == {acme.workspace_id}
    made = call(gateway, "POST", "/v1/keys", admin_key, json={"name": "from-key"})
    assert made.status_code == 201 and made.json()["workspaceId"] == acme.workspace_id

    for method, path, body in [
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys", {"name": "intruder"}),
        ("GET", "/v1/provider-credentials", None),
        ("GET", "/v1/requests", None),
    ]:
        crossed = call(gateway, method, path, admin_key, workspace=globex.workspace_id, json=body)
        assert crossed.status_code == 403, (path, crossed.text)
        assert error_code(crossed) == "wrong_workspace"
    for method, body in [("GET", None), ("PATCH", {"name": "pwned"}), ("DELETE", None)]:
        crossed = call(gateway, method, f"/v1/workspaces/{globex.workspace_id}", admin_key, json=body)
        assert crossed.status_code == 403, crossed.text
    # Another workspace's objects are invisible even by id.
    other_key = call(gateway, "GET", f"/v1/keys/{globex.key_id}", admin_key)
    assert other_key.status_code == 404 and error_code(other_key) == "key_not_found"
    other_cred = call(gateway, "GET", f"/v1/provider-credentials/{globex.credentials['openai']}", admin_key)
    assert other_cred.status_code == 404
    revoke_other = call(gateway, "DELETE", f"/v1/keys/{globex.key_id}", admin_key)
    assert revoke_other.status_code == 404
    assert chat(gateway, globex.key).status_code == 200
    names = [k["name"] for k in globex.admin("GET", "/v1/keys").json()["data"]]
    assert names == ["app"]
    assert admin_call(gateway, "GET", f"/v1/workspaces/{globex.workspace_id}").json()["name"] == "globex"

    own = call(gateway, "GET", f"/v1/workspaces/{acme.workspace_id}", admin_key)
    assert own.status_code == 200 and own.json()["name"] == "acme"
    renamed = call(
        gateway, "PATCH", f"/v1/workspaces/{acme.workspace_id}", admin_key, json={"name": "Acme 2"}
    )
    assert renamed.status_code == 200 and renamed.json()["name"] == "Acme 2"
    listed = call(gateway, "GET", "/v1/workspaces", admin_key).json()["data"]
    assert [w["id"] for w in listed] == [acme.workspace_id]
    # Creating and deleting workspaces is the bootstrap token's job.
    assert call(gateway, "POST", "/v1/workspaces", admin_key, json={"name": "new"}).status_code == 403
    assert call(gateway, "DELETE", f"/v1/workspaces/{acme.workspace_id}", admin_key).status_code == 403


def test_a_key_without_admin_cannot_manage(tenant: Tenant) -> None:
    plain = tenant.key  # default scopes: proxy, ingest, read
    for method, path, body in [
        ("GET", "/v1/keys", None),
        ("POST", "/v1/keys", {"name": "escalate", "scopes": ["admin"]}),
        ("PATCH", f"/v1/keys/{tenant.key_id}", {"scopes": ["admin"]}),
        ("POST", f"/v1/keys/{tenant.key_id}/rotate", None),
        ("GET", "/v1/provider-credentials", None),
        ("POST", "/v1/provider-credentials", {"provider": "openai", "apiKey": "sk-x"}),
        ("POST", "/v1/prices", {"provider": "openai", "model": "m", "inputPerMTok": 1, "outputPerMTok": 1}),
        ("PATCH", f"/v1/workspaces/{tenant.workspace_id}", {"name": "x"}),
        ("DELETE", f"/v1/workspaces/{tenant.workspace_id}", None),
    ]:
        response = call(tenant.server, method, path, plain, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert error_code(response) in {"insufficient_scope", "wrong_workspace", "admin_token_required"}
    keys = tenant.admin("GET", "/v1/keys").json()["data"]
    assert [(k["name"], k["scopes"]) for k in keys] == [("app", ["proxy", "ingest", "read"])]
    assert (
        tenant.admin("GET", "/v1/provider-credentials", params={"provider": "openai"}).json()["data"][0][
            "last4"
        ]
        == "7777"
    )
    # read is enough to see the workspace itself and its requests.
    assert call(tenant.server, "GET", f"/v1/workspaces/{tenant.workspace_id}", plain).status_code == 200
    assert call(tenant.server, "GET", "/v1/workspaces", plain).json()["data"][0]["id"] == tenant.workspace_id
    assert call(tenant.server, "GET", "/v1/requests", plain).status_code == 200
    # ...and without read, not even that.
    proxy_only = new_key(tenant, scopes=["proxy"])["key"]
    for path in ("/v1/workspaces", f"/v1/workspaces/{tenant.workspace_id}", "/v1/requests", "/v1/prices"):
        assert call(tenant.server, "GET", path, proxy_only).status_code == 403, path


def test_openapi_documents_the_management_api(gateway: GatewayServer) -> None:
    response = httpx2.get(gateway.url + "/openapi.json", timeout=30)
    assert response.status_code == 200
    paths = response.json()["paths"]
    expected = {
        "/v1/workspaces": {"get", "post"},
        "/v1/workspaces/{workspace_id}": {"get", "patch", "delete"},
        "/v1/keys": {"get", "post"},
        "/v1/keys/{key_id}": {"get", "patch", "delete"},
        "/v1/keys/{key_id}/rotate": {"post"},
        "/v1/provider-credentials": {"get", "post"},
        "/v1/provider-credentials/{credential_id}": {"get", "patch", "delete"},
        "/v1/provider-credentials/{credential_id}/test": {"post"},
        "/v1/prices": {"get", "post"},
        "/v1/prices/{price_id}": {"get", "delete"},
        "/v1/requests": {"get"},
        "/v1/requests/{request_id}": {"get"},
    }
    for path, methods in expected.items():
        assert path in paths, path
        assert methods <= set(paths[path]), (path, set(paths[path]))
    schemas = response.json()["components"]["schemas"]
    key_in = schemas["KeyIn"]["properties"]
    assert {"name", "scopes", "allowedProviders", "allowedModels"} <= set(key_in)
    params = {p["name"] for p in paths["/v1/requests"]["get"]["parameters"]}
    assert {"provider", "model", "key", "feature", "status", "from", "to", "limit", "cursor"} <= params
    price_in = schemas["PriceIn"]
    assert {"provider", "model", "inputPerMTok", "outputPerMTok"} <= set(price_in["properties"])
