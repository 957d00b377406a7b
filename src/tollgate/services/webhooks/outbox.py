"""The webhook outbox: events are written to the database, then delivered in the background.

``Outbox.publish`` stores an event and one pending delivery per subscribed endpoint in one
transaction; the delivery worker (``delivery``) sends them. ``Notifier.emit`` is for code on the
request path: it builds the payload at once (so its timestamp is when the thing happened and a
later change to ``data`` does not leak in), hands the write to a tracked background task and
returns; it never raises and never waits. Nothing sends a webhook on the request path.

Every event's payload is exactly::

    {"id": "evt_…", "event": "budget.alert", "timestamp": "2026-01-01T00:00:00Z",
     "workspaceId": "ws_…", "data": {…}}
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

import orjson

from tollgate.core.clock import Clock
from tollgate.core.ids import IdFactory
from tollgate.store.repos import Store
from tollgate.store.webhook_records import WebhookEvent

EVENTS: Final = (
    "budget.alert",
    "budget.exceeded",
    "quota.exceeded",
    "api_key.invalid",
    "anomaly.detected",
    "optimization.applied",
)
WRITE_TRIES: Final = 3
MAX_PENDING: Final = 1000  # events being stored at once; beyond it, emit drops (and says so once)
CLOSE_GRACE_S: Final = 10.0
log = logging.getLogger("tollgate.webhooks")


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-01-01T00:00:00.123456Z``."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: object) -> Any:
    if isinstance(value, Decimal):  # money stays exact: a decimal string
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def event_payload(
    event_id: str, event: str, at: datetime, workspace_id: str, data: Mapping[str, Any]
) -> bytes:
    body = {
        "id": event_id,
        "event": event,
        "timestamp": iso_utc(at),
        "workspaceId": workspace_id,
        "data": data,
    }
    return orjson.dumps(body, default=_json_default, option=orjson.OPT_NON_STR_KEYS)


class Outbox:
    def __init__(
        self, store: Store, clock: Clock, ids: IdFactory, on_published: Callable[[], None] | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._on_published = on_published

    def prepare(self, workspace_id: str, event: str, data: Mapping[str, Any]) -> WebhookEvent:
        """The event with its payload, not stored yet. ``ValueError`` for an unknown event,
        ``TypeError`` for data JSON cannot hold."""
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}")
        now = self._clock.now()
        event_id = self._ids.new("evt")
        return WebhookEvent(
            event_id, workspace_id, event, event_payload(event_id, event, now, workspace_id, data), now
        )

    async def write(self, prepared: WebhookEvent) -> list[str]:
        """Store a prepared event and its deliveries (one transaction); the deliveries' ids."""
        delivery_ids = await self._store.webhooks.outbox.publish(prepared, lambda: self._ids.new("whd"))
        if delivery_ids and self._on_published is not None:
            self._on_published()
        return delivery_ids

    async def publish(self, workspace_id: str, event: str, data: Mapping[str, Any]) -> str:
        """Store the event and one pending delivery per enabled endpoint of the workspace that
        subscribes to it, atomically; the event's id."""
        prepared = self.prepare(workspace_id, event, data)
        await self.write(prepared)
        return prepared.id


class Notifier:
    """Fire-and-forget publishing for the request path; ``close`` drains what is in flight."""

    def __init__(self, outbox: Outbox, *, retry_pause_s: float = 0.5, max_pending: int = MAX_PENDING) -> None:
        self._outbox = outbox
        self._retry_pause_s = retry_pause_s
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._overflowing = False
        self.dropped = 0  # events refused because too many were being stored at once

    def emit(self, workspace_id: str, event: str, data: Mapping[str, Any]) -> None:
        """Publish in the background. Never raises, never blocks: a failure is logged. A caller
        that may emit once per request (``api_key.invalid``) should throttle what it emits."""
        if self._closed:
            log.warning("webhook event %s for workspace %s dropped: shutting down", event, workspace_id)
            return
        if len(self._tasks) >= self._max_pending:  # the database is slow or gone: bound the memory
            self.dropped += 1
            if not self._overflowing:
                log.error("webhook events are being dropped: %d are still being stored", len(self._tasks))
            self._overflowing = True
            return
        self._overflowing = False
        try:
            prepared = self._outbox.prepare(workspace_id, event, data)
            task = asyncio.get_running_loop().create_task(
                self._write(prepared), name=f"webhook-{prepared.id}"
            )
        except (ValueError, TypeError, RuntimeError) as exc:
            log.error("webhook event %s for workspace %s not published: %s", event, workspace_id, exc)
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, prepared: WebhookEvent) -> None:
        for attempt in range(1, WRITE_TRIES + 1):
            try:
                await self._outbox.write(prepared)
                return
            except Exception as exc:  # the database may be back in a moment: try again, then log
                failure = type(exc).__name__
                if attempt < WRITE_TRIES:
                    await asyncio.sleep(self._retry_pause_s * 2 ** (attempt - 1))
        log.error(
            "webhook event %s (%s) for workspace %s could not be stored: %s",
            prepared.event,
            prepared.id,
            prepared.workspace_id,
            failure,
        )

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Refuse new events and wait for those in flight (cancelled after ``grace_s``)."""
        self._closed = True
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=grace_s)
        for task in late:
            task.cancel()
        if late:
            log.error("%d webhook events were still being stored at shutdown and were dropped", len(late))
            await asyncio.gather(*late, return_exceptions=True)
