"""Redis for tests: the server in ``TOLLGATE_TEST_REDIS_URL`` (skipped without it), and clients
whose keys live under a prefix of their own, deleted afterwards (never a FLUSHDB on a shared server)."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis

REDIS_ENV = "TOLLGATE_TEST_REDIS_URL"


def redis_url_or_skip() -> str:
    url = os.environ.get(REDIS_ENV, "").strip()
    if not url:
        pytest.skip(f"Redis tests skipped: set {REDIS_ENV} (e.g. redis://127.0.0.1:6379/0) to run them")
    return url


@asynccontextmanager
async def prefixed_clients() -> AsyncIterator[tuple[Callable[[], Redis], str]]:
    """(a factory of new clients to one server, as separate instances would hold, their prefix)."""
    url = redis_url_or_skip()
    prefix = f"tollgate:test:{uuid.uuid4().hex}:"
    clients: list[Redis] = []

    def client() -> Redis:
        clients.append(Redis.from_url(url))
        return clients[-1]

    try:
        yield client, prefix
    finally:
        if clients:
            keys = [key async for key in clients[0].scan_iter(match=prefix + "*")]
            if keys:
                await clients[0].delete(*keys)
        for each in clients:
            await each.aclose()
