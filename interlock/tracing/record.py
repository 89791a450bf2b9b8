"""The local trace log: every run's tree, kept in Redis for ``interlock traces``.

Langfuse is the place to inspect runs, but it may not be configured, or not
reachable from where someone is debugging. Each run therefore also leaves a
small record (its spans with timings, its scores, no inputs or outputs, so
nothing to redact) in the Redis every replica shares, for ``trace_log_ttl_s``.
One write per run, in one round trip.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

import redis.asyncio as aioredis

from interlock.tracing.context import as_trace_id
from interlock.tracing.scores import Score
from interlock.tracing.timer import Span

RECENT = 1000  # how many runs ``recent`` can list


class TraceRecord(TypedDict):
    trace_id: str
    run_id: str
    graph: str
    thread_id: str
    user_id: str
    tenant: str
    started_at: float  # epoch seconds
    duration_ms: float
    status: Literal["ok", "error", "cancelled"]
    error: str | None
    spans: list[Span]
    scores: list[Score]
    usage: dict[str, Any]


class TraceLog:
    def __init__(self, client: aioredis.Redis, *, prefix: str, ttl_s: int) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, trace_id: str) -> str:
        return f"{self.prefix}:trace:{trace_id}"

    @property
    def _recent(self) -> str:
        return f"{self.prefix}:traces:recent"

    async def save(self, record: TraceRecord) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self._key(record["trace_id"]), json.dumps(record), ex=self.ttl_s)
            pipe.lpush(self._recent, record["trace_id"])
            pipe.ltrim(self._recent, 0, RECENT - 1)
            await pipe.execute()

    async def get(self, id_: str) -> TraceRecord | None:
        """The record of a trace id, or of a run id (its trace id is derived from it)."""
        raw = await self.client.get(self._key(as_trace_id(id_)))
        return json.loads(raw) if raw else None

    async def recent(self, limit: int = 20) -> list[TraceRecord]:
        """The latest runs, newest first (records past their time-to-live are skipped)."""
        ids = await self.client.lrange(self._recent, 0, max(limit, 1) * 2)
        if not ids:
            return []
        raws = await self.client.mget(
            [self._key(i.decode() if isinstance(i, bytes) else i) for i in ids]
        )
        records: list[TraceRecord] = []
        seen: set[str] = set()
        for raw in raws:
            if raw:
                record: TraceRecord = json.loads(raw)
                if record["trace_id"] not in seen:
                    seen.add(record["trace_id"])
                    records.append(record)
        return records[:limit]
