"""API keys, rate limits and budgets against a real Redis."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from interlock.errors import BudgetExceeded, InvalidInput
from interlock.models.tier import ModelTier
from interlock.nodes.run_cap import answer_allowance
from interlock.server.budgets import SpendLedger
from interlock.server.keys import ApiKeyStore, Forbidden, KeyLimits, Unauthorized
from interlock.server.ratelimit import SlidingWindowLimiter
from interlock.state import Usage


@pytest.fixture
async def client(redis_url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(redis_url)


async def test_keys_are_stored_hashed_and_authenticate_until_revoked(
    client: aioredis.Redis, prefix: str
) -> None:
    store = ApiKeyStore(client, prefix)
    raw, record = await store.create(
        "acme", scopes=["runs"], name="ci", limits=KeyLimits(rpm=5, budget_day=1.5)
    )
    stored = await client.hgetall(f"{prefix}:apikey:{record.key_id}")
    secret = raw.rsplit("_", 1)[1]
    assert all(secret.encode() not in value for value in stored.values())
    found = await store.authenticate(raw)
    assert (found.tenant, found.scopes, found.limits.rpm, found.limits.budget_day) == (
        "acme",
        frozenset({"runs"}),
        5,
        1.5,
    )
    assert [k.key_id for k in await store.list("acme")] == [record.key_id]
    assert await store.list("other") == []

    with pytest.raises(Unauthorized, match="no API key"):
        await store.authenticate(None)
    with pytest.raises(Unauthorized, match="malformed"):
        await store.authenticate("sk-123")
    with pytest.raises(Unauthorized, match="unknown"):
        await store.authenticate(raw[:-4] + "AAAA")
    await store.revoke(record.key_id)
    with pytest.raises(Forbidden, match="revoked"):
        await store.authenticate(raw)


async def test_bad_key_requests_are_refused_with_a_reason(
    client: aioredis.Redis, prefix: str
) -> None:
    store = ApiKeyStore(client, prefix)
    with pytest.raises(InvalidInput, match="unknown scope"):
        await store.create("acme", scopes=["admin"])
    with pytest.raises(InvalidInput, match="tenant"):
        await store.create("a b")
    with pytest.raises(InvalidInput, match=">= 0"):
        await store.create("acme", limits=KeyLimits(rpm=-1))
    with pytest.raises(InvalidInput, match="no key"):
        await store.revoke("0123456789abcdef")


async def test_the_window_admits_exactly_the_limit_under_concurrency(
    redis_url: str, prefix: str
) -> None:
    # Four clients (as four API replicas would) race for one key's window.
    clients = [aioredis.Redis.from_url(redis_url) for _ in range(4)]
    limiters = [SlidingWindowLimiter(c, prefix) for c in clients]
    verdicts = await asyncio.gather(*(limiters[i % 4].take("k:requests", 37) for i in range(120)))
    admitted = [v for v in verdicts if v.admitted]
    assert len(admitted) == 37
    refused = [v for v in verdicts if not v.admitted]
    assert all(1 <= v.retry_after_s <= 60 for v in refused)
    for c in clients:
        await c.aclose()


async def test_tokens_are_peeked_before_and_added_after(
    client: aioredis.Redis, prefix: str
) -> None:
    limiter = SlidingWindowLimiter(client, prefix)
    assert (await limiter.peek("k:tokens", 100)).admitted
    await limiter.add("k:tokens", 120)  # a run may overshoot; the next one waits
    verdict = await limiter.peek("k:tokens", 100)
    assert not verdict.admitted and verdict.used == 120 and verdict.retry_after_s >= 1


async def test_budgets_are_spent_per_period_and_refuse_when_used_up(
    client: aioredis.Redis, prefix: str
) -> None:
    ledger = SpendLedger(client, prefix)
    assert await ledger.check("k", {"day": 0.01}) == {"day": 0.01}
    await ledger.add("k", 0.004)
    left = await ledger.check("k", {"hour": 1.0, "day": 0.01})
    assert left["day"] == pytest.approx(0.006)
    await ledger.add("k", 0.006)
    with pytest.raises(BudgetExceeded, match="per day is spent"):
        await ledger.check("k", {"day": 0.01})
    spent = await ledger.spent("k")
    assert spent.hour == spent.day == spent.month == pytest.approx(0.01)


def test_the_run_cap_shortens_the_answer_or_stops_the_call() -> None:
    tier = ModelTier(
        "large",
        ["http://127.0.0.1:9/v1"],
        model="m",
        context_window=4096,
        cost_per_1k_input=1.0,
        cost_per_1k_output=2.0,
    )
    used = Usage(calls=1, input_tokens=100, output_tokens=50, cost=0.2)
    assert answer_allowance({}, used, tier, 100, 160) == (160, "")
    # 400 tokens cap: 150 used + 100 prompt leaves 150 for the answer.
    assert answer_allowance({"max_tokens": 400}, used, tier, 100, 160)[0] == 150
    # cost cap 0.5: 0.2 spent + 0.1 prompt leaves 0.2 → 100 output tokens at 2/1K.
    assert answer_allowance({"max_cost": 0.5}, used, tier, 100, 160)[0] == 100
    allowed, why = answer_allowance({"max_tokens": 260}, used, tier, 100, 160)
    assert allowed == 0 and "cap" in why and "150 tokens" in why
