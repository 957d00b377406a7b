"""The webhook outbox: events, their deliveries and every attempt.

- ``publish`` writes an event and one pending delivery per subscribed endpoint in one
  transaction: an event is never stored without its deliveries, nor a delivery without its event.
- ``claim_due`` takes a lease on due deliveries with one conditional ``UPDATE`` (it re-checks
  that each row is still due and unleased), so any number of workers sharing a database never
  hold the same delivery at once; a worker that dies loses its lease when ``locked_until``
  passes and the delivery becomes due again (at-least-once).
- ``complete`` logs the attempt and moves the delivery on only if the worker still holds the
  lease; the attempt is logged either way, because it happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Row, Select, and_, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from tollgate.core.errors import BadRequest, Conflict
from tollgate.store._base import Repository, check_limit, translate_integrity
from tollgate.store.cursor import decode_cursor, encode_cursor, micros_to_time, require_str, time_to_micros
from tollgate.store.db import write_transaction
from tollgate.store.schema import webhook_attempts as a
from tollgate.store.schema import webhook_deliveries as d
from tollgate.store.schema import webhook_endpoints as e
from tollgate.store.schema import webhook_events as ev
from tollgate.store.webhook_records import (
    ClaimedDelivery,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    to_endpoint,
)

_CURSOR_KIND: Final = "whd"
DeliveryPage = tuple[list[WebhookDelivery], str | None]


def _due(now: datetime) -> Any:
    return and_(
        d.c.status == "pending",
        d.c.next_attempt_at <= now,
        or_(d.c.locked_until.is_(None), d.c.locked_until <= now),
    )


def _subscribed(rows: Sequence[Any], event: str) -> list[str]:
    return [row.id for row in rows if "*" in row.enabled_events or event in row.enabled_events]


def _to_attempt(row: Row[Any]) -> WebhookAttempt:
    return WebhookAttempt(
        id=row.id,
        workspace_id=row.workspace_id,
        delivery_id=row.delivery_id,
        attempted_at=row.attempted_at,
        ok=row.ok,
        http_status=row.http_status,
        error=row.error,
        duration_ms=row.duration_ms,
    )


def _to_delivery(row: Row[Any], attempts: Sequence[WebhookAttempt] = ()) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        workspace_id=row.workspace_id,
        endpoint_id=row.endpoint_id,
        event_id=row.event_id,
        event=row.event,
        status=row.status,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        attempt_log=tuple(attempts),
    )


def _deliveries_of(workspace_id: str, endpoint_id: str) -> Select[Any]:
    return (
        select(d, ev.c.event)
        .join(ev, ev.c.id == d.c.event_id)
        .where(d.c.workspace_id == workspace_id, d.c.endpoint_id == endpoint_id)
    )


async def _with_attempts(
    conn: AsyncConnection, workspace_id: str, rows: Sequence[Row[Any]]
) -> list[WebhookDelivery]:
    if not rows:
        return []
    query = (
        select(a)
        .where(a.c.workspace_id == workspace_id, a.c.delivery_id.in_([row.id for row in rows]))
        .order_by(a.c.attempted_at, a.c.id)
    )
    by_delivery: dict[str, list[WebhookAttempt]] = {}
    for attempt in (await conn.execute(query)).all():
        by_delivery.setdefault(attempt.delivery_id, []).append(_to_attempt(attempt))
    return [_to_delivery(row, by_delivery.get(row.id, ())) for row in rows]


class WebhookOutboxRepository(Repository):
    async def publish(self, event: WebhookEvent, new_delivery_id: Callable[[], str]) -> list[str]:
        """Store ``event`` and a pending delivery, due now, for every enabled endpoint of its
        workspace that subscribes to it, in one transaction; the new deliveries' ids. An event no
        endpoint subscribes to is not stored: there is nothing to deliver, and no write."""
        subscribers = select(e.c.id, e.c.enabled_events).where(
            e.c.workspace_id == event.workspace_id, e.c.status == "enabled", e.c.deleted_at.is_(None)
        )
        async with self._engine.connect() as conn:  # most events have no subscriber: read first
            if not _subscribed((await conn.execute(subscribers)).all(), event.event):
                return []
        try:
            async with write_transaction(self._engine) as conn:
                targets = _subscribed((await conn.execute(subscribers)).all(), event.event)
                if not targets:
                    return []
                await conn.execute(
                    insert(ev).values(
                        id=event.id,
                        workspace_id=event.workspace_id,
                        event=event.event,
                        payload=event.payload.decode("utf-8"),
                        created_at=event.created_at,
                    )
                )
                created = [self._pending(event, endpoint_id, new_delivery_id()) for endpoint_id in targets]
                await conn.execute(insert(d), created)
        except IntegrityError as exc:
            conflict = Conflict(f"webhook event {event.id} already exists", code="webhook_event_exists")
            raise translate_integrity(exc, conflict=conflict, workspace_id=event.workspace_id) from exc
        return [row["id"] for row in created]

    @staticmethod
    def _pending(event: WebhookEvent, endpoint_id: str, delivery_id: str) -> dict[str, Any]:
        return {
            "id": delivery_id,
            "workspace_id": event.workspace_id,
            "endpoint_id": endpoint_id,
            "event_id": event.id,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": event.created_at,
            "locked_until": None,
            "lease_id": None,
            "created_at": event.created_at,
            "updated_at": event.created_at,
        }

    async def claim_due(
        self, now: datetime, *, lease_id: str, lease_until: datetime, limit: int
    ) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries of enabled endpoints, soonest first."""
        due = (
            select(d.c.id)
            .join(e, e.c.id == d.c.endpoint_id)
            .where(_due(now), e.c.status == "enabled", e.c.deleted_at.is_(None))
        )
        candidates = (
            due.order_by(d.c.next_attempt_at)
            .limit(limit)
            .with_for_update(of=d, skip_locked=True)  # PostgreSQL: skip rows another worker holds
        )
        # The outer condition is checked again on each row as it is updated: a row another worker
        # leased meanwhile is no longer due, so it is not claimed twice.
        claim = (
            update(d)
            .where(d.c.id.in_(candidates.scalar_subquery()), _due(now))
            .values(locked_until=lease_until, lease_id=lease_id)
            .returning(d.c.id)
        )
        fetch = select(d.c.id, d.c.workspace_id, d.c.attempts, d.c.endpoint_id, ev.c.payload).join(
            ev, ev.c.id == d.c.event_id
        )
        async with self._engine.connect() as conn:  # polled often: take no write lock when idle
            if (await conn.execute(due.limit(1))).first() is None:
                return []
        async with write_transaction(self._engine) as conn:
            ids = (await conn.execute(claim)).scalars().all()
            if not ids:
                return []
            rows = (await conn.execute(fetch.where(d.c.id.in_(ids), d.c.lease_id == lease_id))).all()
            wanted = {row.endpoint_id for row in rows}
            endpoints = {
                row.id: to_endpoint(row)
                for row in (await conn.execute(select(e).where(e.c.id.in_(wanted)))).all()
            }
        return [
            ClaimedDelivery(
                id=row.id,
                workspace_id=row.workspace_id,
                lease_id=lease_id,
                attempts=row.attempts,
                endpoint=endpoints[row.endpoint_id],
                payload=row.payload.encode("utf-8"),
            )
            for row in rows
        ]

    async def complete(
        self,
        claimed: ClaimedDelivery,
        attempt: WebhookAttempt,
        *,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
    ) -> bool:
        """Log ``attempt`` and move the delivery to ``status``; False when the lease was lost
        (the delivery was redelivered, its endpoint deleted, or the lease ran out)."""
        move = (
            update(d)
            .where(d.c.id == claimed.id, d.c.lease_id == claimed.lease_id)
            .values(
                status=status,
                attempts=d.c.attempts + 1,
                next_attempt_at=next_attempt_at,
                locked_until=None,
                lease_id=None,
                updated_at=attempt.attempted_at,
            )
            .returning(d.c.id)
        )
        async with write_transaction(self._engine) as conn:
            await conn.execute(
                insert(a).values(
                    id=attempt.id,
                    workspace_id=attempt.workspace_id,
                    delivery_id=attempt.delivery_id,
                    attempted_at=attempt.attempted_at,
                    ok=attempt.ok,
                    http_status=attempt.http_status,
                    error=attempt.error,
                    duration_ms=attempt.duration_ms,
                )
            )
            return (await conn.execute(move)).first() is not None

    async def release(self, claimed: Sequence[ClaimedDelivery]) -> None:
        """Give back leases that were not used (a worker stopping), so others need not wait."""
        async with write_transaction(self._engine) as conn:
            for item in claimed:
                await conn.execute(
                    update(d)
                    .where(d.c.id == item.id, d.c.lease_id == item.lease_id)
                    .values(locked_until=None, lease_id=None)
                )

    async def redeliver(self, workspace_id: str, endpoint_id: str, delivery_id: str, now: datetime) -> bool:
        """Make the delivery pending and due now, whatever its status; an attempt in flight
        loses its lease (it is still logged). False when there is no such delivery."""
        query = (
            update(d)
            .where(d.c.workspace_id == workspace_id, d.c.endpoint_id == endpoint_id, d.c.id == delivery_id)
            .values(status="pending", next_attempt_at=now, locked_until=None, lease_id=None, updated_at=now)
            .returning(d.c.id)
        )
        async with write_transaction(self._engine) as conn:
            return (await conn.execute(query)).first() is not None

    async def get_delivery(
        self, workspace_id: str, endpoint_id: str, delivery_id: str
    ) -> WebhookDelivery | None:
        query = _deliveries_of(workspace_id, endpoint_id).where(d.c.id == delivery_id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            found = await _with_attempts(conn, workspace_id, rows)
        return found[0] if found else None

    async def list_deliveries(
        self, workspace_id: str, endpoint_id: str, *, limit: int = 50, cursor: str | None = None
    ) -> DeliveryPage:
        """An endpoint's deliveries, newest first by (created_at, id), each with its attempts
        (oldest first). ``next_cursor`` is None on the last page."""
        check_limit(limit)
        query = _deliveries_of(workspace_id, endpoint_id)
        if cursor is not None:
            micros, last_id, made_for = decode_cursor(_CURSOR_KIND, cursor, 3)
            if made_for != endpoint_id:
                raise BadRequest("the cursor belongs to another endpoint's deliveries", code="invalid_cursor")
            position = (micros_to_time(micros), require_str(last_id))
            query = query.where(tuple_(d.c.created_at, d.c.id) < position)
        query = query.order_by(d.c.created_at.desc(), d.c.id.desc()).limit(limit + 1)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
            items = await _with_attempts(conn, workspace_id, rows[:limit])
        if len(rows) <= limit:
            return items, None
        last = items[-1]
        return items, encode_cursor(_CURSOR_KIND, time_to_micros(last.created_at), last.id, endpoint_id)
