"""Management API: webhook endpoints, their secrets and deliveries, end to end.

A real tollgate server delivers to a real loopback receiver (``allow_private_webhooks`` is on
for that, with a short retry base and timeout); the receiver checks every signature with
``tollgate.webhooks.verify``, as a user's receiver would.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest

from tests.support.databases import BACKENDS, provision_database
from tests.support.gateway import GatewayServer, admin_call, running_gateway
from tests.support.webhook_receiver import ScriptedReceiver, scripted_receiver
from tollgate.webhooks import verify

RETRY_BASE_S = 0.2
TIMEOUT_S = 0.5
PUBLIC_URL = "https://93.184.215.14/hook"  # a public address literal: accepted without DNS, never sent to


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + (record.exc_text or ""))


@pytest.fixture
def server_log() -> Iterator[Collect]:
    root = logging.getLogger()
    handler, level = Collect(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _hooks_server(home: Path, database_url: str | None = None) -> AbstractContextManager[GatewayServer]:
    return running_gateway(
        home,
        database_url=database_url,
        allow_private_webhooks=True,
        webhook_retry_base_seconds=RETRY_BASE_S,
        webhook_timeout_seconds=TIMEOUT_S,
    )


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[GatewayServer]:
    """A server that may deliver to loopback (development mode), on SQLite."""
    with _hooks_server(tmp_path / "home") as server:
        yield server


@pytest.fixture(params=BACKENDS)
def backend_hooks(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayServer]:
    """The same, over SQLite and then PostgreSQL (skipped, with the reason, without one)."""
    database = asyncio.run(provision_database(request.param, tmp_path))
    try:
        with _hooks_server(tmp_path / "home", database.url) as server:
            yield server
    finally:
        asyncio.run(database.cleanup())


@pytest.fixture
def receiver() -> Iterator[ScriptedReceiver]:
    with scripted_receiver(slow_s=TIMEOUT_S * 3) as started:
        yield started


def new_workspace(server: GatewayServer, name: str = "hooks") -> str:
    created = admin_call(server, "POST", "/v1/workspaces", json={"name": name})
    assert created.status_code == 201, created.text
    workspace_id: str = created.json()["id"]
    return workspace_id


def call(server: GatewayServer, workspace: str, method: str, path: str, **kwargs: Any) -> httpx2.Response:
    return admin_call(server, method, "/v1/webhook-endpoints" + path, workspace=workspace, **kwargs)


def register(
    server: GatewayServer, workspace: str, url: str, events: list[str] | None = None
) -> dict[str, Any]:
    created = call(
        server, workspace, "POST", "", json={"url": url, "enabledEvents": events or ["budget.alert"]}
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


def code_of(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def emit(server: GatewayServer, workspace: str, event: str, data: dict[str, Any]) -> None:
    """What the gateway does on the request path: ``emit`` on the server's loop, not awaited."""

    async def on_loop() -> None:
        server.ctx.webhooks.notifier.emit(workspace, event, data)

    server.run(on_loop())


