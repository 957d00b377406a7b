"""``/v1/requests``: the usage log, newest first, filtered, with cursor pagination."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from tollgate.core.errors import BadRequest, NotFound
from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.management.schemas import Page
from tollgate.routes.present import record_json
from tollgate.routes.wiring import context_of

router = APIRouter(prefix="/v1/requests", tags=["requests"])
Who = Annotated[Principal, Depends(principal)]
_SPACED_OFFSET = re.compile(r"(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")


def parse_instant(value: str | None, name: str, *, end: bool = False) -> datetime | None:
    """ISO 8601 date or date-time; naive values are UTC.

    ``from`` is inclusive and ``to`` exclusive, except that a bare ``to`` date includes that
    whole day (the bound becomes the next midnight).
    """
    if value is None or value == "":
        return None
    # An unescaped "+" in a query string arrives as a space: "...T10:00:00 02:00".
    value = _SPACED_OFFSET.sub(r"\1+\2", value.strip())
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:  # OverflowError: beyond year 1..9999 in UTC
        raise BadRequest(f"{name} must be an ISO 8601 date or date-time", code="invalid_date") from exc


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
