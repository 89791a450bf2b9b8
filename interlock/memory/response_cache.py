"""Exact response cache in Redis.

The key covers the normalised question *and* the conversation context that
shaped the answer (the tenant and the previous turns): "and in French?"
means different things in different conversations, so two such requests
must never share an entry. Entries expire after a TTL so a changed
knowledge base is reflected within that time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from typing import TypedDict

from langchain_core.messages import AnyMessage, HumanMessage
from redis.asyncio import Redis

from interlock.state import Answer

_SPACE = re.compile(r"\s+")


def normalise(question: str) -> str:
    return _SPACE.sub(" ", question.strip().lower()).rstrip(" ?!.")


# An index lives as long as the longest-lived entry it lists. (EXPIRE … GT does
# this on Redis 7 only; the script runs on Redis 6 and Valkey too.)
_EXTEND_TTL = """
local ttl = redis.call('TTL', KEYS[1])
if ttl < tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 0
"""


class CacheControl(TypedDict, total=False):
    """Per-request cache settings, read from ``config["configurable"]["cache"]``."""

    no_cache: bool  # neither read nor write the caches for this request
    ttl_s: int  # keep this answer for this long instead of the default


def cache_control(config: object) -> CacheControl:
    configurable = (config or {}).get("configurable") if isinstance(config, dict) else None
    control = (configurable or {}).get("cache")
    return CacheControl(**control) if isinstance(control, dict) else CacheControl()


class ResponseCache:
    def __init__(self, redis: Redis, *, prefix: str, ttl_s: int) -> None:
        self.redis = redis
        self.prefix = prefix
        self.ttl_s = ttl_s

    def key(self, question: str, *, tenant: str, context: Sequence[str]) -> str:
        material = json.dumps([tenant, normalise(question), list(context)], ensure_ascii=False)
        return f"{self.prefix}:cache:{hashlib.sha256(material.encode()).hexdigest()}"

    async def get(self, key: str) -> Answer | None:
        if self.ttl_s <= 0:
            return None
        raw = await self.redis.get(key)
        if raw is None:
            return None
        answer: Answer = json.loads(raw)
        answer["from_cache"] = True
        return answer

    def _chunk_key(self, chunk_id: str) -> str:
        return f"{self.prefix}:cache:chunk:{chunk_id}"

    async def put(
        self,
        key: str,
        answer: Answer,
        *,
        ttl_s: int | None = None,
        depends_on: Iterable[str] = (),
    ) -> None:
        """Store an answer, indexed under every chunk it cites or was drawn from.

        ``depends_on``: the chunks in the prompt besides the cited ones. An
        answer can rest on a passage without citing it (small models often
        skip citations), so a change to any of them must drop it too.
        """
        ttl = self.ttl_s if ttl_s is None else ttl_s
        if ttl <= 0:
            return
        stored = {**answer, "from_cache": False}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(key, json.dumps(stored, ensure_ascii=False), ex=ttl)
            for chunk_id in chunk_ids(answer, depends_on):
                chunk_key = self._chunk_key(chunk_id)
                pipe.sadd(chunk_key, key)
                pipe.eval(_EXTEND_TTL, 1, chunk_key, ttl)
            await pipe.execute()

    async def invalidate_chunks(self, chunk_ids: Iterable[str]) -> int:
        """Drop every entry citing one of these chunks; returns how many went."""
        index_keys = [self._chunk_key(c) for c in set(chunk_ids)]
        if not index_keys:
            return 0
        entries: set[bytes | str] = set()
        for index_key in index_keys:
            entries |= await self.redis.smembers(index_key)
        if entries:
            await self.redis.delete(*entries)
        await self.redis.delete(*index_keys)
        return len(entries)


def chunk_ids(answer: Answer, depends_on: Iterable[str] = ()) -> list[str]:
    """The chunks a cached answer must be dropped with: cited ones and ``depends_on``."""
    return sorted({c["id"] for c in answer["citations"]} | set(depends_on))


def conversation_context(messages: Sequence[AnyMessage], limit: int) -> list[str]:
    """The turns before the current question that shape its answer (``role: text``)."""
    last_human = max(
        (i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=len(messages)
    )
    earlier = messages[:last_human][-limit:] if limit else []
    return [f"{m.type}: {m.content}" for m in earlier]
