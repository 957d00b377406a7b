"""Events the gateway raises on its own, delivered as signed webhooks: a stored provider key that
the provider rejects (``api_key.invalid``), and a spend spike (``anomaly.detected``, listed in
``GET /v1/alerts``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx2

from tests.support.gateway import PROVIDER_KEY, make_tenant
from tests.support.webhook_receiver import events_gateway, scripted_receiver, subscribe
from tollgate.testing import Scenario, Simulator, SimulatorServer
from tollgate.webhooks import verify

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}


def test_a_rejected_provider_key_is_announced_once(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    with scripted_receiver() as receiver, events_gateway(tmp_path / "home") as server:
        tenant = make_tenant(server, sim_server.root)
        secret = subscribe(tenant, receiver.url("/keys"), ["api_key.invalid"])
        for _ in range(3):
            sim.enqueue(Scenario(error_status=401))
            answer = httpx2.post(
                tenant.url + "/v1/chat/completions", json=CHAT, headers=tenant.headers(), timeout=30
            )
            assert answer.status_code == 401
        hits = receiver.wait_for("/keys", 1)
        assert len(hits) == 1, "one announcement, however many calls were rejected"
        verify(hits[0].body, hits[0].signature or "", secret)
        payload = json.loads(hits[0].body)
        assert payload["event"] == "api_key.invalid"
        assert payload["data"]["credentialId"] == tenant.credentials["openai"]
        assert payload["data"]["last4"] == PROVIDER_KEY[-4:] and payload["data"]["upstreamStatus"] == 401
        assert PROVIDER_KEY.encode() not in hits[0].body


def test_a_synthetic_spend_spike_raises_exactly_one_anomaly(
    tmp_path: Path, sim_server: SimulatorServer, sim: Simulator
) -> None:
    with (
        scripted_receiver() as receiver,
        events_gateway(tmp_path / "home", alert_interval_seconds=0.2, anomaly_min_usd="0.05") as server,
    ):
        tenant = make_tenant(server, sim_server.root)
        secret = subscribe(tenant, receiver.url("/anomalies"), ["anomaly.detected"])
        priced = tenant.admin(
            "POST",
            "/v1/prices",
            json={"provider": "openai", "model": "gpt-4o-mini", "inputPerMTok": "1000", "outputPerMTok": "0"},
        )
        assert priced.status_code == 201, priced.text

        def ingest(tokens: int, at: datetime | None = None, feature: str = "chat") -> None:
            event: dict[str, object] = {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "prompt_tokens": tokens,
                "completion_tokens": 0,
                "metadata": {"feature": feature},
            }
            if at is not None:
                event["timestamp"] = at.isoformat()
            answer = httpx2.post(tenant.url + "/api/ingest", json=event, headers=tenant.headers(), timeout=30)
            assert answer.status_code == 201, answer.text

        now = datetime.now(UTC)
        for days in range(1, 9):  # a week and a day of $0.01 at this hour: the baseline
            ingest(10, now - timedelta(days=days))
        server.flush()
        time.sleep(0.6)  # several passes
        assert tenant.admin("GET", "/v1/alerts").json()["data"] == [], "steady spend raises nothing"

        ingest(3000)  # $3 this hour: a spike
        server.flush()
        deadline = time.monotonic() + 10
        while not tenant.admin("GET", "/v1/alerts").json()["data"] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # five more passes: still one alert
        alerts = tenant.admin("GET", "/v1/alerts").json()["data"]
        assert len(alerts) == 1, alerts
        alert = alerts[0]
        assert (alert["kind"], alert["status"], alert["scope"]) == (
            "anomaly",
            "open",
            {"type": "workspace", "id": None},
        )
        windows = {spike["window"]: spike for spike in alert["data"]["spikes"]}
        assert Decimal(windows["day"]["recentUsd"]) == Decimal("3.00")
        assert Decimal(windows["day"]["baselineUsd"]) == Decimal("0.01")
        assert alert["data"]["topKeys"][0]["id"] == tenant.key_id
        assert alert["data"]["topFeatures"][0]["id"] == "chat"

        hits = receiver.wait_for("/anomalies", 1)
        assert len(hits) == 1
        verify(hits[0].body, hits[0].signature or "", secret)
        payload = json.loads(hits[0].body)
        assert payload["event"] == "anomaly.detected" and payload["data"]["alertId"] == alert["id"]


def test_using_up_the_monthly_quota_is_announced_once(tmp_path: Path, sim_server: SimulatorServer) -> None:
    with scripted_receiver() as receiver, events_gateway(tmp_path / "home") as server:
        tenant = make_tenant(server, sim_server.root)
        subscribe(tenant, receiver.url("/quota"), ["*"])
        limited = tenant.admin(
            "PATCH",
            f"/v1/workspaces/{tenant.workspace_id}",
            json={"settings": {"limits": {"monthlyRequests": 3}}},
        )
        assert limited.status_code == 200, limited.text
        event = {"provider": "openai", "model": "gpt-4o-mini", "prompt_tokens": 10, "completion_tokens": 2}
        ingested = httpx2.post(
            tenant.url + "/api/ingest", json=[event, event], headers=tenant.headers(), timeout=30
        )
        assert ingested.status_code == 201, ingested.text
        call = httpx2.post(
            tenant.url + "/v1/chat/completions", json=CHAT, headers=tenant.headers(), timeout=30
        )
        assert call.status_code == 200
        for _ in range(2):
            refused = httpx2.post(
                tenant.url + "/v1/chat/completions", json=CHAT, headers=tenant.headers(), timeout=30
            )
            assert refused.status_code == 402
        payloads = [json.loads(hit.body) for hit in receiver.wait_for("/quota", 1)]
        assert [(p["event"], p["data"]) for p in payloads] == [
            ("quota.exceeded", {"monthlyRequests": 3, "used": 3})
        ]
