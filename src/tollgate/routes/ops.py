"""Operations: ``/health`` (liveness, no auth), ``/ready`` (dependencies), ``/metrics``.

``/ready`` compares the database's migration revision with the one this code expects. That
expected (head) revision comes from the migration files shipped in the package, which cannot
change while the process runs: it is read once, on the first ``/ready``, and kept in the app's
state; each probe then costs one query for the database's revision.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate import __version__
from tollgate.routes.http import json_response
from tollgate.routes.wiring import context_of
from tollgate.store.migrations import current_revision, head_revision

# Journal lag past which the instance reports itself not ready: the writer is far behind.
LAG_NOT_READY_RECORDS = 100_000


async def health(request: Request) -> Response:
    return json_response({"status": "ok", "version": __version__})


async def _expected_revision(request: Request) -> str | None:
    state = request.app.state
    if not hasattr(state, "migration_head"):
        # Alembic reads every migration file: once per process, off the event loop.
        state.migration_head = await asyncio.to_thread(head_revision)
    head: str | None = state.migration_head
    return head


async def ready(request: Request) -> Response:
    ctx = context_of(request)
    checks: dict[str, Any] = {}
    ok = True
    try:
        await ctx.store.ping()
        migrated = await current_revision(ctx.store.engine) == await _expected_revision(request)
        checks["database"] = {
            "status": "ok" if migrated else "migrations_pending",
            "dialect": ctx.store.dialect,
        }
        ok = ok and migrated
    except Exception as exc:  # any driver failure means "not ready"; the message names no secret
        checks["database"] = {"status": "error", "error": type(exc).__name__}
        ok = False
    lag = ctx.journal.lag()
    journal_ok = lag.records < LAG_NOT_READY_RECORDS
    checks["journal"] = {
        "status": "ok" if journal_ok else "lagging",
        "lagRecords": lag.records,
        "lagBytes": lag.bytes,
        "oldestAgeSeconds": lag.oldest_age_seconds,
        "quarantined": lag.quarantined,
    }
    ok = ok and journal_ok
    if ctx.redis_ping is not None:
        try:
            await ctx.redis_ping()
            checks["redis"] = {"status": "ok"}
        except Exception as exc:  # a Redis failure of any kind means "not ready"
            checks["redis"] = {"status": "error", "error": type(exc).__name__}
            ok = False
    return json_response({"status": "ready" if ok else "not_ready", "checks": checks}, 200 if ok else 503)


async def metrics(request: Request) -> Response:
    return Response(generate_latest(context_of(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/ready", ready, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
