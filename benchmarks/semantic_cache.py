"""The semantic cache: hit rate on paraphrases, false hits on contrasts, latency.

Usage: .venv/bin/python benchmarks/semantic_cache.py
Loads the first question of every pair in benchmarks/data/semantic_cache_pairs.json
into one real SemanticCache (LanceDB folder, MiniLM embeddings), then asks each
second question. A paraphrase is a hit only if it returns *its* pair's answer; a
contrast that returns anything is a false hit. Sweeps the similarity threshold with
and without the guard, measures hit and miss latency at the default threshold, and
writes results/semantic_cache.json.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from interlock.config import Settings
from interlock.memory.cache_guard import CacheGuard
from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.semantic_cache import SemanticCache, SemanticHit

HERE = Path(__file__).parent
PAIRS = HERE / "data" / "semantic_cache_pairs.json"
RESULTS = HERE / "results" / "semantic_cache.json"
THRESHOLDS = [0.70, 0.75, 0.80, 0.825, 0.85, 0.875, 0.90, 0.925, 0.95]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def decide(
    question: str, candidates: list[SemanticHit], threshold: float, guard: CacheGuard | None
) -> SemanticHit | None:
    for hit in candidates:
        if hit.similarity < threshold:
            return None
        if guard is None or guard.check(question, hit.question).ok:
            return hit
    return None


async def main() -> None:
    data = json.loads(PAIRS.read_text())
    paraphrases, contrasts = data["paraphrases"], data["contrasts"]
    default = Settings.model_fields["semantic_cache_threshold"].default
    embeddings = MiniLMEmbeddings()
    with tempfile.TemporaryDirectory() as folder:
        cache = SemanticCache(folder, embeddings, threshold=default, ttl_s=3600)
        firsts = {first for first, _ in paraphrases + contrasts}
        for first in sorted(firsts):
            answer = {"text": first, "citations": [], "from_cache": False}
            await cache.put(first, answer, tenant="bench")  # type: ignore[arg-type]
        nearest = {}
        for _, second in paraphrases + contrasts:
            nearest[second] = await cache.nearest(second, tenant="bench")

        sweep: list[dict[str, Any]] = []
        guard = CacheGuard()
        for threshold in THRESHOLDS:
            for name, g in (("guard", guard), ("similarity only", None)):
                good = sum(
                    1
                    for first, second in paraphrases
                    if (h := decide(second, nearest[second], threshold, g))
                    and h.answer["text"] == first
                )
                # A false hit serves the contrasting question's answer. A contrast
                # question may also hit another entry (e.g. "disable X" hits a
                # cached "switch off X"): listed for review, not counted.
                false_hits, other_hits = [], []
                for first, second in contrasts:
                    if h := decide(second, nearest[second], threshold, g):
                        (false_hits if h.question == first else other_hits).append(
                            [second, h.question]
                        )
                sweep.append(
                    {
                        "threshold": threshold,
                        "mode": name,
                        "paraphrase_hit_rate": round(good / len(paraphrases), 3),
                        "false_hits": len(false_hits),
                        "false_hit_examples": false_hits[:3],
                        "contrast_hits_on_other_entries": other_hits,
                    }
                )

        # Latency through the real get() at the default threshold.
        hit_ms, miss_ms = [], []
        for _ in range(3):
            for _, second in paraphrases:
                began = time.perf_counter()
                found = await cache.get(second, tenant="bench")
                (hit_ms if found else miss_ms).append((time.perf_counter() - began) * 1000)
            for _, second in contrasts:
                began = time.perf_counter()
                await cache.get(second, tenant="bench")
                miss_ms.append((time.perf_counter() - began) * 1000)
    chosen = next(r for r in sweep if r["threshold"] == default and r["mode"] == "guard")
    summary = {
        "paraphrase_pairs": len(paraphrases),
        "contrast_pairs": len(contrasts),
        "default_threshold": default,
        "at_default": {
            "paraphrase_hit_rate": chosen["paraphrase_hit_rate"],
            "false_hits": chosen["false_hits"],
            "hit_latency_ms_p50": round(pct(hit_ms, 0.5), 2) if hit_ms else None,
            "miss_latency_ms_p50": round(pct(miss_ms, 0.5), 2),
        },
        "sweep": sweep,
        "targets": "0 false hits at >= 60% paraphrase hit rate",
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    for row in sweep:
        print(
            f"{row['threshold']:.3f} {row['mode']:>16}: hit rate {row['paraphrase_hit_rate']:.2f}"
            f"  false hits {row['false_hits']}"
        )
    print(json.dumps(summary["at_default"], indent=2))


if __name__ == "__main__":
    asyncio.run(main())
