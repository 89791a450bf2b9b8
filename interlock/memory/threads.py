"""Who owns a thread, and what is known about it besides its state.

The checkpointer stores a thread's state, not whose it is. Every API that
takes a thread id looks the thread up here first, under the caller's
tenant: a thread of another tenant reads exactly as a missing one, so its
existence never leaks. The record also carries what the LangGraph API shows
of a thread (metadata, times, the graph it runs, its status) and a lease
that marks it busy while a run holds it.

Key layout (``<id>`` percent-encoded; the ``{…}`` hash tag keeps a thread's
keys in one cluster slot, so the Lua scripts below also run on a cluster)::

    {prefix}:thread:{<id>}:record      HASH tenant, graph_id, metadata (JSON),
                                            created_at, updated_at, status
    {prefix}:thread:{<id>}:run         STRING the run holding the thread (a lease, PX)
    {prefix}:tenant:<tenant>:threads   ZSET thread ids by creation time (for search)

Why a lease and not a "busy" status: a process that dies mid-run never
writes "idle" back, and a status would stay busy for ever; the lease expires
with the run's time limit, and the thread reads idle again.

The tenant index is written before the record, as the checkpointer's user
index is, so a crash in between leaves at worst an entry without a record;
searches prune those. Records expire with the checkpointer's thread TTL,
refreshed on every read and run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast
from urllib.parse import quote

import redis
import redis.asyncio as aioredis

from interlock.errors import InterlockError, ThreadNotFound

ThreadStatus = Literal["idle", "busy", "interrupted", "error"]
RunOutcome = Literal["idle", "interrupted", "error"]
IfExists = Literal["raise", "do_nothing"]
SortBy = Literal["thread_id", "status", "created_at", "updated_at"]

# Records read per round trip while searching a tenant's threads.
_SEARCH_BATCH = 200

_CREATE = """
local owner = redis.call('HGET', KEYS[1], 'tenant')
if owner then return owner end
redis.call('HSET', KEYS[1], 'tenant', ARGV[1], 'graph_id', ARGV[2], 'metadata', ARGV[3],
           'created_at', ARGV[4], 'updated_at', ARGV[4], 'status', 'idle')
if tonumber(ARGV[5]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[5]) end
return false
"""

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
local graph = redis.call('HGET', KEYS[1], 'graph_id')
if graph and graph ~= '' and graph ~= ARGV[2] then return 'graph:' .. graph end
local holder = redis.call('GET', KEYS[2])
if holder and ARGV[4] == '1' then return 'busy:' .. holder end
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[3])
redis.call('HSET', KEYS[1], 'graph_id', ARGV[2], 'updated_at', ARGV[5])
if tonumber(ARGV[6]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[6]) end
return 'ok'
"""

_FINISH = """
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'updated_at', ARGV[3])
  if tonumber(ARGV[4]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
end
return 1
"""


class ThreadConflict(InterlockError):
    """The thread exists already, is busy with another run, or runs another graph."""

    status = 409


@dataclass(frozen=True)
class ThreadRecord:
    thread_id: str
    tenant: str
    graph_id: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0
    status: ThreadStatus = "idle"
    run_id: str | None = None  # the run holding the thread while it is busy

    @property
    def shown_metadata(self) -> dict[str, Any]:
        """The metadata with the thread's graph, as LangGraph shows (and searches) it."""
        if self.graph_id and "graph_id" not in self.metadata:
            return {"graph_id": self.graph_id, **self.metadata}
        return self.metadata


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _matches(record: ThreadRecord, metadata: Mapping[str, Any] | None) -> bool:
    shown = record.shown_metadata
    return all(shown.get(key) == value for key, value in (metadata or {}).items())


