"""Operations endpoints as an operator and a monitoring system use them: health, readiness, metrics,
and the request id on every response."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.databases import BACKENDS, provision_database
from tests.support.gateway import ADMIN_TOKEN, GatewayServer, Tenant, running_gateway
from tollgate.testing import Scenario, Simulator

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
REQUEST_ID = re.compile(r"^req_[0-9a-z]{26}$")

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: GatewayServer) -> Samples:
    response = httpx2.get(server.url + "/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def chat(tenant: Tenant, **extra: Any) -> httpx2.Response:
    return httpx2.post(
        tenant.url + "/v1/chat/completions", json={**CHAT, **extra}, headers=tenant.headers(), timeout=30
    )


def test_health_answers_without_credentials(gateway: GatewayServer) -> None:
    response = httpx2.get(gateway.url + "/health", timeout=30)
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["version"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_ready_reports_the_database_and_the_journal(tmp_path: Path, kind: str) -> None:
    db = asyncio.run(provision_database(kind, tmp_path))
    try:
        with running_gateway(tmp_path / "home", database_url=db.url) as server:
            for _ in range(2):  # the second probe uses the head revision read by the first
                response = httpx2.get(server.url + "/ready", timeout=30)
                assert response.status_code == 200, response.text
                body = response.json()
                assert body["status"] == "ready"
                assert body["checks"]["database"] == {
                    "status": "ok",
                    "dialect": "sqlite" if kind == "sqlite" else "postgresql",
                }
                journal = body["checks"]["journal"]
                assert (
                    journal["status"] == "ok" and journal["lagRecords"] == 0 and journal["quarantined"] == 0
                )
                assert "redis" not in body["checks"], "no Redis configured, none reported"
    finally:
        asyncio.run(db.cleanup())


def test_ready_is_503_when_the_database_schema_is_not_this_version(gateway: GatewayServer) -> None:
    """E.g. a newer tollgate migrated the shared database: this instance must not take traffic."""
    assert httpx2.get(gateway.url + "/ready", timeout=30).status_code == 200
    with closing(sqlite3.connect(gateway.settings.home / "tollgate.db", timeout=30)) as conn, conn:
        (revision,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    try:
        response = httpx2.get(gateway.url + "/ready", timeout=30)
        assert response.status_code == 503
        assert response.json()["checks"]["database"]["status"] == "migrations_pending"
    finally:
        with closing(sqlite3.connect(gateway.settings.home / "tollgate.db", timeout=30)) as conn, conn:
            conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    assert httpx2.get(gateway.url + "/ready", timeout=30).status_code == 200


@contextmanager
def database_locked(home: Path) -> Iterator[None]:
    """Hold SQLite's write lock: the journal writer cannot move records, readers still read."""
    with closing(sqlite3.connect(home / "tollgate.db", isolation_level=None, timeout=30)) as conn:
        conn.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")


def test_journal_lag_shows_in_ready_and_metrics_while_the_database_is_blocked(
    tenant: Tenant, sim: Simulator
) -> None:
    server = tenant.server
    with database_locked(server.settings.home):
        # The hot path never waits for the database: calls are answered while it is locked.
        ids = [chat(tenant).headers["x-tollgate-request-id"] for _ in range(3)]
        journal = httpx2.get(server.url + "/ready", timeout=30).json()["checks"]["journal"]
        assert journal["lagRecords"] == 3
        assert journal["lagBytes"] > 0 and journal["oldestAgeSeconds"] is not None
        assert value(scrape(server), "tollgate_journal_lag_records") == 3
        assert value(scrape(server), "tollgate_journal_lag_bytes") > 0
    deadline = time.monotonic() + 30
    while value(scrape(server), "tollgate_journal_lag_records") != 0:
        assert time.monotonic() < deadline, "the journal never caught up after the lock was released"
        time.sleep(0.1)
    journal = httpx2.get(server.url + "/ready", timeout=30).json()["checks"]["journal"]
    assert journal["lagRecords"] == 0 and journal["oldestAgeSeconds"] is None
    assert all(tenant.record(request_id)["status"] == "success" for request_id in ids)