def wait_for_deliveries(
    server: GatewayServer,
    workspace: str,
    endpoint_id: str,
    done: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 20.0,
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        page = call(server, workspace, "GET", f"/{endpoint_id}/deliveries")
        assert page.status_code == 200, page.text
        data: list[dict[str, Any]] = page.json()["data"]
        if done(data):
            return data
        assert time.monotonic() < deadline, f"deliveries never settled: {data}"
        time.sleep(0.05)


def settled(count: int = 1) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda data: len(data) == count and all(d["status"] != "pending" for d in data)


def attempt_log(delivery: dict[str, Any]) -> list[tuple[bool, int | None, str | None]]:
    return [(a["ok"], a["httpStatus"], a["error"]) for a in delivery["attempts"]]


def test_a_receiver_failing_twice_then_succeeding_logs_exactly_one_success_after_two_failures(
    backend_hooks: GatewayServer, receiver: ScriptedReceiver
) -> None:
    server = backend_hooks
    workspace = new_workspace(server)
    endpoint = register(server, workspace, receiver.script("/flaky", "500", "500", "200"))

    emit(server, workspace, "budget.alert", {"budgetId": "bud_1", "threshold": 0.8})

    [delivery] = wait_for_deliveries(server, workspace, endpoint["id"], settled())
    assert delivery["status"] == "delivered"
    assert (delivery["attemptCount"], delivery["nextAttemptAt"], delivery["event"]) == (
        3,
        None,
        "budget.alert",
    )
    assert attempt_log(delivery) == [
        (False, 500, "answered 500"),
        (False, 500, "answered 500"),
        (True, 200, None),
    ]
    times = [a["attemptedAt"] for a in delivery["attempts"]]
    assert times == sorted(times)
    hits = receiver.hits("/flaky")
    assert [h.answer for h in hits] == ["500", "500", "200"]
    assert len({h.body for h in hits}) == 1  # the same bytes, signed afresh each time
    for hit in hits:
        verify(hit.body, hit.signature, endpoint["secret"], now=hit.received_at)
    payload = orjson.loads(hits[0].body)
    assert set(payload) == {"id", "event", "timestamp", "workspaceId", "data"}
    assert (payload["id"], payload["event"]) == (delivery["eventId"], "budget.alert")
    assert payload["workspaceId"] == workspace and payload["timestamp"].endswith("Z")
    assert payload["data"] == {"budgetId": "bud_1", "threshold": 0.8}


def test_a_timeout_and_a_redirect_are_logged_failures_and_retried(
    hooks: GatewayServer, receiver: ScriptedReceiver
) -> None:
    workspace = new_workspace(hooks)
    slow = register(hooks, workspace, receiver.script("/slow", "slow", "200"), ["*"])
    moved = register(hooks, workspace, receiver.script("/moved", "302", "200"), ["quota.exceeded"])

    emit(hooks, workspace, "quota.exceeded", {"quota": "monthly_requests"})

    [timed_out] = wait_for_deliveries(hooks, workspace, slow["id"], settled())
    assert timed_out["status"] == "delivered"
    assert attempt_log(timed_out) == [(False, None, "timed out"), (True, 200, None)]
    [redirected] = wait_for_deliveries(hooks, workspace, moved["id"], settled())
    assert redirected["status"] == "delivered"
    assert attempt_log(redirected) == [(False, 302, "redirect not followed"), (True, 200, None)]
    assert {h.path for h in receiver.hits()} == {"/slow", "/moved"}  # the redirect was not followed


def test_redelivery_queues_a_new_attempt(hooks: GatewayServer, receiver: ScriptedReceiver) -> None:
    workspace = new_workspace(hooks)
    endpoint = register(hooks, workspace, receiver.script("/again"))
    emit(hooks, workspace, "budget.alert", {"n": 1})
    [delivery] = wait_for_deliveries(hooks, workspace, endpoint["id"], settled())
    assert (delivery["status"], delivery["attemptCount"]) == ("delivered", 1)

    queued = call(hooks, workspace, "POST", f"/{endpoint['id']}/deliveries/{delivery['id']}/redeliver")
    assert queued.status_code == 202, queued.text
    assert (queued.json()["id"], queued.json()["status"]) == (delivery["id"], "pending")
    [again] = wait_for_deliveries(
        hooks,
        workspace,
        endpoint["id"],
        lambda d: d[0]["attemptCount"] == 2 and d[0]["status"] == "delivered",
    )
    assert attempt_log(again) == [(True, 200, None), (True, 200, None)]
    assert len(receiver.hits("/again")) == 2

    missing = call(hooks, workspace, "POST", f"/{endpoint['id']}/deliveries/whd_nope/redeliver")
    assert (missing.status_code, code_of(missing)) == (404, "webhook_delivery_not_found")
    other = register(hooks, workspace, receiver.script("/other"))
    elsewhere = call(hooks, workspace, "POST", f"/{other['id']}/deliveries/{delivery['id']}/redeliver")
    assert (elsewhere.status_code, code_of(elsewhere)) == (404, "webhook_delivery_not_found")


def test_a_rotated_secret_signs_beside_the_old_one(
    hooks: GatewayServer, receiver: ScriptedReceiver, server_log: Collect
) -> None:
    workspace = new_workspace(hooks)
    endpoint = register(hooks, workspace, receiver.script("/rotate"))
    rotated = call(hooks, workspace, "POST", f"/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    old, new = endpoint["secret"], rotated.json()["secret"]
    assert new.startswith("whsec_") and new != old
    assert rotated.json()["secretPreview"] == new[-4:]
    shown = call(hooks, workspace, "GET", f"/{endpoint['id']}")
    assert "secret" not in shown.json() and new not in shown.text and old not in shown.text

    emit(hooks, workspace, "budget.alert", {"n": 1})
    wait_for_deliveries(hooks, workspace, endpoint["id"], settled())
    [hit] = receiver.hits("/rotate")
    assert hit.signature is not None and hit.signature.count("v1=") == 2
    verify(hit.body, hit.signature, old, now=hit.received_at)
    verify(hit.body, hit.signature, new, now=hit.received_at)
    for secret in (old, new):
        assert not any(secret in line or secret[6:-4] in line for line in server_log.lines)


def test_deliveries_are_listed_newest_first_with_a_cursor(
    hooks: GatewayServer, receiver: ScriptedReceiver
) -> None:
    workspace = new_workspace(hooks)
    endpoint = register(hooks, workspace, receiver.script("/pages"), ["*"])
    for n in range(3):
        emit(hooks, workspace, "optimization.applied", {"n": n})
        wait_for_deliveries(hooks, workspace, endpoint["id"], settled(n + 1))
    first = call(hooks, workspace, "GET", f"/{endpoint['id']}/deliveries", params={"limit": 2})
    assert first.status_code == 200 and len(first.json()["data"]) == 2
    cursor = first.json()["nextCursor"]
    assert cursor
    second = call(
        hooks, workspace, "GET", f"/{endpoint['id']}/deliveries", params={"limit": 2, "cursor": cursor}
    )
    assert second.status_code == 200 and second.json()["nextCursor"] is None
    listed = [*first.json()["data"], *second.json()["data"]]
    sent = [orjson.loads(h.body)["id"] for h in receiver.hits("/pages")]
    assert [d["eventId"] for d in listed] == sent[::-1]
    other = register(hooks, workspace, receiver.script("/p2"))
    wrong = call(hooks, workspace, "GET", f"/{other['id']}/deliveries", params={"cursor": cursor})
    assert (wrong.status_code, code_of(wrong)) == (400, "invalid_cursor")


def test_endpoint_crud_shows_the_secret_once(hooks: GatewayServer) -> None:
    workspace = new_workspace(hooks)
    created = call(
        hooks,
        workspace,
        "POST",
        "",
        json={
            "url": "http://127.0.0.1:9/crud",
            "enabledEvents": ["budget.exceeded", "budget.alert"],
            "description": "ops",
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    secret, endpoint_id = body["secret"], body["id"]
    assert endpoint_id.startswith("we_") and secret.startswith("whsec_") and len(secret) > 40
    assert body["secretPreview"] == secret[-4:]
    assert body["enabledEvents"] == ["budget.alert", "budget.exceeded"]
    assert (body["status"], body["description"], body["workspaceId"]) == ("enabled", "ops", workspace)

    one = call(hooks, workspace, "GET", f"/{endpoint_id}")
    listed = call(hooks, workspace, "GET", "")
    for response in (one, listed):
        assert response.status_code == 200
        assert secret not in response.text and secret[6:-4] not in response.text
    assert "secret" not in one.json() and one.json()["secretPreview"] == secret[-4:]
    assert [e["id"] for e in listed.json()["data"]] == [endpoint_id]

    patched = call(
        hooks,
        workspace,
        "PATCH",
        f"/{endpoint_id}",
        json={"enabledEvents": ["*"], "description": None, "status": "disabled"},
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["enabledEvents"], patched.json()["description"]) == (["*"], None)
    assert patched.json()["status"] == "disabled" and "secret" not in patched.json()
    for change, code in [
        ({"enabledEvents": []}, "invalid_events"),
        ({"enabledEvents": ["budget.party"]}, "invalid_events"),
        ({"status": "paused"}, "invalid_status"),
        ({"url": None}, "invalid_request"),
        ({"url": "ftp://127.0.0.1/x"}, "invalid_webhook_url"),
        ({"secret": "whsec_mine"}, "invalid_request"),
    ]:
        refused = call(hooks, workspace, "PATCH", f"/{endpoint_id}", json=change)
        assert (refused.status_code, code_of(refused)) == (400, code), change

    stranger = new_workspace(hooks, "other")
    for method, path in [("GET", f"/{endpoint_id}"), ("GET", f"/{endpoint_id}/deliveries")]:
        hidden = call(hooks, stranger, method, path)
        assert (hidden.status_code, code_of(hidden)) == (404, "webhook_endpoint_not_found")

    assert call(hooks, workspace, "DELETE", f"/{endpoint_id}").status_code == 204
    for method, path in [
        ("GET", f"/{endpoint_id}"),
        ("DELETE", f"/{endpoint_id}"),
        ("POST", f"/{endpoint_id}/rotate-secret"),
    ]:
        gone = call(hooks, workspace, method, path)
        assert (gone.status_code, code_of(gone)) == (404, "webhook_endpoint_not_found")
    assert call(hooks, workspace, "GET", "").json()["data"] == []


def test_only_admins_manage_endpoints(hooks: GatewayServer) -> None:
    workspace = new_workspace(hooks)
    key = admin_call(
        hooks, "POST", "/v1/keys", workspace=workspace, json={"name": "reader", "scopes": ["read"]}
    )
    assert key.status_code == 201, key.text
    for method, body in [("GET", None), ("POST", {"url": "http://127.0.0.1:9/x", "enabledEvents": ["*"]})]:
        refused = admin_call(hooks, method, "/v1/webhook-endpoints", json=body, token=key.json()["key"])
        assert (refused.status_code, code_of(refused)) == (403, "insufficient_scope")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"url": "http://127.0.0.1:9/x", "enabledEvents": ["budget.alert", "budget.party"]},
            "invalid_events",
        ),
        ({"url": "http://127.0.0.1:9/x", "enabledEvents": []}, "invalid_events"),
        ({"url": "http://127.0.0.1:9/x", "enabledEvents": "budget.alert"}, "invalid_events"),
        ({"url": "http://127.0.0.1:9/x", "enabledEvents": ["*", "budget.alert"]}, "invalid_events"),
        ({"url": "http://127.0.0.1:9/x"}, "invalid_request"),
        ({"enabledEvents": ["*"]}, "invalid_request"),
        ({"url": 42, "enabledEvents": ["*"]}, "invalid_webhook_url"),
        ({"url": "http://127.0.0.1:9/x", "enabledEvents": ["*"], "secret": "whsec_x"}, "invalid_request"),
        (
            {"url": "http://127.0.0.1:9/x", "enabledEvents": ["*"], "description": "d" * 501},
            "invalid_request",
        ),
    ],
)
def test_bad_registrations_are_refused(hooks: GatewayServer, body: dict[str, Any], code: str) -> None:
    workspace = new_workspace(hooks)
    refused = call(hooks, workspace, "POST", "", json=body)
    assert (refused.status_code, code_of(refused)) == (400, code), refused.text
    assert call(hooks, workspace, "GET", "").json()["data"] == []


