"""The machine-readable run report: config, dataset hash, rows, aggregates, per-tag breakdown.

Rows are sorted by item id and keys are sorted on write, so two runs over
the same inputs give the same file apart from the timing fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from interlock.evals import metrics

SCHEMA_VERSION = 1


def build_report(
    rows: Sequence[Mapping[str, Any]],
    *,
    config: Mapping[str, Any],
    dataset: Mapping[str, Any],
    started_at: str,
    seconds: float,
) -> dict[str, Any]:
    ordered = sorted(rows, key=lambda r: r["id"])
    return {
        "schema_version": SCHEMA_VERSION,
        "started_at": started_at,
        "seconds": round(seconds, 2),
        "config": dict(config),
        "dataset": dict(dataset),
        "aggregate": metrics.aggregate(ordered),
        "by_tag": metrics.by_tag(ordered),
        "items": [dict(r) for r in ordered],
    }


def write_json(report: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


class ReportError(ValueError):
    """A report file that cannot be read or is not an eval report."""


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportError(f"cannot read report {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("aggregate"), dict):
        raise ReportError(f"{path} is not an eval report (no 'aggregate' object)")
    return data
