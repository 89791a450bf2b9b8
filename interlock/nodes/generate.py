"""generate: build the prompt within budget and call the routed tier.

The tier is called as a LangChain chat model (``PoolChatModel``) with the
run's callbacks, so the trace records the call as a generation, tagged with
the tier and — when the router had to fall back because a tier was down —
``degraded``. A model failure is not raised: it is recorded in ``error`` so
the fallback node can try the other tier, and the run ends with a clear 503
only when nothing is left to try.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig

from interlock.errors import ModelUnavailable
from interlock.memory.window import ConversationWindow
from interlock.models.chat_model import PoolChatModel, generation_of
from interlock.models.prompt import SourceWindow, build_messages, cited_documents
from interlock.models.structured import response_format, response_schema
from interlock.models.tier import ModelRejected, ModelTier
from interlock.nodes.route import CHARS_PER_TOKEN
from interlock.nodes.run_cap import answer_allowance, run_cap
from interlock.state import AgentState, Answer, Citation, ErrorInfo, Tier


class Generate:
    def __init__(
        self,
        tiers: dict[Tier, ModelTier],
        *,
        window: SourceWindow | None = None,
        history_messages: int = 6,
        conversation: ConversationWindow | None = None,
    ) -> None:
        self.tiers = tiers
        self.models = {name: PoolChatModel(tier=tier) for name, tier in tiers.items()}
        self.window = window or SourceWindow()
        self.conversation = conversation or ConversationWindow(max_messages=history_messages)

    async def __call__(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        route = state.get("route")
        name: Tier = route["tier"] if route else "small"
        tier = self.tiers[name]
        sources = self.window.select(state.get("documents") or [])
        past = self.conversation.select(state.get("messages", [])[:-1])
        messages = build_messages(
            state["question"],
            sources,
            history=past.messages,
            memories=state.get("memories") or [],
            earlier=past.summary,
            strict=bool(state.get("strict")),
            schema=response_schema(config),
        )
        attempts = state.get("attempts", 0) + 1
        thread = (config.get("configurable") or {}).get("thread_id")
        degraded = bool(route and route.get("degraded"))
        call_config = RunnableConfig(
            callbacks=config.get("callbacks"),
            run_name=f"model:{name}",
            tags=[f"tier:{name}", *(["degraded"] if degraded else [])],
            metadata={
                "interlock_tier": name,
                "interlock_degraded": degraded,
                "interlock_route_reason": route["reason"] if route else "",
                "interlock_attempt": attempts,
                "interlock_strict_prompt": bool(state.get("strict")),
            },
        )
        schema = response_schema(config)
        options: dict[str, Any] = (
            {"response_format": response_format(schema, "answer")} if schema else {}
        )
        if cap := run_cap(config):
            prompt_tokens = sum(len(str(m.content)) for m in messages) // CHARS_PER_TOKEN
            allowed, why = answer_allowance(
                cap, state.get("usage"), tier, prompt_tokens, tier.max_tokens
            )
            if not allowed:
                return {
                    "attempts": attempts,
                    "answer": None,
                    "error": ErrorInfo(kind="over_budget", detail=why),
                }
            options["max_tokens"] = allowed
        try:
            reply = await self.models[name].ainvoke(
                messages, config=call_config, affinity_key=thread, **options
            )
            generation = generation_of(reply)
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
