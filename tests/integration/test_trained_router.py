"""The trained request classifier: the shipped model, training, its file, its errors."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from interlock.config import ConfigError, Settings
from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.models.trained_router import (
    RouterModel,
    TrainedRouter,
    default_training_path,
    load_examples,
    train,
)


@pytest.fixture(scope="module")
def router(embeddings: MiniLMEmbeddings) -> TrainedRouter:
    return TrainedRouter(embeddings)


@pytest.mark.parametrize(
    ("question", "tier", "kind"),
    [
        ("hi, thanks for the help!", "small", "chitchat"),
        ("Which environment variable sets the LanceDB path?", "small", "lookup"),
        ("Write an async Python function that retries with backoff and jitter.", "large", "code"),
        ("Why would least-connections balance better than round robin here?", "large", "reasoning"),
    ],
)
def test_the_shipped_model_routes_and_names_the_kind(
    router: TrainedRouter, question: str, tier: str, kind: str
) -> None:
    scored = router.classify(question)
    assert (scored.score >= router.threshold) == (tier == "large"), scored
    assert scored.kind == kind
    assert scored.reasons[0].startswith("trained router: p(large)")


def test_more_parts_means_harder_and_the_encode_is_shared(router: TrainedRouter) -> None:
    question = "What is the default port and where are the logs?"
    one = router.classify(question)
    three = router.classify(question, parts=3)
    assert three.kind == "multi_part" and three.score > one.score
    # The planner's and the route's calls share one encode (the embeddings' LRU).
    encoded: list[list[str]] = []
    original = router.embeddings._encode
    router.embeddings._encode = lambda texts: encoded.append(texts) or original(texts)  # type: ignore[method-assign]
    try:
        router.classify(question)
        router.classify(question, parts=2)
    finally:
        router.embeddings._encode = original  # type: ignore[method-assign]
    assert encoded == []


def test_training_writes_a_model_that_loads(embeddings: MiniLMEmbeddings, tmp_path: Path) -> None:
    examples = load_examples(default_training_path())
    model = train(examples, embeddings, folds=3)
    assert model.cross_validated["tier_accuracy"] > 0.8
    assert set(model.kinds) == {"chitchat", "lookup", "reasoning", "code", "summary"}
    path = tmp_path / "router.json"
    model.save(path)
    own = TrainedRouter(embeddings, RouterModel.load(path))
    assert own.classify("Write a Python class for an LRU cache.").kind == "code"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": 7}, "format 7"),
        ({"large_coef": [1.0]}, "385 coefficients"),
        ({"kinds": ["chitchat", "poetry"]}, "unknown request kinds"),
        ({"extra": 1}, "not a router model"),
    ],
)
def test_a_wrong_model_file_is_refused(
    tmp_path: Path, change: dict[str, object], message: str
) -> None:
    data = asdict(RouterModel.load())
    data.update(change)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=message):
        RouterModel.load(path)


def test_bad_training_data_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "train.json"
    good = {"text": "hi", "kind": "chitchat", "tier": "small"}
    for content, message in [
        ("[", "cannot read"),
        (json.dumps({"examples": [{**good, "kind": "poem"}]}), "kind 'poem'"),
        (json.dumps({"examples": [{**good, "tier": "medium"}]}), "tier 'medium'"),
        (json.dumps({"examples": [good] * 6}), "at least 5 examples labelled 'large'"),
    ]:
        path.write_text(content)
        with pytest.raises(ConfigError, match=message):
            load_examples(path)


def test_a_missing_router_model_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="INTERLOCK_ROUTER_MODEL"):
        Settings.load(router_model=tmp_path / "nope.json")
