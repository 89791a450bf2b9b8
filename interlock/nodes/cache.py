"""cache: answer from the response caches and skip generation on a hit.

The exact cache (Redis) is asked first; on a miss, and only for a question
asked without earlier turns, the semantic cache (LanceDB, guarded against
near-miss paraphrases). ``config["configurable"]["cache"]["no_cache"]``
skips both for one request. Each lookup's outcome goes to the run's
observers as an event (the metrics count hits and misses per cache).
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from interlock.memory.response_cache import ResponseCache, cache_control, conversation_context
from interlock.memory.semantic_cache import SemanticCache
from interlock.state import AgentState
from interlock.tracing import CACHE_EVENT, emit


class CacheLookup:
    def __init__(
        self,
        cache: ResponseCache,
        *,
        semantic: SemanticCache | None = None,
        context_messages: int = 6,
    ) -> None:
        self.cache = cache
        self.semantic = semantic
        self.context_messages = context_messages

    async def __call__(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        if cache_control(config).get("no_cache"):
            return {}
        tenant = state.get("tenant", "default")
        context = conversation_context(state.get("messages", []), self.context_messages)
        key = self.cache.key(state["question"], tenant=tenant, context=context)
        hit = await self.cache.get(key)
        if hit:
            await emit(CACHE_EVENT, {"exact": "hit"}, config)
            return {"answer": hit}
        if self.semantic is not None and not context:
            similar = await self.semantic.get(state["question"], tenant=tenant)
            outcome = {"exact": "miss", "semantic": "hit" if similar else "miss"}
            await emit(CACHE_EVENT, outcome, config)
            if similar is not None:
                return {"answer": similar.answer}
            return {}
        await emit(CACHE_EVENT, {"exact": "miss"}, config)
        return {}
