"""The ledger in Redis, shared by every instance: Lua scripts reserve, open and settle atomically
(the same rules as ``MemoryLedger``).

An account is a hash ``<prefix><key>`` (fields ``used``, ``held`` and ``h:<hold id>`` = amount)
and a sorted set ``<prefix><key>:holds`` of hold ids by expiry. Keys carry their workspace as a
``{hash tag}``, so one call's accounts share a Redis Cluster slot.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from tollgate.core.errors import StateUnavailable
from tollgate.services.limits.ledger import Account, Balance, Reservation, Settled, fits
from tollgate.services.redis_errors import redis_unreachable

# KEYS: hash, holds per account. ARGV: now, hold ttl, hold id, then limit (-1: none), amount per
# account. Returns {status (1 reserved, 0 refused, -1 missing), then used, held per account, or
# the missing accounts' indexes (1-based)}.
_RESERVE = """
local now = tonumber(ARGV[1])
local n = #KEYS / 2
local missing = {-1}
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 * i - 1]) == 0 then missing[#missing + 1] = i end
end
if #missing > 1 then return missing end
local out = {1}
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local expired = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, id in ipairs(expired) do
    local amount = redis.call('HGET', h, 'h:' .. id)
    if amount then
      redis.call('HINCRBY', h, 'held', '-' .. amount)
      redis.call('HDEL', h, 'h:' .. id)
    end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
  local used = tonumber(redis.call('HGET', h, 'used') or '0')
  local held = tonumber(redis.call('HGET', h, 'held') or '0')
  local limit = tonumber(ARGV[2 + 2 * i])
  local amount = tonumber(ARGV[3 + 2 * i])
  if limit >= 0 and used + held + amount > limit then out[1] = 0 end
  out[2 * i] = string.format('%d', used)
  out[2 * i + 1] = string.format('%d', held)
end
if out[1] == 1 then
  local expiry = now + tonumber(ARGV[2])
  for i = 1, n do
    local h, z = KEYS[2 * i - 1], KEYS[2 * i]
    local amount = ARGV[3 + 2 * i]
    redis.call('HINCRBY', h, 'held', amount)
    redis.call('HSET', h, 'h:' .. ARGV[3], amount)
    redis.call('ZADD', z, expiry, ARGV[3])
    redis.call('PEXPIRE', z, tonumber(ARGV[2]))
  end
end
return out
"""
# KEYS[1]: hash. ARGV: used, ttl ms (-1: none).
_OPEN = """
if redis.call('HSETNX', KEYS[1], 'used', ARGV[1]) == 1 then
  redis.call('HSETNX', KEYS[1], 'held', 0)
  local ttl = tonumber(ARGV[2])
  if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
end
return 1
"""
# KEYS: hash, holds per account. ARGV: hold id, then the amount used per account.
# Returns per account used before and after, or -1, -1 when the account is missing. Amounts
# are passed to HINCRBY as the strings they came in: Lua numbers print large values as 1e+15.
_SETTLE = """
local out = {}
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  if redis.call('EXISTS', h) == 0 then
    out[2 * i - 1] = -1
    out[2 * i] = -1
  else
    local amount = redis.call('HGET', h, 'h:' .. ARGV[1])
    if amount then
      redis.call('HINCRBY', h, 'held', '-' .. amount)
      redis.call('HDEL', h, 'h:' .. ARGV[1])
      redis.call('ZREM', z, ARGV[1])
    end
    out[2 * i - 1] = redis.call('HGET', h, 'used') or '0'
    out[2 * i] = string.format('%d', redis.call('HINCRBY', h, 'used', ARGV[1 + i]))
  end
end
return out
"""


class RedisLedger:
    def __init__(self, redis: Redis, prefix: str = "tollgate:ledger:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._reserve = redis.register_script(_RESERVE)
        self._open = redis.register_script(_OPEN)
        self._settle = redis.register_script(_SETTLE)

    def _keys(self, accounts: Sequence[Account]) -> list[str]:
        keys: list[str] = []
        for account in accounts:
            keys += [self._prefix + account.key, self._prefix + account.key + ":holds"]
        return keys

    async def reserve(
        self, hold_id: str, items: Sequence[tuple[Account, int]], now_ms: int, hold_ttl_ms: int
    ) -> Reservation:
        if not items:
            return Reservation(True)
        args: list[int | str] = [now_ms, hold_ttl_ms, hold_id]
        for account, amount in items:
            args += [-1 if account.limit is None else account.limit, amount]
        with redis_unreachable():
            reply = await self._reserve(keys=self._keys([a for a, _ in items]), args=args)
        status = int(reply[0])
        if status == -1:
            return Reservation(False, missing=tuple(int(i) - 1 for i in reply[1:]))
        values = [int(v) for v in reply[1:]]
        balances = tuple(Balance(values[2 * i], values[2 * i + 1]) for i in range(len(items)))
        refused = tuple(
            i
            for i, ((account, amount), b) in enumerate(zip(items, balances, strict=True))
            if not fits(b, account, amount)
        )
        if bool(refused) == (status == 1):  # the same rule on both sides
            raise StateUnavailable("the ledger script and the gateway disagree")
        return Reservation(status == 1, refused=refused, balances=balances)

    async def open(self, account: Account, used: int, now_ms: int) -> None:
        with redis_unreachable():
            await self._open(keys=[self._prefix + account.key], args=[used, account.ttl_ms or -1])

    async def settle(
        self, hold_id: str, items: Sequence[tuple[Account, int]], now_ms: int
    ) -> tuple[Settled | None, ...]:
        if not items:
            return ()
        with redis_unreachable():
            reply = await self._settle(
                keys=self._keys([a for a, _ in items]), args=[hold_id, *(actual for _, actual in items)]
            )
        values = [int(v) for v in reply]
        return tuple(
            None if values[2 * i] < 0 else Settled(values[2 * i], values[2 * i + 1])
            for i in range(len(items))
        )

    async def balances(self, accounts: Sequence[Account]) -> tuple[Balance | None, ...]:
        with redis_unreachable():
            async with self._redis.pipeline(transaction=False) as pipe:
                for account in accounts:
                    _queued = pipe.hmget(self._prefix + account.key, "used", "held")  # runs on execute
                replies = await pipe.execute()
        return tuple(None if used is None else Balance(int(used), int(held or 0)) for used, held in replies)
