"""Tracer: how a run is observed, injected into the agent like its models and stores.

``start`` gives each run its trace id, its callbacks (the timer always, the
Langfuse handler when configured) and the trace attributes; ``finish`` records
the scores and the local trace record. Both the agent graph and user graphs
served through the LangGraph API go through it, so every run is traced the
same way.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.runnables import RunnableConfig

from interlock.memory.redis_pool import REDIS_ERRORS
from interlock.tracing.context import announce, trace_id_for
from interlock.tracing.langfuse_export import LangfuseExport
from interlock.tracing.record import TraceLog, TraceRecord
from interlock.tracing.scores import Score, run_scores
from interlock.tracing.timer import NodeTimer

log = logging.getLogger(__name__)

Status = Literal["ok", "error", "cancelled"]


@dataclass
class RunTrace:
    """One run's observation: its ids, its timer and the callbacks of its config."""

    run_id: str
    trace_id: str
    graph: str
    thread_id: str
    user_id: str
    tenant: str
    timer: NodeTimer
    callbacks: list[BaseCallbackHandler]
    started_at: float = field(default_factory=time.time)

    def config(self) -> RunnableConfig:
        """The run's config: thread for the checkpointer, callbacks, trace attributes.

        The LangChain root run id is the run id, so the run id names the same
        run in callbacks, the checkpointer's metadata and the trace.
        """
        return RunnableConfig(
            configurable={"thread_id": self.thread_id},
            callbacks=list(self.callbacks),
            run_name=self.graph,
            run_id=uuid.UUID(self.run_id),
            metadata={
                # The checkpointer indexes threads by user_id (data-removal requests).
                "user_id": self.user_id,
                "tenant": self.tenant,
                "langfuse_session_id": self.thread_id,
                "langfuse_user_id": self.user_id,
                "langfuse_tags": tags(self.graph, self.tenant),
            },
        )


def tags(graph: str, tenant: str) -> list[str]:
    return [f"graph:{graph}", f"tenant:{tenant}"]


class Tracer:
    """``langfuse``: the export when Langfuse is configured; ``log``: the local trace log
    (``None``: no records, ``interlock traces`` then has nothing to show)."""

    def __init__(self, *, langfuse: LangfuseExport | None = None, log: TraceLog | None = None):
        self.langfuse = langfuse
        self.log = log

    def start(
        self, *, run_id: str, thread_id: str, user_id: str, tenant: str, graph: str
    ) -> RunTrace:
        trace_id = trace_id_for(run_id)
        timer = NodeTimer()
        callbacks: list[BaseCallbackHandler] = [timer]
        if self.langfuse is not None:
            try:
                callbacks.append(self.langfuse.handler(trace_id, tags(graph, tenant)))
            except Exception:
                log.warning("Langfuse handler not created; run %s untraced", run_id, exc_info=True)
        announce(trace_id)
        return RunTrace(run_id, trace_id, graph, thread_id, user_id, tenant, timer, callbacks)

    async def finish(
        self,
        trace: RunTrace,
        state: Mapping[str, Any] | None,
        status: Status,
        error: str | None = None,
    ) -> None:
        """Record the run's scores and its local trace. Shielded (a cancelled run is
        recorded too) and never raises: the run's answer does not depend on it."""
        scores: list[Score] = run_scores(state or {}, trace.timer.first_route)
        if self.langfuse is not None and scores:
            self.langfuse.score(trace.trace_id, scores)
        if self.log is None:
            return
        record = TraceRecord(
            trace_id=trace.trace_id,
            run_id=trace.run_id,
            graph=trace.graph,
            thread_id=trace.thread_id,
            user_id=trace.user_id,
            tenant=trace.tenant,
            started_at=round(trace.started_at, 3),
            duration_ms=round((time.time() - trace.started_at) * 1000, 1),
            status=status,
            error=error,
            spans=trace.timer.spans,
            scores=scores,
            usage=dict((state or {}).get("usage") or {}),
        )
        with anyio.CancelScope(shield=True):
            try:
                await self.log.save(record)
            except REDIS_ERRORS as exc:
                log.warning("trace of run %s not kept: %s", trace.run_id, exc)

    async def flush(self) -> None:
        """Hand Langfuse what is queued (bounded; the SDK's threads keep running)."""
        if self.langfuse is not None:
            await anyio.to_thread.run_sync(self.langfuse.flush)
