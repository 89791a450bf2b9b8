"""The trained request classifier: MiniLM embeddings + two linear heads (tier and kind).

RouteLLM's lesson is that a router needs no big model: a cheap classifier
over the request, with one threshold knob, decides well enough. Here one
MiniLM encode (~10 ms on CPU) feeds two logistic regressions trained on a
labelled set shipped with the package (``data/router/train.json``): the
probability that the request needs the large tier (its difficulty score)
and its kind (chit-chat, lookup, reasoning, code, summary). A length
feature sits next to the embedding, since long prompts are harder in ways
a 256-word-piece embedding does not see.

Both the planner and the route node classify the same question; the encode
(the whole cost) is done once, by the embeddings' own LRU of short texts.

The model is a versioned JSON file, like the injection classifier's: no
pickle, a readable diff, a checked format. ``interlock router train`` makes
one from the user's own labels; ``interlock router calibrate`` turns a target
share of large-tier traffic into the route threshold.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, cast

import numpy as np

from interlock.config import ConfigError
from interlock.memory.embeddings import DIMENSIONS, MiniLMEmbeddings
from interlock.models import model_file
from interlock.models.router import RequestScore
from interlock.state import RequestKind

KINDS: tuple[RequestKind, ...] = ("chitchat", "lookup", "reasoning", "code", "summary")
TIERS = ("small", "large")


def default_model_path() -> Path:
    return Path(str(resources.files("interlock") / "data" / "router" / "model.json"))


def default_training_path() -> Path:
    return Path(str(resources.files("interlock") / "data" / "router" / "train.json"))


def _length_feature(text: str) -> float:
    """log2 of the word count, scaled to about [0, 1] for 1..256 words."""
    return math.log2(1 + len(text.split())) / 8


@dataclass(frozen=True)
class LabelledRequest:
    text: str
    kind: RequestKind
    tier: str


@dataclass(frozen=True)
class RouterModel:
    """``p(large) = sigmoid(x . large_coef + large_intercept)``; kind = argmax of the kind head.

    ``x`` is the MiniLM vector followed by the length feature.
    """

    large_coef: list[float]
    large_intercept: float
    kind_coef: list[list[float]]
    kind_intercept: list[float]
    kinds: list[str]
    version: int = model_file.FORMAT_VERSION
    embedding_model: str = model_file.EMBEDDING_MODEL
    training_sha256: str = ""
    trained_at: str = ""
    examples: dict[str, int] = field(default_factory=dict)
    cross_validated: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> RouterModel:
        path = Path(path) if path else default_model_path()
        model = model_file.load(cls, path, what="router model", retrain="interlock router train")
        width = DIMENSIONS + 1
        if len(model.large_coef) != width or any(len(row) != width for row in model.kind_coef):
            raise ConfigError(f"{path}: every head needs {width} coefficients")
        if unknown := set(model.kinds) - set(KINDS):
            raise ConfigError(f"{path}: unknown request kinds {sorted(unknown)}")
        return model

    def save(self, path: str | Path) -> None:
        model_file.save(self, path)

    def predict(self, features: np.ndarray) -> tuple[float, RequestKind, float]:
        """(p(large), kind, p(kind)) for one feature row."""
        logit = float(features @ np.asarray(self.large_coef) + self.large_intercept)
        p_large = 1.0 / (1.0 + math.exp(-logit))
        kind_logits = np.asarray(self.kind_coef) @ features + np.asarray(self.kind_intercept)
        kind_p = np.exp(kind_logits - kind_logits.max())
        kind_p /= kind_p.sum()
        best = int(np.argmax(kind_p))
        return p_large, cast(RequestKind, self.kinds[best]), float(kind_p[best])


def load_examples(path: str | Path) -> list[LabelledRequest]:
    """``{"examples": [{"text", "kind", "tier"}, ...]}``, with a reason for anything else."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read router training data {path}: {exc}") from exc
    items = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"{path}: expected {{'examples': [{{text, kind, tier}}, ...]}}")
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not str(item.get("text", "")).strip():
            raise ConfigError(f"{path}: example {i} needs a non-empty 'text'")
        if item.get("kind") not in KINDS:
            raise ConfigError(f"{path}: example {i} has kind {item.get('kind')!r}; one of {KINDS}")
        if item.get("tier") not in TIERS:
            raise ConfigError(f"{path}: example {i} has tier {item.get('tier')!r}; one of {TIERS}")
        out.append(LabelledRequest(item["text"], item["kind"], item["tier"]))
    for tier in TIERS:
        if sum(e.tier == tier for e in out) < 5:
            raise ConfigError(f"{path}: needs at least 5 examples labelled {tier!r}")
    return out


