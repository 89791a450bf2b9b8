"""retrieve: knowledge-base chunks for one sub-query, or the user's memories.

The planner fans out one ``Send`` per sub-query plus one for memories; the
``documents`` reducer in state.py merges the branches without duplicates.
Called directly on the agent state (a graph without a planner), it searches
for the question itself.
"""

from __future__ import annotations

from typing import Any, Optional

from langchain_core.runnables import RunnableConfig
from langgraph.store.base import BaseStore

from interlock.memory.knowledge import KnowledgeBase
from interlock.memory.retriever import KnowledgeRetriever, from_langchain
from interlock.state import AgentState, RetrieveTask


class Retrieve:
    """Searches through a LangChain retriever so each search is traced (query, chunk
    ids and scores) as a retriever observation under this node."""

    def __init__(self, knowledge: KnowledgeBase, *, top_k: int = 5) -> None:
        self.knowledge = knowledge
        self.top_k = top_k
        self.retriever = KnowledgeRetriever(knowledge=knowledge, top_k=top_k)

    async def __call__(
        self,
        state: RetrieveTask | AgentState,
        # Spelled Optional[...]: LangGraph recognises the config parameter by this string
        # (with postponed annotations), and warns at every compile on "RunnableConfig | None".
        config: Optional[RunnableConfig] = None,  # noqa: UP045
    ) -> dict[str, Any]:
        query = state.get("query") or state.get("question", "")
        tenant = state.get("tenant") or "default"
        found = await self.retriever.ainvoke(
            str(query), config, tenant=str(tenant), top_k=self.top_k
        )
        return {"documents": [from_langchain(doc) for doc in found]}


class RecallMemories:
    """The user's lasting facts most related to the question, from the long-term store."""

    def __init__(self, store: BaseStore, *, top_k: int = 3, min_score: float = 0.3) -> None:
        self.store = store
        self.top_k = top_k
        self.min_score = min_score

    async def __call__(self, state: AgentState) -> dict[str, Any]:
        if not self.top_k:
            return {"memories": []}
        items = await self.store.asearch(
            ("memories", state.get("user_id", "anonymous")),
            query=state["question"],
            limit=self.top_k,
        )
        return {
            "memories": [
                str(item.value.get("text", item.value))
                for item in items
                if item.score is None or item.score >= self.min_score
            ]
        }
