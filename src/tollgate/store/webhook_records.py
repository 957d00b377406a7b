"""Plain rows of the webhook tables. No behaviour beyond (de)serialisation.

A sealed secret never appears in a ``repr``: these rows may end up in a log line or a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row

EndpointStatus = Literal["enabled", "disabled"]
DeliveryStatus = Literal["pending", "delivered", "failed"]


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """One signing secret of an endpoint, sealed; ``expires_at`` is set once it was rotated out."""

    sealed: str = field(repr=False)
    expires_at: datetime | None = None

    def live_at(self, moment: datetime) -> bool:
        return self.expires_at is None or moment < self.expires_at


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    id: str
    workspace_id: str
    url: str
    description: str | None
    enabled_events: tuple[str, ...]
    status: EndpointStatus
    secrets: tuple[SealedSecret, ...] = field(repr=False)  # newest first
    secret_preview: str  # last 4 characters of the newest secret
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None

    def subscribes_to(self, event: str) -> bool:
        return "*" in self.enabled_events or event in self.enabled_events


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: str
    workspace_id: str
    event: str
    payload: bytes  # the exact JSON bytes every delivery of it sends and signs
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookAttempt:
    id: str
    workspace_id: str
    delivery_id: str
    attempted_at: datetime
    ok: bool
    http_status: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    id: str
    workspace_id: str
    endpoint_id: str
    event_id: str
    event: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None  # None once delivered or failed
    created_at: datetime
    updated_at: datetime
    attempt_log: tuple[WebhookAttempt, ...] = ()  # oldest first


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A due delivery this worker holds the lease on, with what it needs to send it."""

    id: str
    workspace_id: str
    lease_id: str
    attempts: int  # attempts made before this one
    endpoint: WebhookEndpoint
    payload: bytes


def secrets_to_json(secrets: Sequence[SealedSecret]) -> list[dict[str, Any]]:
    return [
        {"sealed": s.sealed, "expiresAt": None if s.expires_at is None else s.expires_at.isoformat()}
        for s in secrets
    ]


def secrets_from_json(values: Sequence[Mapping[str, Any]]) -> tuple[SealedSecret, ...]:
    return tuple(
        SealedSecret(
            v["sealed"], None if v.get("expiresAt") is None else datetime.fromisoformat(v["expiresAt"])
        )
        for v in values
    )


def to_endpoint(row: Row[Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row.id,
        workspace_id=row.workspace_id,
        url=row.url,
        description=row.description,
        enabled_events=tuple(row.enabled_events),
        status=row.status,
        secrets=secrets_from_json(row.secrets),
        secret_preview=row.secret_preview,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
    )
