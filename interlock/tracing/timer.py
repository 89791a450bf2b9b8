"""The run's own observer: per-node timings and the spans of the local trace.

A LangChain callback handler attached to every run's config, so it sees any
graph a user composes, not only the default one. Always on and cheap (called
inline, no I/O): it is what the Prometheus metrics (``interlock/metrics.py``),
the ``timings_ms`` of a result and the local trace record (``interlock traces``)
are made of, with or without Langfuse.

It keeps what the final state does not say: each model call (tier, tokens,
cost, time to first token), each retrieval (chunk ids and scores), each cache
lookup and the router's own decision.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, Literal, TypedDict
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler, adispatch_custom_event
from langchain_core.documents import Document as LCDocument
from langchain_core.messages import BaseMessage
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


class Span(TypedDict):
    """One step of a run for the local trace: a node, a model call or a retrieval.

    Times are milliseconds from the run's start; ``node`` is the graph node a
    model call or retrieval ran in (``None`` for a node itself).
    """

    kind: Literal["node", "generation", "retriever"]
    name: str
    node: str | None
    start_ms: float
    duration_ms: float
    detail: dict[str, Any]


class NodeTimer(BaseCallbackHandler):
    """Wall time spent in each graph node (summed over fan-out branches and retries),
    the spans of the run, and its model calls, cache lookups and the router's decision.

    The router's decision is the first ``route`` a node returns: the final state
    holds the last one, which a fallback may have changed (its reason says so).
    """

    run_inline = True  # called in the node's own task: timing stays exact under asyncio

    def __init__(self) -> None:
        self.began = time.perf_counter()
        self._started: dict[UUID, tuple[str, float]] = {}
        self._children: dict[UUID, tuple[str | None, float, str]] = {}  # model calls, retrievals
        self.timings_ms: dict[str, float] = defaultdict(float)
        self.order: list[str] = []
        self.spans: list[Span] = []
        self.model_calls: list[ModelCall] = []
        self.cache_lookups: list[tuple[str, str]] = []  # (cache, "hit" | "miss")
        self.first_route: dict[str, Any] | None = None

    def _ms(self, at: float) -> float:
        return round((at - self.began) * 1000, 1)

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

    def _finish(self, run_id: UUID, error: BaseException | None = None) -> None:
        started = self._started.pop(run_id, None)
        if started:
            node, began = started
            now = time.perf_counter()
            self.timings_ms[node] += (now - began) * 1000
            if node not in self.order:
                self.order.append(node)
            detail = {"error": f"{type(error).__name__}: {error}"[:300]} if error else {}
            self.spans.append(
                Span(
                    kind="node",
                    name=node,
                    node=None,
                    start_ms=self._ms(began),
                    duration_ms=round((now - began) * 1000, 1),
                    detail=detail,
                )
            )

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if self.first_route is None and run_id in self._started and isinstance(outputs, dict):
            route = outputs.get("route")
            if isinstance(route, dict):
                self.first_route = route
        self._finish(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        # A node interrupted on purpose (GraphBubbleUp: Command, interrupt) did not fail,
        # but it did take this long; the detail says what ended it.
        self._finish(run_id, error)

    def report(self) -> dict[str, float]:
        return {node: round(self.timings_ms[node], 1) for node in self.order}

    # -- model calls and retrievals: children of the node they ran in ----------------
    def _child_started(self, run_id: UUID, metadata: dict[str, Any] | None, name: str) -> None:
        node = (metadata or {}).get("langgraph_node")
        self._children[run_id] = (node, time.perf_counter(), name)

    def _child_done(
        self, run_id: UUID, kind: Literal["generation", "retriever"], detail: dict[str, Any]
    ) -> None:
        node, began, name = self._children.pop(run_id, (None, time.perf_counter(), kind))
        now = time.perf_counter()
        self.spans.append(
            Span(
                kind=kind,
                name=name,
                node=node,
                start_ms=self._ms(began),
                duration_ms=round((now - began) * 1000, 1),
                detail=detail,
            )
        )

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._child_started(run_id, metadata, str(kwargs.get("name") or "model"))

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._child_started(run_id, metadata, str(kwargs.get("name") or "model"))

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                meta = getattr(message, "response_metadata", None) or {}
                usage = getattr(message, "usage_metadata", None) or {}
                call = ModelCall(
                    tier=str(meta.get("tier") or "other"),
                    input_tokens=int(usage.get("input_tokens") or 0),
                    output_tokens=int(usage.get("output_tokens") or 0),
                    cost=float(meta.get("cost") or 0.0),
                    latency_s=meta.get("latency_s"),
                    ttft_s=meta.get("ttft_s"),
                )
                self.model_calls.append(call)
                self._child_done(run_id, "generation", {**call, "model": meta.get("model_name")})

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._child_done(run_id, "generation", {"error": f"{type(error).__name__}: {error}"[:300]})

    def on_retriever_start(
        self,
        serialized: dict[str, Any] | None,
        query: str,
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._child_started(run_id, metadata, str(kwargs.get("name") or "retriever"))

    def on_retriever_end(
        self, documents: Sequence[LCDocument], *, run_id: UUID, **kwargs: Any
    ) -> None:
        chunks = [
            {"id": doc.id, "score": round(float(doc.metadata.get("score", 0.0)), 4)}
            for doc in documents
        ]
        self._child_done(run_id, "retriever", {"chunks": chunks})

    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._child_done(run_id, "retriever", {"error": f"{type(error).__name__}: {error}"[:300]})

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
