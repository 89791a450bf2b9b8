"""Fallback paths that need real parts: the semantic cache, and a model that answers badly."""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import HumanMessage

from interlock.agent import Agent
from interlock.config import Settings
from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.memory.semantic_cache import SemanticCache
from interlock.models.tier import ModelTier
from interlock.nodes.fallback import Fallback
from interlock.state import AgentState, Answer, CheckResult
from interlock.testing.vllm_simulator import SimulatorProcess

VERIFIED = Answer(
    text="interlock listens on port 8000 by default [1].", citations=[], from_cache=False
)


def unsupported(question: str, messages: int = 1) -> AgentState:
    return AgentState(  # type: ignore[typeddict-item]
        question=question,
        tenant="default",
        messages=[HumanMessage(content=question)] * messages,
        documents=[],
        route={"tier": "small", "score": 0.1, "reason": "r"},
        answer=Answer(text="Something invented.", citations=[], from_cache=False),
        check=CheckResult(
            score=0.0,
            verdict="unsupported",
            sentences=[],
            unsupported=["Something invented."],
            invalid_citations=[],
            unknown_numbers=[],
        ),
        attempts=2,
        error=None,
    )


async def test_a_verified_answer_to_a_close_question_is_served_before_giving_up(
    embeddings: MiniLMEmbeddings, tmp_path: Path
) -> None:
    cache = SemanticCache(str(tmp_path / "db"), embeddings, threshold=0.95, ttl_s=60)
    await cache.put("Which port does interlock listen on?", VERIFIED, tenant="default")
    tiers = {"small": ModelTier("small", ["http://127.0.0.1:9/v1"], model="s", context_window=8)}
    fallback = Fallback(tiers, semantic=cache, cache_threshold=0.75)  # type: ignore[arg-type]
    close = "On which port does interlock listen by default?"
    update = await fallback(unsupported(close), {})
    assert update["answer"]["text"] == VERIFIED["text"] and update["answer"]["from_cache"]
    assert update["fallbacks"][0].startswith("cached:")
    # The guard still holds: an opposite question gets the honest answer, not the cached one.
    opposite = await fallback(unsupported("Which port does interlock not listen on?"), {})
    assert opposite["fallbacks"][0].startswith("honest:")
    # A follow-up in a conversation is not context-free: no semantic cache.
    follow_up = await fallback(unsupported(close, messages=3), {})
    assert follow_up["fallbacks"][0].startswith("honest:")


async def test_with_one_model_a_bad_answer_is_regenerated_strictly_then_answered_honestly(
    settings: Settings, embeddings: MiniLMEmbeddings
) -> None:
    """Both tiers on the same (filler-answering) server: no escalation is possible."""
    with SimulatorProcess(replica_id="filler") as sim:
        same = {
            "small_model_urls": [sim.openai_url],
            "large_model_urls": [sim.openai_url],
            "small_model_name": "sim-model",
            "large_model_name": "sim-model",
            "health_interval_s": 0,
            "semantic_cache_threshold": 0.0,
        }
        agent = await Agent.from_settings(settings.model_copy(update=same), embeddings=embeddings)
        try:
            await agent.ensure_sample_knowledge()
            result = await agent.ask("Which port does interlock listen on by default?")
        finally:
            await agent.aclose()
    assert [f.split(":")[0] for f in result.fallbacks] == ["regenerate", "honest"]
    assert result.usage["calls"] == 2
    assert result.answer.startswith("The sources do not clearly answer this")
