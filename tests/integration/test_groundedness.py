"""The hallucination check on hand-made cases, one per kind of error it must catch."""

from __future__ import annotations

import pytest

from interlock.embedded.model_server import LlamaServer
from interlock.guardrails.groundedness import GroundednessChecker
from interlock.guardrails.llm_judge import LLMJudge
from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.models.tier import ModelTier
from interlock.state import Document

SOURCE = Document(
    id="c1",
    source="sample_kb/configuration.md",
    title="Configuration > Host and port",
    score=1.0,
    text=(
        "INTERLOCK_PORT sets the port that the HTTP server listens on. The default port is "
        "8000. The response cache is not shared between tenants. Interlock stores "
        "conversations in Redis."
    ),
)


@pytest.fixture(scope="module")
def checker(embeddings: MiniLMEmbeddings) -> GroundednessChecker:
    return GroundednessChecker(embeddings)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("The default port is 8000. Interlock stores conversations in Redis.", ""),
        ("The default port is 8080.", "numbers in no source"),
        ("The response cache is shared between tenants.", "negation"),
        ("Interlock stores conversations in PostgreSQL.", "names in no source"),
        ("Every answer is translated into French before it is sent.", "no source passage"),
    ],
)
async def test_each_kind_of_unsupported_sentence_is_caught_with_its_reason(
    checker: GroundednessChecker, answer: str, reason: str
) -> None:
    result = await checker.check(answer, [SOURCE], shown=[SOURCE], threshold=1.0)
    if not reason:
        assert result["verdict"] == "supported", result
        assert all(s["best_document"] == "c1" for s in result["sentences"])
    else:
        assert result["verdict"] == "unsupported"
        assert reason in result["sentences"][0]["reason"], result["sentences"][0]


async def test_abstentions_and_empty_sources_are_not_applicable(
    checker: GroundednessChecker,
) -> None:
    result = await checker.check("I don't know.", [SOURCE], shown=[SOURCE])
    assert result["verdict"] == "not_applicable"
    assert (await checker.check("The port is 8000.", [], shown=[]))["verdict"] == "not_applicable"


def _tier(url: str) -> ModelTier:
    return ModelTier(
        "large", [url], model="smollm2-135m-instruct", context_window=8192, timeout_s=60
    )


async def test_the_judge_gives_a_verdict_per_sentence_under_its_schema(llama: LlamaServer) -> None:
    """The embedded model is too small to judge well; this checks the exchange, not the wisdom."""
    judge = LLMJudge(_tier(llama.openai_url))
    verdicts = await judge.judge(
        ["The default port is 8000.", "Interlock stores conversations in Redis."], [SOURCE]
    )
    assert len(verdicts) == 2
    assert all(v is None or isinstance(v, bool) for v in verdicts)
    assert any(v is not None for v in verdicts)  # guided decoding: the reply parsed


async def test_without_a_reachable_judge_the_embedding_verdict_stands(
    embeddings: MiniLMEmbeddings,
) -> None:
    checker = GroundednessChecker(embeddings, judge=LLMJudge(_tier("http://127.0.0.1:9/v1")))
    result = await checker.check(
        "The default port is 8000. The default port is 8080.",
        [SOURCE],
        shown=[SOURCE],
        threshold=1.0,
    )
    assert result["judged"] == 0
    assert [s["supported"] for s in result["sentences"]] == [True, False]
    assert "numbers in no source" in result["sentences"][1]["reason"]
