"""``/v1/usage``, ``/v1/summary`` and ``/v1/analytics`` (also at seed 003's ``/api/analytics``).

Parsing and formatting only: the windows, buckets and sums come from ``services/analytics``.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request

from tollgate.core.money import format_usd
from tollgate.routes.management.analytics_json import (
    change,
    count_label,
    grouped_json,
    iso,
    measures_json,
    money_label,
    usd_number,
    window_json,
)
from tollgate.routes.management.auth import Principal, principal, workspace_for
from tollgate.routes.wiring import AppContext, context_of
from tollgate.services.analytics.overview import Dashboard
from tollgate.services.analytics.periods import interval_named, window, workspace_zone
from tollgate.services.analytics.usage import UsageQuery, UsageReport, filters_from, group_by_named
from tollgate.store.rollup_queries import Measures

router = APIRouter(tags=["analytics"])
Who = Annotated[Principal, Depends(principal)]
From = Annotated[str | None, Query(alias="from", description="YYYY-MM-DD (local) or ISO 8601 date-time")]
To = Annotated[str | None, Query(description="YYYY-MM-DD (included) or ISO 8601 date-time (excluded)")]


async def _zone_and_context(request: Request, who: Principal) -> tuple[str, AppContext, ZoneInfo]:
    workspace_id = await workspace_for(request, who, "read")
    ctx = context_of(request)
    workspace = await ctx.workspaces.get(workspace_id)
    return workspace_id, ctx, workspace_zone(workspace.settings)


async def usage_query(
    request: Request, who: Principal, start: str | None, end: str | None
) -> tuple[str, AppContext, UsageQuery]:
    """The workspace and the query of ``/v1/usage``-style parameters (shared with the JSON export)."""
    workspace_id, ctx, zone = await _zone_and_context(request, who)
    params = request.query_params
    query = UsageQuery(
        window=window(start, end, zone, now=ctx.clock.now()),
        interval=interval_named(params.get("interval")),
        group_by=group_by_named(params.getlist("groupBy")),
        filters=filters_from(params.multi_items()),
    )
    return workspace_id, ctx, query


def report_json(report: UsageReport) -> dict[str, Any]:
    query = report.query
    rows = []
    for row in report.rows:
        item = grouped_json(row.dims, row.measures)
        if row.start is not None:
            item = {"start": iso(row.start), **item}
        rows.append(item)
    return {
        **window_json(query.window),
        "interval": query.interval,
        "groupBy": list(query.group_by),
        "filters": {name: list(values) for name, values in query.filters.items()},
        "data": rows,
        "totals": measures_json(report.totals),
    }


@router.get("/v1/usage")
async def usage(
    request: Request,
    who: Who,
    from_: From = None,
    to: To = None,
    interval: Annotated[str | None, Query(description="hour, day, week or month")] = None,
    group_by: Annotated[
        list[str] | None,
        Query(
            alias="groupBy",
            description="comma-separated: key provider model feature route function customer status",
        ),
    ] = None,
) -> dict[str, Any]:
    """Usage and cost over time, grouped and filtered by any dimension (each dimension name is
    also a filter parameter; repeat it to allow several values)."""
    del interval, group_by  # read from the query string with the dimension filters
    workspace_id, ctx, query = await usage_query(request, who, from_, to)
    return report_json(await ctx.usage_analytics.report(workspace_id, query))


@router.get("/v1/summary")
async def summary(request: Request, who: Who, from_: From = None, to: To = None) -> dict[str, Any]:
    """Totals, error and cache-hit rates, latency percentiles, top features, routes and models,
    and this month's spend with its projection. Default range: this month."""
    workspace_id, ctx, zone = await _zone_and_context(request, who)
    now = ctx.clock.now()
    start = from_ if from_ or to else now.astimezone(zone).date().replace(day=1).isoformat()
    result = await ctx.overviews.summary(workspace_id, window(start, to, zone, now=now))
    totals = result.totals
    month = result.month
    return {
        **window_json(result.window),
        "totals": measures_json(totals),
        "errorRate": totals.errors / totals.requests if totals.requests else 0.0,
        "cacheHitRate": totals.cache_hits / totals.requests if totals.requests else 0.0,
        "latencyMs": _latency(totals),
        "topFeatures": [grouped_json(r.dims, r.measures) for r in result.top_features],
        "topRoutes": [grouped_json(r.dims, r.measures) for r in result.top_routes],
        "topModels": [grouped_json(r.dims, r.measures) for r in result.top_models],
        "month": {
            "start": iso(month.start),
            **_money("spend", month.spend_nanos),
            **_money("projected", month.projected_nanos),
        },
    }


