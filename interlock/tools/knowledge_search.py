"""knowledge_search: the knowledge base as a LangChain tool, for tool-calling agents.

A factory rather than a module-level tool because the knowledge base is a
dependency the caller injects (tenant and top-k included).
"""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool

from interlock.memory.knowledge import KnowledgeBase


def knowledge_search_tool(
    knowledge: KnowledgeBase, *, tenant: str = "default", top_k: int = 5
) -> BaseTool:
    async def knowledge_search(query: str) -> str:
        """Search the knowledge base; returns the best passages with their sources."""
        documents = await knowledge.search(query, tenant=tenant, top_k=top_k)
        if not documents:
            return "no results"
        return "\n\n".join(f"[{d['source']} — {d['title']}]\n{d['text']}" for d in documents)

    return StructuredTool.from_function(coroutine=knowledge_search, name="knowledge_search")
