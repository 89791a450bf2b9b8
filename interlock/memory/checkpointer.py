"""A LangGraph checkpointer on plain Redis commands.

Why this exists: the official ``langgraph-checkpoint-redis`` package builds its
storage on RedisJSON and RediSearch. Against a plain Redis 7.0 (what managed
Redis/Valkey services usually offer, and what Redis OSS ships) it fails at
start-up with ``unknown command 'FT.INFO'``. This saver uses only core data
types (hashes, sets, sorted sets) and MULTI/EXEC, so it runs on Redis OSS 6/7
and Valkey without any module.

Key layout (``<thread>``, ``<ns>`` and ``<id>`` are percent-encoded so a ``:``
inside a namespace such as ``child:1`` can never make two keys collide)::

    {prefix}:checkpoint:{<thread>}:namespaces          SET  namespaces holding checkpoints
    {prefix}:checkpoint:{<thread>}:keys                SET  every other key of the thread
    {prefix}:checkpoint:{<thread>}:ns:<ns>:index       ZSET checkpoint ids, all score 0
    {prefix}:checkpoint:{<thread>}:ns:<ns>:blobs       HASH [channel, version] -> value
    {prefix}:checkpoint:{<thread>}:ns:<ns>:cp:<id>     HASH checkpoint, metadata, parent
    {prefix}:checkpoint:{<thread>}:ns:<ns>:writes:<id> HASH [task_id, idx] -> pending write

Why this shape:

* Checkpoint ids are uuid6, so their string order is their time order; with
  every score 0, ``ZREVRANGEBYLEX`` gives "newest first" and ``before=`` cursors
  without a second ordering field.
* Channel values live in a per-namespace blob hash keyed by (channel, version),
  as in ``InMemorySaver`` and the Postgres saver: a step stores only the
  channels it changed, so a long conversation is not copied into every one of
  its checkpoints (which would make a thread's storage grow quadratically).
* The ``{<thread>}`` hash tag puts all keys of a thread in one cluster slot, so
  the MULTI/EXEC transactions below also work on a Redis/Valkey cluster.
* The ``keys`` registry is written in the same transaction as the keys it names,
  so ``delete_thread`` and the TTL refresh reach every key of a thread, including
  writes stored for a checkpoint whose ``put`` has not landed yet (LangGraph
  may send ``put_writes`` concurrently with the ``put`` of the same checkpoint).

Users: a run whose config carries ``user_id`` (in ``metadata`` or
``configurable``; interlock's agent sets it) adds its thread to
``{prefix}:user:<user>:threads`` (SET), so every thread of a user can be found
and deleted for a data-removal request. The index is written *before* the
checkpoint (a separate command: it lives in another cluster slot than the
thread), so a crash in between leaves at worst an index entry for a thread
that does not exist — listing prunes those — and never a thread the index
misses. ``delete_user_threads`` WATCHes the index, so a thread created while
it runs is deleted too.

Stored values are ``<json header>\\n<serde bytes>``: the header carries the serde
type tag (and, for writes, task id, index, channel and task path), so the
payload stays whatever ``self.serde`` produced, byte for byte.

Atomicity: every ``put`` and ``put_writes`` is one MULTI/EXEC, so a process that
dies mid-write leaves either all or none of that write: the index never lists a
checkpoint whose hash or blobs are missing.

TTL: with ``ttl_seconds`` set, every ``put``/``put_writes``/``get_tuple`` resets
the expiry of *all* keys of the thread to the same value, so a thread expires
as a whole, never leaving an index that points at expired checkpoints or blobs.
The refresh is one Lua script per write, run inside the write's MULTI (see
``_EXPIRE_THREAD``); its cost grows with the thread's key count, inside Redis.
"""

from __future__ import annotations

import builtins
import json
import random
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

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
    PendingWrite,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from interlock.memory import redis_pool

__all__ = ["RedisCheckpointSaver"]

