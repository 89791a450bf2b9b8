"""planner: does this request need retrieval, and which sub-queries?

A multi-part question ("What is X and how do I configure Y?") retrieves
poorly as one query: each part's chunks compete for the same top-k. The
planner splits it so LangGraph's ``Send`` can run one retrieval per part.
A short follow-up ("and the port?") is expanded with the previous user turn
so retrieval sees what it refers to. The rules are deliberately simple and
stated here; the request classifier supplies the kind.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import HumanMessage

from interlock.models.router import RequestClassifier
from interlock.state import AgentState, Plan

_PART_SPLIT = re.compile(
    r"\?\s+|;\s+|,?\s+and\s+(?=(?:what|which|how|why|where|when|who|does|do|is|are|can)\b)",
    re.IGNORECASE,
)
_FOLLOW_UP = re.compile(
    r"^(and|what about|how about|also|then|so)\b|\b(it|its|that|this|they)\b", re.I
)
MAX_SUB_QUERIES = 4


def split_parts(question: str) -> list[str]:
    parts = [p.strip(" ?.;,") for p in _PART_SPLIT.split(question)]
    parts = [p for p in parts if len(p.split()) >= 2]
    return parts[:MAX_SUB_QUERIES] or [question.strip()]


class Planner:
    def __init__(self, classifier: RequestClassifier) -> None:
        self.classifier = classifier

    def __call__(self, state: AgentState) -> dict[str, Any]:
        question = state["question"]
        parts = split_parts(question)
        kind = self.classifier.classify(question, parts=len(parts)).kind
        previous = [
            str(m.content) for m in state.get("messages", [])[:-1] if isinstance(m, HumanMessage)
        ]
        if previous and len(question.split()) <= 8 and _FOLLOW_UP.search(question):
            parts = [f"{previous[-1]} {part}" for part in parts]
        return {"plan": Plan(kind=kind, needs_retrieval=kind != "chitchat", sub_queries=parts)}
