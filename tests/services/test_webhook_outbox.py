"""The webhook outbox and its delivery worker over a real store (SQLite and PostgreSQL), a real
loopback receiver and a fake clock that the tests move through the retry schedule."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from tests.support.databases import BACKENDS, make_test_store, provision_database
from tests.support.webhook_receiver import ScriptedReceiver, scripted_receiver
from tollgate.core.clock import FakeClock
from tollgate.core.errors import NotFound
from tollgate.core.ids import IdFactory
from tollgate.services.sealing import Keyring
from tollgate.services.webhooks.delivery import DeliveryWorker, RetrySchedule
from tollgate.services.webhooks.endpoints import WebhookEndpointService
from tollgate.services.webhooks.outbox import EVENTS, Notifier, Outbox
from tollgate.services.webhooks.sender import WebhookSender
from tollgate.store.migrations import migrate
from tollgate.store.records import Workspace
from tollgate.store.repos import Store, open_store
from tollgate.store.schema import webhook_endpoints, webhook_events
from tollgate.webhooks import WebhookVerificationError, verify

BASE_S = 30.0
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def make_worker(
    store: Store, clock: FakeClock, ids: IdFactory, keyring: Keyring, schedule: RetrySchedule
) -> DeliveryWorker:
    sender = WebhookSender(clock, allow_private=True, timeout_s=0.5)
    return DeliveryWorker(store, sender, lambda: keyring, clock, ids, schedule=schedule, lease_s=60)


@dataclass
class Rig:
    store: Store
    clock: FakeClock
    ids: IdFactory
    keyring: Keyring
    endpoints: WebhookEndpointService
    outbox: Outbox
    worker: DeliveryWorker
    workspace_id: str

    def make_worker(self, schedule: RetrySchedule) -> DeliveryWorker:
        return make_worker(self.store, self.clock, self.ids, self.keyring, schedule)

    async def subscribe(self, url: str, events: list[str] | None = None) -> tuple[str, str]:
        created = await self.endpoints.create(
            self.workspace_id, url=url, enabled_events=events or ["budget.alert"]
        )
        return created.endpoint.id, created.secret

    async def delivery(self, endpoint_id: str) -> Any:
        page, _ = await self.store.webhooks.outbox.list_deliveries(self.workspace_id, endpoint_id)
        [one] = page
        return one


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def rig(backend: str, tmp_path: Path) -> AsyncIterator[Rig]:
    store, cleanup = await make_test_store(backend, tmp_path)
    clock = FakeClock(T0)
    ids = IdFactory(clock)
    keyring = Keyring(os.urandom(32))
    workspace = await store.workspaces.create(Workspace("ws_hooks", "Hooks", T0, T0))
    endpoints = WebhookEndpointService(store, lambda: keyring, clock, ids, allow_private=True)
    worker = make_worker(store, clock, ids, keyring, RetrySchedule(base_s=BASE_S))
    try:
        yield Rig(store, clock, ids, keyring, endpoints, Outbox(store, clock, ids), worker, workspace.id)
    finally:
        await cleanup()


@pytest.fixture
def receiver() -> Iterator[ScriptedReceiver]:
    with scripted_receiver(slow_s=2.0) as started:
        yield started


async def test_publish_writes_one_pending_delivery_per_subscribed_enabled_endpoint(rig: Rig) -> None:
    alerts, _ = await rig.subscribe("http://127.0.0.1:9/a", ["budget.alert"])
    everything, _ = await rig.subscribe("http://127.0.0.1:9/all", ["*"])
    quotas, _ = await rig.subscribe("http://127.0.0.1:9/q", ["quota.exceeded"])
    paused, _ = await rig.subscribe("http://127.0.0.1:9/p", ["budget.alert"])
    await rig.endpoints.update(rig.workspace_id, paused, status="disabled")
    gone, _ = await rig.subscribe("http://127.0.0.1:9/gone", ["budget.alert"])
    await rig.endpoints.delete(rig.workspace_id, gone)

    event_id = await rig.outbox.publish(
        rig.workspace_id, "budget.alert", {"budgetId": "bud_1", "percent": 80}
    )

    assert event_id.startswith("evt_")
    for endpoint_id in (alerts, everything):
        delivery = await rig.delivery(endpoint_id)
        assert (delivery.event_id, delivery.event, delivery.status) == (event_id, "budget.alert", "pending")
        assert (delivery.attempts, delivery.next_attempt_at, delivery.attempt_log) == (0, T0, ())
    for endpoint_id in (quotas, paused):
        page, _ = await rig.store.webhooks.outbox.list_deliveries(rig.workspace_id, endpoint_id)
        assert page == []


async def test_the_payload_is_exactly_id_event_timestamp_workspace_and_data(
    rig: Rig, receiver: ScriptedReceiver
) -> None:
    await rig.subscribe(receiver.script("/shape"), ["anomaly.detected"])
    rig.clock.advance(0.25)
    event_id = await rig.outbox.publish(rig.workspace_id, "anomaly.detected", {"spendUsd": "12.50"})
    assert await rig.worker.run_once() == 1
    [hit] = receiver.hits("/shape")
    assert orjson.loads(hit.body) == {
        "id": event_id,
        "event": "anomaly.detected",
        "timestamp": "2026-03-01T12:00:00.250000Z",
        "workspaceId": rig.workspace_id,
        "data": {"spendUsd": "12.50"},
    }


async def test_unknown_events_are_refused_and_unsubscribed_ones_are_not_stored(rig: Rig) -> None:
    with pytest.raises(ValueError, match="unknown webhook event"):
        await rig.outbox.publish(rig.workspace_id, "budget.party", {})
    await rig.subscribe("http://127.0.0.1:9/a", ["budget.alert"])
    await rig.outbox.publish(rig.workspace_id, "quota.exceeded", {})
    await rig.outbox.publish("ws_nobody", "budget.alert", {})
    async with rig.store.engine.connect() as conn:
        assert (await conn.execute(select(webhook_events))).all() == []


async def test_fails_twice_then_succeeds_on_the_backoff_schedule(
    rig: Rig, receiver: ScriptedReceiver
) -> None:
    endpoint_id, secret = await rig.subscribe(receiver.script("/flaky", "500", "500", "200"))
    await rig.outbox.publish(rig.workspace_id, "budget.alert", {"budgetId": "bud_1"})

    assert await rig.worker.run_once() == 1  # first attempt: 500
    assert await rig.worker.run_once() == 0  # not due again before the first delay
    rig.clock.advance(BASE_S)
    assert await rig.worker.run_once() == 1  # second attempt: 500
    rig.clock.advance(BASE_S)
    assert await rig.worker.run_once() == 0  # the second delay is twice the first
    rig.clock.advance(BASE_S)
    assert await rig.worker.run_once() == 1  # third attempt: 200

    delivery = await rig.delivery(endpoint_id)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("delivered", 3, None)
    log = [(a.ok, a.http_status, a.error) for a in delivery.attempt_log]
    assert log == [(False, 500, "answered 500"), (False, 500, "answered 500"), (True, 200, None)]
    assert [a.attempted_at for a in delivery.attempt_log] == [
        T0,
        T0 + timedelta(seconds=BASE_S),
        T0 + timedelta(seconds=3 * BASE_S),
    ]
    hits = receiver.hits("/flaky")
    assert len({h.body for h in hits}) == 1  # the same stored bytes every time
    for hit, attempt in zip(hits, delivery.attempt_log, strict=True):
        verify(hit.body, hit.signature, secret, now=attempt.attempted_at.timestamp())


async def test_the_last_failure_fails_the_delivery_and_redelivery_revives_it(
    rig: Rig, receiver: ScriptedReceiver
) -> None:
    worker = rig.make_worker(RetrySchedule(base_s=1.0, max_attempts=3))
    endpoint_id, _ = await rig.subscribe(receiver.script("/down", "500", "500", "503"))
    await rig.outbox.publish(rig.workspace_id, "budget.alert", {})
    for _ in range(3):
        assert await worker.run_once() == 1
        rig.clock.advance(10)
    assert await worker.run_once() == 0
    failed = await rig.delivery(endpoint_id)
    assert (failed.status, failed.attempts, failed.next_attempt_at) == ("failed", 3, None)

    again = await rig.endpoints.redeliver(rig.workspace_id, endpoint_id, failed.id)
    assert (again.status, again.next_attempt_at) == ("pending", rig.clock.now())
    assert await worker.run_once() == 1  # the receiver answers 200 now
    delivered = await rig.delivery(endpoint_id)
    assert (delivered.status, delivered.attempts) == ("delivered", 4)
    assert [a.ok for a in delivered.attempt_log] == [False, False, False, True]
    with pytest.raises(NotFound) as missing:
        await rig.endpoints.redeliver(rig.workspace_id, endpoint_id, "whd_nope")
    assert missing.value.code == "webhook_delivery_not_found"


async def test_a_lease_is_exclusive_until_it_runs_out(rig: Rig) -> None:
    await rig.subscribe("http://127.0.0.1:9/lease")
    await rig.outbox.publish(rig.workspace_id, "budget.alert", {})
    outbox = rig.store.webhooks.outbox
    now = rig.clock.now()
    until = now + timedelta(seconds=60)
    [held] = await outbox.claim_due(now, lease_id="wlease_a", lease_until=until, limit=10)
    assert await outbox.claim_due(now, lease_id="wlease_b", lease_until=until, limit=10) == []
    later = now + timedelta(seconds=61)  # the first worker died: its lease ran out
    [taken] = await outbox.claim_due(later, lease_id="wlease_c", lease_until=later, limit=10)
    assert (taken.id, taken.attempts) == (held.id, 0)


async def test_two_workers_sharing_a_database_never_claim_the_same_delivery(
    rig: Rig, backend: str, tmp_path: Path
) -> None:
    database = await provision_database(backend, tmp_path / "shared")
    stores = [await open_store(database.base_url, connect_args=database.connect_args) for _ in range(2)]
    try:
        await migrate(stores[0].engine)
        await stores[0].workspaces.create(Workspace("ws_shared", "Shared", T0, T0))
        ids = IdFactory(rig.clock)
        endpoints = WebhookEndpointService(stores[0], lambda: rig.keyring, rig.clock, ids, allow_private=True)
        await endpoints.create("ws_shared", url="http://127.0.0.1:9/x", enabled_events=["*"])
        outbox = Outbox(stores[0], rig.clock, ids)
        for n in range(12):
            await outbox.publish("ws_shared", EVENTS[n % len(EVENTS)], {"n": n})
        now = rig.clock.now()
        until = now + timedelta(seconds=60)
        claims = await asyncio.gather(
            *(
                s.webhooks.outbox.claim_due(now, lease_id=f"wlease_{i}_{turn}", lease_until=until, limit=5)
                for turn in range(2)
                for i, s in enumerate(stores)
            )
        )
        claimed = [c.id for batch in claims for c in batch]
        assert len(claimed) == len(set(claimed))
        rest = await stores[1].webhooks.outbox.claim_due(
            now, lease_id="wlease_rest", lease_until=until, limit=50
        )
        assert len(claimed) + len(rest) == 12
    finally:
        for s in stores:
            await s.close()
        await database.cleanup()


async def test_rotation_signs_with_both_secrets_for_a_day(rig: Rig, receiver: ScriptedReceiver) -> None:
    endpoint_id, old = await rig.subscribe(receiver.script("/rotating"))
    rotated = await rig.endpoints.rotate_secret(rig.workspace_id, endpoint_id)
    new = rotated.secret
    assert new != old and new.startswith("whsec_") and rotated.endpoint.secret_preview == new[-4:]

    await rig.outbox.publish(rig.workspace_id, "budget.alert", {"n": 1})
    assert await rig.worker.run_once() == 1
    first = receiver.hits("/rotating")[-1]
    assert first.signature is not None and first.signature.count("v1=") == 2
    now = rig.clock.now().timestamp()
    for secret in (old, new):
        verify(first.body, first.signature, secret, now=now)

    rig.clock.advance(24 * 3600 + 1)
    await rig.outbox.publish(rig.workspace_id, "budget.alert", {"n": 2})
    assert await rig.worker.run_once() == 1
    second = receiver.hits("/rotating")[-1]
    assert second.signature is not None and second.signature.count("v1=") == 1
    now = rig.clock.now().timestamp()
    verify(second.body, second.signature, new, now=now)
    with pytest.raises(WebhookVerificationError):
        verify(second.body, second.signature, old, now=now)


async def test_secrets_are_stored_sealed_and_kept_out_of_reprs(rig: Rig) -> None:
    created = await rig.endpoints.create(rig.workspace_id, url="http://127.0.0.1:9/s", enabled_events=["*"])
    async with rig.store.engine.connect() as conn:
        row = (await conn.execute(select(webhook_endpoints))).one()
    stored = str(tuple(row))
    assert created.secret not in stored and created.secret[6:-4] not in stored
    assert row.secret_preview == created.secret[-4:]
    for shown in (repr(created), repr(created.endpoint), repr(created.endpoint.secrets)):
        assert created.secret not in shown and row.secrets[0]["sealed"] not in shown


async def test_deleting_an_endpoint_fails_its_pending_deliveries(rig: Rig) -> None:
    endpoint_id, _ = await rig.subscribe("http://127.0.0.1:9/bye")
    await rig.outbox.publish(rig.workspace_id, "budget.alert", {})
    pending = await rig.delivery(endpoint_id)
    await rig.endpoints.delete(rig.workspace_id, endpoint_id)
    assert await rig.worker.run_once() == 0
    with pytest.raises(NotFound) as gone:
        await rig.endpoints.get(rig.workspace_id, endpoint_id)
    assert gone.value.code == "webhook_endpoint_not_found"
    kept = await rig.store.webhooks.outbox.get_delivery(rig.workspace_id, endpoint_id, pending.id)
    assert kept is not None and (kept.status, kept.next_attempt_at) == ("failed", None)


async def test_the_notifier_publishes_in_the_background_and_never_raises(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint_id, _ = await rig.subscribe("http://127.0.0.1:9/n", ["api_key.invalid"])
    notifier = Notifier(rig.outbox, retry_pause_s=0.01)
    data = {"keyPreview": "ab12"}
    with caplog.at_level(logging.INFO, logger="tollgate.webhooks"):
        notifier.emit(rig.workspace_id, "api_key.invalid", data)
        data["keyPreview"] = "changed after emit"
        notifier.emit(rig.workspace_id, "no.such.event", {})
        notifier.emit(rig.workspace_id, "api_key.invalid", {"unserialisable": object()})
        await notifier.close()
        notifier.emit(rig.workspace_id, "api_key.invalid", {})  # after close: dropped
    assert notifier.pending == 0
    delivery = await rig.delivery(endpoint_id)
    event = await _payload(rig, delivery.event_id)
    assert event["data"] == {"keyPreview": "ab12"}
    messages = [r.getMessage() for r in caplog.records]
    assert any("no.such.event" in m and "not published" in m for m in messages)
    assert any("api_key.invalid" in m and "not JSON serializable" in m for m in messages)
    assert any("dropped" in m for m in messages)


async def _payload(rig: Rig, event_id: str) -> Any:
    async with rig.store.engine.connect() as conn:
        text = (
            await conn.execute(select(webhook_events.c.payload).where(webhook_events.c.id == event_id))
        ).scalar()
    return orjson.loads(text or "null")


def test_the_default_schedule_spans_about_a_day() -> None:
    schedule = RetrySchedule()
    delays = [schedule.delay_after(n) for n in range(1, schedule.max_attempts + 1)]
    assert delays[:4] == [30, 60, 120, 240]
    assert delays[-1] is None and all(d is not None for d in delays[:-1])
    assert max(d for d in delays if d is not None) == 30 * 2**10  # capped
    assert 22 * 3600 <= schedule.span_s <= 27 * 3600
    assert RetrySchedule(base_s=0.1).span_s == pytest.approx(schedule.span_s / 300)
    for broken in ({"base_s": 0}, {"max_attempts": 0}, {"cap_doublings": -1}):
        with pytest.raises(ValueError, match="retry schedule"):
            RetrySchedule(**broken)


async def test_the_notifier_bounds_what_it_holds(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    endpoint_id, _ = await rig.subscribe("http://127.0.0.1:9/b", ["anomaly.detected"])
    notifier = Notifier(rig.outbox, max_pending=2)
    with caplog.at_level(logging.ERROR, logger="tollgate.webhooks"):
        for n in range(5):
            notifier.emit(rig.workspace_id, "anomaly.detected", {"n": n})
        await notifier.close()
    assert notifier.dropped == 3
    assert sum("being dropped" in r.getMessage() for r in caplog.records) == 1
    page, _ = await rig.store.webhooks.outbox.list_deliveries(rig.workspace_id, endpoint_id)
    assert len(page) == 2
