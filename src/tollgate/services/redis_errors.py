"""One translation of Redis failures into tollgate's error tree, for every Redis-backed service."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from tollgate.core.errors import StateUnavailable


@contextmanager
def redis_unreachable() -> Iterator[None]:
    """Raise ``StateUnavailable`` (503) for a Redis or connection error inside the block."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StateUnavailable("shared state (Redis) is unreachable; try again shortly") from exc
