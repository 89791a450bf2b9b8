"""Knowledge-base retrieval: recall@5 on labelled questions, and latency at 10k and 100k chunks.

Usage: .venv/bin/python benchmarks/retrieval.py [--sizes 10000 100000]
1. Recall: ingests the sample corpus (interlock/data/sample_kb) and asks the
   labelled questions in benchmarks/data/kb_questions.json in each mode:
   vector, text, hybrid (vector + full-text fused by RRF), hybrid + rerank.
2. Scale: the same table grown with synthetic chunks to each size (words drawn
   from the corpus vocabulary, vectors near the real ones plus noise; embedding
   100k real chunks would take this 2-core machine most of an hour), then
   ``KnowledgeBase.optimize()`` (vector index, FTS index, compaction), then
   p50/p95 of ``KnowledgeBase.search`` per mode, and recall@5 again with the
   filler as distractors. Query embeddings are memoised after a first pass, so
   latency is the store's; the embedder's own p50 is reported beside it.
Writes results/retrieval.json. Target: hybrid p50 < 25 ms at 100k chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from interlock.memory.embeddings import DIMENSIONS, MiniLMEmbeddings
from interlock.memory.knowledge import SCHEMA, KnowledgeBase, Mode
from interlock.state import Document

HERE = Path(__file__).parent
QUESTIONS = HERE / "data" / "kb_questions.json"
RESULTS = HERE / "results" / "retrieval.json"
MODES: list[tuple[str, Mode, bool]] = [
    ("vector", "vector", False),
    ("text", "text", False),
    ("hybrid", "hybrid", False),
    ("hybrid+rerank", "hybrid", True),
]


class MemoEmbeddings(MiniLMEmbeddings):
    """The real embedder, remembering query vectors so repeated queries time the store."""

    def __init__(self) -> None:
        super().__init__()
        self.memo: dict[str, np.ndarray] = {}
        self.timings_ms: list[float] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1 and texts[0] in self.memo:
            return self.memo[texts[0]][None, :]
        began = time.perf_counter()
        vectors = super().encode(texts)
        if len(texts) == 1:
            self.timings_ms.append((time.perf_counter() - began) * 1000)
            self.memo[texts[0]] = vectors[0]
        return vectors


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def answered(docs: list[Document], relevant: list[list[str]]) -> bool:
    return any(
        d["source"].endswith(src) and section.lower() in d["title"].lower()
        for d in docs
        for src, section in relevant
    )


async def recall(kb: KnowledgeBase, questions: list[dict[str, Any]]) -> dict[str, float]:
    out = {}
    for name, mode, rerank in MODES:
        hits = 0
        for item in questions:
            docs = await kb.search(item["q"], top_k=5, mode=mode, rerank=rerank)
            hits += answered(docs, item["relevant"])
        out[name] = round(hits / len(questions), 3)
    return out


async def latency(
    kb: KnowledgeBase, questions: list[dict[str, Any]], rounds: int
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in questions:  # warm: memoise query vectors, open indices
        await kb.search(item["q"], mode="hybrid")
    for name, mode, rerank in MODES:
        samples = []
        for _ in range(rounds):
            for item in questions:
                began = time.perf_counter()
                await kb.search(item["q"], top_k=5, mode=mode, rerank=rerank)
                samples.append((time.perf_counter() - began) * 1000)
        out[name] = {"p50_ms": pct(samples, 0.5), "p95_ms": pct(samples, 0.95)}
    return out


def vocabulary() -> list[str]:
    kb = resources.files("interlock") / "data" / "sample_kb"
    text = " ".join(f.read_text() for f in kb.iterdir() if f.name.endswith(".md"))
    return re.findall(r"[A-Za-z][A-Za-z_]+", text)


def filler(
    count: int, start: int, real: np.ndarray, words: list[str], rng: np.random.Generator
) -> pa.Table:
    """Synthetic chunks: 120 corpus words each; vectors mix two real ones plus noise."""
    picks = rng.integers(0, len(words), size=(count, 120))
    texts = [" ".join(words[i] for i in row) for row in picks]
    a = real[rng.integers(0, len(real), count)]
    b = real[rng.integers(0, len(real), count)]
    w = rng.random((count, 1), dtype=np.float32)
    vectors = w * a + (1 - w) * b + rng.normal(0, 0.05, (count, DIMENSIONS)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"filler-{start + i}" for i in range(count)]
    sources = [f"filler/doc-{(start + i) // 20}.md" for i in range(count)]
    return pa.Table.from_pydict(
        {
            "id": ids,
            "tenant": ["default"] * count,
            "source": sources,
            "title": [f"Filler {(start + i) // 20}" for i in range(count)],
            "position": pa.array([(start + i) % 20 for i in range(count)], pa.int32()),
            "text": texts,
            "content_hash": ids,
            "file_hash": ids,
            "tags": [[] for _ in range(count)],
            "vector": pa.FixedSizeListArray.from_arrays(
                pa.array(vectors.reshape(-1), pa.float32()), DIMENSIONS
            ),
        },
        schema=SCHEMA,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    questions = json.loads(QUESTIONS.read_text())["questions"]
    embeddings = MemoEmbeddings()
    results: dict[str, Any] = {"questions": len(questions), "scales": []}
    rng = np.random.default_rng(11)
    words = vocabulary()
    with tempfile.TemporaryDirectory() as tmp:
        kb = KnowledgeBase(tmp, embeddings)
        sample = Path(str(resources.files("interlock") / "data" / "sample_kb"))
        await kb.ingest([sample])
        base = await kb.count()
        results["sample_corpus_chunks"] = base
        results["recall_at_5_sample_corpus"] = await recall(kb, questions)
        results["latency_sample_corpus"] = await latency(kb, questions, args.rounds)
        table = await kb.table()
        real = np.asarray(
            [r["vector"] for r in await table.query().select(["vector"]).to_list()], np.float32
        )
        rows = base
        for size in sorted(args.sizes):
            began = time.perf_counter()
            while rows < size:
                batch = min(20_000, size - rows)
                await table.add(filler(batch, rows, real, words, rng))
                rows += batch
            loaded = time.perf_counter() - began
            began = time.perf_counter()
            await kb.optimize()
            optimised = time.perf_counter() - began
            scale = {
                "chunks": await kb.count(),
                "load_s": round(loaded, 1),
                "optimize_s": round(optimised, 1),
                "latency": await latency(kb, questions, args.rounds),
                "recall_at_5": await recall(kb, questions),
            }
            results["scales"].append(scale)
            print(json.dumps(scale))
    results["query_embedding_ms_p50"] = pct(embeddings.timings_ms, 0.5)
    results["target"] = "hybrid p50 < 25 ms at 100k chunks"
    results["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("recall@5 (sample corpus):", results["recall_at_5_sample_corpus"])
    for scale in results["scales"]:
        cells = "  ".join(f"{k} {v['p50_ms']}/{v['p95_ms']}" for k, v in scale["latency"].items())
        print(
            f"{scale['chunks']:>7} chunks: {cells}  (p50/p95 ms)  recall@5 {scale['recall_at_5']}"
        )
    print("query embedding p50 ms:", results["query_embedding_ms_p50"])


if __name__ == "__main__":
    asyncio.run(main())
