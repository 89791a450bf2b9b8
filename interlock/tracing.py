"""Observing runs: per-node timings always, Langfuse traces when configured.

Both are LangChain callback handlers attached to a run's config, so they see
any graph a user composes, not only the default one. Langfuse is enabled by
its own standard variables (``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY``,
``LANGFUSE_HOST``/``LANGFUSE_BASE_URL``); without them nothing is sent.

The timer also keeps what the final state does not say and the Prometheus
metrics (``interlock/metrics.py``) need: each model call (tier, tokens, cost,
time to first token), each cache lookup and the router's own decision.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from typing import Any, TypedDict
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, adispatch_custom_event
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig

log = logging.getLogger(__name__)

CACHE_EVENT = "interlock.cache"  # data: {cache name: "hit" | "miss"} for each cache asked


class ModelCall(TypedDict):
    """One finished model call, as the pool reported it (``PoolChatModel``'s metadata)."""

    tier: str  # "other" for a chat model that is not an interlock pool
    input_tokens: int
    output_tokens: int
    cost: float
    latency_s: float | None
    ttft_s: float | None  # only streamed calls measure it


class NodeTimer(BaseCallbackHandler):
    """Wall time spent in each graph node (summed over fan-out branches and retries),
    and the run's model calls, cache lookups and the router's decision.

    The router's decision is the first ``route`` a node returns: the final state
    holds the last one, which a fallback may have changed (its reason says so).
    """

    run_inline = True  # called in the node's own task: timing stays exact under asyncio

    def __init__(self) -> None:
        self._started: dict[UUID, tuple[str, float]] = {}
        self.timings_ms: dict[str, float] = defaultdict(float)
        self.order: list[str] = []
        self.model_calls: list[ModelCall] = []
        self.cache_lookups: list[tuple[str, str]] = []  # (cache, "hit" | "miss")
        self.first_route: dict[str, Any] | None = None

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        node = (metadata or {}).get("langgraph_node")
        if node and kwargs.get("name") == node:
            self._started[run_id] = (node, time.perf_counter())

    def _finish(self, run_id: UUID) -> None:
        started = self._started.pop(run_id, None)
        if started:
            node, began = started
            self.timings_ms[node] += (time.perf_counter() - began) * 1000
            if node not in self.order:
                self.order.append(node)

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if self.first_route is None and run_id in self._started and isinstance(outputs, dict):
            route = outputs.get("route")
            if isinstance(route, dict):
                self.first_route = route
        self._finish(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id)

    def report(self) -> dict[str, float]:
        return {node: round(self.timings_ms[node], 1) for node in self.order}

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                meta = getattr(message, "response_metadata", None) or {}
                usage = getattr(message, "usage_metadata", None) or {}
                self.model_calls.append(
                    ModelCall(
                        tier=str(meta.get("tier") or "other"),
                        input_tokens=int(usage.get("input_tokens") or 0),
                        output_tokens=int(usage.get("output_tokens") or 0),
                        cost=float(meta.get("cost") or 0.0),
                        latency_s=meta.get("latency_s"),
                        ttft_s=meta.get("ttft_s"),
                    )
                )

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if name == CACHE_EVENT and isinstance(data, dict):
            self.cache_lookups.extend((str(k), str(v)) for k, v in data.items())


async def emit(name: str, data: dict[str, Any], config: RunnableConfig | None) -> None:
    """Tell the run's observers (the timer, ``astream_events``) something the state does not
    carry; a node called outside a graph run has no observers, and that is not an error."""
    if not (config or {}).get("callbacks"):
        return
    try:
        await adispatch_custom_event(name, data, config=config)
    except RuntimeError as exc:  # no parent run to attach the event to
        log.debug("event %s not dispatched: %s", name, exc)


def langfuse_enabled() -> bool:
    return bool(os.environ.get("LANGFUSE_PUBLIC_KEY") and os.environ.get("LANGFUSE_SECRET_KEY"))


def langfuse_handler() -> BaseCallbackHandler | None:
    if not langfuse_enabled():
        return None
    from langfuse.langchain import CallbackHandler

    handler: BaseCallbackHandler = CallbackHandler()
    return handler


def run_config(
    *,
    thread_id: str,
    user_id: str,
    tenant: str,
    graph_name: str,
    timer: NodeTimer,
) -> RunnableConfig:
    """The config of one run: thread for the checkpointer, callbacks, trace attributes."""
    callbacks: list[BaseCallbackHandler] = [timer]
    handler = langfuse_handler()
    if handler is not None:
        callbacks.append(handler)
    return RunnableConfig(
        configurable={"thread_id": thread_id},
        callbacks=callbacks,
        run_name=graph_name,
        metadata={
            # The checkpointer indexes threads by user_id (data-removal requests).
            "user_id": user_id,
            "tenant": tenant,
            "langfuse_session_id": thread_id,
            "langfuse_user_id": user_id,
            "langfuse_tags": [f"tenant:{tenant}"],
        },
    )
