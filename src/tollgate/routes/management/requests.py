"""``/v1/requests``: the usage log, newest first, filtered, with cursor pagination."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from tollgate.core.errors import BadRequest, NotFound
from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.management.schemas import Page
from tollgate.routes.present import record_json
from tollgate.routes.wiring import context_of
from tollgate.services.analytics.periods import parse_date_or_time

router = APIRouter(prefix="/v1/requests", tags=["requests"])
Who = Annotated[Principal, Depends(principal)]


def parse_instant(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """ISO 8601 date or date-time; naive values are UTC.

    ``from`` is inclusive and ``to`` exclusive, except that a bare ``to`` date includes that
    whole day (the bound becomes the next midnight).
    """
    if value is None or value == "":
        return None
    parsed = parse_date_or_time(value, name)
    try:
        if isinstance(parsed, datetime):
            return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        moment = datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)
        return moment + timedelta(days=1) if end else moment
    except OverflowError as exc:  # beyond year 1..9999 in UTC
        raise BadRequest(f"{name} is out of range", code="invalid_date") from exc


def record_filters(
    provider: str | None = None,
    model: str | None = None,
    key: str | None = None,
    feature: str | None = None,
    status: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
) -> dict[str, Any]:
    """The filters of the usage log (``/v1/requests`` and its CSV export), as store arguments."""
    return {
        "provider": provider,
        "model": model,
        "key_id": key,
        "feature": feature,
        "status": status,
        "start": parse_instant(from_, "from"),
        "end": parse_instant(to, "to", end=True),
    }


Filters = Annotated[dict[str, Any], Depends(record_filters)]


@router.get("", response_model=Page)
async def list_requests(
    request: Request,
    who: Who,
    filters: Filters,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "read")
    records, next_cursor = await context_of(request).store.usage.list(
        workspace_id, limit=limit, cursor=cursor, **filters
    )
    return {"data": [record_json(r) for r in records], "nextCursor": next_cursor}


@router.get("/{request_id}")
async def get_request(request_id: str, request: Request, who: Who) -> dict[str, Any]:
    workspace_id = await workspace_for(request, who, "read")
    record = await context_of(request).store.usage.get(workspace_id, request_id)
    if record is None:
        raise NotFound(f"request {request_id} not found", code="request_not_found")
    return record_json(record)
