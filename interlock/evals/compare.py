"""The regression gate: compare a candidate report with a baseline, metric by metric.

A tolerance is how far a metric may move in its bad direction (absolute, in
the metric's own unit; latency tolerances are relative, as a share of the
baseline, because milliseconds vary with machine load). A metric missing from
either report is skipped, not failed: a baseline made without ``--judge``
cannot vouch for judge scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# metric -> (tolerance, higher_is_better, relative)
DEFAULT_TOLERANCES: dict[str, tuple[float, bool, bool]] = {
    "contains_answer": (0.02, True, False),
    "token_f1": (0.02, True, False),
    "semantic_similarity": (0.02, True, False),
    "judge_correct": (0.02, True, False),
    "faithfulness": (0.03, True, False),
    "citation_recall": (0.03, True, False),
    "context_recall": (0.03, True, False),
    "refusal_correct": (0.05, True, False),
    "false_refusal_rate": (0.05, False, False),
    "latency_ms_p95": (0.25, False, True),
    "errors": (0.0, False, False),
}


@dataclass(frozen=True)
class Regression:
    metric: str
    baseline: float
    candidate: float
    tolerance: float
    relative: bool

    def describe(self) -> str:
        unit = " (relative)" if self.relative else ""
        return (
            f"{self.metric}: {self.baseline:g} -> {self.candidate:g} "
            f"(tolerance {self.tolerance:g}{unit})"
        )


def parse_tolerances(specs: list[str]) -> dict[str, tuple[float, bool, bool]]:
    """``metric=tolerance`` overrides; an unknown metric is an error (a typo would gate nothing)."""
    tolerances = dict(DEFAULT_TOLERANCES)
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or name not in tolerances:
            known = ", ".join(sorted(tolerances))
            raise ValueError(
                f"--max-regression {spec!r}: expected metric=tolerance, one of {known}"
            )
        try:
            tolerance = float(value)
        except ValueError:
            raise ValueError(f"--max-regression {spec!r}: {value!r} is not a number") from None
        _, higher, relative = tolerances[name]
        tolerances[name] = (tolerance, higher, relative)
    return tolerances


def compare(
    baseline: Mapping[str, Any],
    candidate: Mapping[str, Any],
    tolerances: Mapping[str, tuple[float, bool, bool]] | None = None,
) -> list[Regression]:
    """Every metric that moved the bad way by more than its tolerance, in metric order."""
    found: list[Regression] = []
    for metric, (tolerance, higher, relative) in sorted((tolerances or DEFAULT_TOLERANCES).items()):
        base, cand = baseline["aggregate"].get(metric), candidate["aggregate"].get(metric)
        if not isinstance(base, int | float) or not isinstance(cand, int | float):
            continue
        worse = (base - cand) if higher else (cand - base)
        allowed = tolerance * abs(base) if relative else tolerance
        if worse > allowed + 1e-9:
            found.append(Regression(metric, float(base), float(cand), tolerance, relative))
    return found
