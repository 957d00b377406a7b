"""Webhook endpoints, and ``WebhookStore``: the endpoints and the outbox (``webhook_outbox``).

An endpoint's secrets are stored sealed (the caller seals and opens them); a deleted endpoint is
kept (``deleted_at``) so its delivery log stays readable, but no read here returns it, and
deleting it fails its pending deliveries in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tollgate.core.errors import Conflict
from tollgate.store._base import UNSET, Repository, Unset, changes, translate_integrity
from tollgate.store.db import write_transaction
from tollgate.store.schema import webhook_deliveries as deliveries
from tollgate.store.schema import webhook_endpoints as t
from tollgate.store.webhook_outbox import WebhookOutboxRepository
from tollgate.store.webhook_records import (
    EndpointStatus,
    SealedSecret,
    WebhookEndpoint,
    secrets_to_json,
    to_endpoint,
)


def _values(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "workspace_id": endpoint.workspace_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "enabled_events": list(endpoint.enabled_events),
        "status": endpoint.status,
        "secrets": secrets_to_json(endpoint.secrets),
        "secret_preview": endpoint.secret_preview,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "deleted_at": endpoint.deleted_at,
    }


class WebhookEndpointRepository(Repository):
    async def create(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        try:
            async with write_transaction(self._engine) as conn:
                await conn.execute(insert(t).values(_values(endpoint)))
        except IntegrityError as exc:
            conflict = Conflict(
                "a webhook endpoint with this id already exists", code="webhook_endpoint_exists"
            )
            raise translate_integrity(exc, conflict=conflict, workspace_id=endpoint.workspace_id) from exc
        return endpoint

    async def get(self, workspace_id: str, id: str) -> WebhookEndpoint | None:
        """The endpoint, unless it is not in the workspace or was deleted."""
        query = select(t).where(t.c.workspace_id == workspace_id, t.c.id == id, t.c.deleted_at.is_(None))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else to_endpoint(row)

    async def list(self, workspace_id: str) -> list[WebhookEndpoint]:
        """Every endpoint of the workspace that was not deleted, oldest first."""
        query = (
            select(t)
            .where(t.c.workspace_id == workspace_id, t.c.deleted_at.is_(None))
            .order_by(t.c.created_at, t.c.id)
        )
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [to_endpoint(row) for row in rows]

    async def update(
        self,
        workspace_id: str,
        id: str,
        *,
        updated_at: datetime,
        url: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
        enabled_events: Sequence[str] | Unset = UNSET,
        status: EndpointStatus | Unset = UNSET,
        secrets: Sequence[SealedSecret] | Unset = UNSET,
        secret_preview: str | Unset = UNSET,
    ) -> WebhookEndpoint | None:
        """Apply the given changes; None when the endpoint is not in the workspace (or deleted)."""
        values: dict[str, Any] = changes(
            url=url, description=description, status=status, secret_preview=secret_preview
        )
        if not isinstance(enabled_events, Unset):
            values["enabled_events"] = list(enabled_events)
        if not isinstance(secrets, Unset):
            values["secrets"] = secrets_to_json(secrets)
        values["updated_at"] = updated_at
        query = (
            update(t)
            .where(t.c.workspace_id == workspace_id, t.c.id == id, t.c.deleted_at.is_(None))
            .values(values)
            .returning(*t.c)
        )
        async with write_transaction(self._engine) as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else to_endpoint(row)

    async def delete(self, workspace_id: str, id: str, at: datetime) -> bool:
        """Delete the endpoint and fail its pending deliveries, atomically; False if it was not
        there (or already deleted)."""
        gone = (
            update(t)
            .where(t.c.workspace_id == workspace_id, t.c.id == id, t.c.deleted_at.is_(None))
            .values(deleted_at=at, updated_at=at, status="disabled")
            .returning(t.c.id)
        )
        stop = (
            update(deliveries)
            .where(
                deliveries.c.workspace_id == workspace_id,
                deliveries.c.endpoint_id == id,
                deliveries.c.status == "pending",
            )
            .values(status="failed", next_attempt_at=None, locked_until=None, lease_id=None, updated_at=at)
        )
        async with write_transaction(self._engine) as conn:
            if (await conn.execute(gone)).first() is None:
                return False
            await conn.execute(stop)
        return True


class WebhookStore:
    """The webhook repositories over one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.endpoints = WebhookEndpointRepository(engine)
        self.outbox = WebhookOutboxRepository(engine)
