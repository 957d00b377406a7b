"""Explicit invalidation of in-memory state across workers and instances.

Keys and credentials are served from memory on the hot path. Every change to them bumps a
*generation* counter; before using its cache, a worker compares the counter with the one it
loaded at, and reloads when they differ. So a revoke takes effect on the very next request in
every worker, with no TTL and no database read while nothing changes.

- ``FileChangeFeed``: an 8-byte counter in a memory-mapped file in the home folder, shared by
  every worker process on one host. Reading it costs a memory load.
- ``RedisChangeFeed``: a Redis counter, shared by every instance that uses that Redis.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
from pathlib import Path
from typing import Protocol

from redis.asyncio import Redis

from tollgate.services.redis_errors import redis_unreachable

_COUNTER = struct.Struct("<Q")


class ChangeFeed(Protocol):
    async def generation(self) -> int: ...

    async def bump(self) -> int: ...

    async def close(self) -> None: ...


class FileChangeFeed:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < _COUNTER.size:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                if os.fstat(self._fd).st_size < _COUNTER.size:
                    os.ftruncate(self._fd, _COUNTER.size)
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._map = mmap.mmap(self._fd, _COUNTER.size)

    def current(self) -> int:
        value: int = _COUNTER.unpack_from(self._map, 0)[0]
        return value

    async def generation(self) -> int:
        return self.current()

    async def bump(self) -> int:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            value = self.current() + 1
            _COUNTER.pack_into(self._map, 0, value)
            self._map.flush()
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        return value

    async def close(self) -> None:
        self._map.close()
        os.close(self._fd)


class RedisChangeFeed:
    def __init__(self, redis: Redis, key: str = "tollgate:generation") -> None:
        self._redis = redis
        self._key = key

    async def generation(self) -> int:
        with redis_unreachable():
            value = await self._redis.get(self._key)
        return int(value or 0)

    async def bump(self) -> int:
        with redis_unreachable():
            return int(await self._redis.incr(self._key))

    async def close(self) -> None:
        return None
