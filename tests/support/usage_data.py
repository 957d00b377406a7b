"""Usage records for analytics tests, written straight into a running gateway's store (so their
times can lie anywhere), and the raw-row sums that analytics must equal."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from tests.support.gateway import GatewayServer, admin_call
from tollgate.store.records import UsageRecord

MODELS = (("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5"), ("gemini", "x"))
FEATURES = ("chat", "search", "summarize", None)
ROUTES = ("/api/chat", "/api/search", None)
KEYS = ("key_a", "key_b", None)
CUSTOMERS = ("cus_1", "cus_2", None)
STATUSES = ("success", "success", "success", "error", "client_closed")
_ids = itertools.count(1)


def record(workspace_id: str, created_at: datetime, **over: Any) -> UsageRecord:
    values: dict[str, Any] = {
        "id": f"req_t{next(_ids):08d}",
        "workspace_id": workspace_id,
        "key_id": "key_a",
        "created_at": created_at,
        "provider": "openai",
        "model": "gpt-4o",
        "upstream_model": None,
        "operation": "chat",
        "door": "openai",
        "stream": False,
        "status": "success",
        "http_status": 200,
        "input_tokens": 100,
        "output_tokens": 20,
        "cost_nanos": 1_000_000,
        "latency_ms": 400,
    }
    return UsageRecord(**(values | over))


def random_records(
    workspace_id: str, count: int, start: datetime, hours: int, rng: random.Random
) -> list[UsageRecord]:
    out = []
    for _ in range(count):
        provider, model = rng.choice(MODELS)
        out.append(
            record(
                workspace_id,
                start + timedelta(seconds=rng.randrange(hours * 3600), microseconds=rng.randrange(10**6)),
                provider=provider,
                model=model,
                key_id=rng.choice(KEYS),
                feature=rng.choice(FEATURES),
                route_name=rng.choice(ROUTES),
                function_name=rng.choice(("summarize", None)),
                customer_id=rng.choice(CUSTOMERS),
                status=rng.choice(STATUSES),
                input_tokens=rng.randrange(0, 4000),
                cache_read_tokens=rng.randrange(0, 300),
                cache_write_tokens=rng.choice((0, 0, rng.randrange(0, 200))),
                output_tokens=rng.randrange(0, 800),
                reasoning_tokens=rng.randrange(0, 40),
                cost_nanos=None if model == "x" else rng.randrange(0, 5 * 10**7),
                price_unknown=model == "x",
                cache_status=rng.choice(("hit", "miss", "bypass")),
                latency_ms=rng.randrange(1, 20_000),
            )
        )
    return out


def store_records(server: GatewayServer, records: list[UsageRecord]) -> None:
    server.run(server.ctx.store.usage.insert_many(records))


def new_workspace(server: GatewayServer, **settings: Any) -> str:
    created = admin_call(server, "POST", "/v1/workspaces", json={"name": "analytics", "settings": settings})
    assert created.status_code == 201, created.text
    workspace_id: str = created.json()["id"]
    return workspace_id


def all_requests(server: GatewayServer, workspace_id: str, **params: str) -> Iterator[dict[str, Any]]:
    """Every record ``GET /v1/requests`` lists for these filters, page by page."""
    cursor = None
    while True:
        page = admin_call(
            server,
            "GET",
            "/v1/requests",
            workspace=workspace_id,
            params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        yield from body["data"]
        cursor = body["nextCursor"]
        if cursor is None:
            return


DIMENSION_OF = {
    "key": lambda r: r["keyId"],
    "provider": lambda r: r["provider"],
    "model": lambda r: r["model"],
    "feature": lambda r: r["tags"]["feature"],
    "route": lambda r: r["tags"]["routeName"],
    "function": lambda r: r["tags"]["functionName"],
    "customer": lambda r: r["customerId"],
    "status": lambda r: r["status"],
}


def sums(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The measures ``/v1/usage`` reports, summed over ``/v1/requests`` items."""
    rows = list(items)
    return {
        "requests": len(rows),
        "errors": sum(r["status"] == "error" for r in rows),
        "inputTokens": sum(r["inputTokens"] for r in rows),
        "cacheReadTokens": sum(r["cacheReadTokens"] for r in rows),
        "cacheWriteTokens": sum(r["cacheWriteTokens"] for r in rows),
        "outputTokens": sum(r["outputTokens"] for r in rows),
        "reasoningTokens": sum(r["reasoningTokens"] for r in rows),
        "totalTokens": sum(r["totalTokens"] for r in rows),
        "costNanos": sum(r["costNanos"] or 0 for r in rows),
        "cacheHits": sum(r["cacheStatus"] == "hit" for r in rows),
        "priceUnknown": sum(r["priceUnknown"] for r in rows),
    }


def only(measures: dict[str, Any]) -> dict[str, Any]:
    """The summed measures of a ``/v1/usage`` row (what ``sums`` computes)."""
    return {k: measures[k] for k in sums([])}
