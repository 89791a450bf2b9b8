"""The knowledge base as a LangChain retriever.

Searching through ``BaseRetriever`` rather than calling ``KnowledgeBase.search``
directly is what makes each retrieval visible to callbacks: Langfuse records
it as a retriever observation (query in, chunks out), the timer as a span with
the chunk ids and scores. It is also the shape LangChain users plug into their
own chains. The tenant is per call (one retriever serves every tenant).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from interlock.memory.knowledge import KnowledgeBase
from interlock.state import Document


def to_langchain(doc: Document) -> LCDocument:
    return LCDocument(
        id=doc["id"],
        page_content=doc["text"],
        metadata={"source": doc["source"], "title": doc["title"], "score": doc["score"]},
    )


def from_langchain(doc: LCDocument) -> Document:
    meta = doc.metadata
    return Document(
        id=str(doc.id),
        text=doc.page_content,
        source=str(meta.get("source", "")),
        title=str(meta.get("title", "")),
        score=float(meta.get("score", 0.0)),
    )


class KnowledgeRetriever(BaseRetriever):
    """``ainvoke(query, config, tenant=..., top_k=...)``: the tenant's best chunks,
    best first, each with its chunk id (``Document.id``) and ``metadata["score"]``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    knowledge: KnowledgeBase
    top_k: int = 5

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        tenant: str = "default",
        top_k: int | None = None,
        **kwargs: Any,
    ) -> list[LCDocument]:
        documents = await self.knowledge.search(query, tenant=tenant, top_k=top_k or self.top_k)
        return [to_langchain(doc) for doc in documents]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[LCDocument]:
        raise NotImplementedError("the knowledge base is async: use ainvoke")
