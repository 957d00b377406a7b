"""Exports: ``/v1/exports/requests.csv`` (the usage log, streamed page by page) and
``/v1/exports/analytics.json`` (a ``/v1/usage`` series with the filters that made it).

The CSV has fixed, privacy-safe columns: no prompt or completion text (none is stored), no
metadata, no key material. Text cells that a spreadsheet would run as a formula are prefixed
with ``'``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response, StreamingResponse

from tollgate.core import jsonx
from tollgate.core.money import format_usd
from tollgate.routes.management.analytics import From, To, report_json, usage_query
from tollgate.routes.management.analytics_json import iso
from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.management.requests import Filters
from tollgate.routes.wiring import context_of
from tollgate.store.records import UsageRecord
from tollgate.store.repos import Store

router = APIRouter(prefix="/v1/exports", tags=["exports"])
Who = Annotated[Principal, Depends(principal)]
PAGE = 1000
COLUMNS: tuple[str, ...] = (
    "id", "created_at", "key_id", "provider", "model", "upstream_model", "operation", "door", "stream",
    "status", "http_status", "error_code", "input_tokens", "cache_read_tokens", "cache_write_tokens",
    "output_tokens", "reasoning_tokens", "total_tokens", "cost_usd", "reported_cost_usd", "price_source",
    "price_unknown", "estimated", "cache_status", "latency_ms", "ttfb_ms", "route", "function", "feature",
    "customer",
)  # fmt: skip
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def _usd(nanos: int | None) -> str:
    return "" if nanos is None else format_usd(nanos)


def csv_row(r: UsageRecord) -> list[object]:
    return [
        r.id, iso(r.created_at), r.key_id or "", _text(r.provider), _text(r.model), _text(r.upstream_model),
        r.operation, r.door, str(r.stream).lower(), r.status, r.http_status, _text(r.error_code),
        r.input_tokens, r.cache_read_tokens, r.cache_write_tokens, r.output_tokens, r.reasoning_tokens,
        r.total_tokens, _usd(r.cost_nanos), _usd(r.reported_cost_nanos), r.price_source or "",
        str(r.price_unknown).lower(), str(r.estimated).lower(), r.cache_status, r.latency_ms,
        "" if r.ttfb_ms is None else r.ttfb_ms, _text(r.route_name), _text(r.function_name),
        _text(r.feature), _text(r.customer_id),
    ]  # fmt: skip


def _encode(rows: Sequence[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


async def _pages(store: Store, workspace_id: str, filters: dict[str, Any]) -> AsyncIterator[bytes]:
    yield _encode([COLUMNS])
    cursor: str | None = None
    while True:
        records, cursor = await store.usage.list(workspace_id, limit=PAGE, cursor=cursor, **filters)
        if records:
            yield _encode([csv_row(r) for r in records])
        if cursor is None:
            return


@router.get("/requests.csv", response_class=StreamingResponse)
async def export_requests(request: Request, who: Who, filters: Filters) -> Response:
    """Every matching request, newest first, as CSV (filters as ``/v1/requests``)."""
    workspace_id = await workspace_for(request, who, "read")
    return StreamingResponse(
        _pages(context_of(request).store, workspace_id, filters),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="requests.csv"'},
    )


@router.get("/analytics.json")
async def export_analytics(request: Request, who: Who, from_: From = None, to: To = None) -> Response:
    """A ``/v1/usage`` series (same parameters), with the filters and the time it was made."""
    workspace_id, ctx, query = await usage_query(request, who, from_, to)
    report = report_json(await ctx.usage_analytics.report(workspace_id, query))
    body = {
        "generatedAt": iso(ctx.clock.now()),
        "filters": {k: report[k] for k in ("from", "to", "timeZone", "interval", "groupBy", "filters")},
        "series": report["data"],
        "totals": report["totals"],
    }
    return Response(
        jsonx.dumps(body),
        media_type="application/json",
        headers={"content-disposition": 'attachment; filename="analytics.json"'},
    )
