"""The hallucination check on labelled (context, answer, label) triples.

Usage: .venv/bin/python benchmarks/groundedness.py [--rebuild] [--judge embedded|URL --sample N]
(--judge: LLM-judge mode, results in results/groundedness_judge.json)
The set (benchmarks/data/groundedness.json) is built from the sample corpus,
seeded, and kept in the repository so it can be read and corrected by hand:
each item's context is 5 chunks (the one the answer comes from plus 4 others
of the corpus), its answer 3-5 sentences. Supported answers restate the source
chunk's sentences; unsupported ones change exactly one sentence in one of four
ways: a wrong number, a flipped negation, a swapped entity (a setting name,
component or product of the corpus replaced by another), or an invented detail.
Reports balanced accuracy, precision/recall on "unsupported", per-kind recall
and p50 latency of ``GroundednessChecker.check``; writes
results/groundedness.json. Targets (issue 5): balanced accuracy >= 0.85,
p50 < 50 ms for a 5-sentence answer over 5 chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import tempfile
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

from interlock.embedded.model_server import LlamaServer
from interlock.guardrails.groundedness import GroundednessChecker, split_sentences
from interlock.guardrails.llm_judge import LLMJudge
from interlock.memory.chunking import chunk_text
from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.models.tier import ModelTier
from interlock.state import Document

HERE = Path(__file__).parent
DATA = HERE / "data" / "groundedness.json"
RESULTS = HERE / "results" / "groundedness.json"

# Entities of the corpus that can stand in for one another.
ENTITIES = [
    ["Redis", "LanceDB", "PostgreSQL", "Kafka"],
    ["LangGraph", "LangChain", "Langfuse", "FastAPI"],
    ["MiniLM", "SmolLM2", "BERT", "Llama"],
    ["INTERLOCK_PORT", "INTERLOCK_HOST", "INTERLOCK_REDIS_URL", "INTERLOCK_CACHE_TTL_S"],
    ["INTERLOCK_CHECK_THRESHOLD", "INTERLOCK_RETRIEVAL_TOP_K", "INTERLOCK_MODEL_TIMEOUT_S"],
    ["planner", "router", "retriever", "fallback"],
    ["small", "large"],
    ["guard_in", "guard_out", "remember", "generate"],
]
INVENTED = [
    "It also encrypts every stored conversation with AES-256 by default.",
    "The setting can only be changed by restarting the Kubernetes operator.",
    "Interlock sends a weekly usage report to the maintainers.",
    "This feature was added in version 3.2 after a security audit.",
    "A GPU is required for this step to finish in time.",
    "Answers are translated to English before they are checked.",
    "The cache is shared across all tenants to save memory.",
    "Requests over this limit are queued for up to ten minutes instead.",
    "Interlock retries the request on a backup datacenter in Frankfurt.",
    "The node writes its results to a CSV file in the home directory.",
]
_NEGATABLE = re.compile(r"\b(is|are|does|do|can|must|will|was|were)\b(?! not)")
_NEGATED = re.compile(r"\b(is|are|does|do|can|must|will|was|were) not\b|\b(never|no longer)\b")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")


def corpus_chunks() -> list[Document]:
    root = resources.files("interlock") / "data" / "sample_kb"
    chunks: list[Document] = []
    for file in sorted(root.iterdir(), key=lambda f: f.name):
        if file.name.endswith(".md"):
            for c in chunk_text(file.read_text(), f"sample_kb/{file.name}"):
                chunks.append(
                    Document(id=c.id, text=c.text, source=c.source, title=c.title, score=1.0)
                )
    return chunks


def perturb(sentence: str, kind: str, rng: random.Random) -> str | None:
    """The sentence changed in one way, or None if that change does not apply."""
    if kind == "wrong_number":
        numbers = _NUMBER.findall(sentence)
        if not numbers:
            return None
        old = rng.choice(numbers)
        new = str(int(float(old)) * 2 + 1) if "." not in old else str(float(old) + 0.15)
        return re.sub(rf"\b{re.escape(old)}\b", new, sentence, count=1)
    if kind == "negation":
        if m := _NEGATED.search(sentence):
            return sentence[: m.start()] + (m.group(1) or "always") + sentence[m.end() :]
        if m := _NEGATABLE.search(sentence):
            return sentence[: m.end()] + " not" + sentence[m.end() :]
        return None
    if kind == "swapped_entity":
        for group in rng.sample(ENTITIES, len(ENTITIES)):
            present = [e for e in group if re.search(rf"\b{re.escape(e)}\b", sentence)]
            if present:
                old = present[0]
                new = rng.choice([e for e in group if e != old])
                return re.sub(rf"\b{re.escape(old)}\b", new, sentence, count=1)
        return None
    raise ValueError(kind)


def build(seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    chunks = [c for c in corpus_chunks() if len(split_sentences(c["text"])) >= 3]
    every = corpus_chunks()
    items: list[dict[str, Any]] = []
    kinds = ["wrong_number", "negation", "swapped_entity", "invented_detail"]
    attempts = 0
    while len(items) < 240 and attempts < 5000:
        attempts += 1
        source = rng.choice(chunks)
        sentences = split_sentences(source["text"])
        start = rng.randrange(0, max(1, len(sentences) - 2))
        answer = sentences[start : start + rng.randint(3, 5)]
        others = rng.sample([c for c in every if c["id"] != source["id"]], 4)
        context = [source, *others]
        rng.shuffle(context)
        want = len(items) % 2  # alternate supported / unsupported
        if want == 0:
            label, kind = "supported", "none"
        else:
            label, kind = "unsupported", kinds[(len(items) // 2) % len(kinds)]
            if kind == "invented_detail":
                answer = [*answer, rng.choice(INVENTED)]
            else:
                positions = list(range(len(answer)))
                rng.shuffle(positions)
                for i in positions:
                    if (changed := perturb(answer[i], kind, rng)) and changed != answer[i]:
                        answer = [*answer[:i], changed, *answer[i + 1 :]]
                        break
                else:
                    continue  # this answer offers nothing to change that way
        items.append(
            {
                "label": label,
                "kind": kind,
                "answer": " ".join(answer),
                "context": [
                    {"id": c["id"], "source": c["source"], "text": c["text"]} for c in context
                ],
            }
        )
    return items


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rebuild", action="store_true", help="regenerate the labelled set")
    parser.add_argument(
        "--judge",
        help="also ask this OpenAI-compatible /v1 URL per sentence (LLM-judge mode); "
        "'embedded' starts the embedded llama-server",
    )
    parser.add_argument(
        "--sample", type=int, default=0, help="a seeded random sample of n items (for --judge)"
    )
    args = parser.parse_args()
    if args.rebuild or not DATA.exists():
        DATA.write_text(json.dumps({"items": build()}, indent=1, ensure_ascii=False) + "\n")
    items = json.loads(DATA.read_text())["items"]
    if args.sample:
        items = random.Random(0).sample(items, min(args.sample, len(items)))
    with contextlib.ExitStack() as stack:
        judge = None
        if args.judge:
            url = args.judge
            if url == "embedded":
                server = LlamaServer(log_dir=Path(tempfile.mkdtemp()))
                server.start()
                stack.callback(server.stop)
                url = server.openai_url
            tier = ModelTier("large", [url], model="judge", context_window=8192, timeout_s=120)
            judge = LLMJudge(tier)
        await run(items, GroundednessChecker(MiniLMEmbeddings(), judge=judge), args)


async def run(items: list[dict[str, Any]], checker: GroundednessChecker, args: Any) -> None:
    await checker.check(
        "warm up.", [Document(id="x", text="warm up.", source="x", title="x", score=1.0)], shown=[]
    )
    latencies: list[float] = []
    outcome: Counter[str] = Counter()
    per_kind: Counter[str] = Counter()
    kind_total: Counter[str] = Counter()
    misses: list[dict[str, Any]] = []
    for item in items:
        docs = [
            Document(id=c["id"], text=c["text"], source=c["source"], title="", score=1.0)
            for c in item["context"]
        ]
        # A new answer's sentences are new text: time their encode, not an LRU hit
        # (sources stay cached, as they do when the same chunks come back).
        checker.embeddings.forget(split_sentences(item["answer"]))
        began = time.perf_counter()
        result = await checker.check(item["answer"], docs, shown=docs, threshold=1.0)
        latencies.append((time.perf_counter() - began) * 1000)
        flagged = result["verdict"] == "unsupported"
        truth = item["label"] == "unsupported"
        outcome[("t" if flagged == truth else "f") + ("p" if flagged else "n")] += 1
        kind_total[item["kind"]] += 1
        per_kind[item["kind"]] += flagged == truth
        if flagged != truth and len(misses) < 12:
            misses.append(
                {
                    "kind": item["kind"],
                    "answer": item["answer"][:300],
                    "unsupported": result["unsupported"],
                }
            )
    tp, tn, fp, fn = outcome["tp"], outcome["tn"], outcome["fp"], outcome["fn"]
    recall_u = tp / (tp + fn) if tp + fn else 0.0
    specificity = tn / (tn + fp) if tn + fp else 0.0
    ordered = sorted(latencies)
    summary = {
        "items": len(items),
        "kinds": dict(kind_total),
        "balanced_accuracy": round((recall_u + specificity) / 2, 3),
        "unsupported_precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "unsupported_recall": round(recall_u, 3),
        "supported_kept": round(specificity, 3),
        "accuracy_per_kind": {k: round(per_kind[k] / kind_total[k], 3) for k in kind_total},
        "latency_ms_p50": round(ordered[len(ordered) // 2], 2),
        "latency_ms_p95": round(ordered[int(len(ordered) * 0.95)], 2),
        "verdict_rule": "unsupported if any sentence is unsupported (threshold 1.0)",
        "judge": args.judge,
        "examples_missed": misses,
        "targets": "balanced accuracy >= 0.85; p50 < 50 ms",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    results = RESULTS.with_name("groundedness_judge.json") if args.judge else RESULTS
    results.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "examples_missed"}, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
