"""Evaluation datasets: JSONL, one item per line, validated on load.

A bad line fails the whole load with its line number and field, because a
silently skipped item would change every aggregate without anyone noticing.
The dataset's hash goes into the report so two reports can be told apart
when they were run on different data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUNDLED = Path(__file__).resolve().parent.parent / "data" / "evals" / "sample_kb.jsonl"
_KNOWN = {
    "id",
    "question",
    "expected_answer",
    "expected_sources",
    "tags",
    "turns",
    "unanswerable",
}


class DatasetError(ValueError):
    """A dataset that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    expected_answer: str
    expected_sources: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    turns: tuple[str, ...] = ()  # earlier user messages sent on the same thread first
    unanswerable: bool = False
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


def _strings(value: object, where: str, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise DatasetError(f"{where}: field {name!r} must be a list of non-empty strings")
    return tuple(value)


def parse_item(record: object, where: str, default_id: str) -> EvalItem:
    """One item from its decoded JSON; ``where`` ("file:line") prefixes every error."""
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object, got {type(record).__name__}")
    question = record.get("question")
    if not isinstance(question, str) or not question.strip():
        raise DatasetError(f"{where}: field 'question' is required and must be a non-empty string")
    unanswerable = record.get("unanswerable", False)
    if not isinstance(unanswerable, bool):
        raise DatasetError(f"{where}: field 'unanswerable' must be true or false")
    expected = record.get("expected_answer", "" if unanswerable else None)
    if not isinstance(expected, str) or (not unanswerable and not expected.strip()):
        raise DatasetError(
            f"{where}: field 'expected_answer' is required (a non-empty string) "
            "unless the item is 'unanswerable': true"
        )
    item_id = record.get("id", default_id)
    if not isinstance(item_id, str) or not item_id:
        raise DatasetError(f"{where}: field 'id' must be a non-empty string")
    return EvalItem(
        id=item_id,
        question=question.strip(),
        expected_answer=expected.strip(),
        expected_sources=_strings(record.get("expected_sources", []), where, "expected_sources"),
        tags=_strings(record.get("tags", []), where, "tags"),
        turns=_strings(record.get("turns", []), where, "turns"),
        unanswerable=unanswerable,
        extra={k: v for k, v in record.items() if k not in _KNOWN},
    )


def load_dataset(path: Path | str) -> list[EvalItem]:
    """Every item of a JSONL file, in file order; blank lines are skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read dataset {path}: {exc}") from exc
    items: list[EvalItem] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        item = parse_item(record, where, default_id=f"line-{number}")
        if item.id in seen:
            raise DatasetError(f"{where}: field 'id' {item.id!r} repeats line {seen[item.id]}")
        seen[item.id] = number
        items.append(item)
    if not items:
        raise DatasetError(f"dataset {path} has no items")
    return items


def dataset_hash(path: Path | str) -> str:
    """SHA-256 of the file's bytes: reports on different data must not be compared unawares."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
