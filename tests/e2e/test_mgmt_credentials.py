"""Management API: provider credentials (seed 002's strict BYOK), sealed at rest, and ``/test``."""

from __future__ import annotations

import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.gateway import PROVIDER_KEY, GatewayServer, Tenant, make_tenant, running_gateway
from tollgate.services.sealing import key_id, load_keyring, new_master_key, parse_master_key
from tollgate.testing import Simulator, SimulatorServer

BACKUP_KEY = "sk-sim-backup-provider-key-2468"
CHAT = {"provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def chat(tenant: Tenant, **headers: str) -> httpx2.Response:
    return httpx2.post(tenant.url + "/v1/chat", json=CHAT, headers=tenant.headers(**headers), timeout=30)


def code_of(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def add(tenant: Tenant, **body: Any) -> httpx2.Response:
    return tenant.admin("POST", "/v1/provider-credentials", json=body)


def stored(server: GatewayServer, workspace_id: str, credential_id: str) -> Any:
    return server.run(server.ctx.store.credentials.get(workspace_id, credential_id))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_reads_show_last4_and_never_the_secret(tenant: Tenant, sim_server: SimulatorServer) -> None:
    created = add(
        tenant,
        provider="openai",
        name="backup",
        apiKey=BACKUP_KEY,
        config={"baseUrl": sim_server.root + "/openai/v1/", "organization": "org-1"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("pc_") and body["provider"] == "openai" and body["name"] == "backup"
    assert body["last4"] == "2468" and body["isDefault"] is False and body["status"] == "active"
    assert body["config"] == {"baseUrl": sim_server.root + "/openai/v1", "organization": "org-1"}
    assert not {"apiKey", "secrets", "sealedSecret"} & set(body)
    reads = [
        created,
        tenant.admin("GET", f"/v1/provider-credentials/{body['id']}"),
        tenant.admin("GET", "/v1/provider-credentials"),
        tenant.admin("GET", "/v1/provider-credentials", params={"provider": "openai"}),
    ]
    for response in reads:
        assert response.status_code in (200, 201)
        assert BACKUP_KEY not in response.text and PROVIDER_KEY not in response.text
        assert BACKUP_KEY[:-4] not in response.text
    listed = reads[2].json()["data"]
    assert len(listed) == len(tenant.credentials) + 1
    # A secrets bundle previews its identity instead (Vertex's client email, Bedrock's access key id).
    bundles = {"google_vertex", "aws_bedrock"}
    assert {c["last4"] for c in listed if c["provider"] not in bundles} == {"7777", "2468"}
    openai_only = reads[3].json()["data"]
    assert [(c["name"], c["isDefault"]) for c in openai_only] == [("backup", False), ("default", True)]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"provider": "openai", "apiKey": "sk-a", "secrets": {"x": "y"}}, 400, "invalid_provider_secrets"),
        ({"provider": "openai", "secrets": {"accessKeyId": "a"}}, 400, "invalid_provider_secrets"),
        ({"provider": "openai", "apiKey": ""}, 400, "invalid_api_key"),
        ({"provider": "openai", "apiKey": "   "}, 400, "invalid_api_key"),
        ({"provider": "openai", "apiKey": 12345678}, 400, "invalid_api_key"),
        ({"provider": "openai"}, 400, "invalid_api_key"),
        ({"provider": "skynet", "apiKey": "sk-a"}, 422, "provider_not_supported"),
        ({"provider": "", "apiKey": "sk-a"}, 422, "provider_not_supported"),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "ftp://x.example"}},
            400,
            "invalid_base_url",
        ),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "file:///etc/passwd"}},
            400,
            "invalid_base_url",
        ),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "not a url"}},
            400,
            "invalid_base_url",
        ),
        ({"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": ""}}, 400, "invalid_base_url"),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "https://u:p@api.example/v1"}},
            400,
            "invalid_base_url",
        ),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "http://[::1"}},
            400,
            "invalid_base_url",
        ),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "http://127.0.0.1:99999/v1"}},
            400,
            "invalid_base_url",
        ),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "http://host:port/v1"}},
            400,
            "invalid_base_url",
        ),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "https://exa mple.com/v1"}},
            400,
            "invalid_base_url",
        ),
        (
            {"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": "http://h/v1\nx"}},
            400,
            "invalid_base_url",
        ),
        ({"provider": "openai", "apiKey": "sk-a", "config": {"baseUrl": 5}}, 400, "invalid_base_url"),
        ({"provider": "openai_compatible", "apiKey": "sk-a"}, 400, "invalid_base_url"),
        ({"provider": "openai_compatible", "apiKey": "sk-a", "config": {}}, 400, "invalid_base_url"),
        ({"provider": "openai", "apiKey": "sk-a", "config": {"apiKey": "sk-b"}}, 400, "invalid_config"),
        ({"provider": "openai", "apiKey": "sk-a", "config": "https://x"}, 400, "invalid_config"),
        ({"provider": "openai", "apiKey": "sk-a", "name": "n" * 101}, 400, "invalid_name"),
        ({"provider": "openai", "apiKey": "sk-a", "vault": "x"}, 400, "invalid_request"),
    ],
)
def test_seed_002_validation(tenant: Tenant, body: dict[str, Any], status: int, code: str) -> None:
    before = tenant.admin("GET", "/v1/provider-credentials").json()
    response = add(tenant, **{"name": "new", **body})
    assert response.status_code == status, response.text
    assert code_of(response) == code
    assert "sk-a" not in response.text and "sk-b" not in response.text
    assert tenant.admin("GET", "/v1/provider-credentials").json() == before


