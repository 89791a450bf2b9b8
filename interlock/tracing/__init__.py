"""Observing runs: timings and the local trace log always, Langfuse traces when configured.

``Tracer`` (tracer.py) is what the agent and the LangGraph API call; the rest
are its parts: the timer (timer.py), trace ids (context.py), scores
(scores.py), the Langfuse export (langfuse_export.py), the local trace log
(record.py) and its rendering for ``interlock traces`` (tree.py).
"""

from interlock.tracing.context import TRACE_HEADER, collect_trace_ids, trace_id_for
from interlock.tracing.record import TraceLog, TraceRecord
from interlock.tracing.scores import Score, run_scores
from interlock.tracing.timer import CACHE_EVENT, ModelCall, NodeTimer, Span, emit
from interlock.tracing.tracer import RunTrace, Tracer

__all__ = [
    "CACHE_EVENT",
    "TRACE_HEADER",
    "ModelCall",
    "NodeTimer",
    "RunTrace",
    "Score",
    "Span",
    "TraceLog",
    "TraceRecord",
    "Tracer",
    "collect_trace_ids",
    "emit",
    "run_scores",
    "trace_id_for",
]
