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
from collections.abc import Sequence

from langchain_core.messages import AnyMessage, HumanMessage
from redis.asyncio import Redis

from interlock.state import Answer

_SPACE = re.compile(r"\s+")


def normalise(question: str) -> str:
    return _SPACE.sub(" ", question.strip().lower()).rstrip(" ?!.")


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

    async def put(self, key: str, answer: Answer) -> None:
        if self.ttl_s <= 0:
            return
        stored = {**answer, "from_cache": False}
        await self.redis.set(key, json.dumps(stored, ensure_ascii=False), ex=self.ttl_s)


def conversation_context(messages: Sequence[AnyMessage], limit: int) -> list[str]:
    """The turns before the current question that shape its answer (``role: text``)."""
    last_human = max(
        (i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=len(messages)
    )
    earlier = messages[:last_human][-limit:] if limit else []
    return [f"{m.type}: {m.content}" for m in earlier]
