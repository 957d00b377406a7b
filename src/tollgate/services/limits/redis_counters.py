"""Limit counters in Redis, shared by every instance: one Lua script takes from all of a call's
counters atomically (the same integer arithmetic as ``counters``), another settles one.

Keys are ``<prefix>{<scope>}:<name>``; a call's counters share one ``{scope}`` (its workspace),
so on a Redis Cluster they live in one slot and one script can touch them all. A counter's key
expires once the counter is full again: Redis holds only the counters in use.
"""

from __future__ import annotations

from collections.abc import Sequence

from redis.asyncio import Redis

from tollgate.core.errors import StateUnavailable
from tollgate.services.limits.counters import Decision, Take, check_distinct, decide
from tollgate.services.redis_errors import redis_unreachable

# KEYS: the counters. ARGV: now_us, then per counter cost_us (how far the take moves it), window_us.
# Returns {allowed (1/0), stored time of each counter before the take (0 if none)}.
_TAKE = """
local now = tonumber(ARGV[1])
local before = {}
local allowed = 1
for i = 1, #KEYS do
  local cost = tonumber(ARGV[2 * i])
  local window = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  before[i] = tat
  if math.max(tat, now) + cost - now > window then
    allowed = 0
  end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local after = math.max(before[i], now) + tonumber(ARGV[2 * i])
    local ttl = math.max(1, math.ceil((after - now) / 1000))
    redis.call('SET', KEYS[i], string.format('%d', after), 'PX', ttl)
  end
end
local out = {allowed}
for i = 1, #KEYS do
  out[i + 1] = string.format('%d', before[i])
end
return out
"""
# KEYS[1]: the counter. ARGV: now_us, how far to move it (us, negative: back). Same as ``settled``.
_SETTLE = """
local now = tonumber(ARGV[1])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local after = math.max(tat + tonumber(ARGV[2]), now)
if after > now then
  redis.call('SET', KEYS[1], string.format('%d', after), 'PX', math.max(1, math.ceil((after - now) / 1000)))
else
  redis.call('DEL', KEYS[1])
end
return 1
"""


class RedisCounters:
    def __init__(self, redis: Redis, prefix: str = "tollgate:limits:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._take = redis.register_script(_TAKE)
        self._settle = redis.register_script(_SETTLE)

    async def take(self, takes: Sequence[Take], now_us: int) -> Decision:
        check_distinct(takes)
        if not takes:
            return Decision(True, ())
        args: list[int] = [now_us]
        for take in takes:
            args += [take.cost_us, take.window_us]
        with redis_unreachable():
            reply = await self._take(keys=[self._prefix + t.key for t in takes], args=args)
        decision = decide([int(v) for v in reply[1:]], takes, now_us)
        if decision.allowed != bool(int(reply[0])):  # the same arithmetic on both sides
            raise StateUnavailable("the rate-limit script and the gateway disagree")
        return decision

    async def settle(self, take: Take, correction: int, now_us: int) -> None:
        with redis_unreachable():
            await self._settle(keys=[self._prefix + take.key], args=[now_us, take.span_us(correction)])
