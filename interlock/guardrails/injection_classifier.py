"""Learned prompt-injection detection: logistic regression on MiniLM and character n-grams.

The patterns in ``validators.PromptInjection`` name exactly what they caught
and almost never fire on ordinary questions, but an attack reworded
("kindly set aside your prior directives"), translated or hidden in pasted
content slips past them. A linear model over sentence embeddings catches
the *meaning* of an override or an extraction request across wordings, at
the cost of one MiniLM encode (~10-20 ms on CPU, in a worker thread).
Hashed character 3-5-grams sit next to the embedding because MiniLM alone
blurs the few words that matter ("your instructions" vs "the instructions
in the Makefile"): on benchmarks/data/guardrails_injection.json they took
detection at the same false-positive rate from 0.78 to 0.88.

Long messages are scored sentence by sentence and the highest score wins:
MiniLM reads at most 256 word pieces, and an instruction hidden at the end
of a pasted document must not be averaged away.

The trained model is a JSON file (coefficients, the n-gram ones sparse;
intercept, threshold, version, a hash of its training data and its
cross-validated error rates), not a pickle: loading it runs no code, a
change shows in a diff, and the version is checked. Training uses
scikit-learn's ``LogisticRegression``; the threshold is set from
cross-validated scores so the false-positive rate on the benign training
examples stays under a target.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from interlock.config import ConfigError
from interlock.guardrails.obfuscation import readings
from interlock.memory.embeddings import DIMENSIONS, MiniLMEmbeddings
from interlock.models import model_file

_WINDOW_CHARS = 400
_MIN_UNIT_CHARS = 80
_MAX_WINDOWS = 32
_SENTENCE = re.compile(r"(?<=[.!?:;])\s+|\n+")


def default_model_path() -> Path:
    return Path(str(resources.files("interlock") / "data" / "guardrails" / "injection_model.json"))


def default_training_path() -> Path:
    return Path(str(resources.files("interlock") / "data" / "guardrails" / "injection_train.json"))


def windows(text: str) -> list[str]:
    """The passages a message is scored as.

    Each reading of it (obfuscation.py), whole when short, by sentence when long.
    """
    first, *others = readings(text) or [""]
    out = _windows(first)
    seen = set(out)
    # A disguise usually touches one sentence: score only the windows it changed.
    out += [w for reading in others for w in _windows(reading) if w not in seen]
    return out


def _windows(text: str) -> list[str]:
    text = text.strip()
    if len(text) <= _WINDOW_CHARS:
        return [text] if text else []
    # Sentence by sentence (short ones joined): an instruction hidden among
    # ordinary sentences is diluted past recognition in a longer window, and
    # scoring each sentence once costs no more tokens than the whole text.
    out: list[str] = []
    current = ""
    for sentence in (s.strip() for s in _SENTENCE.split(text) if s.strip()):
        current = f"{current} {sentence}".strip()
        if len(current) >= _MIN_UNIT_CHARS:
            out.append(current[:_WINDOW_CHARS])
            current = ""
    if current:
        out.append(current[:_WINDOW_CHARS])
    if len(out) > _MAX_WINDOWS:
        # Keep the start and the end, where instructions usually sit.
        half = _MAX_WINDOWS // 2
        out = out[:half] + out[-half:]
    return out


@dataclass(frozen=True)
class InjectionModel:
    """A trained classifier: ``p(injection) = sigmoid(v . coef + intercept)``."""

    coef: list[float]  # one per embedding dimension
    intercept: float
    threshold: float
    ngram_coef: dict[str, float] = field(default_factory=dict)  # hashed n-gram index -> weight
    version: int = model_file.FORMAT_VERSION
    embedding_model: str = model_file.EMBEDDING_MODEL
    training_sha256: str = ""
    trained_at: str = ""
    examples: dict[str, int] = field(default_factory=dict)
    cross_validated: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> InjectionModel:
        path = Path(path) if path else default_model_path()
        model = model_file.load(cls, path, what="injection model", retrain="interlock guard train")
        if len(model.coef) != DIMENSIONS:
            raise ConfigError(f"{path} has {len(model.coef)} coefficients, expected {DIMENSIONS}")
        return model

    def save(self, path: str | Path) -> None:
        model_file.save(self, path)

    def probabilities(self, texts: list[str], vectors: np.ndarray) -> np.ndarray:
        logits = vectors @ np.asarray(self.coef, dtype=np.float32) + self.intercept
        if self.ngram_coef:
            grams = _ngrams().transform(texts).tocsr()
            logits = logits + grams @ self._ngram_weights
        return np.asarray(1.0 / (1.0 + np.exp(-logits)))

    @cached_property
    def _ngram_weights(self) -> np.ndarray:
        weights = np.zeros(NGRAM_FEATURES, dtype=np.float64)
        for index, weight in self.ngram_coef.items():
            weights[int(index)] = weight
        return weights


NGRAM_FEATURES = 2**18


@lru_cache(maxsize=1)
def _ngrams() -> Any:
    """Stateless hashed character 3-5-grams: nothing to store but the weights."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 5),
        n_features=NGRAM_FEATURES,
        alternate_sign=False,
        norm="l2",
    )


