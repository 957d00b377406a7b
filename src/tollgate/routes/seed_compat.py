"""Thin aliases for paths the seed products document under other names (DESIGN: routes/compat).

- ``GET /api/health`` (seed 003): ``{status, timestamp, version, environment, checks, metrics}``.
"""

from __future__ import annotations

import os
import resource
import time
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollgate import __version__
from tollgate.routes.http import json_response
from tollgate.routes.ops import LAG_NOT_READY_RECORDS
from tollgate.routes.wiring import context_of


async def api_health(request: Request) -> Response:
    ctx = context_of(request)
    try:
        await ctx.store.ping()
        database = {"status": "healthy", "details": f"Connected ({ctx.store.dialect})"}
    except Exception as exc:  # any driver failure is "unhealthy"; only its type is shown
        database = {"status": "unhealthy", "details": type(exc).__name__}
    lag = ctx.journal.lag()
    journal = {
        "status": "healthy" if lag.records < LAG_NOT_READY_RECORDS else "degraded",
        "details": f"{lag.records} usage records waiting to be written",
    }
    usage = resource.getrusage(resource.RUSAGE_SELF)
    healthy = database["status"] == "healthy" and journal["status"] == "healthy"
    body = {
        "status": "healthy" if healthy else "unhealthy",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "version": __version__,
        "environment": os.environ.get("TOLLGATE_ENVIRONMENT", "production"),
        "checks": {"database": database, "journal": journal},
        "metrics": {
            "uptime": round(time.monotonic() - ctx.started_monotonic),
            "memory": {"rss": usage.ru_maxrss * 1024},
            "cpu": {"user": round(usage.ru_utime * 1e6), "system": round(usage.ru_stime * 1e6)},
        },
    }
    return json_response(body, 200 if healthy else 503)


routes = [Route("/api/health", api_health, methods=["GET"])]
