"""The logs of a real ``tollgate serve`` process: JSON lines, one per request with its id, no secrets.

The server runs as an operator runs it, with the access log on, and its stderr is captured whole.
Every secret the server saw during the run (gateway key, provider keys, admin token, master key,
a wrong key a client sent) is then searched for in the captured text.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.gateway import ADMIN_TOKEN, PROVIDER_KEY, Tenant, make_tenant
from tests.support.process import ServerProcess, free_port
from tollgate.services.sealing import new_master_key
from tollgate.testing import Simulator, SimulatorServer

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
WRONG_KEY = "tg_wrongkey_5f2a9c81d3e7b6a4c0f1"
DEAD_PROVIDER_KEY = "sk-deadprovider-a1b2c3d4e5f6a7b8"


@pytest.fixture
def sim_root() -> Iterator[str]:
    with SimulatorServer(Simulator()) as server:
        yield server.root


def parse_lines(text: str) -> list[dict[str, Any]]:
    entries = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"a log line is not JSON: {line!r}")
        assert isinstance(entry, dict) and {"ts", "level", "logger", "msg"} <= entry.keys(), line
        entries.append(entry)
    return entries


def exercise(tenant: Tenant) -> list[httpx2.Response]:
    """Calls that succeed, stream, fail at auth, fail upstream, and manage secrets."""
    url, key = tenant.url, tenant.headers()
    responses = [httpx2.get(url + "/health", timeout=30)]
    responses.append(httpx2.post(url + "/v1/chat/completions", json=CHAT, headers=key, timeout=30))
    with httpx2.stream(
        "POST",
        url + "/v1/messages",
        headers=key,
        timeout=30,
        json={"model": "claude-haiku-4-5", "max_tokens": 20, "messages": CHAT["messages"], "stream": True},
    ) as streamed:
        streamed.read()
    responses.append(streamed)
    responses.append(
        httpx2.post(url + "/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {WRONG_KEY}"})
    )
    # A key in the query string (Gemini's ``?key=``) must not reach the log with the path.
    responses.append(
        httpx2.post(
            url + f"/api/proxy/gemini/v1beta/models/gemini-2.5-flash:generateContent?key={WRONG_KEY}",
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
            timeout=30,
        )
    )
    created = tenant.admin(
        "POST",
        "/v1/provider-credentials",
        json={
            "provider": "openai",
            "name": "dead",
            "apiKey": DEAD_PROVIDER_KEY,
            "config": {"baseUrl": f"http://127.0.0.1:{free_port()}/v1"},
        },
    )
    responses.append(created)
    responses.append(
        httpx2.post(
            url + "/v1/chat/completions",
            json=CHAT,
            headers=tenant.headers(**{"x-tollgate-credential": "dead"}),
            timeout=30,
        )
    )
    return responses


def test_logs_are_json_lines_with_request_ids_and_no_secret(tmp_path: Path, sim_root: str) -> None:
    master_key = new_master_key()
    server = ServerProcess(
        tmp_path / "home", tmp_path / "server.log", access_log="true", master_key=master_key
    )
    with server:
        tenant = make_tenant(server, sim_root)  # type: ignore[arg-type]
        responses = exercise(tenant)
        statuses = [r.status_code for r in responses]
        assert statuses == [200, 200, 200, 401, 401, 201, 502], statuses
        server.signal(signal.SIGTERM)
        assert server.wait() == 0
    text = server.log_text()
    entries = parse_lines(text)

    by_id = {entry["request_id"]: entry for entry in entries if "request_id" in entry}
    for response in responses:
        request_id = response.headers["x-tollgate-request-id"]
        entry = by_id.get(request_id)
        assert entry is not None, f"no log line for {response.request.url.path} ({request_id})"
        assert entry["path"] == response.request.url.path
        assert entry["method"] == response.request.method
        assert entry["status"] == response.status_code
        assert entry["latency_ms"] >= 0
    # The upstream failure is an error-level line an operator can find by the id the client got.
    assert by_id[responses[-1].headers["x-tollgate-request-id"]]["level"] == "error"

    secrets = {
        "gateway key": tenant.key,
        "provider key": PROVIDER_KEY,
        "dead provider key": DEAD_PROVIDER_KEY,
        "admin token": ADMIN_TOKEN,
        "master key": master_key,
        "wrong key": WRONG_KEY,
    }
    for what, secret in secrets.items():
        assert secret not in text, f"the {what} appears in the log"
        assert secret[-12:] not in text, f"a long piece of the {what} appears in the log"