def features(embeddings: MiniLMEmbeddings, texts: list[str]) -> np.ndarray:
    vectors = embeddings.encode(texts)
    lengths = np.array([[_length_feature(t)] for t in texts], dtype=np.float32)
    return np.hstack([vectors, lengths])


def train(
    examples: list[LabelledRequest], embeddings: MiniLMEmbeddings, *, folds: int = 5, seed: int = 0
) -> RouterModel:
    """Fit both heads; report cross-validated tier and kind accuracy alongside."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    x = features(embeddings, [e.text for e in examples])
    tiers = np.array([int(e.tier == "large") for e in examples])
    kinds = np.array([e.kind for e in examples])
    present: list[str] = [k for k in KINDS if k in set(kinds)]
    tier_head = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000)
    kind_head = LogisticRegression(C=4.0, max_iter=2000)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    tier_cv = cross_val_predict(tier_head, x, tiers, cv=splitter)
    kind_cv = cross_val_predict(kind_head, x, kinds, cv=splitter)
    tier_head.fit(x, tiers)
    kind_head.fit(x, kinds)
    if len(present) < 2:
        raise ConfigError("router training data needs requests of at least two kinds")
    rows, intercepts = kind_head.coef_, kind_head.intercept_
    if len(present) == 2:
        # sklearn fits one row for two classes (p = sigmoid); as two softmax rows
        # that is (-w/2, +w/2), which gives the same probabilities.
        rows = np.vstack([-rows[0] / 2, rows[0] / 2])
        intercepts = np.array([-intercepts[0] / 2, intercepts[0] / 2])
    order = [list(kind_head.classes_).index(k) for k in present]
    digest, when = model_file.provenance([asdict(e) for e in examples])
    return RouterModel(
        large_coef=[round(float(c), 6) for c in tier_head.coef_[0]],
        large_intercept=round(float(tier_head.intercept_[0]), 6),
        kind_coef=[[round(float(c), 6) for c in rows[i]] for i in order],
        kind_intercept=[round(float(intercepts[i]), 6) for i in order],
        kinds=present,
        training_sha256=digest,
        trained_at=when,
        examples={"total": len(examples), "large": int(tiers.sum())},
        cross_validated={
            "tier_accuracy": round(float(np.mean(tier_cv == tiers)), 3),
            "kind_accuracy": round(float(np.mean(kind_cv == kinds)), 3),
        },
    )


class TrainedRouter:
    """A ``RequestClassifier`` backed by a :class:`RouterModel`.

    ``threshold`` is the default cut-off for the route node: 0.5 is where the
    balanced tier head is indifferent; ``interlock router calibrate`` moves
    it to send a chosen share of traffic to the large tier.
    """

    threshold = 0.5

    def __init__(self, embeddings: MiniLMEmbeddings, model: RouterModel | None = None) -> None:
        self.embeddings = embeddings
        self.model = model or RouterModel.load()

    def classify(self, question: str, parts: int = 1) -> RequestScore:
        p_large, kind, p_kind = self.model.predict(features(self.embeddings, [question.strip()])[0])
        reasons = [f"trained router: p(large) {p_large:.2f}, {kind} ({p_kind:.2f})"]
        score = p_large
        if parts > 1:
            # Each further part is another question to answer in one reply.
            score = 1 - (1 - p_large) * 0.8 ** (parts - 1)
            reasons.append(f"{parts} parts")
            return RequestScore(round(score, 3), "multi_part", reasons)
        return RequestScore(round(score, 3), kind, reasons)

    def scores(self, questions: list[str]) -> list[float]:
        """p(large) for many questions in one encode (calibration, evaluation)."""
        rows = features(self.embeddings, [q.strip() for q in questions])
        return [self.model.predict(row)[0] for row in rows]

    def describe(self) -> dict[str, Any]:
        about = asdict(self.model)
        for key in ("large_coef", "kind_coef", "kind_intercept"):
            about.pop(key)
        return about


def check_share(large_share: float) -> None:
    """Refuse a share outside [0, 1]; the CLI asks before it loads a model to score with."""
    if not 0.0 <= large_share <= 1.0:
        raise ConfigError(f"the large share must be between 0 and 1, not {large_share}")


def calibrate(scores: list[float], large_share: float) -> float:
    """The threshold that sends ``large_share`` of these requests to the large tier."""
    check_share(large_share)
    if not scores:
        raise ConfigError("calibration needs at least one request")
    if large_share == 0.0:
        return 1.0
    ordered = sorted(scores, reverse=True)
    index = max(0, min(len(ordered) - 1, math.ceil(large_share * len(ordered)) - 1))
    return round(ordered[index], 4)
