"""Redis backends: shared by every server process, so a limit holds site-wide.

Each ``acquire`` is one round trip: a Lua script checks every rule against the server's own
clock (``TIME``, so processes on different machines agree), and charges them only when all
pass — atomically, so concurrent requests of one flooder cannot slip past a limit. Captcha
challenges are taken with ``GETDEL``: of two requests replaying one answer, one finds nothing.
"""

from __future__ import annotations

import math
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from imageboard.antispam.limiter import ALLOWED, BackendUnavailable, Decision, Rule

# Times are integer microseconds (exact in Lua's doubles up to 2**53, i.e. for centuries).
# KEYS: one key per rule, then the "seen" key when ARGV[2] > 0.
# ARGV: rule count, seen ttl (us, 0 for none), then per rule: limit, window (us), cost, consume (1/0).
# Returns {allowed (1/0), refusing rule (1-based, 0 for none), wait (us, -1 for never), seen age (us, -1)}.
ACQUIRE = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local count = tonumber(ARGV[1])
local seen_ttl = tonumber(ARGV[2])
local seen_age = -1
if seen_ttl > 0 then
  local seen_key = KEYS[count + 1]
  local first = redis.call('GET', seen_key)
  if first then
    seen_age = now - tonumber(first)
  else
    redis.call('SET', seen_key, string.format('%.0f', now), 'PX', math.ceil(seen_ttl / 1000))
    seen_age = 0
  end
end
local new = {}
local worst, worst_wait = 0, 0
for i = 1, count do
  local base = 2 + (i - 1) * 4
  local limit = tonumber(ARGV[base + 1])
  local window = tonumber(ARGV[base + 2])
  local cost = tonumber(ARGV[base + 3])
  local wait = 0
  if cost > limit then
    wait = -1
  else
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    if tat < now then tat = now end
    local new_tat = tat + cost * math.floor(window / limit)
    local allow_at = new_tat - window
    if allow_at > now then wait = allow_at - now else new[i] = new_tat end
  end
  if wait ~= 0 and (worst == 0 or (worst_wait ~= -1 and (wait == -1 or wait > worst_wait))) then
    worst, worst_wait = i, wait
  end
end
if worst > 0 then
  return {0, worst, worst_wait, seen_age}
end
for i = 1, count do
  local base = 2 + (i - 1) * 4
  if ARGV[base + 4] == '1' and tonumber(ARGV[base + 3]) > 0 then
    redis.call('SET', KEYS[i], string.format('%.0f', new[i]), 'PX', math.max(1, math.ceil((new[i] - now) / 1000)))
  end
end
return {1, 0, 0, seen_age}
"""

# KEYS: one key per rule. ARGV: per rule: limit, window (us), cost.
REFUND = """
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
for i = 1, #KEYS do
  local tat = redis.call('GET', KEYS[i])
  if tat then
    local base = (i - 1) * 3
    local interval = math.floor(tonumber(ARGV[base + 2]) / tonumber(ARGV[base + 1]))
    local back = tonumber(tat) - tonumber(ARGV[base + 3]) * interval
    if back > now then
      redis.call('SET', KEYS[i], string.format('%.0f', back), 'PX', math.max(1, math.ceil((back - now) / 1000)))
    else
      redis.call('DEL', KEYS[i])
    end
  end
end
return 0
"""


def connect(url: str) -> Redis:
    """A client with short timeouts: a slow Redis must not stall page loads. It reconnects by
    itself when Redis comes back."""
    return Redis.from_url(
        url,
        socket_timeout=2.0,
        socket_connect_timeout=2.0,
        health_check_interval=30,
        retry_on_timeout=False,
        decode_responses=False,
    )


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


class RedisRateLimiter:
    def __init__(self, client: Redis, *, prefix: str = "ib:as:") -> None:
        self.client = client
        self.prefix = prefix
        self._acquire = client.register_script(ACQUIRE)
        self._refund = client.register_script(REFUND)

    async def acquire(self, rules: list[Rule], *, seen_key: str | None = None, seen_ttl: float = 0) -> Decision:
        if not rules and not seen_key:
            return ALLOWED
        keys = [self.prefix + rule.key for rule in rules]
        args: list[int] = [len(rules), _us(seen_ttl) if seen_key else 0]
        for rule in rules:
            args += [rule.limit, _us(rule.window), rule.cost, 1 if rule.consume else 0]
        if seen_key:
            keys.append(self.prefix + seen_key)
        try:
            allowed, refused, wait, seen = await self._acquire(keys=keys, args=args)
        except RedisError as exc:
            raise BackendUnavailable(str(exc)) from exc
        seen_age = None if int(seen) < 0 else int(seen) / 1_000_000
        if int(allowed):
            return Decision(True, 0.0, -1, seen_age)
        retry = math.inf if int(wait) < 0 else int(wait) / 1_000_000
        return Decision(False, retry, int(refused) - 1, seen_age)

    async def refund(self, rules: list[Rule]) -> None:
        if not rules:
            return
        args: list[Any] = []
        for rule in rules:
            args += [rule.limit, _us(rule.window), rule.cost]
        try:
            await self._refund(keys=[self.prefix + rule.key for rule in rules], args=args)
        except RedisError as exc:
            raise BackendUnavailable(str(exc)) from exc

    async def reset(self, keys: list[str]) -> None:
        if keys:
            try:
                await self.client.delete(*(self.prefix + key for key in keys))
            except RedisError as exc:
                raise BackendUnavailable(str(exc)) from exc

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisChallengeStore:
    def __init__(self, client: Redis, *, prefix: str = "ib:as:") -> None:
        self.client = client
        self.prefix = prefix + "c:"

    async def put(self, key: str, value: str, ttl: float) -> None:
        try:
            await self.client.set(self.prefix + key, value.encode(), px=max(1, math.ceil(ttl * 1000)))
        except RedisError as exc:
            raise BackendUnavailable(str(exc)) from exc

    async def take(self, key: str) -> str | None:
        try:
            value = await self.client.getdel(self.prefix + key)
        except RedisError as exc:
            raise BackendUnavailable(str(exc)) from exc
        return value.decode() if isinstance(value, bytes) else None

    async def peek(self, key: str) -> str | None:
        try:
            value = await self.client.get(self.prefix + key)
        except RedisError as exc:
            raise BackendUnavailable(str(exc)) from exc
        return value.decode() if isinstance(value, bytes) else None

    async def aclose(self) -> None:
        await self.client.aclose()