def test_duplicate_name_is_a_conflict(tenant: Tenant, sim_server: SimulatorServer) -> None:
    again = add(
        tenant, provider="openai", apiKey=BACKUP_KEY, config={"baseUrl": sim_server.root + "/openai/v1"}
    )
    assert again.status_code == 409 and code_of(again) == "credential_exists"
    named = add(tenant, provider="openai", name="b", apiKey=BACKUP_KEY)
    assert named.status_code == 201
    renamed = tenant.admin(
        "PATCH", f"/v1/provider-credentials/{named.json()['id']}", json={"name": "default"}
    )
    assert renamed.status_code == 409 and code_of(renamed) == "credential_exists"
    # The same name under another provider is fine.
    assert add(tenant, provider="mistral", name="b", apiKey=BACKUP_KEY).status_code == 201


def test_the_sealed_value_is_bound_to_its_row_and_names_the_master_key(
    gateway: GatewayServer, sim_server: SimulatorServer, sim: Simulator
) -> None:
    acme = make_tenant(gateway, sim_server.root, "acme")
    globex = make_tenant(gateway, sim_server.root, "globex")
    key_file = gateway.settings.home / "master.key"
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    master_id = key_id(parse_master_key(key_file.read_text()))

    row = stored(gateway, acme.workspace_id, acme.credentials["openai"])
    assert PROVIDER_KEY not in row.sealed_secret and PROVIDER_KEY[:-4] not in row.sealed_secret
    assert row.sealed_secret.split(".")[:2] == ["tgs1", master_id]
    assert row.last4 == PROVIDER_KEY[-4:]
    other = stored(gateway, globex.workspace_id, globex.credentials["openai"])
    assert other.sealed_secret != row.sealed_secret  # same secret, fresh nonce and other binding

    # Copy acme's sealed secret onto globex's row: it must not open there.
    gateway.run(
        gateway.ctx.store.credentials.update(
            globex.workspace_id, other.id, updated_at=other.updated_at, sealed_secret=row.sealed_secret
        )
    )
    gateway.run(gateway.ctx.state.changed())
    sent = len(sim.received)
    refused = chat(globex)
    assert refused.status_code >= 400
    assert len(sim.received) == sent, "nothing was sent upstream with a secret that did not open"
    assert PROVIDER_KEY not in refused.text
    assert chat(acme).status_code == 200


def test_an_environment_master_key_is_used_and_no_key_file_written(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    master = new_master_key()
    with running_gateway(tmp_path / "home", master_key=master) as server:
        tenant = make_tenant(server, sim_server.root)
        assert chat(tenant).status_code == 200
        row = stored(server, tenant.workspace_id, tenant.credentials["openai"])
        assert row.sealed_secret.split(".")[1] == key_id(parse_master_key(master))
    assert not (tmp_path / "home" / "master.key").exists()


def test_patch_api_key_reseals(tenant: Tenant, sim: Simulator) -> None:
    cred_id = tenant.credentials["openai"]
    before = stored(tenant.server, tenant.workspace_id, cred_id).sealed_secret
    patched = tenant.admin("PATCH", f"/v1/provider-credentials/{cred_id}", json={"apiKey": BACKUP_KEY})
    assert patched.status_code == 200 and patched.json()["last4"] == "2468"
    assert BACKUP_KEY not in patched.text
    after = stored(tenant.server, tenant.workspace_id, cred_id).sealed_secret
    assert after != before and BACKUP_KEY not in after
    assert chat(tenant).status_code == 200
    assert sim.received[-1].headers["authorization"] == f"Bearer {BACKUP_KEY}"

    config_only = tenant.admin("PATCH", f"/v1/provider-credentials/{cred_id}", json={"name": "primary"})
    assert config_only.json()["last4"] == "2468"
    assert stored(tenant.server, tenant.workspace_id, cred_id).sealed_secret == after

    for bad, code in [({"apiKey": ""}, "invalid_api_key"), ({"apiKey": None}, "invalid_api_key")]:
        response = tenant.admin("PATCH", f"/v1/provider-credentials/{cred_id}", json=bad)
        assert response.status_code == 400 and code_of(response) == code
    assert stored(tenant.server, tenant.workspace_id, cred_id).sealed_secret == after


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"provider": "anthropic"}, "invalid_request"),
        ({"config": {"baseUrl": "gopher://x"}}, "invalid_base_url"),
        ({"apiKey": "sk-a", "secrets": {"a": "b"}}, "invalid_provider_secrets"),
        ({"status": "deleted"}, "invalid_request"),
        ({"name": ""}, "invalid_name"),
    ],
)
def test_patch_validation_changes_nothing(tenant: Tenant, body: dict[str, Any], code: str) -> None:
    path = f"/v1/provider-credentials/{tenant.credentials['openai']}"
    before = tenant.admin("GET", path).json()
    response = tenant.admin("PATCH", path, json=body)
    assert response.status_code == 400 and code_of(response) == code, response.text
    assert tenant.admin("GET", path).json() == before
    assert chat(tenant).status_code == 200


