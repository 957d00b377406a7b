"""``/v1/webhook-endpoints``: endpoints, their signing secrets and their deliveries.

The raw secret appears once, in the create and rotate-secret answers; every other answer shows
``secretPreview`` only.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.management.schemas import Page
from tollgate.routes.management.webhook_schemas import (
    WebhookDeliveryOut,
    WebhookDeliveryPage,
    WebhookEndpointIn,
    WebhookEndpointOut,
    WebhookEndpointPatch,
    WebhookEndpointWithSecretOut,
)
from tollgate.routes.wiring import context_of
from tollgate.services.webhooks.endpoints import EndpointWithSecret, WebhookEndpointService
from tollgate.store.webhook_records import WebhookAttempt, WebhookDelivery, WebhookEndpoint

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])
Who = Annotated[Principal, Depends(principal)]

_PATCH_FIELDS = {
    "url": "url",
    "enabledEvents": "enabled_events",
    "description": "description",
    "status": "status",
}


def endpoint_json(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "workspaceId": endpoint.workspace_id,
        "url": endpoint.url,
        "description": endpoint.description,
        "enabledEvents": list(endpoint.enabled_events),
        "status": endpoint.status,
        "secretPreview": endpoint.secret_preview,
        "createdAt": endpoint.created_at,
        "updatedAt": endpoint.updated_at,
    }


def with_secret_json(created: EndpointWithSecret) -> dict[str, Any]:
    return {**endpoint_json(created.endpoint), "secret": created.secret}


def attempt_json(attempt: WebhookAttempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "attemptedAt": attempt.attempted_at,
        "ok": attempt.ok,
        "httpStatus": attempt.http_status,
        "error": attempt.error,
        "durationMs": attempt.duration_ms,
    }


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "endpointId": delivery.endpoint_id,
        "eventId": delivery.event_id,
        "event": delivery.event,
        "status": delivery.status,
        "attemptCount": delivery.attempts,
        "nextAttemptAt": delivery.next_attempt_at,
        "createdAt": delivery.created_at,
        "updatedAt": delivery.updated_at,
        "attempts": [attempt_json(a) for a in delivery.attempt_log],
    }


def _service(request: Request) -> WebhookEndpointService:
    return context_of(request).webhooks.endpoints


@router.post("", status_code=201, response_model=WebhookEndpointWithSecretOut)
async def create_endpoint(body: WebhookEndpointIn, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    created = await _service(request).create(
        workspace_id, url=body.url, enabled_events=body.enabledEvents, description=body.description
    )
    return with_secret_json(created)


@router.get("", response_model=Page)
async def list_endpoints(request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    endpoints = await _service(request).list(workspace_id)
    return {"data": [endpoint_json(e) for e in endpoints], "nextCursor": None}


@router.get("/{endpoint_id}", response_model=WebhookEndpointOut)
async def get_endpoint(endpoint_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    return endpoint_json(await _service(request).get(workspace_id, endpoint_id))


@router.patch("/{endpoint_id}", response_model=WebhookEndpointOut)
async def update_endpoint(
    endpoint_id: str, body: WebhookEndpointPatch, request: Request, who: Who
) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    changes = {_PATCH_FIELDS[k]: v for k, v in body.model_dump(exclude_unset=True).items()}
    return endpoint_json(await _service(request).update(workspace_id, endpoint_id, **changes))


@router.delete("/{endpoint_id}", status_code=204)
async def delete_endpoint(endpoint_id: str, request: Request, who: Who) -> Response:
    workspace_id = await workspace_for(request, who, "admin")
    await _service(request).delete(workspace_id, endpoint_id)
    return Response(status_code=204)


@router.post("/{endpoint_id}/rotate-secret", response_model=WebhookEndpointWithSecretOut)
async def rotate_secret(endpoint_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    return with_secret_json(await _service(request).rotate_secret(workspace_id, endpoint_id))


@router.get("/{endpoint_id}/deliveries", response_model=WebhookDeliveryPage)
async def list_deliveries(
    endpoint_id: str,
    request: Request,
    who: Who,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    deliveries, next_cursor = await _service(request).deliveries(
        workspace_id, endpoint_id, limit=limit, cursor=cursor
    )
    return {"data": [delivery_json(d) for d in deliveries], "nextCursor": next_cursor}


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=WebhookDeliveryOut
)
async def redeliver(endpoint_id: str, delivery_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "admin")
    return delivery_json(await _service(request).redeliver(workspace_id, endpoint_id, delivery_id))
