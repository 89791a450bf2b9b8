"""cache: answer from the exact response cache and skip generation on a hit."""

from __future__ import annotations

from typing import Any

from interlock.memory.response_cache import ResponseCache, conversation_context
from interlock.state import AgentState


class CacheLookup:
    def __init__(self, cache: ResponseCache, *, context_messages: int = 6) -> None:
        self.cache = cache
        self.context_messages = context_messages

    async def __call__(self, state: AgentState) -> dict[str, Any]:
        key = self.cache.key(
            state["question"],
            tenant=state.get("tenant", "default"),
            context=conversation_context(state.get("messages", []), self.context_messages),
        )
        hit = await self.cache.get(key)
        return {"answer": hit} if hit else {}
