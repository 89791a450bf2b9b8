"""More concurrent Redis commands than a pool holds wait for a connection instead of failing.

redis-py 8 pools raise MaxConnectionsError past 100 connections; under load one
API process runs more concurrent commands than that (benchmarks/http_load.py saw
503s at 300 streams). Every client interlock creates from a URL uses a blocking pool.
"""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from interlock.memory import redis_pool
from interlock.memory.checkpointer import RedisCheckpointSaver


async def _hold_all(client: aioredis.Redis, n: int) -> list[object]:
    # BLPOP on a key nobody writes holds its connection for the whole timeout.
    calls = [client.blpop([f"test-redis-pool-none-{i}"], timeout=0.2) for i in range(n)]
    return list(await asyncio.gather(*calls))


async def test_more_commands_than_connections_wait(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_pool, "MAX_CONNECTIONS", 20)
    client = redis_pool.async_client(redis_url)
    try:
        results = await _hold_all(client, 60)  # three rounds of 20: queued, not refused
        assert results == [None] * 60
        assert client.connection_pool.max_connections == 20
    finally:
        await client.aclose()


async def test_the_checkpointer_and_agent_clients_block(redis_url: str) -> None:
    saver = RedisCheckpointSaver.from_url(redis_url, prefix="test-redis-pool")
    try:
        assert saver.aclient is not None and saver.client is not None
        for client in (saver.aclient, saver.client):
            pool = client.connection_pool
            assert type(pool).__name__ == "BlockingConnectionPool"
            assert pool.max_connections == redis_pool.MAX_CONNECTIONS
        # Past redis-py's default of 100 connections: no MaxConnectionsError.
        assert await _hold_all(saver.aclient, 150) == [None] * 150
    finally:
        await saver.aclose()
        saver.close()
