"""The other commands: migrate, mock-upstream, rotate-master-key."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx2

from tests.support.gateway import PROVIDER_KEY, Tenant, make_tenant, running_gateway
from tests.support.process import free_port
from tollgate.cli.keys import rotate_master_key
from tollgate.core.settings import Settings
from tollgate.services.sealing import new_master_key
from tollgate.testing import SimulatorServer


def run_cli(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    clean.update(TOLLGATE_HOME=str(home), **env)
    return subprocess.run(
        [sys.executable, "-m", "tollgate", *args], capture_output=True, text=True, env=clean, timeout=60
    )


def chat(tenant: Tenant) -> httpx2.Response:
    body = {"provider": "openai", "model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    return httpx2.post(tenant.url + "/v1/chat", json=body, headers=tenant.headers(), timeout=30)


def test_migrate_creates_the_database(tmp_path: Path) -> None:
    result = run_cli("migrate", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stderr
    assert (tmp_path / "tollgate.db").exists()
    again = run_cli("migrate", home=tmp_path)
    assert again.returncode == 0 and again.stderr == result.stderr


def test_mock_upstream_serves_the_simulator(tmp_path: Path) -> None:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOLLGATE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "tollgate", "mock-upstream", "--port", str(port)],
        env=clean,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx2.get(
                    f"http://127.0.0.1:{port}/openai/v1/models", headers={"authorization": "Bearer sk-x"}
                )
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert response.status_code == 200 and response.json()["object"] == "list"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_rotation_reseals_and_a_running_server_follows(tmp_path: Path, sim_server: SimulatorServer) -> None:
    home = tmp_path / "home"
    with running_gateway(home) as server:
        tenant = make_tenant(server, sim_server.root)
        before = (home / "master.key").read_text()
        assert stat.S_IMODE((home / "master.key").stat().st_mode) == 0o600
        rotation = asyncio.run(rotate_master_key(Settings(home=home)))
        assert rotation.resealed == len(tenant.credentials)
        assert (home / "master.key").read_text() != before
        assert (home / "master.key.prev").read_text() == before
        # The running server reloads the keyring on the change and still opens every credential.
        response = chat(tenant)
        assert response.status_code == 200, response.text
        sealed = server.run(server.ctx.store.credentials.list(tenant.workspace_id))
        assert all(c.sealed_secret.split(".")[1] == rotation.new_key_id for c in sealed)
        assert all(PROVIDER_KEY not in c.sealed_secret for c in sealed)
    # A restart with the rotated key file works too.
    with running_gateway(home) as server:
        tenant.server = server
        assert chat(tenant).status_code == 200


def test_rotation_with_an_environment_key_prints_the_new_key(
    tmp_path: Path, sim_server: SimulatorServer
) -> None:
    home = tmp_path / "home"
    old_key = new_master_key()
    with running_gateway(home, master_key=old_key) as server:
        tenant = make_tenant(server, sim_server.root)
    assert not (home / "master.key").exists()
    result = run_cli("rotate-master-key", home=home, TOLLGATE_MASTER_KEY=old_key)
    assert result.returncode == 0, result.stderr
    new_key = result.stdout.strip().splitlines()[-1]
    assert new_key != old_key and len(new_key) >= 43
    # Until the operator swaps the variable, the old key plus master.key.next still open everything.
    with running_gateway(home, master_key=old_key) as server:
        tenant.server = server
        assert chat(tenant).status_code == 200
    with running_gateway(home, master_key=new_key) as server:
        tenant.server = server
        assert chat(tenant).status_code == 200
