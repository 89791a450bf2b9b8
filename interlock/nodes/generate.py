"""generate: build the prompt within budget and call the routed tier.

A model failure is not raised: it is recorded in ``error`` so the fallback
node can try the other tier, and the run ends with a clear 503 only when
nothing is left to try.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from interlock.errors import ModelUnavailable
from interlock.models.prompt import SourceWindow, build_messages, cited_documents
from interlock.models.tier import ModelRejected, ModelTier
from interlock.state import AgentState, Answer, Citation, ErrorInfo, Tier


class Generate:
    def __init__(
        self,
        tiers: dict[Tier, ModelTier],
        *,
        window: SourceWindow | None = None,
        history_messages: int = 6,
    ) -> None:
        self.tiers = tiers
        self.window = window or SourceWindow()
        self.history_messages = history_messages

    async def __call__(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        route = state.get("route")
        tier = self.tiers[route["tier"] if route else "small"]
        sources = self.window.select(state.get("documents") or [])
        earlier = state.get("messages", [])[:-1]
        history = earlier[-self.history_messages :] if self.history_messages else []
        messages = build_messages(
            state["question"], sources, history=history, memories=state.get("memories") or []
        )
        attempts = state.get("attempts", 0) + 1
        thread = (config.get("configurable") or {}).get("thread_id")
        try:
            generation = await tier.ainvoke(
                messages, callbacks=config.get("callbacks"), affinity_key=thread
            )
        except (ModelUnavailable, ModelRejected) as exc:
            error = (
                ErrorInfo(kind="model_rejected", detail=exc.reason)
                if isinstance(exc, ModelRejected)
                else ErrorInfo(kind="model_unavailable", detail=exc.reason)
            )
            return {"attempts": attempts, "answer": None, "error": error}
        cited, _ = cited_documents(generation.text, sources)
        return {
            "attempts": attempts,
            "error": None,
            "usage": generation.usage,
            "answer": Answer(
                text=generation.text,
                citations=[
                    Citation(id=d["id"], source=d["source"], title=d["title"]) for d in cited
                ],
                from_cache=False,
                model=f"{tier.name}:{generation.model}",
            ),
        }
