"""Sentence-level groundedness: is each sentence of an answer supported by the sources?

No NLI or cross-encoder model ships its weights in a PyPI package, so this
combines signals that run offline in milliseconds, per answer sentence:

* semantic support: the cosine similarity (MiniLM) to the closest source
  *sentence*, against ``sentence_threshold``.
  Whole chunks are too coarse: a true sentence scored against a 900-character
  chunk often lands under any useful threshold (measured on
  benchmarks/data/groundedness.json: 83% of verbatim answers flagged);
* number agreement: every number must appear in some source or the question;
* negation agreement: the sentence and its closest source passage must agree
  on negation ("is not" vs "is"), which embeddings barely see;
* term agreement: identifiers and names (``INTERLOCK_PORT``, ``LanceDB``,
  ``guard_out``) must appear in some source or the question.

With an ``LLMJudge`` (``INTERLOCK_CHECK_JUDGE``), a model's per-sentence
verdict replaces the similarity and negation signals; numbers and names
are still checked. A sentence is supported when all hold. The answer's score is the share of
supported sentences. Abstentions ("I do not know") are not claims and are
not scored. Source sentences are short, so their vectors come from the
embeddings' own LRU when the same chunks are checked again.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from interlock.guardrails.llm_judge import LLMJudge
from interlock.memory.cache_guard import negation_count
from interlock.memory.embeddings import MiniLMEmbeddings
from interlock.models.prompt import cited_documents, strip_markers
from interlock.state import CheckResult, Document, SentenceScore

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)*\b")
_ABSTAIN = re.compile(
    r"\b(i (do not|don't) know|not (mentioned|stated|specified) in the sources|"
    r"the sources do not say|no information|cannot find|can't find)\b",
    re.IGNORECASE,
)


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text.strip()) if len(s.strip()) > 2]


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


# Identifier-like terms: SNAKE_CASE or snake_case names, CamelCase, dotted or
# slashed names, and capitalised words after the first word of a sentence.
_TERM = re.compile(
    r"\b[A-Za-z]+(?:_[A-Za-z0-9]+)+\b|\b[A-Z][a-z]+[A-Z]\w*\b|\b[A-Z]{2,}\w*\b"
    r"|\b\w+(?:[./]\w+)+\b|(?<=[a-z,;:] )[A-Z][a-z]{2,}\b"
)


def _terms(sentence: str) -> set[str]:
    return set(_TERM.findall(sentence))


def _units(text: str) -> list[str]:
    """The passages an answer sentence is compared with: the source's sentences.

    Pairs of adjacent sentences were tried too (a claim may span two): same
    balanced accuracy on the labelled set, 1.5x the latency (44 -> 65 ms p50).
    """
    return split_sentences(text) or [text]


class GroundednessChecker:
    def __init__(
        self,
        embeddings: MiniLMEmbeddings,
        sentence_threshold: float = 0.7,
        judge: LLMJudge | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.judge = judge
        self.sentence_threshold = sentence_threshold

    async def check(
        self,
        answer: str,
        documents: Sequence[Document],
        *,
        shown: Sequence[Document],
        question: str = "",
        threshold: float = 0.5,
    ) -> CheckResult:
        _, invalid = cited_documents(answer, shown)
        sentences = [s for s in split_sentences(strip_markers(answer)) if not _ABSTAIN.search(s)]
        if not documents or not sentences:
            return CheckResult(
                score=1.0 if not invalid else 0.0,
                verdict="not_applicable" if not invalid else "unsupported",
                sentences=[],
                unsupported=[],
                invalid_citations=invalid,
                unknown_numbers=[],
            )
        units: list[str] = []
        owner: list[int] = []
        for index, document in enumerate(documents):
            for unit in _units(document["text"]):
                units.append(unit)
                owner.append(index)
        sentence_vecs = await self.embeddings.aencode(sentences)
        unit_vecs = await self.embeddings.aencode(units)  # short: the embeddings' LRU holds them
        similarity = sentence_vecs @ unit_vecs.T
        sources_text = " ".join([question, *(d["text"] for d in documents)])
        known_numbers = _numbers(question).union(*(_numbers(d["text"]) for d in documents))
        # The judge, when there is one, decides whether the sources say it;
        # numbers and names are still checked against the text itself.
        judged = (
            await self.judge.judge(sentences, documents)
            if self.judge is not None
            else [None] * len(sentences)
        )
        scored: list[SentenceScore] = []
        unknown: list[str] = []
        for i, sentence in enumerate(sentences):
            best = int(np.argmax(similarity[i]))
            support = float(similarity[i, best])
            missing = sorted(_numbers(sentence) - known_numbers)
            unknown.extend(missing)
            reason = ""
            if judged[i] is False:
                reason = "the judge found no source that states this"
            elif judged[i] is None and support < self.sentence_threshold:
                reason = f"no source passage says this (similarity {support:.2f})"
            elif missing:
                reason = f"numbers in no source: {', '.join(missing)}"
            elif (
                judged[i] is None
                and negation_count(sentence) % 2 != negation_count(units[best]) % 2
            ):
                reason = "the closest source passage says the opposite (negation)"
            elif strange := sorted(t for t in _terms(sentence) if t not in sources_text):
                reason = f"names in no source: {', '.join(strange)}"
            scored.append(
                SentenceScore(
                    sentence=sentence,
                    score=round(support, 4),
                    supported=not reason,
                    best_document=documents[owner[best]]["id"],
                    reason=reason,
                )
            )
        score = sum(s["supported"] for s in scored) / len(scored)
        if invalid:
            score *= 0.5
        result = CheckResult(
            score=round(score, 4),
            verdict="supported" if score >= threshold else "unsupported",
            sentences=scored,
            unsupported=[s["sentence"] for s in scored if not s["supported"]],
            invalid_citations=invalid,
            unknown_numbers=unknown,
        )
        if self.judge is not None:
            result["judged"] = sum(v is not None for v in judged)
        return result
