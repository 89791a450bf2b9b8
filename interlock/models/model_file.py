"""Trained models as versioned JSON files: the injection classifier's and the router's.

JSON rather than a pickle: loading runs no code, a retrained model shows in
a diff, and the format version and the embedding model it was trained on
are checked before use, so a stale or foreign file fails at start with a
reason instead of scoring nonsense.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from interlock.config import ConfigError

FORMAT_VERSION = 1
EMBEDDING_MODEL = "all-MiniLM-L6-v2"

T = TypeVar("T")


def load(cls: type[T], path: Path, *, what: str, retrain: str) -> T:
    """Read ``path`` as a ``cls`` (a dataclass with ``version`` and ``embedding_model``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the {what} {path}: {exc}") from exc
    if data.get("version") != FORMAT_VERSION:
        raise ConfigError(
            f"{path} is {what} format {data.get('version')!r}; this interlock reads "
            f"format {FORMAT_VERSION} (retrain with `{retrain}`)"
        )
    if data.get("embedding_model") != EMBEDDING_MODEL:
        raise ConfigError(
            f"{path} was trained on {data.get('embedding_model')!r} embeddings, "
            f"not {EMBEDDING_MODEL!r}"
        )
    try:
        return cls(**data)
    except TypeError as exc:
        article = "an" if what[0] in "aeiou" else "a"
        raise ConfigError(f"{path} is not {article} {what}: {exc}") from exc


def save(model: Any, path: str | Path) -> None:
    assert is_dataclass(model) and not isinstance(model, type)
    Path(path).write_text(json.dumps(asdict(model), indent=1) + "\n", encoding="utf-8")


def provenance(training_data: object) -> tuple[str, str]:
    """What a trained model records about its making: a hash of its data, and when."""
    return (
        hashlib.sha256(json.dumps(training_data).encode()).hexdigest(),
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
