"""Webhook endpoints: registration, changes, secret rotation, and their deliveries.

A URL passes the SSRF guard (``targets``) when it is registered or changed, honouring
``allow_private``; the sender checks it again before every delivery, because DNS answers
change. ``enabledEvents`` is a non-empty subset of ``EVENTS``, or ``["*"]`` for every event
(including ones added later). The signing secret is returned once, at creation and at rotation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from tollgate.core.clock import Clock
from tollgate.core.errors import BadRequest, NotFound
from tollgate.core.ids import IdFactory
from tollgate.services.sealing import Keyring
from tollgate.services.webhooks.endpoint_secrets import preview, rotated_secrets, seal_secret
from tollgate.services.webhooks.outbox import EVENTS
from tollgate.services.webhooks.targets import Resolver, checked_addresses, parse_target, system_resolver
from tollgate.store.repos import Store
from tollgate.store.webhook_outbox import DeliveryPage
from tollgate.store.webhook_records import EndpointStatus, WebhookDelivery, WebhookEndpoint
from tollgate.webhooks import new_secret

ALL_EVENTS: Final = "*"
STATUSES: Final = ("enabled", "disabled")
MAX_DESCRIPTION_CHARS: Final = 500


def validate_events(events: object) -> tuple[str, ...]:
    """``["*"]``, or a non-empty subset of ``EVENTS`` (in ``EVENTS`` order, without repeats)."""
    invalid = BadRequest(
        f'enabledEvents must be a non-empty list of {", ".join(EVENTS)}, or ["*"]', code="invalid_events"
    )
    if not isinstance(events, list | tuple) or not events or not all(isinstance(e, str) for e in events):
        raise invalid
    if ALL_EVENTS in events:
        if len(set(events)) != 1:
            raise invalid
        return (ALL_EVENTS,)
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise BadRequest(
            f"unknown webhook events: {', '.join(unknown)}; known: {', '.join(EVENTS)}",
            code="invalid_events",
        )
    return tuple(e for e in EVENTS if e in events)


def validate_description(description: object) -> str | None:
    if description is None:
        return None
    if not isinstance(description, str) or len(description) > MAX_DESCRIPTION_CHARS:
        raise BadRequest(
            f"description is text of at most {MAX_DESCRIPTION_CHARS} characters", code="invalid_request"
        )
    return description


def _not_found(endpoint_id: str) -> NotFound:
    return NotFound(f"webhook endpoint {endpoint_id} not found", code="webhook_endpoint_not_found")


@dataclass(frozen=True, slots=True)
class EndpointWithSecret:
    """An endpoint and its new raw secret: shown to the caller once, never stored raw."""

    endpoint: WebhookEndpoint
    secret: str

    def __repr__(self) -> str:
        return f"EndpointWithSecret(endpoint={self.endpoint.id!r})"


class WebhookEndpointService:
    def __init__(
        self,
        store: Store,
        keyring: Callable[[], Keyring],
        clock: Clock,
        ids: IdFactory,
        *,
        resolve: Resolver = system_resolver,
        allow_private: bool = False,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._keyring = keyring
        self._clock = clock
        self._ids = ids
        self._resolve = resolve
        self._allow_private = allow_private
        self._on_queued = on_queued

    async def validate_url(self, url: object) -> str:
        """The URL as stored, once the guard accepts it (``invalid_webhook_url`` otherwise)."""
        if not isinstance(url, str):
            raise BadRequest("url must be a string", code="invalid_webhook_url")
        target = parse_target(url, allow_private=self._allow_private)
        await checked_addresses(target, self._resolve, allow_private=self._allow_private)
        return target.url

    async def create(
        self, workspace_id: str, *, url: object, enabled_events: object, description: object = None
    ) -> EndpointWithSecret:
        events = validate_events(enabled_events)
        text = validate_description(description)
        checked = await self.validate_url(url)
        endpoint_id = self._ids.new("we")
        raw = new_secret()
        now = self._clock.now()
        endpoint = WebhookEndpoint(
            id=endpoint_id,
            workspace_id=workspace_id,
            url=checked,
            description=text,
            enabled_events=events,
            status="enabled",
            secrets=(seal_secret(self._keyring(), workspace_id, endpoint_id, raw),),
            secret_preview=preview(raw),
            created_at=now,
            updated_at=now,
        )
        return EndpointWithSecret(await self._store.webhooks.endpoints.create(endpoint), raw)

    async def get(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
        endpoint = await self._store.webhooks.endpoints.get(workspace_id, endpoint_id)
        if endpoint is None:
            raise _not_found(endpoint_id)
        return endpoint

    async def list(self, workspace_id: str) -> list[WebhookEndpoint]:
        return await self._store.webhooks.endpoints.list(workspace_id)

    async def update(self, workspace_id: str, endpoint_id: str, **changes: Any) -> WebhookEndpoint:
        """Change ``url``, ``enabled_events``, ``description`` or ``status``; each is checked
        as at creation (none may be null except ``description``)."""
        checked: dict[str, Any] = {}
        for name in ("url", "enabled_events", "status"):
            if name in changes and changes[name] is None:
                raise BadRequest(f"{name} cannot be null", code="invalid_request")
        if "enabled_events" in changes:
            checked["enabled_events"] = validate_events(changes["enabled_events"])
        if "description" in changes:
            checked["description"] = validate_description(changes["description"])
        if "status" in changes:
            checked["status"] = self._status(changes["status"])
        if "url" in changes:
            checked["url"] = await self.validate_url(changes["url"])
        updated = await self._store.webhooks.endpoints.update(
            workspace_id, endpoint_id, updated_at=self._clock.now(), **checked
        )
        if updated is None:
            raise _not_found(endpoint_id)
        if updated.status == "enabled" and self._on_queued is not None:
            self._on_queued()  # deliveries held while it was disabled are due again
        return updated

    @staticmethod
    def _status(value: object) -> EndpointStatus:
        if value == "enabled":
            return "enabled"
        if value == "disabled":
            return "disabled"
        raise BadRequest(f"status must be one of {', '.join(STATUSES)}", code="invalid_status")

    async def delete(self, workspace_id: str, endpoint_id: str) -> WebhookEndpoint:
        """Delete the endpoint; its pending deliveries fail, its log is kept."""
        endpoint = await self.get(workspace_id, endpoint_id)
        if not await self._store.webhooks.endpoints.delete(workspace_id, endpoint_id, self._clock.now()):
            raise _not_found(endpoint_id)
        return endpoint

    async def rotate_secret(self, workspace_id: str, endpoint_id: str) -> EndpointWithSecret:
        """A new secret, returned once; the previous one keeps signing for 24 hours."""
        endpoint = await self.get(workspace_id, endpoint_id)
        raw = new_secret()
        secrets = rotated_secrets(self._keyring(), endpoint, raw, self._clock.now())
        updated = await self._store.webhooks.endpoints.update(
            workspace_id,
            endpoint_id,
            updated_at=self._clock.now(),
            secrets=secrets,
            secret_preview=preview(raw),
        )
        if updated is None:
            raise _not_found(endpoint_id)
        return EndpointWithSecret(updated, raw)

    async def deliveries(
        self, workspace_id: str, endpoint_id: str, *, limit: int, cursor: str | None
    ) -> DeliveryPage:
        await self.get(workspace_id, endpoint_id)
        return await self._store.webhooks.outbox.list_deliveries(
            workspace_id, endpoint_id, limit=limit, cursor=cursor
        )

    async def redeliver(self, workspace_id: str, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
        """Queue one more attempt now, whatever the delivery's status (a failed one included)."""
        await self.get(workspace_id, endpoint_id)
        outbox = self._store.webhooks.outbox
        if not await outbox.redeliver(workspace_id, endpoint_id, delivery_id, self._clock.now()):
            raise NotFound(f"webhook delivery {delivery_id} not found", code="webhook_delivery_not_found")
        if self._on_queued is not None:
            self._on_queued()
        delivery = await outbox.get_delivery(workspace_id, endpoint_id, delivery_id)
        if delivery is None:
            raise NotFound(f"webhook delivery {delivery_id} not found", code="webhook_delivery_not_found")
        return delivery
