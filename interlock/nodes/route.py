"""route: pick the small or the large tier for this request, and say why.

The classifier's difficulty score against ``threshold`` decides, unless a
hard constraint overrides it, in this order:

1. context: a prompt that does not fit the small model's window goes large
   (whatever the caller's limits: the small model cannot answer it at all);
2. the caller's limits (``config["configurable"]["route"]``: ``max_cost`` per
   request, ``max_latency_ms``): a tier whose estimated cost (its prices x
   the prompt and answer tokens) or recent latency (its best replica's EWMA)
   breaks a limit gives way to the other tier if that one keeps both;
3. health: when every replica of the chosen tier is out, the other tier
   answers and the decision is marked ``degraded``.

The decision, its score and its reason go into the state (and from there
into the response and the trace).
"""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.runnables import RunnableConfig

from interlock.models.router import RequestClassifier
from interlock.models.tier import ModelTier
from interlock.state import AgentState, RouteDecision, Tier

CHARS_PER_TOKEN = 4  # a conservative estimate; exact counts come from the server's usage


class RouteLimits(TypedDict, total=False):
    """The caller's per-request limits, read from ``config["configurable"]["route"]``."""

    max_cost: float
    max_latency_ms: float


def route_limits(config: RunnableConfig | None) -> RouteLimits:
    limits = ((config or {}).get("configurable") or {}).get("route")
    return RouteLimits(**limits) if isinstance(limits, dict) else RouteLimits()


class Route:
    def __init__(
        self,
        classifier: RequestClassifier,
        tiers: dict[Tier, ModelTier],
        *,
        threshold: float | None = None,
        answer_tokens: int = 256,
    ) -> None:
        self.classifier = classifier
        self.tiers = tiers
        self.threshold = classifier.threshold if threshold is None else threshold
        self.answer_tokens = answer_tokens

    def _breaks_limits(self, tier: Tier, tokens_in: int, limits: RouteLimits) -> str:
        """Why ``tier`` breaks the caller's limits ("" if it keeps them)."""
        model = self.tiers[tier]
        cost = model.estimate_cost(tokens_in, self.answer_tokens)
        if "max_cost" in limits and cost > limits["max_cost"]:
            return f"{tier} would cost ~{cost:.4g}, over max_cost {limits['max_cost']:g}"
        latency = model.expected_latency_s()
        slow = latency is not None and latency * 1000 > limits.get("max_latency_ms", float("inf"))
        if slow and latency is not None:
            return (
                f"{tier} answers in ~{latency * 1000:.0f} ms lately, "
                f"over max_latency_ms {limits['max_latency_ms']:g}"
            )
        return ""

    def __call__(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        plan = state.get("plan")
        parts = len(plan["sub_queries"]) if plan else 1
        scored = self.classifier.classify(state["question"], parts=parts)
        tier: Tier = "large" if scored.score >= self.threshold else "small"
        reason = (
            f"difficulty {scored.score:.2f} {'>=' if tier == 'large' else '<'} "
            f"threshold {self.threshold:.2f} ({', '.join(scored.reasons)})"
        )
        prompt_chars = (
            len(state["question"])
            + sum(len(d["text"]) for d in state.get("documents") or [])
            + sum(len(str(m.content)) for m in state.get("messages", []))
        )
        needed = prompt_chars // CHARS_PER_TOKEN + self.answer_tokens
        small = self.tiers.get("small")
        if tier == "small" and small is not None and needed > small.context_window:
            tier = "large"
            reason = f"prompt needs ~{needed} tokens, over the small model's {small.context_window}"
        elif (limits := route_limits(config)) and len(self.tiers) > 1 and tier in self.tiers:
            tokens_in = needed - self.answer_tokens
            other_tier: Tier = "small" if tier == "large" else "large"
            broken = self._breaks_limits(tier, tokens_in, limits)
            fits = other_tier != "small" or small is None or needed <= small.context_window
            if broken and fits and not self._breaks_limits(other_tier, tokens_in, limits):
                tier = other_tier
                reason = f"caller's limits: {broken}, so {tier} ({reason})"
            elif broken:
                reason += f"; {broken}, and the other tier does not do better"
        if tier not in self.tiers:
            tier = next(iter(self.tiers))
            reason += f"; only the {tier} tier is configured"
        decision = RouteDecision(tier=tier, score=scored.score, reason=reason)
        other: Tier = "small" if tier == "large" else "large"
        # Graceful degradation: every replica of the chosen tier is out
        # (breakers open or probes failing); answer with the other tier.
        if (
            not self.tiers[tier].available()
            and other in self.tiers
            and self.tiers[other].available()
        ):
            decision = RouteDecision(
                tier=other,
                score=scored.score,
                reason=f"degraded: every {tier} replica is down, using {other} ({reason})",
                degraded=True,
            )
        return {"route": decision}
