"""route: pick the small or the large tier for this request, and say why.

The classifier's difficulty score against ``threshold`` decides, unless a
hard constraint overrides it: a prompt that does not fit the small model's
context window must go large. The decision and its reason go into the state
(and from there into the response and the trace).
"""

from __future__ import annotations

from typing import Any

from interlock.models.router import RequestClassifier
from interlock.models.tier import ModelTier
from interlock.state import AgentState, RouteDecision, Tier

CHARS_PER_TOKEN = 4  # a conservative estimate; exact counts come from the server's usage


class Route:
    def __init__(
        self,
        classifier: RequestClassifier,
        tiers: dict[Tier, ModelTier],
        *,
        threshold: float = 0.6,
        answer_tokens: int = 256,
    ) -> None:
        self.classifier = classifier
        self.tiers = tiers
        self.threshold = threshold
        self.answer_tokens = answer_tokens

    def __call__(self, state: AgentState) -> dict[str, Any]:
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
