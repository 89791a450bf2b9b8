"""The eval runner against the real embedded model, Redis and LanceDB, writing both reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interlock.agent import Agent
from interlock.config import Settings
from interlock.evals.compare import compare
from interlock.evals.dataset import load_dataset
from interlock.evals.html import render_html
from interlock.evals.judge import CorrectnessJudge
from interlock.evals.report import build_report, read_json, write_json
from interlock.evals.runner import RunOptions, run_dataset


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Shorter answers and patient timeouts: the shared test machine is heavily loaded, and
    a timed-out item is recorded as an error row, which this test must not see."""
    return settings.model_copy(
        update={"model_timeout_s": 240.0, "model_deadline_s": 480.0, "max_answer_tokens": 64}
    )


ITEMS = [
    {
        "id": "port",
        "question": "Which port does interlock listen on by default?",
        "expected_answer": "8000",
        "expected_sources": ["sample_kb/faq.md", "sample_kb/configuration.md"],
        "tags": ["single"],
    },
    {
        "id": "capital",
        "question": "What is the capital of France?",
        "unanswerable": True,
        "tags": ["unanswerable"],
    },
    {
        "id": "follow",
        "turns": ["Which embedding model does interlock use?"],
        "question": "How many dimensions do its vectors have?",
        "expected_answer": "384",
        "expected_sources": ["sample_kb/faq.md", "sample_kb/embedded-stack.md"],
        "tags": ["followup"],
    },
]


async def test_runner_scores_items_and_writes_reports(agent: Agent, tmp_path: Path) -> None:
    path = tmp_path / "small.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in ITEMS))
    items = load_dataset(path)
    seen: list[str] = []
    rows = await run_dataset(
        agent,
        items,
        RunOptions(concurrency=2, run_name="t"),
        encoder=agent.components.knowledge.embeddings,
        on_item=lambda row: seen.append(row["id"]),
    )
    assert sorted(seen) == ["capital", "follow", "port"]
    assert [r["id"] for r in rows] == ["port", "capital", "follow"]  # dataset order
    by_id = {r["id"]: r for r in rows}
    assert all(r["error"] is None for r in rows), [r["error"] for r in rows]

    port = by_id["port"]
    assert port["answer"]
    assert port["retrieved_sources"], "the retrieved documents were read from the checkpoint"
    assert port["context_recall"] is not None and port["context_recall"] > 0
    assert -1.0 <= port["semantic_similarity"] <= 1.0
    assert port["token_f1"] is not None and port["latency_ms"] > 0
    assert port["usage"]["output_tokens"] > 0
    assert port["route"] in ("small", "large")

    capital = by_id["capital"]
    assert capital["token_f1"] is None and capital["semantic_similarity"] is None
    assert capital["refusal_correct"] in (0.0, 1.0)

    # The follow-up ran on one thread after its earlier turn.
    messages = await agent.messages(by_id["follow"]["thread_id"])
    users = [m["content"] for m in messages if m["role"] == "human"]
    assert users == [ITEMS[2]["turns"][0], ITEMS[2]["question"]]

    report = build_report(
        rows,
        config={"graph": "default"},
        dataset={"path": str(path), "sha256": "x"},
        started_at="now",
        seconds=1.0,
    )
    agg = report["aggregate"]
    assert agg["items"] == 3 and agg["answerable"] == 2 and agg["unanswerable"] == 1
    assert agg["latency_ms_p95"] >= agg["latency_ms_p50"] > 0
    assert agg["tokens_output"] > 0
    assert set(report["by_tag"]) == {"single", "unanswerable", "followup"}

    out, page = tmp_path / "r.json", tmp_path / "r.html"
    write_json(report, out)
    page.write_text(render_html(report))
    again = read_json(out)
    assert again["items"][0]["id"] == "capital"  # sorted by id
    assert compare(again, again) == []
    assert page.read_text().count("<svg") == 5


async def test_judge_returns_a_schema_bounded_verdict(agent: Agent) -> None:
    judge = CorrectnessJudge(agent.components.tiers["large"])
    verdict = await judge.judge(
        "Which port does interlock listen on?", "8000", "Interlock listens on port 8000."
    )
    assert isinstance(verdict, bool)
