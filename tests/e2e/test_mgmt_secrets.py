"""No secret leaves tollgate: not in a read, a request record, a header, a log line, or a file at rest.

One scenario exercises every path a secret travels (credential create/patch/test, key
create/rotate/revoke, successful, refused and failed calls), then everything observable is
searched for every provider key and every raw gateway key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.gateway import (
    PROVIDER_KEY,
    GatewayServer,
    Tenant,
    admin_call,
    make_tenant,
    running_gateway,
)
from tollgate.core.logging import JsonFormatter
from tollgate.testing import Scenario, Simulator, SimulatorServer

ANTHROPIC_KEY = "sk-ant-sim-secondary-secret-AAAA1111"
ROTATED_PROVIDER_KEY = "sk-sim-rotated-provider-secret-BBBB2222"
WRONG_PROVIDER_KEY = "sk-sim-refused-provider-secret-CCCC3333"
CLIENT_LOGGERS = ("httpx", "httpcore", "httpx2", "openai", "anthropic")


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def server_log() -> Iterator[Collect]:
    """What ``tollgate serve`` writes: everything that reaches the root logger, at every level."""
    root = logging.getLogger()
    handler = Collect()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


@pytest.fixture
def chatty_gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    with running_gateway(tmp_path / "home", access_log=True) as server:
        yield server


@pytest.fixture
def strict_sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(Simulator(valid_keys={PROVIDER_KEY, ROTATED_PROVIDER_KEY, ANTHROPIC_KEY})) as server:
        yield server


def chat(
    server: GatewayServer, key: str, provider: str = "openai", model: str = "gpt-4o-mini", **headers: str
) -> httpx2.Response:
    body = {"provider": provider, "model": model, "messages": [{"role": "user", "content": "secret?"}]}
    return httpx2.post(
        server.url + "/v1/chat", json=body, headers={"authorization": f"Bearer {key}", **headers}, timeout=30
    )


def scenario(
    tenant: Tenant, sim: Simulator, strict: SimulatorServer
) -> tuple[list[httpx2.Response], list[str]]:
    """Run everything; the responses seen along the way and every raw gateway key minted."""
    seen: list[httpx2.Response] = []
    ws = tenant.workspace_id

    def admin(method: str, path: str, **kwargs: Any) -> httpx2.Response:
        response = tenant.admin(method, path, **kwargs)
        seen.append(response)
        return response

    second = admin(
        "POST",
        "/v1/provider-credentials",
        json={
            "provider": "anthropic",
            "name": "team-b",
            "apiKey": ANTHROPIC_KEY,
            "config": {"baseUrl": strict.root + "/anthropic"},
        },
    ).json()
    refused = admin(
        "POST",
        "/v1/provider-credentials",
        json={
            "provider": "openai",
            "name": "refused",
            "apiKey": WRONG_PROVIDER_KEY,
            "config": {"baseUrl": strict.root + "/openai/v1"},
        },
    ).json()
    admin(
        "PATCH",
        f"/v1/provider-credentials/{tenant.credentials['mistral']}",
        json={"apiKey": ROTATED_PROVIDER_KEY},
    )
    for cred in (second["id"], refused["id"], tenant.credentials["openai"], tenant.credentials["mistral"]):
        admin("POST", f"/v1/provider-credentials/{cred}/test")

    raw_keys = [tenant.key]
    ops = admin("POST", "/v1/keys", json={"name": "ops", "scopes": ["admin", "read", "proxy"]}).json()
    raw_keys.append(ops["key"])
    rotated = admin("POST", f"/v1/keys/{ops['id']}/rotate").json()
    raw_keys.append(rotated["key"])
    doomed = admin("POST", "/v1/keys", json={"name": "doomed"}).json()
    raw_keys.append(doomed["key"])
    admin("DELETE", f"/v1/keys/{doomed['id']}")

    seen.append(chat(tenant.server, tenant.key))
    seen.append(
        chat(
            tenant.server,
            rotated["key"],
            "anthropic",
            "claude-haiku-4-5",
            **{"x-tollgate-credential": "team-b"},
        )
    )
    seen.append(chat(tenant.server, tenant.key, "mistral", "mistral-small-latest"))
    seen.append(chat(tenant.server, tenant.key, **{"x-tollgate-credential": "refused"}))  # upstream 401
    sim.enqueue(Scenario(error_status=500), provider="openai")
    seen.append(chat(tenant.server, tenant.key))
    seen.append(chat(tenant.server, doomed["key"]))  # revoked
    seen.append(chat(tenant.server, ops["key"]))  # rotated away
    gemini = httpx2.post(  # the gateway key in Gemini's query parameter
        tenant.url + "/api/proxy/gemini/v1beta/models/gemini-2.5-flash:generateContent",
        params={"key": tenant.key},
        json={"contents": [{"parts": [{"text": "hi"}]}]},
        timeout=30,
    )
    seen.append(gemini)
    assert gemini.status_code == 200, gemini.text
    assert seen[-3].status_code == 401 and seen[-2].status_code == 401
    tenant.server.flush()

    reads = [
        ("GET", "/v1/keys"),
        ("GET", f"/v1/keys/{rotated['id']}"),
        ("GET", f"/v1/keys/{ops['id']}"),
        ("GET", "/v1/provider-credentials"),
        ("GET", f"/v1/provider-credentials/{second['id']}"),
        ("GET", f"/v1/provider-credentials/{tenant.credentials['mistral']}"),
        ("GET", "/v1/requests"),
        ("GET", f"/v1/workspaces/{ws}"),
        ("GET", "/v1/prices"),
    ]
    for method, path in reads:
        assert admin(method, path).status_code == 200
    records = tenant.admin("GET", "/v1/requests", params={"limit": 500}).json()["data"]
    assert len(records) >= 6
    for record in records:
        assert admin("GET", f"/v1/requests/{record['id']}").status_code == 200
    seen.append(httpx2.get(tenant.url + "/openapi.json", timeout=30))
    seen.append(
        httpx2.get(tenant.url + "/v1/keys", headers={"authorization": f"Bearer {rotated['key']}"}, timeout=30)
    )
    return seen, raw_keys


def leaks(text: str, secrets: list[str]) -> list[str]:
    # The full secret, or all of it but the last four characters (what a preview may show).
    return [s for s in secrets if s in text or s[:-4] in text]


def test_no_secret_appears_anywhere(
    chatty_gateway: GatewayServer,
    sim_server: SimulatorServer,
    sim: Simulator,
    strict_sim: SimulatorServer,
    server_log: Collect,
) -> None:
    tenant = make_tenant(chatty_gateway, sim_server.root)
    responses, raw_keys = scenario(tenant, sim, strict_sim)
    provider_keys = [PROVIDER_KEY, ANTHROPIC_KEY, ROTATED_PROVIDER_KEY, WRONG_PROVIDER_KEY]

    for response in responses:
        where = f"{response.request.method} {response.request.url.path}"
        headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        assert not leaks(response.text + headers, provider_keys), where
        minted_here = response.request.url.path.startswith("/v1/keys") and response.request.method == "POST"
        if not minted_here:  # create and rotate answers carry their own raw key, once
            assert not leaks(response.text + headers, raw_keys), where

    # Raw records (before the formatter's scrubber, so nothing relies on it) and formatted lines.
    records = [r for r in server_log.records if not r.name.startswith(CLIENT_LOGGERS)]
    assert any(r.name == "tollgate.access" for r in records), "the access log was captured"
    formatter = JsonFormatter()
    for record in records:
        for line in (formatter.format(record), repr(vars(record))):
            assert not leaks(line, provider_keys + raw_keys), line

    # At rest: the database, the journal, the change feed and the key file hold no secret.
    home = chatty_gateway.settings.home
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "tollgate.db" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in provider_keys + raw_keys:
            assert secret.encode() not in data, (path.name, secret[-4:])


def test_provider_error_bodies_are_not_a_side_channel(tenant: Tenant, strict_sim: SimulatorServer) -> None:
    """The provider's own 401 body is relayed, and it echoes at most the last four characters."""
    created = admin_call(
        tenant.server,
        "POST",
        "/v1/provider-credentials",
        workspace=tenant.workspace_id,
        json={
            "provider": "openai",
            "name": "bad",
            "apiKey": WRONG_PROVIDER_KEY,
            "config": {"baseUrl": strict_sim.root + "/openai/v1"},
        },
    )
    assert created.status_code == 201
    response = chat(tenant.server, tenant.key, **{"x-tollgate-credential": "bad"})
    assert response.status_code == 401
    assert not leaks(response.text, [WRONG_PROVIDER_KEY])
    record = tenant.record(response.headers["x-tollgate-request-id"])
    assert record["status"] == "error" and not leaks(str(record), [WRONG_PROVIDER_KEY, tenant.key])