class ThreadRegistry:
    """Thread records in Redis (see the module doc); every read is scoped to a tenant."""

    def __init__(self, client: aioredis.Redis, *, prefix: str, ttl_s: int | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)

    # -- keys --------------------------------------------------------------------------
    def _record_key(self, thread_id: str) -> str:
        return f"{self.prefix}:thread:{{{quote(thread_id, safe='')}}}:record"

    def _run_key(self, thread_id: str) -> str:
        return f"{self.prefix}:thread:{{{quote(thread_id, safe='')}}}:run"

    def _tenant_key(self, tenant: str) -> str:
        return f"{self.prefix}:tenant:{quote(tenant, safe='')}:threads"

    # -- records -----------------------------------------------------------------------
    @staticmethod
    def _parse(thread_id: str, raw: Mapping[Any, Any], holder: bytes | str | None) -> ThreadRecord:
        fields = {_text(k): _text(v) for k, v in raw.items()}
        try:
            metadata = json.loads(fields.get("metadata") or "{}")
        except ValueError:
            metadata = {}
        status = cast(ThreadStatus, fields.get("status") or "idle")
        return ThreadRecord(
            thread_id=thread_id,
            tenant=fields.get("tenant", ""),
            graph_id=fields.get("graph_id") or None,
            metadata=metadata if isinstance(metadata, dict) else {},
            created_at=float(fields.get("created_at") or 0),
            updated_at=float(fields.get("updated_at") or 0),
            status="busy" if holder else status,
            run_id=_text(holder) if holder else None,
        )

    async def _load(self, thread_ids: Sequence[str]) -> list[ThreadRecord | None]:
        """Records of these threads (None where missing), refreshing their TTL."""
        if not thread_ids:
            return []
        async with self.client.pipeline(transaction=False) as pipe:
            for thread_id in thread_ids:
                pipe.hgetall(self._record_key(thread_id))
                pipe.get(self._run_key(thread_id))
                if self.ttl_s is not None:
                    pipe.expire(self._record_key(thread_id), self.ttl_s)
            replies = await pipe.execute()
        step = 2 if self.ttl_s is None else 3
        found: list[ThreadRecord | None] = []
        for i, thread_id in enumerate(thread_ids):
            raw, holder = replies[i * step], replies[i * step + 1]
            found.append(self._parse(thread_id, raw, holder) if raw else None)
        return found

    async def get(self, thread_id: str, tenant: str) -> ThreadRecord | None:
        """The thread if it exists and belongs to ``tenant``; else None, whichever it was."""
        (record,) = await self._load([thread_id])
        if record is None or record.tenant != tenant:
            return None
        return record

    async def require(self, thread_id: str, tenant: str) -> ThreadRecord:
        """``get``, or ThreadNotFound worded the same for a missing and a foreign thread."""
        record = await self.get(thread_id, tenant)
        if record is None:
            raise ThreadNotFound(f"thread {thread_id!r} does not exist")
        return record

    async def create(
        self,
        thread_id: str,
        tenant: str,
        *,
        graph_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        if_exists: IfExists = "raise",
    ) -> ThreadRecord:
        """Record a new thread of ``tenant``; ThreadConflict if the id is taken.

        An id taken by another tenant conflicts too (ids are global): the
        answer is the same as for one's own thread, and says nothing more.
        ``if_exists="do_nothing"`` returns one's own existing thread instead.
        """
        now = time.time()
        index = self._tenant_key(tenant)
        await self.client.zadd(index, {thread_id: now}, nx=True)
        if self.ttl_s is not None:
            await self.client.expire(index, self.ttl_s * 2)
        owner = await self._create(
            keys=[self._record_key(thread_id)],
            args=[tenant, graph_id or "", json.dumps(dict(metadata or {})), now, self.ttl_s or 0],
        )
        if owner is None:
            return ThreadRecord(thread_id, tenant, graph_id, dict(metadata or {}), now, now)
        if _text(owner) != tenant:
            await self.client.zrem(index, thread_id)
        elif if_exists == "do_nothing":
            return await self.require(thread_id, tenant)
        raise ThreadConflict(f"thread {thread_id!r} already exists")

    async def update_metadata(
        self, thread_id: str, tenant: str, metadata: Mapping[str, Any]
    ) -> ThreadRecord:
        """Merge ``metadata`` into the thread's (keys given replace the stored ones)."""
        key = self._record_key(thread_id)
        async with self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    # Read on the watching connection, without the TTL refresh
                    # of _load: an EXPIRE would count as a change and abort.
                    raw = await pipe.hgetall(key)
                    holder = await pipe.get(self._run_key(thread_id))
                    record = self._parse(thread_id, raw, holder) if raw else None
                    if record is None or record.tenant != tenant:
                        raise ThreadNotFound(f"thread {thread_id!r} does not exist")
                    merged = {**record.metadata, **metadata}
                    pipe.multi()
                    pipe.hset(
                        key, mapping={"metadata": json.dumps(merged), "updated_at": time.time()}
                    )
                    await pipe.execute()
                    return replace(record, metadata=merged)
                except redis.WatchError:
                    continue

    async def delete(self, thread_id: str, tenant: str) -> None:
        """Forget the record (the caller deletes the state); ThreadNotFound if not the tenant's."""
        await self.require(thread_id, tenant)
        await self.client.delete(self._record_key(thread_id), self._run_key(thread_id))
        await self.client.zrem(self._tenant_key(tenant), thread_id)

    async def forget(self, thread_ids: Iterable[str]) -> None:
        """Drop records whatever their tenant (a user's data removal; index entries are pruned)."""
        keys = [k for t in thread_ids for k in (self._record_key(t), self._run_key(t))]
        if keys:
            await self.client.delete(*keys)

    # -- runs --------------------------------------------------------------------------
    async def claim(
        self,
        thread_id: str,
        run_id: str,
        *,
        graph_id: str,
        lease_s: float,
        reject_if_busy: bool = False,
    ) -> None:
        """Mark the thread busy with ``run_id`` for at most ``lease_s``.

        Atomic with the checks: ThreadNotFound if the record went meanwhile,
        ThreadConflict if the thread runs another graph (its state would not
        fit) or, with ``reject_if_busy``, if another run holds it.
        """
        answer = _text(
            await self._claim(
                keys=[self._record_key(thread_id), self._run_key(thread_id)],
                args=[
                    run_id,
                    graph_id,
                    max(1, int(lease_s * 1000)),
                    int(reject_if_busy),
                    time.time(),
                    self.ttl_s or 0,
                ],
            )
        )
        if answer == "missing":
            raise ThreadNotFound(f"thread {thread_id!r} does not exist")
        if answer.startswith("graph:"):
            raise ThreadConflict(
                f"thread {thread_id!r} belongs to graph {answer[6:]!r}, not {graph_id!r}"
            )
        if answer.startswith("busy:"):
            raise ThreadConflict(
                f"thread {thread_id!r} is busy with run {answer[5:]!r} "
                "(multitask_strategy 'reject'); retry when it is done"
            )

    async def finish(self, thread_id: str, run_id: str, outcome: RunOutcome) -> None:
        """Release the run's lease and record how it ended."""
        await self._finish(
            keys=[self._record_key(thread_id), self._run_key(thread_id)],
            args=[run_id, outcome, time.time(), self.ttl_s or 0],
        )

    # -- search ------------------------------------------------------------------------
    async def search(
        self,
        tenant: str,
        *,
        metadata: Mapping[str, Any] | None = None,
        ids: Sequence[str] | None = None,
        status: ThreadStatus | None = None,
        sort_by: SortBy = "created_at",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[ThreadRecord]:
        """The tenant's threads matching every filter, sorted, one page of them.

        Filters run here, over all the tenant's records (read in batches):
        fine for thousands of threads per tenant, not for millions.
        """
        index = self._tenant_key(tenant)
        listed = [_text(cast(bytes, t)) for t in await self.client.zrange(index, 0, -1)]
        if ids is not None:
            wanted = set(ids)
            listed = [t for t in listed if t in wanted]
        found: list[ThreadRecord] = []
        stale: list[str] = []
        for start in range(0, len(listed), _SEARCH_BATCH):
            batch = listed[start : start + _SEARCH_BATCH]
            for thread_id, record in zip(batch, await self._load(batch), strict=True):
                if record is None or record.tenant != tenant:
                    stale.append(thread_id)
                elif _matches(record, metadata) and (status is None or record.status == status):
                    found.append(record)
        if stale:
            await self.client.zrem(index, *stale)
        found.sort(key=lambda r: (getattr(r, sort_by), r.thread_id), reverse=descending)
        end = None if limit is None else offset + limit
        return found[offset:end]
