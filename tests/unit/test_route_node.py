"""The route node's order of rules: score, context, the caller's limits, health."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage

from interlock.config import ConfigError
from interlock.models.router import RequestScore
from interlock.models.tier import ModelTier
from interlock.models.trained_router import calibrate
from interlock.nodes.route import Route
from interlock.state import AgentState


class Fixed:
    """A classifier that always gives the same score."""

    threshold = 0.5

    def __init__(self, score: float) -> None:
        self.score = score

    def classify(self, question: str, parts: int = 1) -> RequestScore:
        return RequestScore(self.score, "reasoning", ["fixed"])


def tiers(small_window: int = 8192) -> dict[str, ModelTier]:
    return {
        "small": ModelTier(
            "small",
            ["http://127.0.0.1:9/v1"],
            model="s",
            context_window=small_window,
            cost_per_1k_input=0.1,
            cost_per_1k_output=0.2,
        ),
        "large": ModelTier(
            "large",
            ["http://127.0.0.1:10/v1"],
            model="l",
            context_window=32768,
            cost_per_1k_input=1.0,
            cost_per_1k_output=2.0,
        ),
    }


def state(question: str = "Explain the trade-offs of RRF") -> AgentState:
    return AgentState(question=question, messages=[HumanMessage(content=question)])  # type: ignore[typeddict-item]


def decide(score: float, limits: dict[str, float] | None = None, **kw: object) -> dict[str, object]:
    node = Route(Fixed(score), tiers(**kw), answer_tokens=100)  # type: ignore[arg-type]
    config = {"configurable": {"route": limits}} if limits else None
    return dict(node(state(), config)["route"])  # type: ignore[arg-type]


def test_the_score_against_the_classifiers_own_threshold() -> None:
    assert decide(0.7)["tier"] == "large"
    assert decide(0.3)["tier"] == "small"
    assert "threshold 0.50" in str(decide(0.3)["reason"])


def test_a_prompt_over_the_small_window_goes_large_whatever_the_limits() -> None:
    decision = decide(0.1, {"max_cost": 0.0}, small_window=50)
    assert decision["tier"] == "large"
    assert "over the small model's 50" in str(decision["reason"])


def test_max_cost_sends_a_hard_request_small_and_says_why() -> None:
    # ~10 input tokens + 100 answer tokens: large ~0.21, small ~0.021.
    decision = decide(0.9, {"max_cost": 0.05})
    assert decision["tier"] == "small"
    assert "caller's limits: large would cost" in str(decision["reason"])
    assert decide(0.9, {"max_cost": 1.0})["tier"] == "large"


def test_a_limit_neither_tier_keeps_is_reported_not_obeyed() -> None:
    decision = decide(0.9, {"max_cost": 0.0001})
    assert decision["tier"] == "large"
    assert "the other tier does not do better" in str(decision["reason"])


def test_max_latency_uses_the_tiers_recent_latency() -> None:
    node = Route(Fixed(0.9), tiers(), answer_tokens=100)  # type: ignore[arg-type]
    node.tiers["large"].replicas[0].ewma_latency_s = 4.0
    node.tiers["small"].replicas[0].ewma_latency_s = 0.5
    slow = node(state(), {"configurable": {"route": {"max_latency_ms": 2000}}})["route"]
    assert slow["tier"] == "small" and "4000 ms" in slow["reason"]
    fine = node(state(), {"configurable": {"route": {"max_latency_ms": 5000}}})["route"]
    assert fine["tier"] == "large"


def test_calibrate_turns_a_share_into_a_threshold() -> None:
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    threshold = calibrate(scores, 0.3)
    assert sum(s >= threshold for s in scores) == 3
    assert calibrate(scores, 0.0) == 1.0
    assert sum(s >= calibrate(scores, 1.0) for s in scores) == 10
    with pytest.raises(ConfigError, match="between 0 and 1"):
        calibrate(scores, 1.5)