# How many checkpoints one round trip loads while listing: bounds memory and
# latency of a page without making a long history cost one round trip each.
_LIST_BATCH = 100
# Serde type tag of a channel that has a version but no value (InMemorySaver's too).
_EMPTY = "empty"

_Cmd = tuple[Any, ...]


def _quote(part: str) -> str:
    return quote(part, safe="")


def _pack(header: Sequence[Any], data: bytes) -> bytes:
    # json.dumps escapes newlines, so the first b"\n" always ends the header.
    return json.dumps(list(header), separators=(",", ":")).encode() + b"\n" + data


def _unpack(raw: bytes) -> tuple[list[Any], bytes]:
    header, _, data = raw.partition(b"\n")
    return json.loads(header), data


def _blob_field(channel: str, version: str | int | float) -> str:
    # JSON keeps 1 and "1" apart, as InMemorySaver's tuple keys do.
    return json.dumps([channel, version], separators=(",", ":"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _flatten(mapping: Mapping[str, Any]) -> list[Any]:
    flat: list[Any] = []
    for key, value in mapping.items():
        flat += [key, value]
    return flat


def _batched(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


# Refreshes a whole thread's TTL in one round trip: every key the thread's
# registry lists, plus the registry and the namespace set. Done in Redis because
# a thread accumulates a key per checkpoint: reading the registry and sending an
# EXPIRE per key cost ~280 commands per put on a 100-turn thread (measured:
# benchmarks/checkpointer.py). The keys it touches all share the thread's hash
# tag, so they live in one cluster slot.
_EXPIRE_THREAD = """
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  redis.call('EXPIRE', key, ARGV[1])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


@dataclass(frozen=True, order=True)
class _Ref:
    """Address of one stored checkpoint; sorts by id first, so newest last."""

    checkpoint_id: str
    thread_id: str
    ns: str


@dataclass
class _Loaded:
    """A checkpoint read from its hash, waiting for its channel values."""

    ref: _Ref
    checkpoint: dict[str, Any]
    metadata: CheckpointMetadata
    parent_id: str | None
    pending_writes: list[PendingWrite]
    blob_fields: list[str]
    blob_channels: list[str]


class RedisCheckpointSaver(BaseCheckpointSaver[str]):
    """LangGraph checkpointer storing threads in plain Redis (see the module doc).

    Sync methods (``get_tuple``, ``list``, ``put``...) use ``client``, async ones
    (``aget_tuple``, ``alist``, ``aput``...) use ``aclient``: LangGraph calls the
    sync family from ``invoke`` and the async one from ``ainvoke``, and an
    asyncio client cannot serve the first nor a blocking client the second
    without stalling the event loop. Give the one(s) your code path needs.

    ``close``/``aclose`` close only the clients this saver created itself
    (``from_url``); clients passed in belong to the caller, who may share them.
    """

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
        if client is None and aclient is None:
            raise ValueError("RedisCheckpointSaver needs a client, an aclient, or both")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise ValueError(f"ttl_seconds must be positive or None, got {ttl_seconds}")
        for given in (client, aclient):
            if given is not None and given.connection_pool.connection_kwargs.get(
                "decode_responses"
            ):
                # Serialized checkpoints are binary (msgpack): decoding them as
                # text would fail or corrupt them.
                raise ValueError("RedisCheckpointSaver needs clients with decode_responses=False")
        self.client = client
        self.aclient = aclient
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._owns_clients = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "interlock",
        ttl_seconds: int | None = None,
        serde: SerializerProtocol | None = None,
        **client_kwargs: Any,
    ) -> RedisCheckpointSaver:
        """A saver with its own sync and async clients, so a graph can be run
        with either ``invoke`` or ``ainvoke``; ``close``/``aclose`` release them.

        Timeouts default to a few seconds so an unreachable Redis surfaces as an
        error the caller can report instead of a request that hangs.
        """
        client_kwargs["decode_responses"] = False
        client_kwargs.setdefault("socket_connect_timeout", 2.0)
        client_kwargs.setdefault("socket_timeout", 5.0)
        saver = cls(
            client=redis_pool.sync_client(url, **client_kwargs),
            aclient=redis_pool.async_client(url, **client_kwargs),
            prefix=prefix,
            ttl_seconds=ttl_seconds,
            serde=serde,
        )
        saver._owns_clients = True
        return saver

    def close(self) -> None:
        """Release the sync client if this saver created it (the async one needs ``aclose``)."""
        if self._owns_clients and self.client is not None:
            self.client.close()

    async def aclose(self) -> None:
        """Release both clients if this saver created them."""
        if self._owns_clients:
            if self.aclient is not None:
                await self.aclient.aclose()
            if self.client is not None:
                self.client.close()

    # -- clients -------------------------------------------------------------------
    def _sync(self) -> redis.Redis:
        if self.client is None:
            raise RuntimeError(
                "RedisCheckpointSaver has no sync client: sync methods (invoke, get_state, "
                "get_tuple, list, put...) need RedisCheckpointSaver(client=redis.Redis(...)) "
                "or RedisCheckpointSaver.from_url(...)"
            )
        return self.client

    def _async(self) -> aioredis.Redis:
        if self.aclient is None:
            raise RuntimeError(
                "RedisCheckpointSaver has no async client: async methods (ainvoke, aget_state, "
                "aget_tuple, alist, aput...) need RedisCheckpointSaver(aclient="
                "redis.asyncio.Redis(...)) or RedisCheckpointSaver.from_url(...)"
            )
        return self.aclient

    # -- keys ----------------------------------------------------------------------
    def _thread_prefix(self, thread_id: str) -> str:
        return f"{self.prefix}:checkpoint:{{{_quote(thread_id)}}}"

    def _registry_key(self, thread_id: str) -> str:
        return f"{self._thread_prefix(thread_id)}:keys"

    def _namespaces_key(self, thread_id: str) -> str:
        return f"{self._thread_prefix(thread_id)}:namespaces"

    def _ns_prefix(self, thread_id: str, ns: str) -> str:
        return f"{self._thread_prefix(thread_id)}:ns:{_quote(ns)}"

    def _index_key(self, thread_id: str, ns: str) -> str:
        return f"{self._ns_prefix(thread_id, ns)}:index"

    def _blobs_key(self, thread_id: str, ns: str) -> str:
        return f"{self._ns_prefix(thread_id, ns)}:blobs"

    def _checkpoint_key(self, ref: _Ref) -> str:
        return f"{self._ns_prefix(ref.thread_id, ref.ns)}:cp:{_quote(ref.checkpoint_id)}"

    def _writes_key(self, ref: _Ref) -> str:
        return f"{self._ns_prefix(ref.thread_id, ref.ns)}:writes:{_quote(ref.checkpoint_id)}"

    def _user_key(self, user_id: str) -> str:
        return f"{self.prefix}:user:{_quote(user_id)}:threads"

    def _user_cmds(self, config: RunnableConfig, metadata: CheckpointMetadata) -> list[_Cmd]:
        """Index the thread under its user (see the module doc), before the checkpoint."""
        user = get_checkpoint_metadata(config, metadata).get("user_id")
        if not isinstance(user, str) or not user:
            return []
        key = self._user_key(user)
        cmds: list[_Cmd] = [("SADD", key, str(config["configurable"]["thread_id"]))]
        if self.ttl_seconds is not None:
            # Outlives the threads it lists (they refresh on reads too); stale
            # entries are pruned by list_user_threads.
            cmds.append(("EXPIRE", key, self.ttl_seconds * 2))
        return cmds

    def _threads_pattern(self) -> str:
        return f"{_glob_escape(self.prefix)}:checkpoint:{{*}}:namespaces"

    def _thread_from_namespaces_key(self, key: bytes | str) -> str:
        head = f"{self.prefix}:checkpoint:{{"
        return unquote(_text(key)[len(head) : -len("}:namespaces")])

    # -- serialization -------------------------------------------------------------
    def _dump(self, obj: Any) -> bytes:
        type_, data = self.serde.dumps_typed(obj)
        return _pack([type_], data)

    def _load(self, raw: bytes) -> Any:
        header, data = _unpack(raw)
        return self.serde.loads_typed((header[0], data))

    # -- command plans shared by the sync and async paths ---------------------------
    def _expire_cmds(self, thread_id: str) -> list[_Cmd]:
        """Refresh the TTL of every key of the thread, in Redis (see ``_EXPIRE_THREAD``)."""
        if self.ttl_seconds is None:
            return []
        registry, namespaces = self._registry_key(thread_id), self._namespaces_key(thread_id)
        return [("EVAL", _EXPIRE_THREAD, 2, registry, namespaces, self.ttl_seconds)]

    def _put_cmds(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> tuple[_Ref, list[_Cmd]]:
        conf = config["configurable"]
        ref = _Ref(checkpoint["id"], str(conf["thread_id"]), conf.get("checkpoint_ns") or "")
        stored: dict[str, Any] = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values", {}) or {}
        blobs: dict[str, bytes] = {}
        for channel, version in new_versions.items():
            blobs[_blob_field(channel, version)] = (
                self._dump(values[channel]) if channel in values else _pack([_EMPTY], b"")
            )
        fields = {
            "checkpoint": self._dump(stored),
            "metadata": self._dump(get_checkpoint_metadata(config, metadata)),
            "parent": conf.get("checkpoint_id") or "",
        }
        index_key = self._index_key(ref.thread_id, ref.ns)
        blobs_key = self._blobs_key(ref.thread_id, ref.ns)
        checkpoint_key = self._checkpoint_key(ref)
        new_keys = [index_key, checkpoint_key]
        cmds: list[_Cmd] = []
        if blobs:
            cmds.append(("HSET", blobs_key, *_flatten(blobs)))
            new_keys.append(blobs_key)
        cmds += [
            ("HSET", checkpoint_key, *_flatten(fields)),
            ("ZADD", index_key, 0, ref.checkpoint_id),
            ("SADD", self._namespaces_key(ref.thread_id), ref.ns),
            ("SADD", self._registry_key(ref.thread_id), *new_keys),
        ]
        return ref, cmds

    def _put_writes_cmds(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> tuple[str, list[_Cmd]]:
        conf = config["configurable"]
        ref = _Ref(conf["checkpoint_id"], str(conf["thread_id"]), conf.get("checkpoint_ns") or "")
        writes_key = self._writes_key(ref)
        cmds: list[_Cmd] = []
        for position, (channel, value) in enumerate(writes):
            idx = WRITES_IDX_MAP.get(channel, position)
            type_, data = self.serde.dumps_typed(value)
            field = json.dumps([task_id, idx], separators=(",", ":"))
            raw = _pack([task_id, idx, channel, type_, task_path], data)
            # Special channels (error, interrupt, resume...) replace the previous
            # value; a regular write is kept as first stored, so a retried task
            # cannot change what its first attempt already recorded.
            cmds.append(("HSET" if idx < 0 else "HSETNX", writes_key, field, raw))
        cmds.append(("SADD", self._registry_key(ref.thread_id), writes_key))
        return ref.thread_id, cmds

    def _decode(
        self,
        ref: _Ref,
        checkpoint_hash: Mapping[bytes, bytes],
        writes_hash: Mapping[bytes, bytes],
        filter: Mapping[str, Any] | None,
    ) -> _Loaded | None:
        raw_checkpoint = checkpoint_hash.get(b"checkpoint")
        raw_metadata = checkpoint_hash.get(b"metadata")
        if raw_checkpoint is None or raw_metadata is None:
            return None  # deleted or expired between reading the index and the hash
        metadata: CheckpointMetadata = self._load(raw_metadata)
        if filter and not all(metadata.get(k) == v for k, v in filter.items()):
            return None
        checkpoint: dict[str, Any] = self._load(raw_checkpoint)
        ordered: list[tuple[tuple[str, str, int], PendingWrite]] = []
        for raw in writes_hash.values():
            header, data = _unpack(raw)
            task_id, idx, channel, type_, task_path = header
            value = self.serde.loads_typed((type_, data))
            ordered.append((writes_sort_key(task_path, task_id, idx), (task_id, channel, value)))
        ordered.sort(key=lambda item: item[0])
        versions: ChannelVersions = checkpoint.get("channel_versions", {})
        return _Loaded(
            ref=ref,
            checkpoint=checkpoint,
            metadata=metadata,
            parent_id=_text(checkpoint_hash.get(b"parent", b"")) or None,
            pending_writes=[write for _, write in ordered],
            blob_fields=[_blob_field(ch, v) for ch, v in versions.items()],
            blob_channels=list(versions),
        )

    def _finish(self, loaded: _Loaded, blobs: Sequence[bytes | None]) -> CheckpointTuple:
        values: dict[str, Any] = {}
        for channel, raw in zip(loaded.blob_channels, blobs, strict=True):
            if raw is None:
                continue  # never stored (InMemorySaver skips these too)
            header, data = _unpack(raw)
            if header[0] == _EMPTY:
                continue
            values[channel] = self.serde.loads_typed((header[0], data))
        ref = loaded.ref
        checkpoint: Checkpoint = {**loaded.checkpoint, "channel_values": values}  # type: ignore[typeddict-item]
        return CheckpointTuple(
            config=_config(ref.thread_id, ref.ns, ref.checkpoint_id),
            checkpoint=checkpoint,
            metadata=loaded.metadata,
            parent_config=(
                _config(ref.thread_id, ref.ns, loaded.parent_id) if loaded.parent_id else None
            ),
            pending_writes=loaded.pending_writes,
        )

    def _fetch_cmds(self, refs: Sequence[_Ref]) -> list[_Cmd]:
        cmds: list[_Cmd] = []
        for ref in refs:
            cmds += [("HGETALL", self._checkpoint_key(ref)), ("HGETALL", self._writes_key(ref))]
        return cmds

    def _decode_all(
        self, refs: Sequence[_Ref], replies: Sequence[Any], filter: Mapping[str, Any] | None
    ) -> list[_Loaded]:
        loaded = (
            self._decode(ref, replies[2 * i], replies[2 * i + 1], filter)
            for i, ref in enumerate(refs)
        )
        return [item for item in loaded if item is not None]

    def _blob_cmds(self, loaded: Sequence[_Loaded]) -> list[_Cmd]:
        return [
            ("HMGET", self._blobs_key(item.ref.thread_id, item.ref.ns), *item.blob_fields)
            for item in loaded
            if item.blob_fields
        ]

    def _finish_all(
        self, loaded: Sequence[_Loaded], replies: Sequence[Sequence[bytes | None]]
    ) -> list[CheckpointTuple]:
        answers = iter(replies)
        return [self._finish(item, next(answers) if item.blob_fields else []) for item in loaded]

    @staticmethod
    def _list_scope(
        config: RunnableConfig | None, before: RunnableConfig | None
    ) -> tuple[str | None, str | None, str | None]:
        """(namespace or None for all, exact checkpoint id, exclusive upper bound)."""
        ns = config["configurable"].get("checkpoint_ns") if config else None
        exact = get_checkpoint_id(config) if config else None
        upper = get_checkpoint_id(before) if before else None
        return ns, exact, upper

    def _id_cmds(
        self,
        pairs: Sequence[tuple[str, str]],
        exact: str | None,
        upper: str | None,
        per_ns: int | None,
    ) -> list[_Cmd]:
        cmds: list[_Cmd] = []
        for thread_id, ns in pairs:
            key = self._index_key(thread_id, ns)
            if exact is not None:
                cmds.append(("ZSCORE", key, exact))
                continue
            bound = f"({upper}" if upper else "+"
            paging: tuple[Any, ...] = ("LIMIT", 0, per_ns) if per_ns is not None else ()
            cmds.append(("ZREVRANGEBYLEX", key, bound, "-", *paging))
        return cmds

    @staticmethod
    def _refs(
        pairs: Sequence[tuple[str, str]],
        replies: Sequence[Any],
        exact: str | None,
        upper: str | None,
    ) -> list[_Ref]:
        refs: list[_Ref] = []
        for (thread_id, ns), reply in zip(pairs, replies, strict=True):
            if exact is not None:
                if reply is not None and (upper is None or exact < upper):
                    refs.append(_Ref(exact, thread_id, ns))
            else:
                refs += [_Ref(_text(cid), thread_id, ns) for cid in reply]
        refs.sort(reverse=True)  # newest first, across namespaces and threads
        return refs

    @staticmethod
    def _page_size(limit: int | None, filter: Mapping[str, Any] | None) -> int:
        return min(limit, _LIST_BATCH) if limit is not None and not filter else _LIST_BATCH

    # -- sync API --------------------------------------------------------------------
    def _run(self, client: redis.Redis, cmds: Sequence[_Cmd], transaction: bool) -> list[Any]:
        if not cmds:
            return []
        with client.pipeline(transaction=transaction) as pipe:
            for cmd in cmds:
                pipe.execute_command(*cmd)
            return pipe.execute()

    def _touch(self, client: redis.Redis, thread_id: str) -> None:
        self._run(client, self._expire_cmds(thread_id), transaction=False)

    def _fetch(
        self, client: redis.Redis, refs: Sequence[_Ref], filter: Mapping[str, Any] | None
    ) -> list[CheckpointTuple]:
        # One MULTI so a checkpoint and its writes are read as of the same instant.
        loaded = self._decode_all(refs, self._run(client, self._fetch_cmds(refs), True), filter)
        return self._finish_all(loaded, self._run(client, self._blob_cmds(loaded), False))

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config``, or the thread's latest in its namespace."""
        client = self._sync()
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), conf.get("checkpoint_ns") or ""
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            latest = client.zrevrangebylex(self._index_key(thread_id, ns), "+", "-", 0, 1)
            if not latest:
                return None
            checkpoint_id = _text(latest[0])
        found = self._fetch(client, [_Ref(checkpoint_id, thread_id, ns)], None)
        if not found:
            return None
        self._touch(client, thread_id)
        return found[0]

    def _thread_ids(self, client: redis.Redis, config: RunnableConfig | None) -> list[str]:
        if config is not None:
            return [str(config["configurable"]["thread_id"])]
        keys = client.scan_iter(match=self._threads_pattern(), count=1000)
        return sorted({self._thread_from_namespaces_key(key) for key in keys})

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first; ``config=None`` lists every thread (a SCAN)."""
        client = self._sync()
        if limit is not None and limit <= 0:
            return
        ns, exact, upper = self._list_scope(config, before)
        threads = self._thread_ids(client, config)
        if ns is not None:
            pairs = [(t, ns) for t in threads]
        else:
            replies = self._run(
                client, [("SMEMBERS", self._namespaces_key(t)) for t in threads], False
            )
            pairs = [
                (t, _text(n)) for t, names in zip(threads, replies, strict=True) for n in names
            ]
        per_ns = limit if not filter else None
        replies = self._run(client, self._id_cmds(pairs, exact, upper, per_ns), False)
        refs = self._refs(pairs, replies, exact, upper)
        remaining = limit
        for page in _batched(refs, self._page_size(limit, filter)):
            for found in self._fetch(client, page, filter):
                yield found
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store a checkpoint and the values of the channels it changed, atomically."""
        client = self._sync()
        ref, cmds = self._put_cmds(config, checkpoint, metadata, new_versions)
        if user_cmds := self._user_cmds(config, metadata):
            self._run(client, user_cmds, transaction=False)
        cmds += self._expire_cmds(ref.thread_id)
        self._run(client, cmds, transaction=True)
        return _config(ref.thread_id, ref.ns, ref.checkpoint_id)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against a checkpoint, atomically."""
        if not writes:
            return
        client = self._sync()
        thread_id, cmds = self._put_writes_cmds(config, writes, task_id, task_path)
        cmds += self._expire_cmds(thread_id)
        self._run(client, cmds, transaction=True)

    def delete_thread(self, thread_id: str) -> None:
        """Remove every key of the thread, in all namespaces."""
        client = self._sync()
        registry = self._registry_key(thread_id)
        with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    # WATCH: a put landing between the read and the DEL adds
                    # keys to the registry, so the DEL is retried and gets them.
                    pipe.watch(registry)
                    keys = pipe.smembers(registry)
                    pipe.multi()
                    pipe.delete(registry, self._namespaces_key(thread_id), *keys)
                    pipe.execute()
                    return
                except redis.WatchError:
                    continue

    def thread_exists(self, thread_id: str) -> bool:
        """Whether the thread has a checkpoint in any namespace (cheaper than get_tuple)."""
        client = self._sync()
        names = client.smembers(self._namespaces_key(thread_id))
        counts = self._run(
            client, [("ZCARD", self._index_key(thread_id, _text(n))) for n in names], False
        )
        return any(count > 0 for count in counts)

    def list_user_threads(self, user_id: str) -> builtins.list[str]:
        """The user's threads that still exist (index entries of expired ones are pruned)."""
        client = self._sync()
        key = self._user_key(user_id)
        listed = sorted(_text(t) for t in client.smembers(key))
        alive = [t for t in listed if self.thread_exists(t)]
        if stale := set(listed) - set(alive):
            client.srem(key, *stale)
        return alive

    def delete_user_threads(self, user_id: str) -> int:
        """Delete every thread of the user and the index; returns how many threads went."""
        client = self._sync()
        key = self._user_key(user_id)
        deleted: set[str] = set()
        with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # a thread indexed meanwhile fails the EXEC: go again
                    threads = {_text(t) for t in pipe.smembers(key)}
                    for thread_id in sorted(threads - deleted):
                        self.delete_thread(thread_id)
                        deleted.add(thread_id)
                    pipe.multi()
                    pipe.delete(key)
                    pipe.execute()
                    return len(deleted)
                except redis.WatchError:
                    continue

    # -- async API -------------------------------------------------------------------
    async def _arun(
        self, client: aioredis.Redis, cmds: Sequence[_Cmd], transaction: bool
    ) -> builtins.list[Any]:
        if not cmds:
            return []
        async with client.pipeline(transaction=transaction) as pipe:
            for cmd in cmds:
                pipe.execute_command(*cmd)
            return await pipe.execute()

    async def _atouch(self, client: aioredis.Redis, thread_id: str) -> None:
        await self._arun(client, self._expire_cmds(thread_id), transaction=False)

    async def _afetch(
        self, client: aioredis.Redis, refs: Sequence[_Ref], filter: Mapping[str, Any] | None
    ) -> builtins.list[CheckpointTuple]:
        replies = await self._arun(client, self._fetch_cmds(refs), True)
        loaded = self._decode_all(refs, replies, filter)
        return self._finish_all(loaded, await self._arun(client, self._blob_cmds(loaded), False))

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """Async ``get_tuple``."""
        client = self._async()
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), conf.get("checkpoint_ns") or ""
        checkpoint_id = get_checkpoint_id(config)
        if not checkpoint_id:
            latest = await client.zrevrangebylex(self._index_key(thread_id, ns), "+", "-", 0, 1)
            if not latest:
                return None
            checkpoint_id = _text(latest[0])
        found = await self._afetch(client, [_Ref(checkpoint_id, thread_id, ns)], None)
        if not found:
            return None
        await self._atouch(client, thread_id)
        return found[0]

    async def _athread_ids(
        self, client: aioredis.Redis, config: RunnableConfig | None
    ) -> builtins.list[str]:
        if config is not None:
            return [str(config["configurable"]["thread_id"])]
        found = {
            self._thread_from_namespaces_key(key)
            async for key in client.scan_iter(match=self._threads_pattern(), count=1000)
        }
        return sorted(found)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """Async ``list``."""
        client = self._async()
        if limit is not None and limit <= 0:
            return
        ns, exact, upper = self._list_scope(config, before)
        threads = await self._athread_ids(client, config)
        if ns is not None:
            pairs = [(t, ns) for t in threads]
        else:
            replies = await self._arun(
                client, [("SMEMBERS", self._namespaces_key(t)) for t in threads], False
            )
            pairs = [
                (t, _text(n)) for t, names in zip(threads, replies, strict=True) for n in names
            ]
        per_ns = limit if not filter else None
        replies = await self._arun(client, self._id_cmds(pairs, exact, upper, per_ns), False)
        refs = self._refs(pairs, replies, exact, upper)
        remaining = limit
        for page in _batched(refs, self._page_size(limit, filter)):
            for found in await self._afetch(client, page, filter):
                yield found
                if remaining is not None:
                    remaining -= 1
                    if remaining == 0:
                        return

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Async ``put``."""
        client = self._async()
        ref, cmds = self._put_cmds(config, checkpoint, metadata, new_versions)
        if user_cmds := self._user_cmds(config, metadata):
            await self._arun(client, user_cmds, transaction=False)
        cmds += self._expire_cmds(ref.thread_id)
        await self._arun(client, cmds, transaction=True)
        return _config(ref.thread_id, ref.ns, ref.checkpoint_id)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Async ``put_writes``."""
        if not writes:
            return
        client = self._async()
        thread_id, cmds = self._put_writes_cmds(config, writes, task_id, task_path)
        cmds += self._expire_cmds(thread_id)
        await self._arun(client, cmds, transaction=True)

    async def adelete_thread(self, thread_id: str) -> None:
        """Async ``delete_thread``."""
        client = self._async()
        registry = self._registry_key(thread_id)
        async with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(registry)
                    keys = await pipe.smembers(registry)
                    pipe.multi()
                    pipe.delete(registry, self._namespaces_key(thread_id), *keys)
                    await pipe.execute()
                    return
                except redis.WatchError:
                    continue

    async def athread_exists(self, thread_id: str) -> bool:
        """Async ``thread_exists``."""
        client = self._async()
        names = await client.smembers(self._namespaces_key(thread_id))
        counts = await self._arun(
            client, [("ZCARD", self._index_key(thread_id, _text(n))) for n in names], False
        )
        return any(count > 0 for count in counts)

    async def alist_user_threads(self, user_id: str) -> builtins.list[str]:
        """Async ``list_user_threads``."""
        client = self._async()
        key = self._user_key(user_id)
        listed = sorted(_text(t) for t in await client.smembers(key))
        alive = [t for t in listed if await self.athread_exists(t)]
        if stale := set(listed) - set(alive):
            await client.srem(key, *stale)
        return alive

    async def adelete_user_threads(self, user_id: str) -> int:
        """Async ``delete_user_threads``."""
        client = self._async()
        key = self._user_key(user_id)
        deleted: set[str] = set()
        async with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    threads = {_text(t) for t in await pipe.smembers(key)}
                    for thread_id in sorted(threads - deleted):
                        await self.adelete_thread(thread_id)
                        deleted.add(thread_id)
                    pipe.multi()
                    pipe.delete(key)
                    await pipe.execute()
                    return len(deleted)
                except redis.WatchError:
                    continue

    # -- versions ----------------------------------------------------------------------
    def get_next_version(self, current: str | None, channel: None) -> str:
        """``<counter>.<random>`` string versions, as InMemorySaver and the SQL savers use.

        The base class only increments ints and raises on a str; string versions
        stay compatible with threads written by those savers, and the random
        suffix keeps two concurrent forks from minting the same version.
        """
        if current is None:
            current_v = 0
        elif isinstance(current, int):
            current_v = current
        else:
            current_v = int(current.split(".")[0])
        return f"{current_v + 1:032}.{random.random():016}"
