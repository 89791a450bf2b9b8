"""fallback: what to do when generation failed or the answer is not supported.

The paths, cheapest first; each is recorded in ``state["fallbacks"]``:

1. **trim** (unsupported prose answer): when at least half of the answer's
   sentences are supported, drop the others and answer with the rest — no
   new model call;
2. **escalate**: another tier can still be tried (configured with different
   replicas than the one that answered or failed, and up): route there and
   generate again;
3. **regenerate strictly** (unsupported answer, no other tier): generate once
   more on the same tier with the stricter grounded prompt;
4. **cached**: a verified answer (only checked answers are cached) to a
   close enough question, from the semantic cache at a looser threshold,
   still behind its negation/antonym guard;
5. **honest**: answer that the sources do not say, quoting the closest
   passage with its source (in prose, also when JSON was asked for: the
   output guard lets it through and ``fallbacks`` says why);
6. **give up** (model unreachable, nothing answered in this run): end with
   the error, which the API answers as 503 (no reply is stored).

Paths 2 and 3 generate again, so they are bounded by ``max_attempts``
(generate counts attempts in the state) and the strict retry happens once
per run: the generate → check → fallback cycle always ends.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.runnables import RunnableConfig

from interlock.memory.semantic_cache import SemanticCache
from interlock.models.structured import response_schema
from interlock.models.tier import ModelTier
from interlock.state import AgentState, Answer, CheckResult, Citation, RouteDecision, Tier

_OTHER: dict[Tier, Tier] = {"small": "large", "large": "small"}


class Fallback:
    def __init__(
        self,
        tiers: dict[Tier, ModelTier],
        *,
        max_attempts: int = 2,
        semantic: SemanticCache | None = None,
        cache_threshold: float = 0.75,
        keep_share: float = 0.5,
    ) -> None:
        self.tiers = tiers
        self.max_attempts = max_attempts
        self.semantic = semantic
        self.cache_threshold = cache_threshold
        self.keep_share = keep_share

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

    def _trim(self, state: AgentState) -> dict[str, Any] | None:
        """The answer without its unsupported sentences, if the rest stands."""
        check, answer = state.get("check"), state.get("answer")
        if check is None or answer is None or not check["sentences"]:
            return None
        kept = [s for s in check["sentences"] if s["supported"]]
        dropped = len(check["sentences"]) - len(kept)
        if not kept or len(kept) / len(check["sentences"]) < self.keep_share:
            return None
        sources = {s["best_document"] for s in kept}
        trimmed = Answer(
            text=" ".join(s["sentence"] for s in kept),
            citations=[c for c in answer["citations"] if c["id"] in sources],
            from_cache=False,
        )
        if "model" in answer:
            trimmed["model"] = answer["model"]
        return {
            "answer": trimmed,
            "check": CheckResult(
                score=1.0,
                verdict="supported",
                sentences=kept,
                unsupported=[],
                invalid_citations=[],
                unknown_numbers=[],
            ),
            "fallbacks": [
                f"trim: dropped {dropped} unsupported of {dropped + len(kept)} sentences"
            ],
        }

    async def _cached(self, state: AgentState) -> Answer | None:
        if self.semantic is None or len(state.get("messages", [])) > 1:
            return None  # the semantic cache holds context-free answers only
        hit = await self.semantic.get(
            state["question"], tenant=state.get("tenant", "default"), threshold=self.cache_threshold
        )
        return hit.answer if hit else None

    async def __call__(self, state: AgentState, config: RunnableConfig) -> dict[str, Any]:
        error = state.get("error")
        route = state.get("route")
        current: Tier = route["tier"] if route else "small"
        why = "the model failed" if error else "the answer was not supported"
        structured = response_schema(config) is not None  # trimming would break its JSON
        if error is None and not structured and (trimmed := self._trim(state)) is not None:
            return trimmed
        if state.get("attempts", 0) < self.max_attempts:
            target = self._alternative(current, failed=error is not None)
            if target is not None:
                return {
                    "route": RouteDecision(
                        tier=target,
                        score=route["score"] if route else 0.0,
                        reason=f"fallback to the {target} tier: {why} on the {current} tier",
                    ),
                    "answer": None,
                    "error": None,
                    "fallbacks": [f"escalate: {why} on {current}, trying {target}"],
                }
            if error is None and not state.get("strict"):
                return {
                    "strict": True,
                    "answer": None,
                    "fallbacks": [f"regenerate: {why}, again on {current} with the strict prompt"],
                }
        if (cached := await self._cached(state)) is not None:
            return {
                "answer": cached,
                "error": None,
                "fallbacks": [f"cached: {why}; serving a verified answer to a close question"],
            }
        if error is not None and state.get("check") is None:
            return {"fallbacks": [f"give up: {why} and nothing else can answer"]}
        return {
            "answer": honest_answer(state),
            "error": None,
            "fallbacks": [f"honest: {why} and nothing else is left to try"],
        }


def answered_honestly(state: AgentState) -> bool:
    """Did this run end on the honest "the sources do not say" answer?"""
    return any(note.startswith("honest:") for note in state.get("fallbacks") or [])


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
