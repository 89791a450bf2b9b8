"""Each fallback path, chosen from the state alone (no model calls)."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import HumanMessage

from interlock.models.tier import ModelTier
from interlock.nodes.fallback import Fallback, after_fallback
from interlock.state import AgentState, Answer, CheckResult, Document, SentenceScore

DOC = Document(id="d1", source="kb/a.md", title="A", score=1.0, text="The port is 8000.")


def tier(name: str, url: str) -> ModelTier:
    return ModelTier(name, [url], model=name, context_window=8192)  # type: ignore[arg-type]


def sentence(text: str, supported: bool) -> SentenceScore:
    return SentenceScore(
        sentence=text,
        score=0.9 if supported else 0.2,
        supported=supported,
        best_document="d1",
        reason="" if supported else "no source passage says this",
    )


def state(supported: list[bool] | None = None, **extra: Any) -> AgentState:
    sentences = [sentence(f"Sentence {i}.", ok) for i, ok in enumerate(supported or [])]
    check = (
        CheckResult(
            score=sum(supported) / len(supported),
            verdict="unsupported",
            sentences=sentences,
            unsupported=[s["sentence"] for s in sentences if not s["supported"]],
            invalid_citations=[],
            unknown_numbers=[],
        )
        if supported is not None
        else None
    )
    base: dict[str, Any] = {
        "question": "Which port?",
        "messages": [HumanMessage(content="Which port?")],
        "documents": [DOC],
        "route": {"tier": "small", "score": 0.2, "reason": "r"},
        "answer": Answer(text="x", citations=[], from_cache=False) if check else None,
        "check": check,
        "attempts": 1,
        "error": None,
    }
    return AgentState(**{**base, **extra})  # type: ignore[typeddict-item]


SAME = {
    "small": tier("small", "http://127.0.0.1:9/v1"),
    "large": tier("large", "http://127.0.0.1:9/v1"),
}
SPLIT = {
    "small": tier("small", "http://127.0.0.1:9/v1"),
    "large": tier("large", "http://127.0.0.1:10/v1"),
}


async def test_trim_keeps_the_supported_sentences_when_they_are_most_of_the_answer() -> None:
    update = await Fallback(SPLIT)(state([True, True, False]), {})
    assert update["answer"]["text"] == "Sentence 0. Sentence 1."
    assert update["check"]["verdict"] == "supported"
    assert update["fallbacks"] == ["trim: dropped 1 unsupported of 3 sentences"]
    assert after_fallback({**state(), **update}) == "answer"  # type: ignore[typeddict-item]


async def test_a_mostly_unsupported_answer_is_not_trimmed_but_escalated() -> None:
    update = await Fallback(SPLIT)(state([True, False, False]), {})
    assert update["route"]["tier"] == "large" and update["answer"] is None
    assert update["fallbacks"][0].startswith("escalate:")
    assert after_fallback({**state(), **update}) == "retry"  # type: ignore[typeddict-item]


async def test_with_no_other_model_it_regenerates_once_with_the_strict_prompt() -> None:
    first = await Fallback(SAME)(state([False, False]), {})
    assert first["strict"] is True and first["answer"] is None
    assert first["fallbacks"][0].startswith("regenerate:")
    # Strict already tried (and attempts left): no second regeneration.
    again = await Fallback(SAME, max_attempts=5)(state([False, False], strict=True), {})
    assert again["fallbacks"][0].startswith("honest:")


async def test_out_of_attempts_the_answer_is_honest_and_quotes_the_closest_passage() -> None:
    update = await Fallback(SPLIT)(state([False], attempts=2), {})
    assert update["answer"]["text"].startswith("The sources do not clearly answer this")
    assert "The port is 8000." in update["answer"]["text"]
    assert update["answer"]["citations"][0]["id"] == "d1"


async def test_a_model_error_escalates_then_gives_up() -> None:
    failed = {"kind": "model_unavailable", "detail": "down"}
    moved = await Fallback(SPLIT)(state(error=failed), {})
    assert moved["error"] is None and moved["route"]["tier"] == "large"
    gave_up = await Fallback(SAME)(state(error=failed), {})
    assert gave_up == {"fallbacks": ["give up: the model failed and nothing else can answer"]}
    assert after_fallback({**state(error=failed), **gave_up}) == "give_up"  # type: ignore[typeddict-item]


async def test_a_structured_answer_is_never_trimmed_into_prose() -> None:
    config = {"configurable": {"response_schema": {"type": "object"}}}
    update = await Fallback(SPLIT)(state([True, True, False]), config)  # type: ignore[arg-type]
    assert update["fallbacks"][0].startswith("escalate:")