def test_metrics_count_calls_latency_upstream_errors_cost_and_tokens(tenant: Tenant, sim: Simulator) -> None:
    server = tenant.server
    before = scrape(server)
    ok = chat(tenant)
    streamed = chat(tenant, stream=True)
    sim.enqueue(Scenario(error_status=500))
    failed = chat(tenant)
    assert (ok.status_code, streamed.status_code, failed.status_code) == (200, 200, 500)
    records = [tenant.record(r.headers["x-tollgate-request-id"]) for r in (ok, streamed, failed)]
    after = scrape(server)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    calls = {"door": "openai", "provider": "openai"}
    assert delta("tollgate_requests_total", status="success", **calls) == 2
    assert delta("tollgate_requests_total", status="error", **calls) == 1
    assert delta("tollgate_request_latency_seconds_count", **calls) == 3
    assert delta("tollgate_request_latency_seconds_bucket", le="+Inf", **calls) == 3
    assert delta("tollgate_request_latency_seconds_sum", **calls) > 0
    assert delta("tollgate_upstream_ttfb_seconds_count", provider="openai") == 3
    assert delta("tollgate_upstream_errors_total", provider="openai", code="http_500") == 1
    assert delta("tollgate_cost_nanodollars_total", provider="openai") == sum(r["costNanos"] for r in records)
    assert delta("tollgate_tokens_total", provider="openai", kind="output") == sum(
        r["outputTokens"] for r in records
    )
    assert delta("tollgate_tokens_total", provider="openai", kind="input") == sum(
        r["inputTokens"] for r in records
    )
    assert ("tollgate_journal_lag_records", frozenset()) in after


def test_metrics_count_unreachable_upstreams(tenant: Tenant, sim: Simulator) -> None:
    created = tenant.admin(
        "POST",
        "/v1/provider-credentials",
        json={
            "provider": "mistral",
            "name": "gone",
            "apiKey": "sk-gone-000000000000",
            "config": {"baseUrl": "http://127.0.0.1:9/v1"},  # the discard port: nothing listens
        },
    )
    assert created.status_code == 201, created.text
    before = value(
        scrape(tenant.server),
        "tollgate_upstream_errors_total",
        provider="mistral",
        code="upstream_unreachable",
    )
    response = httpx2.post(
        tenant.url + "/v1/chat/completions",
        json={**CHAT, "model": "mistral/mistral-small-latest"},
        headers=tenant.headers(**{"x-tollgate-credential": "gone"}),
        timeout=30,
    )
    assert response.status_code == 502
    after = value(
        scrape(tenant.server),
        "tollgate_upstream_errors_total",
        provider="mistral",
        code="upstream_unreachable",
    )
    assert after == before + 1


def _requests(tenant: Tenant) -> list[tuple[str, httpx2.Response]]:
    url, key = tenant.url, tenant.headers()
    admin = {"authorization": f"Bearer {ADMIN_TOKEN}"}
    with httpx2.stream("POST", url + "/v1/chat/completions", json={**CHAT, "stream": True}, headers=key) as s:
        s.read()
        streamed = s
    return [
        ("health", httpx2.get(url + "/health")),
        ("ready", httpx2.get(url + "/ready")),
        ("metrics", httpx2.get(url + "/metrics")),
        ("openapi", httpx2.get(url + "/openapi.json")),
        ("unknown path", httpx2.get(url + "/no/such/thing")),
        ("wrong method", httpx2.delete(url + "/health")),
        ("no key", httpx2.post(url + "/v1/chat/completions", json=CHAT)),
        (
            "bad key",
            httpx2.post(url + "/v1/messages", json=CHAT, headers={"x-api-key": "tg_nope_0000000000"}),
        ),
        ("bad json", httpx2.post(url + "/api/proxy", content=b"{", headers=key)),
        ("call", httpx2.post(url + "/v1/chat/completions", json=CHAT, headers=key, timeout=30)),
        ("stream", streamed),
        ("management", httpx2.get(url + "/v1/workspaces", headers=admin)),
        ("management refused", httpx2.get(url + "/v1/workspaces")),
    ]


def test_every_response_carries_a_request_id(tenant: Tenant, sim: Simulator) -> None:
    responses = _requests(tenant)
    seen = set()
    for what, response in responses:
        ids = response.headers.get_list("x-tollgate-request-id")
        assert len(ids) == 1, f"{what} ({response.status_code}) must carry exactly one request id: {ids}"
        assert REQUEST_ID.match(ids[0]), f"{what}: {ids[0]!r}"
        seen.add(ids[0])
    assert len(seen) == len(responses), "each response has its own id"


def test_the_request_id_of_a_call_names_its_record(tenant: Tenant, sim: Simulator) -> None:
    response = chat(tenant)
    assert (
        tenant.record(response.headers["x-tollgate-request-id"])["id"]
        == response.headers["x-tollgate-request-id"]
    )
