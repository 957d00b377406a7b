"""``tollgate status`` (spend for a period, by model and by feature) and ``tollgate requests``
(the most recent calls), as Rich tables or, with ``--json``, one JSON document on stdout."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from tollgate.cli import format as fmt
from tollgate.cli.client import ApiClient
from tollgate.cli.filters import (
    FeatureOption,
    FromOption,
    JsonOption,
    KeyOption,
    ModelOption,
    ProviderOption,
    StatusOption,
    ToOption,
    query,
)
from tollgate.cli.session import (
    Connection,
    ServerOption,
    TokenOption,
    WorkspaceOption,
    client_for,
    out_console,
    reported_errors,
)

PAGE = 500  # the largest page /v1/requests serves
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=10_000, help="How many calls to show.")]


def _by_cost(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: (-int(r.get("costNanos") or 0), -int(r.get("requests") or 0)))


def status_report(client: ApiClient, start: str | None, end: str | None) -> dict[str, Any]:
    """The summary, then the same window grouped by model and by feature, most costly first."""
    summary = client.get_json("/v1/summary", query(from_=start, to=end))
    # The summary's effective bounds, so all three answers cover the very same hours.
    window = [("from", summary["from"]), ("to", summary["to"])]
    by_model = client.get_json("/v1/usage", [*window, ("groupBy", "provider,model")])
    by_feature = client.get_json("/v1/usage", [*window, ("groupBy", "feature")])
    return {
        "summary": summary,
        "byModel": _by_cost(by_model["data"]),
        "byFeature": _by_cost(by_feature["data"]),
    }


def status(
    from_: FromOption = None,
    to: ToOption = None,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Spend, tokens, requests and errors for a period (default: this month), by model and by feature."""
    with reported_errors():
        report = status_report(client_for(Connection(server, token, workspace)), from_, to)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    out = out_console()
    out.print(_summary_table(report["summary"]))
    out.print()
    out.print(_grouped_table("By model", ("provider", "model"), report["byModel"]))
    out.print(_grouped_table("By feature", ("feature",), report["byFeature"]))


def _summary_table(summary: dict[str, Any]) -> Table:
    tz = fmt.zone(summary.get("timeZone"))
    totals, latency, month = summary["totals"], summary.get("latencyMs") or {}, summary.get("month") or {}
    start, end = (fmt.instant(summary[bound], tz, "%Y-%m-%d %H:%M") for bound in ("from", "to"))
    period = f"{start} to {end} ({tz.key})"
    table = Table(title=Text(period), show_header=False, title_justify="left", box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_column(style="dim")
    rows = [
        ("Spend", fmt.money(totals["costUsd"]), _month_note(month)),
        ("Requests", fmt.count(totals["requests"]), ""),
        ("Errors", fmt.count(totals["errors"]), fmt.percent(summary.get("errorRate"))),
        ("Tokens", fmt.count(totals["totalTokens"]), _token_note(totals)),
        ("Cache hits", fmt.count(totals.get("cacheHits")), fmt.percent(summary.get("cacheHitRate"))),
        (
            "Latency",
            fmt.millis(latency.get("avg")) or "-",
            f"p50 {fmt.millis(latency.get('p50')) or '-'}, p95 {fmt.millis(latency.get('p95')) or '-'}",
        ),
    ]
    for name, value, note in rows:
        table.add_row(name, Text(value), Text(note))
    return table


def _month_note(month: dict[str, Any]) -> str:
    if not month:
        return ""
    return (
        f"this month {fmt.money(month.get('spendUsd'))}, "
        f"projected {fmt.money(month.get('projectedUsd'))} by month-end"
    )


def _token_note(totals: dict[str, Any]) -> str:
    return f"in {fmt.count(totals.get('inputTokens'))}, out {fmt.count(totals.get('outputTokens'))}"


def _grouped_table(title: str, dims: Sequence[str], rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for dim in dims:
        table.add_column(dim)
    for measure in ("requests", "errors", "tokens", "cost"):
        table.add_column(measure, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            *(Text(fmt.label(row.get(dim))) for dim in dims),
            fmt.count(row["requests"]),
            fmt.count(row["errors"]),
            fmt.count(row["totalTokens"]),
            fmt.money(row["costUsd"]),
        )
    if not rows:
        table.add_row(*(["no usage in this period"] + [""] * (len(dims) + 3)))
    return table


def recent_requests(client: ApiClient, filters: list[tuple[str, str]], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` calls, newest first, following the cursor page by page."""
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(rows) < limit:
        params = [*filters, ("limit", str(min(PAGE, limit - len(rows))))]
        page = client.get_json("/v1/requests", params + ([("cursor", cursor)] if cursor else []))
        rows.extend(page["data"])
        cursor = page.get("nextCursor")
        if not cursor:
            break
    return rows


def list_requests(
    provider: ProviderOption = None,
    model: ModelOption = None,
    feature: FeatureOption = None,
    status: StatusOption = None,
    key: KeyOption = None,
    from_: FromOption = None,
    to: ToOption = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
    server: ServerOption = None,
    token: TokenOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """The most recent calls, newest first (filters as /v1/requests)."""
    filters = query(
        provider=provider, model=model, feature=feature, status=status, key=key, from_=from_, to=to
    )
    with reported_errors():
        rows = recent_requests(client_for(Connection(server, token, workspace)), list(filters), limit)
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    out_console().print(_requests_table(rows))


def _requests_table(rows: Sequence[dict[str, Any]]) -> Table:
    title = f"{len(rows)} most recent calls (times in UTC)" if rows else "no calls match"
    table = Table(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    # Times, outcomes and numbers never wrap: the names give way on a narrow terminal.
    table.add_column("time", no_wrap=True)
    table.add_column("provider/model", overflow="fold", min_width=12)
    table.add_column("feature", overflow="fold", min_width=7)
    table.add_column("status", no_wrap=True)
    for name in ("tokens", "cost", "latency"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in rows:
        outcome = str(row.get("status"))
        if outcome != "success" and row.get("httpStatus"):
            outcome += f" {row['httpStatus']}"
        table.add_row(
            fmt.instant(row.get("createdAt"), pattern="%m-%d %H:%M:%S"),
            Text(f"{fmt.label(row.get('provider'))}/{fmt.label(row.get('model'))}"),
            Text(fmt.label((row.get("tags") or {}).get("feature"))),
            Text(outcome),
            fmt.count(row.get("totalTokens")),
            "unknown" if row.get("priceUnknown") else fmt.money(row.get("costUsd")),
            fmt.millis(row.get("latencyMs")),
        )
    return table
