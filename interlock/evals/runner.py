"""Run an agent over a dataset and score each item.

Items run concurrently up to a bound (the model server has a few slots; more
only queues inside it and inflates every latency). Each item gets its own
thread and user id, so items never see each other's conversation or
long-term memory; a follow-up item first sends its earlier turns on that
thread. Semantic similarity is computed in one batch after all runs, so the
embedding model does not compete with the agent for the CPU mid-run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from interlock.errors import InterlockError
from interlock.evals import metrics
from interlock.evals.dataset import EvalItem
from interlock.memory.response_cache import CacheControl

if TYPE_CHECKING:
    from interlock.agent import Agent, AgentResult
    from interlock.evals.judge import CorrectnessJudge


class Encoder(Protocol):
    async def aencode(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class RunOptions:
    concurrency: int = 2
    tenant: str = "default"
    no_cache: bool = False
    run_name: str = "eval"


async def retrieved_sources(agent: Agent, thread_id: str) -> list[str] | None:
    """Sources of the chunks the last run on this thread retrieved (None if unreadable)."""
    try:
        snapshot = await agent.graph.aget_state({"configurable": {"thread_id": thread_id}})
    except Exception:  # the checkpoint is optional evidence; citations still count
        return None
    documents = (snapshot.values or {}).get("documents") or []
    return sorted({d["source"] for d in documents})


def score_item(
    item: EvalItem,
    result: AgentResult,
    latency_ms: float,
    retrieved: list[str] | None,
) -> dict[str, Any]:
    """The deterministic part of an item's row (semantic similarity and the judge come later)."""
    cited = sorted({c["source"] for c in result.citations})
    refused = metrics.is_refusal(result.answer, refused=result.refused, fallbacks=result.fallbacks)
    answerable = not item.unanswerable
    row: dict[str, Any] = {
        "id": item.id,
        "question": item.question,
        "expected_answer": item.expected_answer,
        "answer": result.answer,
        "tags": sorted(item.tags),
        "unanswerable": item.unanswerable,
        "thread_id": result.thread_id,
        "run_id": result.run_id,
        "trace_id": result.trace_id,
        "error": None,
        "refused": refused,
        "refusal_correct": (1.0 if refused else 0.0) if item.unanswerable else None,
        "exact_match": metrics.exact_match(result.answer, item.expected_answer)
        if answerable
        else None,
        "contains_answer": metrics.contains_answer(result.answer, item.expected_answer)
        if answerable
        else None,
        "token_f1": metrics.token_f1(result.answer, item.expected_answer) if answerable else None,
        "semantic_similarity": None,
        "judge_correct": None,
        "faithfulness": metrics.rounded(result.check["score"])
        if result.check and result.check.get("verdict") != "not_applicable"
        else None,
        "check_verdict": (result.check or {}).get("verdict"),
        "cited_sources": cited,
        "retrieved_sources": retrieved,
        "citation_recall": metrics.source_recall(cited, item.expected_sources),
        "citation_precision": metrics.source_precision(cited, item.expected_sources),
        "context_recall": metrics.source_recall(retrieved, item.expected_sources)
        if retrieved is not None
        else None,
        "context_precision": metrics.source_precision(retrieved, item.expected_sources)
        if retrieved is not None
        else None,
        "latency_ms": metrics.rounded(latency_ms),
        "usage": dict(sorted(result.usage.items())),
        "route": (result.route or {}).get("tier", "none"),
        "from_cache": result.from_cache,
        "guard_triggers": sorted({t for g in result.guards for t in g.get("triggered", [])}),
        "fallbacks": list(result.fallbacks),
    }
    return row


def error_row(item: EvalItem, exc: Exception, latency_ms: float) -> dict[str, Any]:
    return {
        "id": item.id,
        "question": item.question,
        "expected_answer": item.expected_answer,
        "answer": "",
        "tags": sorted(item.tags),
        "unanswerable": item.unanswerable,
        "thread_id": None,
        "run_id": None,
        "trace_id": None,
        "error": f"{type(exc).__name__}: {exc}",
        "refused": False,
        "latency_ms": metrics.rounded(latency_ms),
        "usage": {},
        "route": "error",
        "from_cache": False,
        "guard_triggers": [],
        "fallbacks": [],
    }


async def run_item(agent: Agent, item: EvalItem, options: RunOptions) -> dict[str, Any]:
    user = f"{options.run_name}-{item.id}"
    cache = CacheControl(no_cache=True) if options.no_cache else None
    began = time.perf_counter()
    try:
        thread: str | None = None
        for turn in item.turns:
            earlier = await agent.ask(
                turn, thread_id=thread, user_id=user, tenant=options.tenant, cache=cache
            )
            thread = earlier.thread_id
        began = time.perf_counter()  # latency of the evaluated question only
        result = await agent.ask(
            item.question, thread_id=thread, user_id=user, tenant=options.tenant, cache=cache
        )
    except InterlockError as exc:
        return error_row(item, exc, (time.perf_counter() - began) * 1000)
    except Exception as exc:  # one broken item must not lose the other hundred's results;
        # it is counted in `errors`, which the regression gate allows none more of.
        return error_row(item, exc, (time.perf_counter() - began) * 1000)
    latency = (time.perf_counter() - began) * 1000
    retrieved = await retrieved_sources(agent, result.thread_id)
    return score_item(item, result, latency, retrieved)


async def add_similarity(rows: list[dict[str, Any]], encoder: Encoder) -> None:
    """Cosine similarity of answer and expected answer (MiniLM vectors are unit length)."""
    scored = [r for r in rows if not r["unanswerable"] and not r.get("error")]
    if not scored:
        return
    texts = [r["answer"] or " " for r in scored] + [r["expected_answer"] for r in scored]
    vectors = np.asarray(await encoder.aencode(texts), dtype=np.float64)
    n = len(scored)
    for i, row in enumerate(scored):
        row["semantic_similarity"] = metrics.rounded(float(vectors[i] @ vectors[n + i]))


async def run_dataset(
    agent: Agent,
    items: Sequence[EvalItem],
    options: RunOptions,
    *,
    encoder: Encoder,
    judge: CorrectnessJudge | None = None,
    on_item: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Every item's row, in dataset order whatever order they finished in."""
    gate = asyncio.Semaphore(max(1, options.concurrency))

    async def one(item: EvalItem) -> dict[str, Any]:
        async with gate:
            row = await run_item(agent, item, options)
            if judge is not None and not item.unanswerable and not row.get("error"):
                verdict = await judge.judge(item.question, item.expected_answer, row["answer"])
                row["judge_correct"] = None if verdict is None else float(verdict)
        if on_item is not None:
            on_item(row)
        return row

    rows = list(await asyncio.gather(*(one(item) for item in items)))
    await add_similarity(rows, encoder)
    return rows
