"""remember: write what this run should leave behind.

The conversation itself is checkpointed by the graph's checkpointer (Redis)
after every step, so this node only handles the other two stores: the
answer goes to the response cache (only if the check supported it: an
unsupported or refused answer must not be served again), and lasting facts
the user stated about themselves go to the long-term store.

Fact extraction is rule-based here ("remember that …", "I prefer …", "my
name is …", "I work on …"): it never stores a fact the user did not say.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from interlock.memory.response_cache import ResponseCache, cache_control, conversation_context
from interlock.memory.semantic_cache import SemanticCache
from interlock.state import AgentState

_FACT = re.compile(
    r"\b(?:please\s+)?(?:remember that|note that)\s+(?P<fact>[^.?!]+)"
    r"|\b(?P<self>(?:i prefer|i like|i work on|i work at|i am working on|my name is|"
    r"call me|i live in|i speak)\s+[^.?!,]+)",
    re.IGNORECASE,
)


def extract_facts(text: str) -> list[str]:
    facts = []
    for match in _FACT.finditer(text):
        fact = (match.group("fact") or match.group("self") or "").strip()
        if fact:  # kept in the user's own words: nothing is inferred
            facts.append(fact[0].upper() + fact[1:])
    return facts


class Remember:
    def __init__(
        self,
        cache: ResponseCache,
        store: BaseStore | None = None,
        *,
        semantic: SemanticCache | None = None,
        context_messages: int = 6,
    ) -> None:
        self.cache = cache
        self.store = store
        self.semantic = semantic
        self.context_messages = context_messages

    async def __call__(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        answer, check = state.get("answer"), state.get("check")
        control = cache_control(config)
        cacheable = (
            not control.get("no_cache")
            and answer is not None
            and not answer["from_cache"]
            and not state.get("error")
            and check is not None
            and check["verdict"] in ("supported", "not_applicable")
        )
        if cacheable and answer is not None:
            tenant = state.get("tenant", "default")
            context = conversation_context(state.get("messages", []), self.context_messages)
            key = self.cache.key(state["question"], tenant=tenant, context=context)
            drawn_from = [d["id"] for d in state.get("documents", [])]
            ttl = control.get("ttl_s")
            await self.cache.put(key, answer, ttl_s=ttl, depends_on=drawn_from)
            if self.semantic is not None and not context:
                await self.semantic.put(
                    state["question"], answer, tenant=tenant, ttl_s=ttl, depends_on=drawn_from
                )
        if self.store is not None:
            user = state.get("user_id", "anonymous")
            for fact in extract_facts(state["question"]):
                key = hashlib.sha256(fact.lower().encode()).hexdigest()[:16]
                await self.store.aput(("memories", user), key, {"text": fact})
        return {}
