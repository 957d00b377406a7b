"""Request and response shapes of ``/v1/webhook-endpoints`` (they drive the OpenAPI document).

Request fields are typed loosely where the service answers with a more precise error code
(``invalid_webhook_url``, ``invalid_events``); the schema documents what they must be.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from tollgate.services.webhooks.outbox import EVENTS

_Url = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "string",
            "format": "uri",
            "description": "An https URL whose host resolves only to public addresses.",
        }
    ),
]
_Events = Annotated[
    Any,
    WithJsonSchema(
        {
            "type": "array",
            "items": {"type": "string", "enum": [*EVENTS, "*"]},
            "minItems": 1,
            "description": 'The events to receive, or ["*"] for all of them.',
        }
    ),
]
_Description = Annotated[
    Any, WithJsonSchema({"anyOf": [{"type": "string", "maxLength": 500}, {"type": "null"}]})
]
_Status = Annotated[Any, WithJsonSchema({"type": "string", "enum": ["enabled", "disabled"]})]


class WebhookEndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: _Url
    enabledEvents: _Events
    description: _Description = None


class WebhookEndpointPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: _Url = None
    enabledEvents: _Events = None
    description: _Description = None
    status: _Status = None


class WebhookEndpointOut(BaseModel):
    id: str
    workspaceId: str
    url: str
    description: str | None
    enabledEvents: list[str]
    status: str
    secretPreview: str = Field(description="The last 4 characters of the newest signing secret.")
    createdAt: datetime
    updatedAt: datetime


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    secret: str = Field(
        description="The signing secret (whsec_…): returned once, at creation and at rotation."
    )


class WebhookAttemptOut(BaseModel):
    id: str
    attemptedAt: datetime
    ok: bool
    httpStatus: int | None
    error: str | None
    durationMs: int


class WebhookDeliveryOut(BaseModel):
    id: str
    endpointId: str
    eventId: str
    event: str
    status: str = Field(description="pending, delivered or failed.")
    attemptCount: int
    nextAttemptAt: datetime | None
    createdAt: datetime
    updatedAt: datetime
    attempts: list[WebhookAttemptOut] = Field(description="Every attempt, oldest first.")


class WebhookDeliveryPage(BaseModel):
    data: list[WebhookDeliveryOut]
    nextCursor: str | None = None
