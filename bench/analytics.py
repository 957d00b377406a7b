"""How fast the analytics endpoints answer on a filled database, over HTTP, per backend.

For each ``--database-url`` (filled by ``bench/fill.py`` with the same ``--seed``), starts a real
``tollgate serve`` on it (its own home folder; retention passes off so nothing writes meanwhile)
and times, on one keep-alive connection, after ``--warmup`` rounds:

- ``/v1/analytics`` for the last 30 days (seed 003's dashboard),
- ``/v1/usage`` by day x model over the last 90 days,
- ``/v1/summary`` (this month),
- ``/v1/usage`` by day x feature over 30 days (the tags cube),
- ``/v1/usage`` by customer over 30 days (the full cube: the largest a query can read),
- ``/v1/requests?limit=50`` (raw rows, for reference).

The endpoints take turns, ``--runs`` rounds. Prints p50, p95 and max milliseconds (whole request:
the client's send to the last byte read) and the answer size, per backend and endpoint. With
``--time-zone`` (repeatable), the rounds run once per zone, set as the workspace's ``timeZone``
(its other settings kept, and all of them restored at the end).

    python bench/analytics.py --database-url sqlite:///bench/out/fill.db \\
        --database-url postgresql://postgres@127.0.0.1:5432/tg_bench [--runs 50] [--warmup 5] [--quick] \\
        [--time-zone UTC --time-zone Asia/Tokyo]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from _common import bench_workspace_id, percentile, report, running_server, table

Endpoint = tuple[str, str, dict[str, str]]  # label, path, query
FULL_CUBE = ("usage 30 d by customer",)  # seconds per answer at 10M records: --quick leaves it out


def endpoints(today: date) -> list[Endpoint]:
    month_ago, quarter_ago = today - timedelta(days=29), today - timedelta(days=90)
    last_30 = {"from": month_ago.isoformat(), "to": today.isoformat()}
    return [
        (
            "analytics 30 d",
            "/v1/analytics",
            {"start_date": month_ago.isoformat(), "end_date": today.isoformat()},
        ),
        (
            "usage 90 d day x model",
            "/v1/usage",
            {"from": quarter_ago.isoformat(), "to": today.isoformat(), "interval": "day", "groupBy": "model"},
        ),
        ("summary (this month)", "/v1/summary", {}),
        ("usage 30 d day x feature", "/v1/usage", {**last_30, "interval": "day", "groupBy": "feature"}),
        ("usage 30 d by customer", "/v1/usage", {**last_30, "groupBy": "customer"}),
        ("requests limit=50", "/v1/requests", {"limit": "50"}),
    ]


async def time_endpoints(
    url: str, headers: dict[str, str], runs: int, warmup: int, quick: bool
) -> list[tuple[str, list[float], int]]:
    """(label, milliseconds per run, answer bytes) per endpoint."""
    chosen = [e for e in endpoints(datetime.now(UTC).date()) if not (quick and e[0] in FULL_CUBE)]
    times: dict[str, list[float]] = {label: [] for label, _, _ in chosen}
    sizes: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(url, headers=headers, connector=connector) as session:
        for round_ in range(warmup + runs):
            for label, path, query in chosen:
                started = time.perf_counter()
                async with session.get(path, params=query) as answer:
                    body = await answer.read()
                elapsed = (time.perf_counter() - started) * 1000
                if answer.status != 200:
                    raise RuntimeError(f"{path} {query}: {answer.status} {body[:300]!r}")
                sizes[label] = len(body)
                if round_ >= warmup:
                    times[label].append(elapsed)
    return [(label, times[label], sizes[label]) for label, _, _ in chosen]


def backend_of(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


async def workspace_settings(
    url: str,
    headers: dict[str, str],
    workspace_id: str,
    replace: dict[str, Any] | None = None,
    **changes: Any,
) -> Any:
    """The workspace's settings, after replacing them with ``replace`` or applying ``changes``."""
    path = f"/v1/workspaces/{workspace_id}"
    async with aiohttp.ClientSession(url, headers=headers) as session:
        async with session.get(path) as answer:
            settings = (await answer.json())["settings"]
        if replace is None and not changes:
            return settings
        body = {"settings": replace if replace is not None else {**settings, **changes}}
        async with session.patch(path, json=body) as answer:
            if answer.status != 200:
                raise RuntimeError(f"settings: {answer.status} {await answer.text()}")
            return (await answer.json())["settings"]


async def bench(
    database_url: str, seed: int, runs: int, warmup: int, quick: bool, zones: Sequence[str | None]
) -> list[list[str]]:
    backend = backend_of(database_url)
    env = {"TOLLGATE_DATABASE_URL": database_url, "TOLLGATE_RETENTION_INTERVAL": "0"}
    rows: list[list[str]] = []
    with (
        tempfile.TemporaryDirectory(prefix="tg-bench-") as home,
        running_server(Path(home), f"analytics-{backend}.server", env) as server,
    ):
        workspace_id = bench_workspace_id(seed)
        headers = {"Authorization": f"Bearer {server.admin_token}", "x-tollgate-workspace": workspace_id}
        stored = await workspace_settings(server.url, headers, workspace_id)
        try:
            for zone in zones:
                if zone is not None:
                    await workspace_settings(server.url, headers, workspace_id, timeZone=zone)
                results = await time_endpoints(server.url, headers, runs, warmup, quick)
                label = zone or stored.get("timeZone", "UTC")
                rows += _rows(backend, label, results)
        finally:
            await workspace_settings(server.url, headers, workspace_id, replace=stored)
    return rows


def _rows(backend: str, zone: str, results: list[tuple[str, list[float], int]]) -> list[list[str]]:
    return [
        [
            backend,
            zone,
            label,
            f"{percentile(ms, 0.5):.1f}",
            f"{percentile(ms, 0.95):.1f}",
            f"{max(ms):.1f}",
            f"{size / 1000:.1f}",
        ]
        for label, ms, size in results
    ]


async def main(args: argparse.Namespace) -> None:
    rows: list[list[str]] = []
    for database_url in args.database_url:
        rows += await bench(database_url, args.seed, args.runs, args.warmup, args.quick, args.time_zone)
    headers = ["backend", "zone", "endpoint", "p50 ms", "p95 ms", "max ms", "answer kB"]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report(
        f"analytics, {args.runs} runs after {args.warmup} warm-up rounds ({stamp})\n"
        + table(headers, rows)
        + "\n",
        "analytics",
    )


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", action="append", required=True, help="repeat for each backend")
    parser.add_argument("--seed", type=int, default=1, help="the seed the database was filled with")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="leave out the full-cube query (slow)")
    parser.add_argument("--time-zone", action="append", help="the workspace's timeZone; repeat to compare")
    args = parser.parse_args(argv)
    args.time_zone = args.time_zone or [None]
    return args


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
