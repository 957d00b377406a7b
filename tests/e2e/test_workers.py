"""``tollgate serve --workers 2``: real worker processes sharing one home folder."""

from __future__ import annotations

import time
from pathlib import Path

import httpx2

from tests.support.gateway import Tenant, make_tenant
from tests.support.process import ServerProcess
from tollgate.testing import Simulator, SimulatorServer

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def test_two_workers_serve_record_and_revoke_together(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    with ServerProcess(tmp_path / "home", tmp_path / "server.log", workers=2) as server:
        tenant: Tenant = make_tenant(server, sim_server.root)  # type: ignore[arg-type]
        ids = []
        with httpx2.Client(base_url=server.url, headers=tenant.headers(), timeout=30) as client:
            for _ in range(40):
                # A fresh connection per call lets the kernel spread calls over both workers.
                response = httpx2.post(
                    server.url + "/v1/chat/completions", json=BODY, headers=tenant.headers()
                )
                assert response.status_code == 200, response.text
                ids.append(response.headers["x-tollgate-request-id"])
            deadline = time.monotonic() + 20
            while True:
                listing = client.get("/v1/requests", params={"limit": 100}).json()["data"]
                if {r["id"] for r in listing} >= set(ids) or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert {r["id"] for r in listing} >= set(ids), "every call of both workers is recorded"
            journals = list((tmp_path / "home" / "journal").glob("usage-*.jsonl"))
            assert len(journals) == 2, "one journal per worker"
            assert all(j.stat().st_size > 0 for j in journals), "both workers served calls"
        revoked = httpx2.delete(
            f"{server.url}/v1/keys/{tenant.key_id}",
            headers={
                "authorization": f"Bearer {server.env()['TOLLGATE_ADMIN_TOKEN']}",
                "x-tollgate-workspace": tenant.workspace_id,
            },
        )
        assert revoked.status_code == 200
        for _ in range(20):
            refused = httpx2.post(server.url + "/v1/chat/completions", json=BODY, headers=tenant.headers())
            assert refused.status_code == 401, "every worker refuses the revoked key at once"


def test_two_workers_without_redis_never_pass_a_limit_together(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    """Without Redis each worker counts alone, so each enforces half of every limit."""
    with ServerProcess(tmp_path / "home", tmp_path / "server.log", workers=2) as server:
        tenant: Tenant = make_tenant(server, sim_server.root)  # type: ignore[arg-type]
        patched = tenant.admin("PATCH", f"/v1/keys/{tenant.key_id}", json={"limits": {"requestsPerDay": 6}})
        assert patched.status_code == 200, patched.text
        statuses = [
            httpx2.post(server.url + "/v1/chat/completions", json=BODY, headers=tenant.headers()).status_code
            for _ in range(30)
        ]
        assert statuses.count(200) <= 6, statuses
        assert statuses.count(200) >= 3 and set(statuses) == {200, 429}
        journals = list((tmp_path / "home" / "journal").glob("usage-*.jsonl"))
        assert len(journals) == 2 and all(j.stat().st_size > 0 for j in journals), "both workers served calls"
