"""Knowledge-base ingestion: throughput, unchanged re-ingest, one changed file, one deleted file.

Usage: .venv/bin/python benchmarks/ingest.py [--files 200]
Builds a corpus of Markdown files (10 sections each, ~2,000 chunks in all) from
the sample knowledge base's sentences, each file with its own wording, in a
temporary folder, and ingests it into a fresh LanceDB table with the real MiniLM
embedder. Then: re-ingest unchanged (target: near zero work, no embedding),
edit one section of one file (only that chunk is embedded), delete one file (its
chunks go). The embedder is wrapped to count its calls and texts. Also times the
embedder alone on the same texts, since embedding is the floor of a first
ingest. Writes results/ingest.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.knowledge import IngestReport, KnowledgeBase

RESULTS = Path(__file__).parent / "results" / "ingest.json"


class CountingEmbeddings(MiniLMEmbeddings):
    """The real embedder, counting what it is asked to embed."""

    calls = 0
    texts = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        if texts:
            self.calls += 1
            self.texts += len(texts)
        return super().encode(texts)


def sentences() -> list[str]:
    kb = resources.files("interlock") / "data" / "sample_kb"
    text = " ".join(f.read_text() for f in kb.iterdir() if f.name.endswith(".md"))
    text = re.sub(r"#+ [^\n]*", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.split()) > 5]


def write_corpus(folder: Path, files: int, seed: int = 7) -> None:
    pool = sentences()
    rng = random.Random(seed)
    for f in range(files):
        parts = [f"# Document {f}\n"]
        for s in range(10):
            body = " ".join(rng.sample(pool, 6))
            parts.append(f"## Section {s} of document {f}\n\n{body}\n")
        (folder / f"doc-{f:04d}.md").write_text("\n".join(parts))


def row(
    name: str, report: IngestReport, seconds: float, embedder: CountingEmbeddings
) -> dict[str, Any]:
    return {
        "step": name,
        "seconds": round(seconds, 3),
        "files_added": len(report.files_added),
        "files_unchanged": len(report.files_unchanged),
        "files_removed": len(report.files_removed),
        "chunks_written": report.chunks_written,
        "chunks_embedded": report.chunks_embedded,
        "embedder_calls": embedder.calls,
        "embedder_texts": embedder.texts,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    embedder = CountingEmbeddings()
    embedder.encode(["warm up"])  # model load is not ingestion
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        write_corpus(corpus, args.files)
        kb = KnowledgeBase(str(Path(tmp) / "lancedb"), embedder)
        steps = []

        async def step(name: str) -> IngestReport:
            embedder.calls = embedder.texts = 0
            began = time.perf_counter()
            report = await kb.ingest([corpus])
            steps.append(row(name, report, time.perf_counter() - began, embedder))
            return report

        first = await step("first ingest")
        chunks = await kb.count()
        await step("re-ingest unchanged")
        target = corpus / "doc-0003.md"
        text = target.read_text()
        target.write_text(
            text.replace("## Section 4 of document 3\n\n", "## Section 4 of document 3\n\nEdited. ")
        )
        await step("one section of one file changed")
        (corpus / "doc-0005.md").unlink()
        await step("one file deleted")

        # The floor: the embedder alone over the same texts, same batch size.
        table = await kb.table()
        rows = await table.query().select(["title", "text"]).to_list()
        texts = [f"{r['title']}\n{r['text']}" for r in rows]
        began = time.perf_counter()
        embedder.encode(texts)
        embed_only = time.perf_counter() - began

    results = {
        "files": args.files,
        "chunks": chunks,
        "first_ingest_chunks_per_s": round(first.chunks_written / steps[0]["seconds"], 1),
        "embedder_only_chunks_per_s": round(len(texts) / embed_only, 1),
        "embedding_share_of_first_ingest": round(embed_only / steps[0]["seconds"], 3),
        "steps": steps,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    for s in steps:
        print(
            f"{s['step']:>32}: {s['seconds']:7.2f} s  written {s['chunks_written']:5d}"
            f"  embedded {s['chunks_embedded']:5d}  embedder calls {s['embedder_calls']}"
        )
    print(
        f"{chunks} chunks; first ingest {results['first_ingest_chunks_per_s']} chunks/s"
        f" (embedder alone {results['embedder_only_chunks_per_s']} chunks/s)"
    )


if __name__ == "__main__":
    asyncio.run(main())
