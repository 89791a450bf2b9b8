"""``interlock eval run|compare``: what the CLI calls, kept out of cli.py so it starts fast."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interlock.config import Settings
from interlock.evals import compare as gate
from interlock.evals.dataset import DatasetError, dataset_hash, load_dataset
from interlock.evals.report import ReportError, build_report, read_json, write_json

GRAPHS = ("default",)


def add_parser(sub: Any) -> None:
    """The ``eval`` subcommand and its ``run`` and ``compare`` children."""
    ev = sub.add_parser("eval", help="run an evaluation dataset; compare two reports")
    ev_sub = ev.add_subparsers(dest="eval_command", required=True)
    run = ev_sub.add_parser("run", help="run the agent on every item of a JSONL dataset")
    run.add_argument("dataset", type=Path)
    run.add_argument("--graph", default="default", choices=GRAPHS)
    run.add_argument("--concurrency", type=int, default=2, help="items in flight (default 2)")
    run.add_argument("--limit", type=int, help="only the first N items")
    run.add_argument("--out", type=Path, help="write the JSON report here")
    run.add_argument("--html", type=Path, help="write the HTML report here")
    run.add_argument("--judge", action="store_true", help="LLM-judge correctness (large tier)")
    run.add_argument("--no-cache", action="store_true", help="bypass the response caches")
    run.add_argument("--tenant", default="default", help="whose knowledge base to search")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    cmp = ev_sub.add_parser("compare", help="exit 1 when CANDIDATE regressed from BASELINE")
    cmp.add_argument("baseline", type=Path)
    cmp.add_argument("candidate", type=Path)
    cmp.add_argument(
        "--max-regression",
        action="append",
        default=[],
        metavar="METRIC=TOL",
        help="tolerance per metric (repeatable); defaults in interlock.evals.compare",
    )


def compare_main(args: argparse.Namespace) -> int:
    try:
        tolerances = gate.parse_tolerances(args.max_regression)
        baseline, candidate = read_json(args.baseline), read_json(args.candidate)
    except (ReportError, ValueError) as exc:
        print(f"interlock: error: {exc}", file=sys.stderr)
        return 2
    if baseline.get("dataset", {}).get("sha256") != candidate.get("dataset", {}).get("sha256"):
        print("warning: the reports were run on different datasets", file=sys.stderr)
    regressions = gate.compare(baseline, candidate, tolerances)
    for regression in regressions:
        print(f"REGRESSION {regression.describe()}")
    if not regressions:
        print(f"no regression beyond tolerance ({len(tolerances)} metrics checked)")
    return 1 if regressions else 0


def _summary(aggregate: dict[str, Any]) -> str:
    keys = (
        "items",
        "errors",
        "exact_match",
        "contains_answer",
        "token_f1",
        "semantic_similarity",
        "judge_correct",
        "faithfulness",
        "citation_recall",
        "context_recall",
        "context_precision",
        "refusal_correct",
        "false_refusal_rate",
        "latency_ms_p50",
        "latency_ms_p95",
        "tokens_input",
        "tokens_output",
        "cost",
        "cache_hit_rate",
        "guard_trigger_rate",
        "fallback_rate",
        "route_split",
    )
    return "\n".join(f"  {k:<20} {aggregate.get(k)}" for k in keys)


async def run_main(settings: Settings, args: argparse.Namespace) -> int:
    """Start the agent on ``settings``, run the dataset, write and summarise the reports."""
    from tqdm import tqdm

    from interlock.agent import Agent
    from interlock.evals import runner
    from interlock.evals.html import render_html
    from interlock.evals.judge import CorrectnessJudge

    items = load_dataset(args.dataset)  # validated again: cheap, and run_main stands alone
    if args.limit is not None:
        items = items[: max(0, args.limit)]
    judge_on = bool(args.judge and settings.large_model_urls)
    if args.judge and not judge_on:
        print("warning: --judge needs a large tier; judge scores left out", file=sys.stderr)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    agent = await Agent.from_settings(settings)
    began = time.perf_counter()
    try:
        await agent.ensure_sample_knowledge()
        options = runner.RunOptions(
            concurrency=args.concurrency,
            tenant=args.tenant,
            no_cache=args.no_cache,
            run_name=f"eval-{int(time.time())}",
        )
        judge = CorrectnessJudge(agent.components.tiers["large"]) if judge_on else None
        with tqdm(total=len(items), unit="item", desc="eval", disable=args.quiet) as bar:
            rows = await runner.run_dataset(
                agent,
                items,
                options,
                encoder=agent.components.knowledge.embeddings,
                judge=judge,
                on_item=lambda _row: bar.update(1),
            )
    finally:
        langfuse = agent.tracer.langfuse
        await agent.aclose()
    report = build_report(
        rows,
        config={
            "graph": args.graph,
            "concurrency": args.concurrency,
            "limit": args.limit,
            "judge": judge_on,
            "no_cache": args.no_cache,
            "tenant": args.tenant,
            "small_model": settings.small_model_name,
            "large_model": settings.large_model_name,
        },
        dataset={"path": str(args.dataset), "sha256": dataset_hash(args.dataset)},
        started_at=started_at,
        seconds=time.perf_counter() - began,
    )
    if args.out:
        write_json(report, args.out)
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(render_html(report), encoding="utf-8")
    print(_summary(report["aggregate"]))
    from interlock.evals.langfuse_run import record_run

    try:
        url = await asyncio.to_thread(
            record_run,
            items,
            rows,
            dataset_name=f"interlock-{args.dataset.stem}",
            run_name=f"{args.graph}-{started_at}",
            dataset_sha256=report["dataset"]["sha256"],
            client=langfuse.client if langfuse is not None else None,
        )
    except Exception as exc:  # the reports are written; an unreachable Langfuse loses only this
        print(f"warning: Langfuse dataset run not recorded: {exc}", file=sys.stderr)
        return 0
    if url:
        print(f"Langfuse dataset run: {url}")
    return 0


def eval_main(settings: Settings, args: argparse.Namespace) -> int:
    """Dispatch ``eval``; a bad dataset fails before any service is started."""
    if args.eval_command == "compare":
        return compare_main(args)
    try:
        load_dataset(args.dataset)
    except DatasetError as exc:
        print(f"interlock: error: {exc}", file=sys.stderr)
        return 2
    from interlock.embedded.stack import EmbeddedStack

    with EmbeddedStack(settings) as live:
        return asyncio.run(run_main(live, args))
