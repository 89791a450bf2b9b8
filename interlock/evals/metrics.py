"""Deterministic per-item and aggregate metrics.

Everything here is a pure function of its inputs: numbers are rounded to a
fixed number of places and every collection is sorted before it is
reported, so the same rows always give byte-identical aggregates and the
regression gate compares like with like.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PLACES = 4
_ARTICLES = {"a", "an", "the"}
# Dotted runs stay one token: "0.75", "127.0.0.1" and "interlock.config" are
# single facts, and splitting them would let "0" match "0.75". A colon splits,
# so "127.0.0.1:8000" states both the host and the port.
_TOKEN = re.compile(r"[a-z0-9_]+(?:[./-][a-z0-9_]+)*")

# The refusal rule. An answer counts as "did not answer" when the run was
# refused by the input guard, ended on the fallback's honest path, or its text
# says so in one of these ways. The patterns are the phrasings the agent's own
# prompts and fallback use ("say that you do not know", "the sources do not
# clearly answer this") plus the usual model variants of them.
REFUSAL_PATTERNS = tuple(
    re.compile(p)
    for p in (
        r"\bi (?:do not|don't|dont) know\b",
        r"\b(?:do|does) not (?:clearly )?(?:say|answer|mention|contain|cover|provide)\b",
        r"\b(?:doesn't|don't) (?:say|answer|mention|contain|cover|provide)\b",
        r"\bnot (?:mentioned|stated|specified|provided|covered|available) in\b",
        r"\bno (?:information|mention|details?)\b",
        r"\b(?:cannot|can't|can not|unable to) (?:answer|find|determine|say)\b",
        r"\bknowledge base has nothing\b",
    )
)


def rounded(value: float) -> float:
    return round(float(value), PLACES)


def normalize(text: str) -> list[str]:
    """Lower-case NFKC tokens without punctuation or articles (SQuAD-style, dots kept)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return [t for t in _TOKEN.findall(text) if t not in _ARTICLES]


def exact_match(prediction: str, expected: str) -> float:
    return 1.0 if normalize(prediction) == normalize(expected) else 0.0


def contains_answer(prediction: str, expected: str) -> float:
    """1 when the expected answer's tokens appear, in order and contiguous, in the prediction.

    Exact match is near zero for any model that answers in sentences; this is
    the lenient reading of the same question ("did it state the fact?").
    """
    want, got = normalize(expected), normalize(prediction)
    if not want:
        return 0.0
    n = len(want)
    return 1.0 if any(got[i : i + n] == want for i in range(len(got) - n + 1)) else 0.0


def token_f1(prediction: str, expected: str) -> float:
    got, want = normalize(prediction), normalize(expected)
    if not got or not want:
        return 1.0 if got == want else 0.0
    common = sum((Counter(got) & Counter(want)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(got), common / len(want)
    return rounded(2 * precision * recall / (precision + recall))


def source_matches(found: str, expected: str) -> bool:
    """Names match exactly or by a path suffix ("faq.md" names "sample_kb/faq.md")."""
    return found == expected or found.endswith("/" + expected) or expected.endswith("/" + found)


def source_recall(found: Iterable[str], expected: Sequence[str]) -> float | None:
    """Share of expected sources that were found; None when nothing was expected."""
    found = sorted(set(found))
    if not expected:
        return None
    hit = sum(1 for e in set(expected) if any(source_matches(f, e) for f in found))
    return rounded(hit / len(set(expected)))


def source_precision(found: Iterable[str], expected: Sequence[str]) -> float | None:
    """Share of distinct found sources that were expected; None if none found or expected."""
    found = sorted(set(found))
    if not expected or not found:
        return None
    hit = sum(1 for f in found if any(source_matches(f, e) for e in expected))
    return rounded(hit / len(found))


def is_refusal(answer: str, *, refused: bool = False, fallbacks: Sequence[str] = ()) -> bool:
    """The refusal rule (see REFUSAL_PATTERNS): did the agent decline to answer?"""
    if refused or any(note.startswith("honest:") for note in fallbacks):
        return True
    text = unicodedata.normalize("NFKC", answer).lower().replace("’", "'")
    return not text.strip() or any(p.search(text) for p in REFUSAL_PATTERNS)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method), q in [0, 100]."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return rounded(value)


def mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return rounded(math.fsum(present) / len(present)) if present else None


SCORE_METRICS = (
    "exact_match",
    "contains_answer",
    "token_f1",
    "semantic_similarity",
    "judge_correct",
    "faithfulness",
    "citation_recall",
    "citation_precision",
    "context_recall",
    "context_precision",
)


def aggregate(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Aggregates over per-item rows (see runner.score_item for a row's fields)."""
    answerable = [r for r in rows if not r["unanswerable"] and not r.get("error")]
    unanswerable = [r for r in rows if r["unanswerable"] and not r.get("error")]
    ok = [r for r in rows if not r.get("error")]
    latencies = [r["latency_ms"] for r in ok]
    out: dict[str, Any] = {
        "items": len(rows),
        "errors": sum(1 for r in rows if r.get("error")),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
    }
    for name in SCORE_METRICS:
        out[name] = mean(r.get(name) for r in answerable)
    out["refusal_correct"] = mean(1.0 if r["refused"] else 0.0 for r in unanswerable)
    out["false_refusal_rate"] = mean(1.0 if r["refused"] else 0.0 for r in answerable)
    out["latency_ms_p50"] = percentile(latencies, 50)
    out["latency_ms_p95"] = percentile(latencies, 95)
    out["latency_ms_mean"] = mean(latencies)
    out["tokens_input"] = sum(int(r["usage"].get("input_tokens", 0)) for r in ok)
    out["tokens_output"] = sum(int(r["usage"].get("output_tokens", 0)) for r in ok)
    out["cost"] = round(math.fsum(float(r["usage"].get("cost", 0.0)) for r in ok), 8)
    out["cache_hit_rate"] = mean(1.0 if r["from_cache"] else 0.0 for r in ok)
    out["guard_trigger_rate"] = mean(1.0 if r["guard_triggers"] else 0.0 for r in ok)
    out["fallback_rate"] = mean(1.0 if r["fallbacks"] else 0.0 for r in ok)
    routes = Counter(str(r["route"]) for r in ok)
    out["route_split"] = {k: rounded(v / len(ok)) for k, v in sorted(routes.items())} if ok else {}
    return out


def by_tag(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    tags = sorted({t for r in rows for t in r["tags"]})
    return {t: aggregate([r for r in rows if t in r["tags"]]) for t in tags}
