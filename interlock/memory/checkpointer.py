"""A LangGraph checkpointer on plain Redis commands.

Why not ``langgraph-checkpoint-redis``: it needs the RedisJSON and
RediSearch modules (Redis Stack / Redis 8). On Redis OSS 7.0 without
modules — what managed services such as ElastiCache or Memorystore offer,
and what runs on this project's machines — it fails with ``unknown command
'FT.INFO'``. This saver uses only strings, hashes, sets and sorted sets, so
it runs on Redis 6/7 and Valkey as they are.

Key layout (``{p}`` is the prefix; thread ids and namespaces are
percent-encoded so no id can forge another's key; the thread sits in a
``{hash tag}`` so every key of a thread lands in one Redis Cluster slot):

* ``{p}:ckpt:{thread}:{ns}`` — sorted set of checkpoint ids. Ids are uuid6,
  monotonic, so lexical order is time order (all scores are 0).
* ``{p}:ckpt:{thread}:{ns}:{id}`` — hash: the serialized checkpoint (with
  its channel values), its metadata and its parent id.
* ``{p}:writes:{thread}:{ns}:{id}`` — hash of pending writes, one field per
  (task, index), the value msgpack-encoded.
* ``{p}:thread:{thread}`` — set of the thread's namespaces, so a thread can
  be found (``thread_exists``) and deleted whole.

Atomicity: ``put`` and ``put_writes`` each queue all their commands in one
MULTI/EXEC transaction, so a crash between two writes never leaves a
checkpoint half-written; readers skip an id whose hash is absent.

TTL (optional): each write sets the TTL on the thread's index keys and on
the checkpoint it wrote; reading the latest checkpoint refreshes them.
Older checkpoints of an active thread may expire before the newest, which
history listings simply skip.

Storage: each checkpoint stores its full channel values (no per-channel
blob deduplication yet), which is simple and atomic; a thread's history
therefore grows with its number of steps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any
from urllib.parse import quote, unquote

import ormsgpack
import redis
import redis.asyncio as aioredis
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

_SEP = "\x00"
Scopes = list[tuple[str, str]]  # (thread id, namespace) pairs; named outside the class,
# where ``list`` is still the builtin and not the saver's ``list`` method


def _q(value: str) -> str:
    return quote(value, safe="")


def _s(value: Any) -> str:
    """Redis replies are bytes (the clients are built without decode_responses)."""
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisCheckpointSaver(BaseCheckpointSaver[int]):
    """Checkpoints and pending writes of LangGraph threads, in plain Redis."""

    def __init__(
        self,
        *,
        client: redis.Redis | None = None,
        aclient: aioredis.Redis | None = None,
        prefix: str = "interlock",
        ttl_seconds: int | None = None,
        serde: SerializerProtocol | None = None,
    ) -> None:
        super().__init__(serde=serde)
        self.client = client
        self.aclient = aclient
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = "interlock", ttl_seconds: int | None = None
    ) -> RedisCheckpointSaver:
        options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 5.0}
        return cls(
            client=redis.Redis.from_url(url, **options),
            aclient=aioredis.Redis.from_url(url, **options),
            prefix=prefix,
            ttl_seconds=ttl_seconds,
        )

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    async def aclose(self) -> None:
        if self.aclient is not None:
            await self.aclient.aclose()
        self.close()

    # -- keys ------------------------------------------------------------------------
    def _thread_tag(self, thread_id: str) -> str:
        return "{" + _q(thread_id) + "}"

    def _index_key(self, thread_id: str, ns: str) -> str:
        return f"{self.prefix}:ckpt:{self._thread_tag(thread_id)}:{_q(ns)}"

    def _checkpoint_key(self, thread_id: str, ns: str, checkpoint_id: str) -> str:
        return f"{self._index_key(thread_id, ns)}:{checkpoint_id}"

    def _writes_key(self, thread_id: str, ns: str, checkpoint_id: str) -> str:
        return f"{self.prefix}:writes:{self._thread_tag(thread_id)}:{_q(ns)}:{checkpoint_id}"

    def _thread_key(self, thread_id: str) -> str:
        return f"{self.prefix}:thread:{self._thread_tag(thread_id)}"

    def _sync(self) -> redis.Redis:
        if self.client is None:
            raise RuntimeError("RedisCheckpointSaver was built without a sync client")
        return self.client

    def _async(self) -> aioredis.Redis:
        if self.aclient is None:
            raise RuntimeError("RedisCheckpointSaver was built without an async client")
        return self.aclient

    # -- shared planning (the same commands for the sync and async clients) ------------
    def _queue_put(
        self,
        pipe: Any,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
    ) -> RunnableConfig:
        thread_id = config["configurable"]["thread_id"]
        ns = config["configurable"].get("checkpoint_ns", "")
        parent = config["configurable"].get("checkpoint_id") or ""
        ctype, cbytes = self.serde.dumps_typed(checkpoint)
        mtype, mbytes = self.serde.dumps_typed(get_checkpoint_metadata(config, metadata))
        key = self._checkpoint_key(thread_id, ns, checkpoint["id"])
        pipe.hset(
            key,
            mapping={
                "type": ctype,
                "checkpoint": cbytes,
                "mtype": mtype,
                "metadata": mbytes,
                "parent": parent,
            },
        )
        pipe.zadd(self._index_key(thread_id, ns), {checkpoint["id"]: 0})
        pipe.sadd(self._thread_key(thread_id), ns)
        self._queue_expire(pipe, thread_id, ns, key)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    def _queue_writes(
        self,
        pipe: Any,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        thread_id = config["configurable"]["thread_id"]
        ns = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = config["configurable"]["checkpoint_id"]
        key = self._writes_key(thread_id, ns, checkpoint_id)
        for idx, (channel, value) in enumerate(writes):
            write_idx = WRITES_IDX_MAP.get(channel, idx)
            vtype, vbytes = self.serde.dumps_typed(value)
            packed = ormsgpack.packb([task_id, channel, vtype, vbytes, task_path, write_idx])
            field = f"{task_id}{_SEP}{write_idx}"
            # Special channels (errors, interrupts…) overwrite; regular writes are
            # idempotent: a retried task must not replace what was recorded first.
            if write_idx < 0:
                pipe.hset(key, field, packed)
            else:
                pipe.hsetnx(key, field, packed)
        self._queue_expire(pipe, thread_id, ns, key)

    def _queue_expire(self, pipe: Any, thread_id: str, ns: str, *keys: str) -> None:
        if self.ttl_seconds:
            for key in (self._index_key(thread_id, ns), self._thread_key(thread_id), *keys):
                pipe.expire(key, self.ttl_seconds)

    def _tuple(
        self,
        thread_id: str,
        ns: str,
        checkpoint_id: str,
        saved: dict[bytes, bytes],
        writes: dict[bytes, bytes],
    ) -> CheckpointTuple:
        checkpoint: Checkpoint = self.serde.loads_typed((_s(saved[b"type"]), saved[b"checkpoint"]))
        metadata: CheckpointMetadata = self.serde.loads_typed(
            (_s(saved[b"mtype"]), saved[b"metadata"])
        )
        decoded = [ormsgpack.unpackb(raw) for raw in writes.values()]
        decoded.sort(key=lambda w: (w[4], w[0], w[5]))  # task path, task id, index
        parent = _s(saved.get(b"parent", b""))
        return CheckpointTuple(
            config={
                "configurable": {
                    "thread_id": thread_id,
                    "checkpoint_ns": ns,
                    "checkpoint_id": checkpoint_id,
                }
            },
            checkpoint=checkpoint,
            metadata=metadata,
            parent_config=(
                {
                    "configurable": {
                        "thread_id": thread_id,
                        "checkpoint_ns": ns,
                        "checkpoint_id": parent,
                    }
                }
                if parent
                else None
            ),
            pending_writes=[(w[0], w[1], self.serde.loads_typed((w[2], w[3]))) for w in decoded],
        )

    @staticmethod
    def _matches(metadata: CheckpointMetadata, filter: dict[str, Any] | None) -> bool:
        return not filter or all(metadata.get(k) == v for k, v in filter.items())

    # -- sync API ------------------------------------------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        r = self._sync()
        thread_id = config["configurable"]["thread_id"]
        ns = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            latest = r.zrevrangebylex(self._index_key(thread_id, ns), "+", "-", start=0, num=1)
            if not latest:
                return None
            checkpoint_id = _s(latest[0])
        pipe = r.pipeline(transaction=False)
        pipe.hgetall(self._checkpoint_key(thread_id, ns, checkpoint_id))
        pipe.hgetall(self._writes_key(thread_id, ns, checkpoint_id))
        self._queue_expire(pipe, thread_id, ns, self._checkpoint_key(thread_id, ns, checkpoint_id))
        saved, writes, *_ = pipe.execute()
        if not saved:
            return None
        return self._tuple(thread_id, ns, checkpoint_id, saved, writes)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        r = self._sync()
        for thread_id, ns in self._scopes(config, r):
            before_id = get_checkpoint_id(before) if before else None
            upper = "(" + before_id if before_id else "+"
            ids = [_s(i) for i in r.zrevrangebylex(self._index_key(thread_id, ns), upper, "-")]
            if config and (wanted := get_checkpoint_id(config)):
                ids = [i for i in ids if i == wanted]
            for checkpoint_id in ids:
                if limit is not None and limit <= 0:
                    return
                pipe = r.pipeline(transaction=False)
                pipe.hgetall(self._checkpoint_key(thread_id, ns, checkpoint_id))
                pipe.hgetall(self._writes_key(thread_id, ns, checkpoint_id))
                saved, writes = pipe.execute()
                if not saved:
                    continue  # expired
                item = self._tuple(thread_id, ns, checkpoint_id, saved, writes)
                if not self._matches(item.metadata, filter):
                    continue
                if limit is not None:
                    limit -= 1
                yield item

    def _scopes(self, config: RunnableConfig | None, r: redis.Redis) -> Scopes:
        if config:
            thread_id = config["configurable"]["thread_id"]
            ns = config["configurable"].get("checkpoint_ns")
            if ns is not None:
                return [(thread_id, ns)]
            return [(thread_id, _s(n)) for n in sorted(r.smembers(self._thread_key(thread_id)))]
        scopes = []
        for key in r.scan_iter(f"{self.prefix}:thread:*", count=1000):
            thread_id = unquote(_s(key).split(":thread:", 1)[1].strip("{}"))
            scopes += [(thread_id, _s(n)) for n in sorted(r.smembers(key))]
        return scopes

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        pipe = self._sync().pipeline(transaction=True)
        saved = self._queue_put(pipe, config, checkpoint, metadata)
        pipe.execute()
        return saved

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        pipe = self._sync().pipeline(transaction=True)
        self._queue_writes(pipe, config, writes, task_id, task_path)
        pipe.execute()

    def delete_thread(self, thread_id: str) -> None:
        r = self._sync()
        keys = [self._thread_key(thread_id)]
        for ns in r.smembers(self._thread_key(thread_id)):
            index = self._index_key(thread_id, _s(ns))
            for cid in r.zrange(index, 0, -1):
                keys += [
                    self._checkpoint_key(thread_id, _s(ns), _s(cid)),
                    self._writes_key(thread_id, _s(ns), _s(cid)),
                ]
            keys.append(index)
        pipe = r.pipeline(transaction=True)
        pipe.delete(*keys)
        pipe.execute()

    def thread_exists(self, thread_id: str) -> bool:
        return bool(self._sync().exists(self._thread_key(thread_id)))

    # -- async API -----------------------------------------------------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        r = self._async()
        thread_id = config["configurable"]["thread_id"]
        ns = config["configurable"].get("checkpoint_ns", "")
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            latest = await r.zrevrangebylex(
                self._index_key(thread_id, ns), "+", "-", start=0, num=1
            )
            if not latest:
                return None
            checkpoint_id = _s(latest[0])
        pipe = r.pipeline(transaction=False)
        pipe.hgetall(self._checkpoint_key(thread_id, ns, checkpoint_id))
        pipe.hgetall(self._writes_key(thread_id, ns, checkpoint_id))
        self._queue_expire(pipe, thread_id, ns, self._checkpoint_key(thread_id, ns, checkpoint_id))
        saved, writes, *_ = await pipe.execute()
        if not saved:
            return None
        return self._tuple(thread_id, ns, checkpoint_id, saved, writes)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        r = self._async()
        for thread_id, ns in await self._ascopes(config, r):
            before_id = get_checkpoint_id(before) if before else None
            upper = "(" + before_id if before_id else "+"
            ids = [
                _s(i) for i in await r.zrevrangebylex(self._index_key(thread_id, ns), upper, "-")
            ]
            if config and (wanted := get_checkpoint_id(config)):
                ids = [i for i in ids if i == wanted]
            for checkpoint_id in ids:
                if limit is not None and limit <= 0:
                    return
                pipe = r.pipeline(transaction=False)
                pipe.hgetall(self._checkpoint_key(thread_id, ns, checkpoint_id))
                pipe.hgetall(self._writes_key(thread_id, ns, checkpoint_id))
                saved, writes = await pipe.execute()
                if not saved:
                    continue
                item = self._tuple(thread_id, ns, checkpoint_id, saved, writes)
                if not self._matches(item.metadata, filter):
                    continue
                if limit is not None:
                    limit -= 1
                yield item

    async def _ascopes(self, config: RunnableConfig | None, r: aioredis.Redis) -> Scopes:
        if config:
            thread_id = config["configurable"]["thread_id"]
            ns = config["configurable"].get("checkpoint_ns")
            if ns is not None:
                return [(thread_id, ns)]
            members = await r.smembers(self._thread_key(thread_id))
            return [(thread_id, _s(n)) for n in sorted(members)]
        scopes = []
        async for key in r.scan_iter(f"{self.prefix}:thread:*", count=1000):
            thread_id = unquote(_s(key).split(":thread:", 1)[1].strip("{}"))
            scopes += [(thread_id, _s(n)) for n in sorted(await r.smembers(key))]
        return scopes

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        pipe = self._async().pipeline(transaction=True)
        saved = self._queue_put(pipe, config, checkpoint, metadata)
        await pipe.execute()
        return saved

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        pipe = self._async().pipeline(transaction=True)
        self._queue_writes(pipe, config, writes, task_id, task_path)
        await pipe.execute()

    async def adelete_thread(self, thread_id: str) -> None:
        r = self._async()
        keys = [self._thread_key(thread_id)]
        for ns in await r.smembers(self._thread_key(thread_id)):
            index = self._index_key(thread_id, _s(ns))
            for cid in await r.zrange(index, 0, -1):
                keys += [
                    self._checkpoint_key(thread_id, _s(ns), _s(cid)),
                    self._writes_key(thread_id, _s(ns), _s(cid)),
                ]
            keys.append(index)
        pipe = r.pipeline(transaction=True)
        pipe.delete(*keys)
        await pipe.execute()

    async def athread_exists(self, thread_id: str) -> bool:
        return bool(await self._async().exists(self._thread_key(thread_id)))