def _money(name: str, nanos: int) -> dict[str, Any]:
    return {f"{name}Usd": format_usd(nanos), f"{name}Nanos": nanos}


def _latency(m: Measures) -> dict[str, float | None]:
    p50, p95 = m.latency_percentile(0.5), m.latency_percentile(0.95)
    return {
        "avg": round(m.latency_ms_sum / m.requests, 1) if m.requests else None,
        "p50": None if p50 is None else round(p50, 1),
        "p95": None if p95 is None else round(p95, 1),
    }


@router.get("/v1/analytics")
@router.get("/api/analytics", include_in_schema=False)
async def analytics(
    request: Request,
    who: Who,
    start_date: Annotated[
        str | None, Query(description="YYYY-MM-DD; default 29 days before end_date")
    ] = None,
    end_date: Annotated[str | None, Query(description="YYYY-MM-DD, included; default today")] = None,
) -> dict[str, Any]:
    """Seed 003's dashboard: metrics against the previous period of equal length, cost over time,
    cost by model, requests by hour of day, token usage and the costliest models."""
    workspace_id, ctx, zone = await _zone_and_context(request, who)
    span = window(start_date, end_date, zone, now=ctx.clock.now(), names=("start_date", "end_date"))
    return dashboard_json(await ctx.overviews.dashboard(workspace_id, span))


def dashboard_json(board: Dashboard) -> dict[str, Any]:
    by_model: dict[str, int] = {}
    tokens: dict[str, int] = {}
    for row in board.models:
        model = row.dims.get("model") or "unknown"
        by_model[model] = by_model.get(model, 0) + row.measures.cost_nanos
        tokens[model] = tokens.get(model, 0) + row.measures.total_tokens
    return {
        "metrics": _metrics(board.current, board.previous),
        "costOverTime": [
            {"name": day.isoformat(), "cost": usd_number(m.cost_nanos), "requests": m.requests}
            for day, m in board.days
        ],
        "costByModel": [
            {"name": model, "value": usd_number(nanos)}
            for model, nanos in sorted(by_model.items(), key=lambda item: (-item[1], item[0]))
        ],
        "requestsByHour": [
            {"name": f"{hour:02d}:00", "requests": count} for hour, count in enumerate(board.hours_of_day)
        ],
        "tokenUsage": {"total": board.current.total_tokens, "byModel": tokens},
        "topRequests": [
            {
                "model": row.dims.get("model"),
                "provider": row.dims.get("provider"),
                "requests": row.measures.requests,
                "cost": usd_number(row.measures.cost_nanos),
                "avgCost": usd_number(row.measures.cost_nanos // row.measures.requests),
            }
            for row in board.models[:10]
        ],
    }


def _metrics(now: Measures, before: Measures) -> list[dict[str, Any]]:
    def avg_cost(m: Measures) -> int:
        return m.cost_nanos // m.requests if m.requests else 0

    def avg_latency(m: Measures) -> float:
        return m.latency_ms_sum / m.requests if m.requests else 0.0

    def error_rate(m: Measures) -> float:
        return m.errors / m.requests if m.requests else 0.0

    rows: list[tuple[str, str, float, float, str]] = [
        ("Total Cost", money_label(now.cost_nanos), now.cost_nanos, before.cost_nanos, "DollarSign"),
        ("Total Requests", count_label(now.requests), now.requests, before.requests, "Activity"),
        ("Total Tokens", count_label(now.total_tokens), now.total_tokens, before.total_tokens, "Zap"),
        ("Avg Cost per Request", money_label(avg_cost(now)), avg_cost(now), avg_cost(before), "TrendingUp"),
        ("Avg Latency", f"{avg_latency(now):,.0f}ms", avg_latency(now), avg_latency(before), "Clock"),
        ("Error Rate", f"{error_rate(now) * 100:.1f}%", error_rate(now), error_rate(before), "AlertTriangle"),
    ]
    out = []
    for title, value, current, previous, icon in rows:
        delta, kind = change(current, previous)
        out.append({"title": title, "value": value, "change": delta, "changeType": kind, "icon": icon})
    return out
