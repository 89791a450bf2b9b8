"""The request router on held-out labelled requests: tier and kind accuracy, cost, latency.

Usage: .venv/bin/python benchmarks/router.py [--large-cost-ratio 10]
The held-out set (benchmarks/data/router_test.json, 60 requests) was written
with the training set (interlock/data/router/train.json) and never trained
on. With the embedded stack both tiers are the same model, so answer quality
cannot be compared; what is measured instead:

* tier accuracy against the labels, for the trained router and the
  heuristic scorer it replaced;
* under-served share: requests labelled large that went small (where
  quality is lost) — "quality kept" is 1 minus it;
* cost saved against sending everything large, with the large tier
  ``--large-cost-ratio`` times the small one's price per token and equal
  token counts (so only the routing matters);
* a threshold sweep (the one knob), and the routing latency of an unseen
  request (the MiniLM encode) against the heuristic.
Writes results/router.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.models.router import HeuristicClassifier, RequestClassifier
from interlock.models.trained_router import LabelledRequest, TrainedRouter, load_examples

HERE = Path(__file__).parent
DATA = HERE / "data" / "router_test.json"
RESULTS = HERE / "results" / "router.json"


def evaluate(
    router: RequestClassifier, examples: list[LabelledRequest], threshold: float, ratio: float
) -> dict[str, Any]:
    scored = [router.classify(e.text) for e in examples]
    routed_large = [s.score >= threshold for s in scored]
    labels_large = [e.tier == "large" for e in examples]
    n = len(examples)
    under = sum(lab and not r for lab, r in zip(labels_large, routed_large, strict=True))
    over = sum(r and not lab for lab, r in zip(labels_large, routed_large, strict=True))
    share_large = sum(routed_large) / n
    cost = share_large * ratio + (1 - share_large) * 1
    return {
        "threshold": threshold,
        "tier_accuracy": round(1 - (under + over) / n, 3),
        "kind_accuracy": round(
            sum(s.kind == e.kind for s, e in zip(scored, examples, strict=True)) / n, 3
        ),
        "share_routed_small": round(1 - share_large, 3),
        "under_served": under,
        "over_served": over,
        "quality_kept": round(1 - under / max(sum(labels_large), 1), 3),
        "cost_saved_vs_all_large": round(1 - cost / ratio, 3),
    }


def latency_ms(router: RequestClassifier, texts: list[str]) -> dict[str, float]:
    samples = []
    for i, text in enumerate(texts):
        began = time.perf_counter()
        router.classify(f"{text} ({i})")  # unseen text each time: no memo hit
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p95_ms": round(samples[int(0.95 * (len(samples) - 1))], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large-cost-ratio", type=float, default=10.0)
    args = parser.parse_args()
    examples = load_examples(DATA)
    trained = TrainedRouter(MiniLMEmbeddings())
    trained.classify("warm up")
    heuristic = HeuristicClassifier()
    ratio = args.large_cost_ratio
    labelled_large = sum(e.tier == "large" for e in examples) / len(examples)
    results = {
        "examples": len(examples),
        "labelled_large_share": round(labelled_large, 3),
        "large_cost_ratio": ratio,
        "oracle_cost_saved": round(1 - (labelled_large * ratio + 1 - labelled_large) / ratio, 3),
        "model": trained.describe(),
        "trained": evaluate(trained, examples, trained.threshold, ratio),
        "heuristic": evaluate(heuristic, examples, heuristic.threshold, ratio),
        "sweep": [
            evaluate(trained, examples, t, ratio) for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
        ],
        "latency": {
            "trained": latency_ms(trained, [e.text for e in examples] * 2),
            "heuristic": latency_ms(heuristic, [e.text for e in examples] * 2),
        },
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k not in ("model", "sweep")}, indent=1))
    for row in results["sweep"]:
        print(
            f"threshold {row['threshold']:.1f}: small {row['share_routed_small']:.0%}, "
            f"quality kept {row['quality_kept']:.0%}, cost saved {row['cost_saved_vs_all_large']:.0%}"
        )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