def test_without_the_development_flag_only_public_https_urls_are_accepted(gateway: GatewayServer) -> None:
    workspace = new_workspace(gateway)
    for url in [
        "http://93.184.215.14/hook",  # plain http
        "https://127.0.0.1/hook",
        "https://localhost/hook",  # a name that resolves to 127.0.0.1
        "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service
        "https://[::1]/hook",
        "https://[::ffff:169.254.169.254]/hook",
        "https://10.0.0.8/hook",
        "https://user:pw@93.184.215.14/hook",
        "not a url",
    ]:
        refused = call(gateway, workspace, "POST", "", json={"url": url, "enabledEvents": ["*"]})
        assert (refused.status_code, code_of(refused)) == (400, "invalid_webhook_url"), url
    accepted = register(gateway, workspace, PUBLIC_URL)
    assert accepted["url"] == PUBLIC_URL
    for url in ("https://localhost/hook", "https://169.254.169.254/"):
        moved = call(gateway, workspace, "PATCH", f"/{accepted['id']}", json={"url": url})
        assert (moved.status_code, code_of(moved)) == (400, "invalid_webhook_url"), url
    assert call(gateway, workspace, "GET", f"/{accepted['id']}").json()["url"] == PUBLIC_URL


def test_openapi_documents_the_webhook_api(gateway: GatewayServer) -> None:
    spec = httpx2.get(gateway.url + "/openapi.json", timeout=30).json()
    expected = {
        "/v1/webhook-endpoints": {"get", "post"},
        "/v1/webhook-endpoints/{endpoint_id}": {"get", "patch", "delete"},
        "/v1/webhook-endpoints/{endpoint_id}/rotate-secret": {"post"},
        "/v1/webhook-endpoints/{endpoint_id}/deliveries": {"get"},
        "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/redeliver": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(spec["paths"][path]), path
    schemas = spec["components"]["schemas"]
    assert {"url", "enabledEvents", "description"} <= set(schemas["WebhookEndpointIn"]["properties"])
    assert "secret" not in schemas["WebhookEndpointOut"]["properties"]
    assert "secret" in schemas["WebhookEndpointWithSecretOut"]["properties"]
