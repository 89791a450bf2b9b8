"""Per-key rate limits in Redis, exact across any number of API replicas.

Limiters that count in process memory multiply by the pod count (a gap
users report in LiteLLM's proxy); here the one count lives in Redis and is
read, checked and incremented by one Lua script, so two replicas can never
both admit the last request of a window.

The window slides over one-second buckets (a hash: second → amount), which
keeps a key's state to at most 60 small fields while being exact to the
second, unlike a fixed window that admits twice the limit across a minute
boundary. The clock is Redis's own (``TIME``), so replicas with skewed
clocks still share one window. Redis's redis-cell module does the same
(GCRA) natively, but it is not loaded on plain Redis/Valkey, which is what
runs here.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

# KEYS[1] the window's hash; ARGV: limit, amount, window seconds, mode
# (mode "take": admit and add amount if it fits; "peek": admit if the window
# is not already full, add nothing; "add": add without checking).
# Returns {admitted, used after, seconds until enough of the window expires}.
_SCRIPT = """
local now = tonumber(redis.call('TIME')[1])
local limit = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local mode = ARGV[4]
local flat = redis.call('HGETALL', KEYS[1])
local buckets = {}
local used = 0
for i = 1, #flat, 2 do
  local second = tonumber(flat[i])
  local n = tonumber(flat[i + 1])
  if second <= now - window then
    redis.call('HDEL', KEYS[1], flat[i])
  else
    used = used + n
    table.insert(buckets, {second, n})
  end
end
local admitted = 1
if mode == 'take' then
  if used + amount > limit then admitted = 0 end
elseif mode == 'peek' then
  if used >= limit then admitted = 0 end
  amount = 0
end
if admitted == 1 then
  if amount > 0 then
    redis.call('HINCRBY', KEYS[1], now, amount)
    used = used + amount
  end
  redis.call('EXPIRE', KEYS[1], window + 1)
  return {1, used, 0}
end
table.sort(buckets, function(a, b) return a[1] < b[1] end)
local need = used + amount - limit
if mode == 'peek' then need = used - limit + 1 end
local freed = 0
for _, bucket in ipairs(buckets) do
  freed = freed + bucket[2]
  if freed >= need then return {0, used, bucket[1] + window - now} end
end
return {0, used, window}
"""


@dataclass(frozen=True)
class Verdict:
    admitted: bool
    used: int
    retry_after_s: int


class SlidingWindowLimiter:
    """Amounts per key over the last ``window_s`` seconds, shared through Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str, window_s: int = 60) -> None:
        self.redis = client
        self.prefix = prefix
        self.window_s = window_s
        self._script = client.register_script(_SCRIPT)

    async def _call(self, name: str, limit: int, amount: int, mode: str) -> Verdict:
        key = f"{self.prefix}:rate:{name}"
        admitted, used, retry = await self._script(
            keys=[key], args=[limit, amount, self.window_s, mode]
        )
        return Verdict(bool(admitted), int(used), max(1, int(retry)) if not admitted else 0)

    async def take(self, name: str, limit: int, amount: int = 1) -> Verdict:
        """Admit ``amount`` (e.g. one request) if it fits in the window, and count it."""
        return await self._call(name, limit, amount, "take")

    async def peek(self, name: str, limit: int) -> Verdict:
        """Admit while the window is not full; counts nothing (tokens are known only after)."""
        return await self._call(name, limit, 0, "peek")

    async def add(self, name: str, amount: int) -> None:
        """Count what was used (the tokens of a finished run), without a check."""
        if amount > 0:
            await self._call(name, 0, amount, "add")