def test_default_and_named_credentials_choose_the_key(
    tenant: Tenant, sim: Simulator, sim_server: SimulatorServer
) -> None:
    backup = add(
        tenant,
        provider="openai",
        name="backup",
        apiKey=BACKUP_KEY,
        config={"baseUrl": sim_server.root + "/openai/v1"},
    ).json()

    def used_key(**headers: str) -> str:
        response = chat(tenant, **headers)
        assert response.status_code == 200, response.text
        return sim.received[-1].headers["authorization"].removeprefix("Bearer ")

    assert used_key() == PROVIDER_KEY
    assert used_key(**{"x-tollgate-credential": "backup"}) == BACKUP_KEY
    switched = tenant.admin("PATCH", f"/v1/provider-credentials/{backup['id']}", json={"isDefault": True})
    assert switched.json()["isDefault"] is True
    first = tenant.admin("GET", f"/v1/provider-credentials/{tenant.credentials['openai']}").json()
    assert first["isDefault"] is False
    assert used_key() == BACKUP_KEY
    assert used_key(**{"x-tollgate-credential": "default"}) == PROVIDER_KEY

    unknown = chat(tenant, **{"x-tollgate-credential": "nope"})
    assert unknown.status_code == 400 and code_of(unknown) == "provider_credential_required"

    # A third credential created as the default takes over; deleting it hands back to another.
    third = add(tenant, provider="openai", name="third", apiKey="sk-sim-third-key-1357", isDefault=True)
    assert third.status_code == 201 and third.json()["isDefault"] is True
    assert tenant.admin("GET", f"/v1/provider-credentials/{backup['id']}").json()["isDefault"] is False
    assert tenant.admin("DELETE", f"/v1/provider-credentials/{third.json()['id']}").status_code == 204
    assert used_key() in {PROVIDER_KEY, BACKUP_KEY}
    assert tenant.admin("GET", f"/v1/provider-credentials/{third.json()['id']}").status_code == 404


def test_no_credential_means_provider_credential_required(tenant: Tenant, sim: Simulator) -> None:
    for cred_id in tenant.credentials.values():
        assert tenant.admin("DELETE", f"/v1/provider-credentials/{cred_id}").status_code == 204
    sent = len(sim.received)
    response = chat(tenant)
    assert response.status_code == 400 and code_of(response) == "provider_credential_required"
    assert len(sim.received) == sent
    assert tenant.admin("GET", "/v1/provider-credentials").json()["data"] == []
    assert (
        tenant.admin("DELETE", f"/v1/provider-credentials/{tenant.credentials['openai']}").status_code == 404
    )


@pytest.mark.parametrize(
    "provider", ["openai", "anthropic", "gemini", "mistral", "deepseek", "openai_compatible"]
)
def test_check_passes_against_the_simulator(tenant: Tenant, provider: str) -> None:
    response = tenant.admin("POST", f"/v1/provider-credentials/{tenant.credentials[provider]}/test")
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["ok"] is True and result["provider"] == provider and result["status"] == 200
    assert result["reason"] is None and result["latencyMs"] >= 0
    assert PROVIDER_KEY not in response.text


@pytest.fixture
def strict_sim() -> Iterator[SimulatorServer]:
    """A simulator that accepts one key only."""
    with SimulatorServer(Simulator(valid_keys={PROVIDER_KEY})) as server:
        yield server


