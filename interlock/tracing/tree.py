"""A trace record as text: the run's tree with per-step timings, for ``interlock traces``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from interlock.tracing.record import TraceRecord
from interlock.tracing.timer import Span


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _child_line(span: Span) -> str:
    detail: dict[str, Any] = span["detail"]
    if "error" in detail:
        return f"{span['kind']} {span['name']}  failed: {detail['error']}"
    if span["kind"] == "retriever":
        chunks = detail.get("chunks") or []
        best = ", ".join(f"{c['id']} {c['score']:.2f}" for c in chunks[:4])
        more = f", +{len(chunks) - 4}" if len(chunks) > 4 else ""
        return f"retriever  {len(chunks)} chunks: {best}{more}" if chunks else "retriever  0 chunks"
    ttft = detail.get("ttft_s")
    parts = [
        f"generation {detail.get('tier', '?')}",
        f"{detail.get('model') or ''}".strip(),
        f"tokens {detail.get('input_tokens', 0)} in / {detail.get('output_tokens', 0)} out",
        f"cost {float(detail.get('cost') or 0.0):.6f}",
    ]
    if ttft is not None:
        parts.append(f"ttft {ttft * 1000:.0f} ms")
    return "  ".join(p for p in parts if p)


def _arrange(spans: Sequence[Span]) -> list[tuple[Span, list[Span]]]:
    """Nodes in start order, each with the model calls and retrievals that ran inside it."""
    nodes = sorted((s for s in spans if s["kind"] == "node"), key=lambda s: s["start_ms"])
    tree: list[tuple[Span, list[Span]]] = [(node, []) for node in nodes]
    loose: list[Span] = []
    for child in sorted((s for s in spans if s["kind"] != "node"), key=lambda s: s["start_ms"]):
        home = next(
            (
                kids
                for node, kids in tree
                if node["name"] == child["node"]
                and node["start_ms"] <= child["start_ms"] <= node["start_ms"] + node["duration_ms"]
            ),
            None,
        )
        (home if home is not None else loose).append(child)
    return tree + [(child, []) for child in loose]


def render(record: TraceRecord) -> str:
    lines = [
        f"run {record['run_id']}  trace {record['trace_id']}",
        f"graph {record['graph']}  status {record['status']}  {record['duration_ms']:.1f} ms  "
        f"started {_when(record['started_at'])}",
        f"thread {record['thread_id']}  user {record['user_id']}  tenant {record['tenant']}",
    ]
    if record.get("error"):
        lines.append(f"error: {record['error']}")
    lines.append("")
    lines.append(f"{'start ms':>9} {'took ms':>9}  step")
    for span, children in _arrange(record["spans"]):
        label = span["name"] if span["kind"] == "node" else _child_line(span)
        if span["kind"] == "node" and "error" in span["detail"]:
            label += f"  ({span['detail']['error']})"
        lines.append(f"{span['start_ms']:9.1f} {span['duration_ms']:9.1f}  {label}")
        for child in children:
            lines.append(
                f"{child['start_ms']:9.1f} {child['duration_ms']:9.1f}    └ {_child_line(child)}"
            )
    if record["scores"]:
        lines.append("")
        shown = []
        for score in record["scores"]:
            value = score["value"]
            text = f"{value:.2f}" if isinstance(value, float) else str(value)
            shown.append(f"{score['name']} {text}")
        lines.append("scores: " + " · ".join(shown))
    usage = record.get("usage") or {}
    if usage:
        lines.append(
            f"usage: {usage.get('calls', 0)} model calls, {usage.get('input_tokens', 0)} in / "
            f"{usage.get('output_tokens', 0)} out tokens, cost {float(usage.get('cost', 0.0)):.6f}"
        )
    return "\n".join(lines)


def render_list(records: Sequence[TraceRecord]) -> str:
    if not records:
        return "no runs recorded (or their records expired: INTERLOCK_TRACE_LOG_TTL_S)"
    lines = [f"{'started':<23} {'trace id':<32} {'graph':<16} {'status':<9} {'ms':>9}  thread"]
    for r in records:
        lines.append(
            f"{_when(r['started_at']):<23} {r['trace_id']:<32} {r['graph'][:16]:<16} "
            f"{r['status']:<9} {r['duration_ms']:9.1f}  {r['thread_id']}"
        )
    return "\n".join(lines)
