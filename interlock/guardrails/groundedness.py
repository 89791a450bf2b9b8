"""Sentence-level groundedness: is each sentence of an answer supported by the sources?

No NLI or cross-encoder model ships its weights in a PyPI package, so this
first form combines two signals that run offline in milliseconds:

* semantic support: the cosine similarity of the sentence to its closest
  source chunk (MiniLM embeddings), against ``sentence_threshold``;
* number agreement: every number in the sentence must appear in some
  source or in the question; a wrong figure is the most common subtle
  hallucination and embeddings barely see it.

A sentence is supported when both hold. The answer's score is the share of
supported sentences. Abstentions ("I do not know") are not claims and are
not scored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

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


class GroundednessChecker:
    def __init__(self, embeddings: MiniLMEmbeddings, sentence_threshold: float = 0.65) -> None:
        self.embeddings = embeddings
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
        vectors = await self.embeddings.aencode([*sentences, *(d["text"] for d in documents)])
        sentence_vecs, doc_vecs = vectors[: len(sentences)], vectors[len(sentences) :]
        similarity = sentence_vecs @ doc_vecs.T
        known_numbers = _numbers(question).union(*(_numbers(d["text"]) for d in documents))
        scored: list[SentenceScore] = []
        unknown: list[str] = []
        for i, sentence in enumerate(sentences):
            best = int(np.argmax(similarity[i]))
            missing = sorted(_numbers(sentence) - known_numbers)
            unknown.extend(missing)
            support = float(similarity[i, best])
            scored.append(
                SentenceScore(
                    sentence=sentence,
                    score=round(support, 4),
                    supported=support >= self.sentence_threshold and not missing,
                    best_document=documents[best]["id"],
                )
            )
        score = sum(s["supported"] for s in scored) / len(scored)
        if invalid:
            score *= 0.5
        return CheckResult(
            score=round(score, 4),
            verdict="supported" if score >= threshold else "unsupported",
            sentences=scored,
            unsupported=[s["sentence"] for s in scored if not s["supported"]],
            invalid_citations=invalid,
            unknown_numbers=unknown,
        )
