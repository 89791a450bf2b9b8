"""Observing runs: per-node timings always, Langfuse traces when configured.

Both are LangChain callback handlers attached to a run's config, so they see
any graph a user composes, not only the default one. Langfuse is enabled by
its own standard variables (``LANGFUSE_PUBLIC_KEY``, ``LANGFUSE_SECRET_KEY``,
``LANGFUSE_HOST``/``LANGFUSE_BASE_URL``); without them nothing is sent.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig


class NodeTimer(BaseCallbackHandler):
    """Wall time spent in each graph node (summed over fan-out branches and retries)."""

    run_inline = True  # called in the node's own task: timing stays exact under asyncio

    def __init__(self) -> None:
        self._started: dict[UUID, tuple[str, float]] = {}
        self.timings_ms: dict[str, float] = defaultdict(float)
        self.order: list[str] = []

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
        self._finish(run_id)

    def on_chain_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._finish(run_id)

    def report(self) -> dict[str, float]:
        return {node: round(self.timings_ms[node], 1) for node in self.order}


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
