"""What a finished run is scored on: the hallucination check, the guards and the route.

One list, sent to Langfuse as scores on the trace and kept in the local trace
record, so both say the same. Names are stable: dashboards and evaluation
filters in Langfuse select on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict


class Score(TypedDict):
    name: str
    value: float | str
    data_type: Literal["NUMERIC", "CATEGORICAL", "BOOLEAN"]
    comment: str | None


def run_scores(
    state: Mapping[str, Any], first_route: Mapping[str, Any] | None = None
) -> list[Score]:
    """The scores of one run's final state (``first_route``: the router's own decision,
    which a fallback may since have changed; the final state keeps only the last one)."""
    scores: list[Score] = []
    check = state.get("check")
    if isinstance(check, Mapping) and check.get("verdict") != "not_applicable":
        scores.append(
            Score(
                name="hallucination_check",
                value=float(check.get("score", 0.0)),
                data_type="NUMERIC",
                comment=str(check.get("verdict")),
            )
        )
        scores.append(
            Score(
                name="grounded",
                value=1.0 if check.get("verdict") == "supported" else 0.0,
                data_type="BOOLEAN",
                comment="; ".join(str(s) for s in check.get("unsupported") or [])[:500] or None,
            )
        )
    for report in state.get("guards") or []:
        if not isinstance(report, Mapping):
            continue
        verdict = (
            "refused"
            if not report.get("allowed", True)
            else "redacted"
            if report.get("redacted")
            else "passed"
        )
        scores.append(
            Score(
                name=f"guard_{report.get('stage', 'unknown')}",
                value=verdict,
                data_type="CATEGORICAL",
                comment="; ".join(report.get("reasons") or [])[:500] or None,
            )
        )
    route = first_route or state.get("route")
    if isinstance(route, Mapping) and route.get("tier"):
        scores.append(
            Score(
                name="route",
                value=str(route["tier"]),
                data_type="CATEGORICAL",
                comment=str(route.get("reason") or "") or None,
            )
        )
    return scores
