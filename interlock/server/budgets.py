"""Spend per key per calendar hour, day and month (UTC), in Redis.

A budget is checked before a run starts and the run's cost is added when it
ends; the per-run cap (``RunCap``, enforced in the generate node before each
model call) bounds how far one run can overshoot what was left. Counters are
plain ``INCRBYFLOAT`` keys per period, so every API replica adds to the same
sum, and each expires after its period is over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from interlock.errors import BudgetExceeded

PERIODS: dict[str, tuple[str, int]] = {
    # name → (strftime of the period's id, seconds its counter is kept)
    "hour": ("%Y%m%d%H", 2 * 3600),
    "day": ("%Y%m%d", 2 * 86400),
    "month": ("%Y%m", 32 * 86400),
}


@dataclass(frozen=True)
class Spend:
    hour: float
    day: float
    month: float

    def of(self, period: str) -> float:
        value: float = getattr(self, period)
        return value


class SpendLedger:
    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self.redis = client
        self.prefix = prefix

    def _keys(self, key_id: str, now: float | None = None) -> dict[str, str]:
        stamp = time.gmtime(time.time() if now is None else now)
        return {
            period: f"{self.prefix}:spend:{key_id}:{period}:{time.strftime(fmt, stamp)}"
            for period, (fmt, _) in PERIODS.items()
        }

    async def spent(self, key_id: str) -> Spend:
        keys = self._keys(key_id)
        values = await self.redis.mget(list(keys.values()))
        amounts = [float(v) if v is not None else 0.0 for v in values]
        return Spend(**dict(zip(keys, amounts, strict=True)))

    async def add(self, key_id: str, cost: float) -> None:
        if cost <= 0:
            return
        async with self.redis.pipeline(transaction=True) as pipe:
            for period, key in self._keys(key_id).items():
                pipe.incrbyfloat(key, cost)
                pipe.expire(key, PERIODS[period][1])
            await pipe.execute()

    async def check(self, key_id: str, budgets: dict[str, float]) -> dict[str, float]:
        """Raise when a budget is used up; else what is left per budgeted period."""
        if not budgets:
            return {}
        spent = await self.spent(key_id)
        left: dict[str, float] = {}
        for period, budget in budgets.items():
            used = spent.of(period)
            if used >= budget:
                raise BudgetExceeded(
                    f"the key's budget of {budget:g} per {period} is spent "
                    f"({used:.6g} used this {period}, UTC); it resets at the next {period}"
                )
            left[period] = budget - used
        return left
