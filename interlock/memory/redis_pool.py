"""Redis clients whose connection pool waits for a free connection instead of failing.

Since redis-py 8 a client's pool holds at most 100 connections by default and
raises ``MaxConnectionsError`` for the 101st concurrent command. One API process
holding hundreds of runs at once (each checkpointing, claiming and releasing its
thread) went past that: runs failed with 503 "Too many connections" at 300
concurrent streams (``benchmarks/http_load.py``). A blocking pool queues such a
command until a connection is free, for at most ``WAIT_S``.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

# What a Redis call raises when Redis is down or unreachable (redis-py wraps most of
# it in RedisError; a refused or reset socket can surface as the builtin errors).
REDIS_ERRORS = (redis.RedisError, ConnectionError, OSError)

# Connections one pool may open (Redis's own default limit is 10,000 clients).
MAX_CONNECTIONS = 256
# How long a command waits for a free connection before it fails.
WAIT_S = 10.0


def async_client(url: str, **kwargs: Any) -> aioredis.Redis:
    """``redis.asyncio.Redis.from_url`` with a blocking pool (the client owns it)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=WAIT_S, **kwargs
    )
    return aioredis.Redis.from_pool(pool)


def sync_client(url: str, **kwargs: Any) -> redis.Redis:
    """``redis.Redis.from_url`` with a blocking pool (the client owns it)."""
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=WAIT_S, **kwargs
    )
    return redis.Redis.from_pool(pool)