def load_examples(path: str | Path) -> tuple[list[str], list[str]]:
    """``{"injection": [...], "benign": [...]}`` → the two lists; clear errors otherwise."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read training data {path}: {exc}") from exc
    lists = []
    for key in ("injection", "benign"):
        items = data.get(key) if isinstance(data, dict) else None
        if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
            raise ConfigError(f"{path}: {key!r} must be a list of non-empty strings")
        if len(items) < 10:
            raise ConfigError(f"{path}: {key!r} needs at least 10 examples, has {len(items)}")
        lists.append(items)
    return lists[0], lists[1]


def train(
    injection: list[str],
    benign: list[str],
    embeddings: MiniLMEmbeddings,
    *,
    max_false_positive_rate: float = 0.02,
    folds: int = 5,
    seed: int = 0,
) -> InjectionModel:
    """Fit the model and set its threshold from out-of-fold scores.

    The threshold is the lowest that keeps the out-of-fold false-positive rate
    on ``benign`` at or under ``max_false_positive_rate``: a refused honest
    question costs more trust than a missed attack costs safety, because the
    patterns, the output guard and the groundedness check still stand behind.
    """
    from scipy.sparse import csr_matrix, hstack
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    texts = [*injection, *benign]
    labels = np.array([1] * len(injection) + [0] * len(benign))
    # Trained on each example as written; disguised readings are scored at run time.
    vectors = embeddings.encode(texts)
    features = hstack([csr_matrix(vectors), _ngrams().transform(texts)]).tocsr()
    # C=4: embeddings are unit vectors, so the default C=1 regularises the
    # few hundred examples too hard and squeezes every score towards 0.5.
    model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, features, labels, cv=splitter, method="predict_proba")[:, 1]
    benign_scores = np.sort(scores[labels == 0])
    allowed = int(np.floor(max_false_positive_rate * len(benign_scores)))
    # Just above the (allowed+1)-th highest benign score.
    threshold = float(benign_scores[-(allowed + 1)]) + 1e-6 if len(benign_scores) else 0.5
    threshold = max(threshold, 0.5)
    model.fit(features, labels)
    dense, sparse = model.coef_[0][:DIMENSIONS], model.coef_[0][DIMENSIONS:]
    detected = float(np.mean(scores[labels == 1] >= threshold))
    false_positive = float(np.mean(scores[labels == 0] >= threshold))
    digest, when = model_file.provenance([injection, benign])
    return InjectionModel(
        coef=[round(float(c), 6) for c in dense],
        ngram_coef={str(i): round(float(sparse[i]), 6) for i in np.flatnonzero(sparse)},
        intercept=round(float(model.intercept_[0]), 6),
        threshold=round(threshold, 6),
        training_sha256=digest,
        trained_at=when,
        examples={"injection": len(injection), "benign": len(benign)},
        cross_validated={"detection_rate": detected, "false_positive_rate": false_positive},
    )


class InjectionClassifier:
    """How likely a message is an injection; refused at or above ``threshold``."""

    def __init__(
        self,
        embeddings: MiniLMEmbeddings,
        model: InjectionModel | None = None,
        threshold: float | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.model = model or InjectionModel.load()
        self.threshold = self.model.threshold if threshold is None else threshold

    def _score(self, passages: list[str], vectors: np.ndarray) -> float:
        if not passages:
            return 0.0
        return float(self.model.probabilities(passages, vectors).max())

    def score(self, text: str) -> float:
        passages = windows(text)
        return self._score(passages, self.embeddings.encode(passages))

    async def ascore(self, text: str) -> float:
        passages = windows(text)
        return self._score(passages, await self.embeddings.aencode(passages))

    def describe(self) -> dict[str, Any]:
        about = {k: v for k, v in asdict(self.model).items() if k not in ("coef", "ngram_coef")}
        return {**about, "threshold": self.threshold}
