"""``interlock traces``: recent runs, or one run's tree, from the local trace log;
and the run's page in Langfuse when Langfuse is configured and answers.

Reads Redis only (no model server, no agent): it must work while debugging a
deployment whose models are down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from interlock.config import Settings
from interlock.errors import InvalidInput, ServiceUnavailable


def add_parser(sub: Any) -> None:
    traces = sub.add_parser(
        "traces", help="recent runs, or one run's tree with per-step timings and its Langfuse URL"
    )
    traces.add_argument("id", nargs="?", help="a trace id or a run id (omit: list recent runs)")
    traces.add_argument("--limit", type=int, default=20, help="how many recent runs to list")
    traces.add_argument("--json", action="store_true", help="the record as JSON")


def _langfuse_line(settings: Settings, trace_id: str) -> str:
    if not settings.langfuse_enabled:
        return (
            "langfuse: not configured (set LANGFUSE_PUBLIC_KEY, LANGFUSE_SECRET_KEY, LANGFUSE_HOST)"
        )
    from interlock.tracing.langfuse_export import LangfuseExport

    try:
        return f"langfuse: {LangfuseExport.from_settings(settings).trace_url(trace_id)}"
    except Exception as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        return f"langfuse: not reachable at {settings.langfuse_host} ({reason})"


async def _read(settings: Settings, args: argparse.Namespace) -> Any:
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    from interlock.tracing.record import TraceLog

    client = aioredis.Redis.from_url(settings.redis_url, socket_connect_timeout=2.0)
    log = TraceLog(client, prefix=settings.redis_prefix, ttl_s=settings.trace_log_ttl_s)
    try:
        if args.id:
            return await log.get(args.id)
        return await log.recent(args.limit)
    except RedisError as exc:
        raise ServiceUnavailable("redis", f"{settings.redis_url}: {exc}") from exc
    finally:
        await client.aclose()


def traces_main(settings: Settings, args: argparse.Namespace) -> int:
    from interlock.tracing.context import as_trace_id
    from interlock.tracing.tree import render, render_list

    if args.id is not None and not (0 < len(args.id) <= 128):
        raise InvalidInput("give a trace id (32 hex digits) or a run id")
    if args.limit <= 0:
        raise InvalidInput("--limit must be positive")
    found = asyncio.run(_read(settings, args))
    if args.id is None:
        print(json.dumps(found, indent=2) if args.json else render_list(found))
        return 0
    trace_id = as_trace_id(args.id)
    if args.json:
        print(json.dumps(found, indent=2))
        return 0 if found else 1
    if found:
        print(render(found))
    else:
        print(
            f"no local record of {args.id} (kept {settings.trace_log_ttl_s}s, "
            "INTERLOCK_TRACE_LOG_TTL_S; 0 keeps none)"
        )
    print(_langfuse_line(settings, trace_id))
    return 0 if found or settings.langfuse_enabled else 1
