"""Record an eval run as a Langfuse dataset run (experiment), when Langfuse is configured.

The agent has already run every item (each with its own Langfuse trace, whose
session is the item's thread id); this uploads the dataset items, then runs
Langfuse's experiment over them with a task that returns the answer already
produced and evaluators that attach the scores already computed. So the
Langfuse numbers are exactly the report's numbers, and the agent is not run a
second time. Without Langfuse configured (``Settings.langfuse_*``) nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interlock.evals.dataset import EvalItem

SCORES = (
    "exact_match",
    "contains_answer",
    "token_f1",
    "semantic_similarity",
    "judge_correct",
    "faithfulness",
    "context_recall",
    "context_precision",
    "refusal_correct",
    "latency_ms",
)


def record_run(
    items: Sequence[EvalItem],
    rows: Sequence[Mapping[str, Any]],
    *,
    dataset_name: str,
    run_name: str,
    dataset_sha256: str,
    client: Any = None,
) -> str | None:
    """Upload items and scores; returns the experiment URL (or id), None without ``client``
    (the agent's ``tracer.langfuse.client``: Langfuse is not configured).

    Blocking (the SDK's HTTP calls): call it through ``asyncio.to_thread``.
    """
    if client is None:  # Langfuse not configured
        return None
    from langfuse import Evaluation

    client.create_dataset(
        name=dataset_name, metadata={"sha256": dataset_sha256, "source": "interlock eval"}
    )
    for item in items:
        client.create_dataset_item(
            dataset_name=dataset_name,
            # Item ids are global in Langfuse: prefix with the dataset's content hash.
            id=f"{dataset_sha256[:12]}-{item.id}",
            input={"question": item.question, "turns": list(item.turns)},
            expected_output=item.expected_answer,
            metadata={
                "eval_id": item.id,
                "tags": list(item.tags),
                "expected_sources": list(item.expected_sources),
                "unanswerable": item.unanswerable,
            },
        )
    by_id = {row["id"]: row for row in rows}
    dataset = client.get_dataset(dataset_name)
    wanted = {f"{dataset_sha256[:12]}-{item.id}" for item in items}
    data = [d for d in dataset.items if d.id in wanted]

    def task(*, item: Any, **_: Any) -> str:
        row = by_id[item.metadata["eval_id"]]
        return str(row.get("error") or row["answer"])

    def scores(*, metadata: Any = None, **_: Any) -> list[Evaluation]:
        row = by_id[(metadata or {})["eval_id"]]
        return [
            Evaluation(
                name=name,
                value=float(row[name]),
                # The agent's own trace of the item (the experiment's trace replays its answer).
                comment=f"agent trace {row.get('trace_id')}, thread {row.get('thread_id')}",
            )
            for name in SCORES
            if isinstance(row.get(name), int | float) and not isinstance(row.get(name), bool)
        ]

    def run_scores(**_: Any) -> list[Evaluation]:
        """Run-level scores: each metric's mean over the items it applies to (the report's
        aggregate), named ``mean_<metric>``."""
        means = []
        for name in SCORES:
            values = [
                float(row[name])
                for row in rows
                if isinstance(row.get(name), int | float) and not isinstance(row.get(name), bool)
            ]
            if values:
                means.append(
                    Evaluation(
                        name=f"mean_{name}",
                        value=round(sum(values) / len(values), 4),
                        comment=f"over {len(values)} items",
                    )
                )
        return means

    result = client.run_experiment(
        name=dataset_name,
        run_name=run_name,
        data=data,
        task=task,
        evaluators=[scores],
        run_evaluators=[run_scores],
        max_concurrency=8,
    )
    client.flush()
    return str(result.experiment_url or result.experiment_id)