@pytest.mark.parametrize(
    ("provider", "path"), [("openai", "/openai/v1"), ("anthropic", "/anthropic"), ("gemini", "/gemini")]
)
def test_check_explains_a_refused_key(
    tenant: Tenant, strict_sim: SimulatorServer, provider: str, path: str
) -> None:
    wrong = "sk-sim-wrong-key-that-the-provider-refuses-9999"
    created = add(
        tenant, provider=provider, name="wrong", apiKey=wrong, config={"baseUrl": strict_sim.root + path}
    )
    response = tenant.admin("POST", f"/v1/provider-credentials/{created.json()['id']}/test")
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False and result["status"] == 401
    assert "rejected the key" in result["reason"]
    assert wrong not in response.text and wrong[:-4] not in response.text
    good = add(
        tenant,
        provider=provider,
        name="good",
        apiKey=PROVIDER_KEY,
        config={"baseUrl": strict_sim.root + path},
    )
    assert tenant.admin("POST", f"/v1/provider-credentials/{good.json()['id']}/test").json()["ok"] is True


def test_check_explains_a_wrong_base_url_and_an_unreachable_host(
    tenant: Tenant, sim_server: SimulatorServer
) -> None:
    secret = "sk-sim-never-shown-in-a-check-5555"
    wrong_path = add(
        tenant,
        provider="openai",
        name="wrong-path",
        apiKey=secret,
        config={"baseUrl": sim_server.root + "/nowhere/v1"},
    ).json()
    result = tenant.admin("POST", f"/v1/provider-credentials/{wrong_path['id']}/test").json()
    assert result["ok"] is False and result["status"] == 404 and "baseUrl" in result["reason"]

    port = closed_port()
    dead = add(
        tenant,
        provider="openai",
        name="dead",
        apiKey=secret,
        config={"baseUrl": f"http://127.0.0.1:{port}/v1"},
    ).json()
    response = tenant.admin("POST", f"/v1/provider-credentials/{dead['id']}/test")
    assert response.status_code == 200
    result = response.json()
    assert result["ok"] is False and result["status"] is None
    assert "reach" in result["reason"] and "127.0.0.1" in result["reason"]
    assert secret not in response.text
    missing = tenant.admin("POST", "/v1/provider-credentials/pc_nope/test")
    assert missing.status_code == 404 and code_of(missing) == "credential_not_found"


def test_workers_starting_together_agree_on_one_master_key(tmp_path: Path) -> None:
    """``--workers N`` on a fresh home: every worker must end up with the same generated key."""
    home = tmp_path / "home"
    workers = 16
    barrier = threading.Barrier(workers)
    ids: list[str] = []

    def start() -> None:
        barrier.wait()
        ids.append(load_keyring(home, None).current_id)

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    on_disk = key_id(parse_master_key((home / "master.key").read_text()))
    assert ids == [on_disk] * workers
    assert [p.name for p in home.iterdir()] == ["master.key"], "no temp file is left behind"


def test_credentials_on_each_backend(
    backend_tenant: Tenant, sim: Simulator, sim_server: SimulatorServer
) -> None:
    tenant = backend_tenant
    server = tenant.server
    base = {"baseUrl": sim_server.root + "/openai/v1"}
    backup = add(tenant, provider="openai", name="backup", apiKey=BACKUP_KEY, config=base)
    assert backup.status_code == 201
    row = stored(server, tenant.workspace_id, backup.json()["id"])
    assert BACKUP_KEY not in row.sealed_secret and row.sealed_secret.startswith("tgs1.")

    duplicate = add(tenant, provider="openai", name="backup", apiKey=BACKUP_KEY, config=base)
    assert duplicate.status_code == 409 and code_of(duplicate) == "credential_exists"

    switched = tenant.admin(
        "PATCH", f"/v1/provider-credentials/{backup.json()['id']}", json={"isDefault": True}
    )
    assert switched.status_code == 200
    defaults = [
        c["name"]
        for c in tenant.admin("GET", "/v1/provider-credentials").json()["data"]
        if c["provider"] == "openai" and c["isDefault"]
    ]
    assert defaults == ["backup"]
    assert chat(tenant).status_code == 200
    assert sim.received[-1].headers["authorization"] == f"Bearer {BACKUP_KEY}"

    resealed = tenant.admin(
        "PATCH", f"/v1/provider-credentials/{backup.json()['id']}", json={"apiKey": PROVIDER_KEY}
    )
    assert resealed.json()["last4"] == PROVIDER_KEY[-4:]
    assert stored(server, tenant.workspace_id, backup.json()["id"]).sealed_secret != row.sealed_secret
    assert chat(tenant).status_code == 200
    assert sim.received[-1].headers["authorization"] == f"Bearer {PROVIDER_KEY}"
