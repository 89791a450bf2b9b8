"""fallback: what to do when generation failed or the answer is not supported.

Each path is bounded by ``max_attempts`` (generate counts them), so the
generate → check → fallback cycle always ends:

1. another tier can still be tried (it is configured with different
   replicas than the one that failed): route there and generate again;
2. the model is unreachable and nothing is left to try: end the run with
   the error, which the API answers as 503 (no reply is stored) — unless an
   earlier attempt of this run did answer (it was checked and found
   unsupported, and only the escalation failed): then path 3;
3. the answer is unsupported and nothing is left to try: answer honestly
   that the sources do not say, quoting the closest passage with its source.
"""

from __future__ import annotations

import re
from typing import Any

from interlock.models.tier import ModelTier
from interlock.state import AgentState, Answer, Citation, RouteDecision, Tier

_OTHER: dict[Tier, Tier] = {"small": "large", "large": "small"}


class Fallback:
    def __init__(self, tiers: dict[Tier, ModelTier], *, max_attempts: int = 2) -> None:
        self.tiers = tiers
        self.max_attempts = max_attempts

    def _alternative(self, current: Tier, failed: bool) -> Tier | None:
        """Escalate small→large on a weak answer; on a failure either direction helps."""
        other = _OTHER[current]
        if other not in self.tiers or (current == "large" and not failed):
            return None
        if self.tiers[other].urls == self.tiers[current].urls:
            return None  # same replicas, same model: trying again would repeat the result
        if not self.tiers[other].available():
            return None  # its breakers are open or its probes failing
        return other

    def __call__(self, state: AgentState) -> dict[str, Any]:
        error = state.get("error")
        route = state.get("route")
        current: Tier = route["tier"] if route else "small"
        if state.get("attempts", 0) < self.max_attempts:
            target = self._alternative(current, failed=error is not None)
            if target is not None:
                why = "the model failed" if error else "the answer was not supported"
                return {
                    "route": RouteDecision(
                        tier=target,
                        score=route["score"] if route else 0.0,
                        reason=f"fallback to the {target} tier: {why} on the {current} tier",
                    ),
                    "answer": None,
                    "error": None,
                }
        if error is not None and state.get("check") is None:
            return {}
        return {"answer": honest_answer(state), "error": None}


def honest_answer(state: AgentState) -> Answer:
    documents = state.get("documents") or []
    if not documents:
        return Answer(
            text="I do not know: the knowledge base has nothing on this.",
            citations=[],
            from_cache=False,
        )
    best = documents[0]
    quote = closest_passage(best["text"], state["question"])
    return Answer(
        text=(
            "The sources do not clearly answer this. The closest passage, from "
            f'{best["source"]} ({best["title"]}), says: "{quote}"'
        ),
        citations=[Citation(id=best["id"], source=best["source"], title=best["title"])],
        from_cache=False,
    )


_WORD = re.compile(r"[a-z0-9_]{3,}")
_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")


def closest_passage(text: str, question: str, max_chars: int = 300) -> str:
    """The sentence or line of a chunk sharing the most words with the question.

    Lexical overlap is enough here: the chunk was already ranked relevant by
    hybrid search; this only picks which part of it to quote.
    """
    asked = set(_WORD.findall(question.lower()))
    pieces = [p.strip(" -*") for p in _SPLIT.split(text) if len(p.strip(" -*")) > 2]
    if not pieces:
        return text[:max_chars]
    best = max(pieces, key=lambda p: len(asked & set(_WORD.findall(p.lower()))))
    return best if len(best) <= max_chars else best[: max_chars - 1].rstrip() + "…"


def after_fallback(state: AgentState) -> str:
    if state.get("error"):
        return "give_up"
    return "retry" if state.get("answer") is None else "answer"
